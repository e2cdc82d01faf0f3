"""Values a parser accepts but no consumer of a config can hold.

- Integers outside 64 bits. TOML 1.0 requires an error for an integer that
  does not fit in 64 bits, and loong reads every integer into a Rust i64/u64
  (serde): a 401-digit timeout, or a 4,000-digit hex number that Python's
  int-to-text limit cannot even print, is a file loong refuses. tomllib and
  the JSON/YAML parsers accept them; we refuse them here.
- Strings and keys with a lone UTF-16 surrogate (JSON's ``"\\ud800"``, a
  YAML escape). They are not Unicode scalar values: Rust strings cannot
  hold them, UTF-8 cannot encode them, so no plan or report could carry
  them.

- Nesting deeper than ``inputs.MAX_CONFIG_DEPTH`` (24) containers: no
  config needs it, and a plan must be able to carry what a config holds
  (its own limit is a few levels more).

Found once, at load, so every command (check, plan, gateway run) gives the
same verdict. Messages never quote the value: it may be a secret.

Standard library only.
"""

from __future__ import annotations

from gatewayctl.diagnostics import TARGET_KEY, pointer_join
from gatewayctl.inputs import MAX_CONFIG_DEPTH

INT_MIN = -(2**63)
INT_MAX = 2**64 - 1  # u64: the widest integer loong's fields take
_MAX_REPORTED = 20


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def replace_surrogates(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if _has_surrogate(text) else text


def _all_supported(node, depth: int = 0) -> bool:
    """True when unsupported_values() has nothing to say: one walk without
    pointers, so the common clean file pays little (ASCII text cannot hold
    a surrogate; str.isascii is a flag check)."""
    kind = type(node)
    if kind is dict:
        if depth >= MAX_CONFIG_DEPTH:
            return False
        for key, value in node.items():
            if type(key) is str and not key.isascii() and _has_surrogate(key):
                return False
            if not _all_supported(value, depth + 1):
                return False
        return True
    if kind is list:
        if depth >= MAX_CONFIG_DEPTH:
            return False
        return all(_all_supported(v, depth + 1) for v in node)
    if kind is str:
        return node.isascii() or not _has_surrogate(node)
    if kind is int:
        return INT_MIN <= node <= INT_MAX
    if kind in (bool, float) or node is None:
        return True
    return False  # another type (a subclass, a date): the full walk decides


def unsupported_values(data) -> list[tuple[str, str, str, str]]:
    """``(pointer, target, message, hint)`` for each unsupported value
    (at most 20), in document order."""
    if _all_supported(data):
        return []
    out: list[tuple[str, str, str, str]] = []
    stack: list[tuple[tuple, object]] = [((), data)]
    while stack and len(out) < _MAX_REPORTED:
        path, node = stack.pop()
        if isinstance(node, (dict, list)) and len(path) >= MAX_CONFIG_DEPTH:
            out.append(
                (
                    pointer_join(*path),
                    "value",
                    f"tables and lists are nested more than {MAX_CONFIG_DEPTH} levels deep here",
                    "Flatten the value; no loong or gatewayctl setting nests this deep.",
                )
            )
            continue
        if isinstance(node, dict):
            children = []
            for key, value in node.items():
                child = path + (key,)
                if isinstance(key, str) and _has_surrogate(key):
                    out.append(
                        (
                            pointer_join(*child),
                            TARGET_KEY,
                            "a key contains a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not a character",
                            "Write the character itself, or the \\u escapes of both halves of a surrogate pair.",
                        )
                    )
                    continue
                children.append((child, value))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([(path + (i,), v) for i, v in enumerate(node)]))
        elif isinstance(node, str):
            if _has_surrogate(node):
                out.append(
                    (
                        pointer_join(*path),
                        "value",
                        "a string contains a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not a character",
                        "Write the character itself, or the \\u escapes of both halves of a surrogate pair.",
                    )
                )
        elif isinstance(node, int) and not isinstance(node, bool):
            if not INT_MIN <= node <= INT_MAX:
                out.append(
                    (
                        pointer_join(*path),
                        "value",
                        "an integer does not fit in 64 bits (loong reads integers as 64-bit numbers)",
                        "Use a number between -9223372036854775808 and 18446744073709551615; "
                        "quote it if it is an identifier rather than a number.",
                    )
                )
    return out
