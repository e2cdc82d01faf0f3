"""Redaction: what of a document may be shown, and how.

Every output of a lint pass (snippets, messages, hints) goes through here:
sensitive values are masked in the source lines a reporter prints and
scrubbed from diagnostic texts as a last line of defence.
"""

from __future__ import annotations

from gatewayctl.lazyre import lazy
from gatewayctl.records import replace


def source_lines(doc) -> list[str]:
    """Lines as the locator counts them: split on newline only (str.splitlines
    would also split on U+2028, form feeds and the like, and shift snippets)."""
    return [ln[:-1] if ln.endswith("\r") else ln for ln in doc.text.split("\n")]


def mask_lines(doc, pointers) -> tuple[str, ...]:
    """Source lines with every sensitive value replaced by asterisks of the
    same width, so carets still line up and nothing secret is printed."""
    lines = source_lines(doc)
    for ptr in pointers:
        r = doc.locate(ptr, "value")
        if r is None:
            continue
        for ln in range(r.start.line, r.end.line + 1):
            if not 1 <= ln <= len(lines):
                continue
            text = lines[ln - 1]
            a = r.start.column - 1 if ln == r.start.line else 0
            b = r.end.column - 1 if ln == r.end.line else len(text)
            a, b = max(a, 0), min(max(b, a), len(text))
            seg = text[a:b]
            # keep the quotes of a string literal; mask what is inside
            if len(seg) >= 2 and seg[0] == seg[-1] and seg[0] in "\"'":
                masked = seg[0] + "*" * (len(seg) - 2) + seg[-1]
            else:
                masked = "*" * len(seg)
            lines[ln - 1] = text[:a] + masked + text[b:]
    return tuple(lines)


def sensitive_values(doc, pointers) -> frozenset[str]:
    from gatewayctl.diagnostics import pointer_split

    values = set()
    for ptr in pointers:
        node = doc.data
        try:
            for tok in pointer_split(ptr):
                node = node[int(tok)] if isinstance(node, list) else node[tok]
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        if isinstance(node, str) and len(node) >= 4:
            values.add(node)
            if "://" in node and "@" in node:
                userinfo = node.split("://", 1)[1].split("@", 1)[0]
                # "user:password": only the password is secret (scrubbing a
                # user name like "user" would mangle words such as user_id);
                # a bare userinfo is usually a token and is scrubbed whole.
                secret_part = userinfo.split(":", 1)[1] if ":" in userinfo else userinfo
                if len(secret_part) >= 4:
                    values.add(secret_part)
    return frozenset(values)


def scrub(diag, secrets):
    """Last line of defence: no rule may echo a sensitive value, but if one
    does, it never reaches the output."""
    msg, hint = diag.message, diag.hint
    for s in secrets:
        if s in msg:
            msg = msg.replace(s, "***")
        if s in hint:
            hint = hint.replace(s, "***")
    if msg is diag.message and hint is diag.hint:
        return diag
    return replace(diag, message=msg, hint=hint)


_SECRETISH_KEY = lazy(r"(?i)(secret|token|password|passwd|api_?key|private_key|encrypt_key|credential|auth)")
_KEY_VALUE = lazy(r"""^(\s*-?\s*["']?)([\w.\-]+)(["']?\s*(?:=|:)\s*)(.*)$""")


def mask_unparsed_line(line: str) -> str:
    """A line of a file that did not parse, safe to show under its error.

    Without a parse there is no telling which values are secrets, so what
    may be shown is the line's structure: the content of every quoted
    string (an unterminated one to the end of the line) becomes asterisks
    of the same length, and so does the whole value of a key that looks
    secret (`bot_token = 123:ABC`, `app_secret: abc`). Keys, brackets,
    `=`, numbers and booleans stay, which is where syntax errors are.
    """
    m = _KEY_VALUE.match(line)
    if m and _SECRETISH_KEY.search(m.group(2)):
        value = m.group(4)
        return m.group(1) + m.group(2) + m.group(3) + "".join("*" if not ch.isspace() else ch for ch in value)
    out, quote = [], None
    for ch in line:
        if quote is None:
            out.append(ch)
            if ch in "\"'":
                quote = ch
        elif ch == quote:
            out.append(ch)
            quote = None
        else:
            out.append("*")
    return "".join(out)
