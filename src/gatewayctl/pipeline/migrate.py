"""`gatewayctl migrate`: move gatewayctl's settings out of loong's config.

loong's ``config::write`` (crates/app/src/config/runtime.rs:2168)
re-serializes config.toml from its own structs, whose ``GatewayConfig`` has
only ``port`` (runtime.rs:200): every gatewayctl key in ``[gateway]`` is lost
on loong's next save. This module plans the move:

- the new settings file holds ``loong_config`` and every gatewayctl key of
  ``[gateway]`` (values as read; loong's ``port`` stays where it is);
- loong's config loses exactly those keys: the text is edited at the exact
  line ranges the locator reports (key through value, a sub-table's header
  through its last entry), so every other byte, comments included, stays;
- the edit is verified by parsing the result: it must hold exactly the old
  data minus the moved keys, or nothing is written;
- an existing settings file with other values is refused, never merged.

``plan_migration`` is pure apart from reading the two files; ``apply``
writes both atomically (gatewayctl.atomicfile), the settings file first, so
an interruption leaves at worst both copies, which a rerun then completes.
May import source, validate and atomicfile; never cli, runtime or report.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from gatewayctl.diagnostics import pointer_join

__all__ = ["Migration", "MigrationRefused", "apply", "plan_migration", "render_toml"]


class MigrationRefused(Exception):
    """The migration cannot be done safely; ``message`` says why and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Migration:
    loong_path: str
    settings_path: str
    moved: tuple[str, ...]  # the [gateway] keys moved, in file order
    loong_text: str  # loong's config without them
    settings_text: str | None  # None: the settings file already holds them
    loong_mode: int


def plan_migration(loong_path: str, settings_path: str) -> Migration | None:
    """What ``migrate`` would write; None when there is nothing to move.
    Raises MigrationRefused when it cannot be done safely."""
    from gatewayctl.pipeline import is_settings_file, loong_config_path
    from gatewayctl.source import load_document
    from gatewayctl.validate import legacy_settings_keys
    from gatewayctl.validate.schema import check

    doc, diags = load_document(loong_path)
    if doc is None:
        raise MigrationRefused(f"{loong_path}: cannot be read or parsed ({diags[0].message if diags else 'unknown'}); fix it first")
    if doc.format != "toml":
        raise MigrationRefused(
            f"{loong_path} is {doc.format.upper()}; migrate edits loong's TOML config.toml. "
            "Move the [gateway] keys other than port to a gatewayctl settings file by hand"
        )
    if is_settings_file(doc.path, doc.data):
        raise MigrationRefused(f"{loong_path} is a gatewayctl settings file, not a loong config")
    keys = legacy_settings_keys(doc.data)
    typos = [f for f in check(doc.data) if f.pointer.startswith("/gateway/") and f.code == "GW101"]
    if typos:
        raise MigrationRefused(
            f"{loong_path}: [gateway] has keys gatewayctl does not know ({'; '.join(f.message for f in typos)}); "
            "fix them first (`gatewayctl check` shows where), then migrate"
        )
    if not keys:
        return None
    gateway = doc.data["gateway"]
    moved = {k: gateway[k] for k in keys}

    lines = doc.text.split("\n")
    remove: set[int] = set()
    for key in keys:
        remove |= _lines_of(doc, lines, ("gateway", key), gateway[key])
    kept = [line for i, line in enumerate(lines, start=1) if i not in remove]
    new_text = "\n".join(kept)
    _verify_edit(doc, new_text, keys)

    mode = os.stat(loong_path).st_mode & 0o7777
    settings_text = None
    if os.path.exists(settings_path):
        sdoc, sdiags = load_document(settings_path)
        if sdoc is None or not is_settings_file(sdoc.path, sdoc.data):
            raise MigrationRefused(
                f"{settings_path} exists and is not a gatewayctl settings file; choose another with --to"
            )
        named = loong_config_path(sdoc.path, sdoc.data)
        if named is None or not _same_file(named, loong_path):
            raise MigrationRefused(
                f"{settings_path} exists and names another loong config ({named or 'none'}); choose another with --to"
            )
        differ = [k for k in keys if k not in sdoc.data or not _same_value(sdoc.data[k], moved[k])]
        if differ:
            raise MigrationRefused(
                f"{settings_path} exists with other values for {', '.join(differ)}; nothing was changed. "
                f"Reconcile {settings_path} with [gateway] of {loong_path} by hand (or choose another file with --to), "
                "then run migrate again"
            )
    else:
        settings_text = render_settings(loong_path, settings_path, moved)
    return Migration(loong_path, settings_path, tuple(keys), new_text, settings_text, mode)


def apply(m: Migration) -> None:
    """Write the settings file (if new), then loong's config, each atomically."""
    from gatewayctl import atomicfile

    if m.settings_text is not None:
        atomicfile.write_bytes(m.settings_path, m.settings_text.encode("utf-8"), mode=0o644, prefix=".gatewayctl-")
    # Replace the file a symlink points at, never the link itself.
    target = os.path.realpath(m.loong_path)
    atomicfile.write_bytes(target, m.loong_text.encode("utf-8"), mode=m.loong_mode, prefix=".config-")


# ------------------------------------------------------------------ edits


def _lines_of(doc, lines: list[str], path: tuple, value) -> set[int]:
    """The 1-based lines that hold the entry at ``path`` and nothing else."""
    ptr = pointer_join(*path)
    key = doc.locate(ptr, "key")
    if key is None:
        raise MigrationRefused(f"{doc.path}: cannot locate [gateway] `{path[-1]}`; move it by hand")
    header = lines[key.start.line - 1].lstrip().startswith("[")
    if header:
        # A sub-table written as [gateway.handler]: its header line and its
        # entries, with whatever comment lines sit between them.
        if not isinstance(value, dict):
            raise MigrationRefused(f"{doc.path}: unexpected layout of [gateway] `{path[-1]}`; move it by hand")
        out = {key.start.line}
        last = key.start.line
        for sub, subvalue in value.items():
            got = _lines_of(doc, lines, (*path, sub), subvalue)
            out |= got
            last = max(last, max(got))
        out |= set(range(key.start.line, last + 1))
        return out
    val = doc.locate(ptr, "value")
    if val is None:
        raise MigrationRefused(f"{doc.path}: cannot locate [gateway] `{path[-1]}`; move it by hand")
    first, last = key.start.line, val.end.line
    before = lines[first - 1][: key.start.column - 1]
    after = lines[last - 1][val.end.column - 1 :].strip()
    if before.strip() or (after and not after.startswith("#")):
        # Another key shares the line (an inline table): editing it would
        # mean re-emitting TOML, which this command never does.
        raise MigrationRefused(
            f"{doc.path}:{first}: [gateway] `{path[-1]}` shares its line with other keys (an inline table?); "
            "write it on its own line (or move it by hand), then migrate"
        )
    return set(range(first, last + 1))


def _verify_edit(doc, new_text: str, keys: list[str]) -> None:
    from gatewayctl.source import load_document

    new_doc, diags = load_document(doc.path, data=new_text.encode("utf-8"), fmt="toml")
    expected = dict(doc.data)
    gateway = {k: v for k, v in doc.data["gateway"].items() if k not in keys}
    expected["gateway"] = gateway
    got = new_doc.data if new_doc is not None else None
    if isinstance(got, dict) and "gateway" not in got and not gateway:
        got = {**got, "gateway": {}}
    if got != expected:
        raise MigrationRefused(
            f"{doc.path}: removing the [gateway] keys at their lines would change more than those keys "
            "(an unusual layout); nothing was changed: move them by hand"
        )


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _same_value(a, b) -> bool:
    # TOML reads 10 and 10.0 as different types; as settings they are equal.
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b if not isinstance(a, (dict, list)) else _same_container(a, b)


def _same_container(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    return False


# ----------------------------------------------------------------- render


def _loong_config_value(loong_path: str, settings_path: str) -> str:
    """How the settings file names loong's config: relative to the settings
    file's directory when it lies under it, ~/... under the home directory,
    else absolute."""
    settings_dir = os.path.dirname(os.path.abspath(settings_path))
    target = os.path.abspath(loong_path)
    rel = os.path.relpath(target, settings_dir)
    if not rel.startswith(".."):
        return rel
    home = os.path.expanduser("~")
    if home and home != "~" and (target + os.sep).startswith(home.rstrip(os.sep) + os.sep):
        return "~/" + os.path.relpath(target, home)
    return target


def render_settings(loong_path: str, settings_path: str, moved: dict) -> str:
    head = {"loong_config": _loong_config_value(loong_path, settings_path)}
    intro = (
        "# gatewayctl's own settings (docs/config.md), moved here from [gateway] of\n"
        f"# {loong_path} by `gatewayctl migrate`: loong rewrites its config from its\n"
        "# own structs and drops keys it does not know.\n"
    )
    return intro + render_toml({**head, **moved})


def render_toml(data: dict) -> str:
    """TOML for a settings tree (strings, numbers, booleans, lists, tables):
    plain keys first, then one [table] per nested table."""
    out: list[str] = []
    _emit_table(data, (), out)
    return "\n".join(out).strip("\n") + "\n"


def _emit_table(table: dict, path: tuple, out: list[str]) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    if path:
        out.append("")
        out.append("[" + ".".join(_key(p) for p in path) + "]")
    for k, v in plain.items():
        out.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables.items():
        _emit_table(v, (*path, k), out)


def _key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _string(s: str) -> str:
    out = []
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return json.dumps(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    raise MigrationRefused(f"a [gateway] value has a type this command cannot write ({type(v).__name__}); move it by hand")
