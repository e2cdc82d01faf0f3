"""TOML: rtoml for values when it is installed (the fast path), tomllib as
the parser of record, toml_scan for positions.

rtoml wraps the Rust `toml` crate, the parser loong itself uses, and reads a
typical config about ten times faster than tomllib; that is most of a
1,000-file sweep. When rtoml refuses a file, tomllib decides: if tomllib
accepts it (a 65-bit integer, say) its values are used, otherwise its error
becomes the diagnostic, because only tomllib reports a line and column.
tests/test_source_toml_fastpath.py proves both give the same values.

tomllib's error text carries "(at line L, column C)" or "(at end of
document)"; both are turned into a range here, and the message is rewritten
for people who did not write a TOML parser.

The only tomllib importer. Imports gatewayctl.diagnostics and source.*;
nothing from catalog, validate or later stages.
"""

from __future__ import annotations

import sys


def _fast_loads():
    """rtoml's parser (``loads(text) -> dict``), or None where rtoml has no
    wheel (tomllib then does everything).

    The compiled core ``rtoml._rtoml`` is loaded without running
    ``rtoml/__init__.py``: that wrapper imports typing and pathlib for its
    annotations and file helpers, 5-7 ms of a cold check that only ever
    calls ``loads(str)``, which is ``_rtoml.deserialize`` after a type check.
    Any surprise (another rtoml layout) falls back to the public module.
    """
    try:
        from importlib.machinery import PathFinder

        package = PathFinder.find_spec("rtoml")
        spec = PathFinder.find_spec("rtoml._rtoml", package.submodule_search_locations) if package else None
        if spec is not None and spec.loader is not None:
            core = sys.modules.get("rtoml._rtoml")
            if core is None:
                core = spec.loader.create_module(spec)
                spec.loader.exec_module(core)
                # Registered under its own name: a later `import rtoml` (its
                # `from . import _rtoml`) reuses it instead of loading the
                # extension a second time.
                sys.modules["rtoml._rtoml"] = core
            deserialize = core.deserialize

            def loads(text: str) -> dict:
                return deserialize(text, none_value=None)

            return loads
    except Exception:  # noqa: BLE001 - the public module below is the way of record
        pass
    try:
        import rtoml
    except ImportError:  # pragma: no cover - exercised where rtoml has no wheel
        return None
    return rtoml.loads


_fast_toml_loads = _fast_loads()

from gatewayctl.diagnostics import Position, Range, pointer_join
from gatewayctl.lazyre import lazy
from gatewayctl.source.common import LoadResult, load_diagnostic
from gatewayctl.source.document import Document
from gatewayctl.source.text import LineTable

_WHERE = lazy(r"(?s)^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$")
_BARE_KEY = lazy(r"[A-Za-z0-9_-]+\Z")
_REDEFINITION = (
    "Cannot overwrite a value",
    "Cannot declare",
    "Cannot mutate immutable namespace",
    "Cannot redefine namespace",
    "Duplicate inline table key",
)
_HUGE_INT = lazy(r"[0-9_]{4300,}")

_STRING_HINT = (
    "Close the string on the same line with the quote it started with; "
    'use """triple quotes""" for text that spans lines.'
)
# tomllib message (prefix) -> (our message, hint)
_SYNTAX = [
    ("Invalid statement", "expected a key = value pair, a [table] header or a comment",
     "Each line holds `key = value`, `[table]`, `[[array-of-tables]]` or a `# comment`; quote keys with spaces: \"my key\" = 1."),
    ("Expected newline or end of document after a statement", "unexpected text after the end of the statement",
     'Put each key = value pair on its own line, and quote text that contains spaces: name = "two words".'),
    ("Unclosed array", "an array is not closed",
     "Close the array with ']' and separate its items with commas."),
    ("Unclosed inline table", "an inline table is not closed",
     "Close the inline table with '}' on the same line and separate its pairs with commas (no trailing comma)."),
    ("Invalid value", "a value is missing or not valid",
     'A value is a quoted string, a number, true/false, a date, an [array] or an {inline = "table"}; quote text: key = "text".'),
    ("Invalid initial character for a key part", "a key contains a character that needs quoting",
     'Bare keys use only A-Z a-z 0-9 _ -; quote any other key: "my.key" = 1.'),
    ("Expected '=' after a key in a key/value pair", "expected '=' after the key",
     'Write key = value; a key with spaces must be quoted: "my key" = 1.'),
    ("Expected ']' at the end of a table declaration", "a [table] header is not closed with ']'",
     "Close the header on the same line: [table.name]."),
    ("Expected ']]' at the end of an array declaration", "an [[array-of-tables]] header is not closed with ']]'",
     "Close the header on the same line: [[name]]."),
    ("Unterminated string", "a string is never closed", _STRING_HINT),
    ("Unescaped '\\' in a string", "a backslash in a \"basic\" string must start an escape",
     "Write \\\\ for a backslash, or use a 'literal string' (single quotes), which keeps backslashes as typed."),
    ("Invalid hex value", "a \\u or \\U escape has invalid hex digits",
     "Write \\u followed by exactly 4 hex digits, or \\U followed by 8."),
    ("Escaped character is not a Unicode scalar value", "a \\u escape names no Unicode character (a surrogate or above U+10FFFF)",
     "Write the character itself, or a \\U escape of a real code point."),
    ("Invalid date or datetime", "not a valid date or time",
     'Use RFC 3339, e.g. 2024-05-01T09:30:00Z or 2024-05-01; quote it if it is meant as text: "2024-05-01".'),
]


def toml_scan():
    """The position scanner, imported when a position is first needed."""
    from gatewayctl.source import toml_scan as module

    return module


def parse(path: str, text: str, sha256: str) -> LoadResult:
    if _fast_toml_loads is not None:
        # tomllib turns CRLF inside multi-line strings into LF and rtoml
        # keeps it; outside strings CRLF is just a newline. Normalizing first
        # makes both read the same values (rtoml gives no positions to shift).
        fast_text = text.replace("\r\n", "\n") if "\r" in text else text
        try:
            data = _fast_toml_loads(fast_text)
        except Exception:  # any refusal: let tomllib decide and explain
            pass
        else:
            return Document(path, text, "toml", data, sha256, build_index=_build), ()
    return parse_reference(path, text, sha256)


def parse_reference(path: str, text: str, sha256: str) -> LoadResult:
    """tomllib only: the parser of record for errors and positions."""
    import tomllib  # imported on the slow path only: a clean file never needs it

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, (_decode_error(path, text, str(exc)),)
    except RecursionError:
        return None, (load_diagnostic(
            "GW002", path, "arrays or inline tables are nested too deeply to read",
            "Flatten the structure; a config never needs hundreds of nesting levels.",
            LineTable(text).first_line_range()),)
    except ValueError as exc:  # int() refuses numbers of more than 4300 digits
        return None, (_huge_number(path, text, exc),)
    return Document(path, text, "toml", data, sha256, build_index=_build), ()


def _build(doc: Document):
    try:
        return toml_scan().build_index(doc.text)
    except toml_scan().ScanError:
        return None


def _decode_error(path: str, text: str, raw: str):
    lines = LineTable(text)
    m = _WHERE.match(raw)
    if m is None:  # every tomllib error has a location today; stay useful if that changes
        return load_diagnostic("GW002", path, f"invalid TOML: {raw}", "", lines.first_line_range())
    msg = m.group("msg")
    if m.group("line"):
        offset = lines.offset(int(m.group("line")), int(m.group("col")))
    else:
        offset = len(text)
    if msg.startswith(_REDEFINITION):
        return _redefinition(path, text, lines, msg, offset)
    if offset >= len(text):
        # "end of document": point at the last thing written, not at an
        # empty line after the final newline.
        offset = len(text.rstrip(" \t\r\n"))
        start = lines.position(offset)
        rng = Range(start, start)
    else:
        start = lines.position(offset)
        end_column = min(start.column + 1, len(lines.line_text(start.line)) + 1)
        rng = Range(start, Position(start.line, end_column))
    message, hint = _syntax_message(msg)
    return load_diagnostic("GW002", path, f"invalid TOML: {message}", hint, rng)


def _syntax_message(msg: str) -> tuple[str, str]:
    if msg.startswith("Illegal character"):
        char = msg[len("Illegal character "):].strip()
        if char in ("'\\n'", "'\\r'"):
            return "a string is not closed before the end of the line", _STRING_HINT
        return (
            f"the control character {char} is not allowed here",
            "Remove it, or inside a \"basic\" string write it as an escape such as \\u0007.",
        )
    if msg.startswith("Found invalid character"):
        return (
            "a character is not allowed here: " + msg[len("Found invalid character "):],
            "Remove the character or quote the value.",
        )
    for prefix, message, hint in _SYNTAX:
        if msg.startswith(prefix):
            return message, hint
    text = msg[:1].lower() + msg[1:]
    return text, "See https://toml.io/en/v1.0.0 for the syntax."


def display_key(path: tuple) -> str:
    out = ""
    for token in path:
        if token.isdigit() and out:
            out += f"[{token}]"
            continue
        part = token if _BARE_KEY.match(token) else '"' + token.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out = f"{out}.{part}" if out else part
    return out


def _redefinition(path: str, text: str, lines: LineTable, msg: str, offset: int):
    found = None
    try:
        found = toml_scan().explain_redefinition(text, offset)
    except RecursionError:
        found = None
    if found is None:
        # Explaining failed (a scanner gap): still report where tomllib stopped.
        start = lines.position(min(offset, len(text.rstrip())))
        return load_diagnostic(
            "GW004", path, f"a key or table is defined twice ({msg})",
            "Remove one of the definitions or merge them; TOML allows each key and table once.",
            Range(start, start))
    name = display_key(found.path)
    first_line = lines.position(found.first[0]).line
    if found.first_kind == "inline":
        message = f"duplicate key '{name}': already written as an inline table on line {first_line}"
        hint = (f"An inline table is complete as written: add the key inside the braces on line {first_line}, "
                f"or turn it into a [{name}] section.")
    elif found.first_kind == "array":
        message = f"duplicate key '{name}': already written as an array on line {first_line}"
        hint = "An array written with [ ] cannot be extended with [[...]] headers; use one form."
    elif found.first_kind == "value" and found.deeper:
        message = f"duplicate key '{name}': already a value on line {first_line}, so it cannot also be a table"
        hint = "Rename one of them, or make the first a table."
    else:
        message = f"duplicate key '{name}': first defined on line {first_line}"
        hint = "Remove one of the two definitions or merge them; TOML allows each key and table once."
    return load_diagnostic("GW004", path, message, hint, lines.range(*found.second), pointer_join(*found.path))


def _huge_number(path: str, text: str, exc: ValueError):
    lines = LineTable(text)
    m = _HUGE_INT.search(text)
    rng = lines.range(m.start(), m.end()) if m else lines.first_line_range()
    return load_diagnostic(
        "GW007", path, "a number has more digits than can be read (over 4300)",
        "Quote it if it is an identifier: value = \"...\".", rng)
