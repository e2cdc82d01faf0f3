"""JSON: the json module for values, a small scanner for positions.

Duplicate keys are legal to json.loads (the last wins) but not to us: a
pairs hook notices them and the scanner then finds where they are written.
NaN and Infinity are refused because they are not JSON.

Imports json, gatewayctl.diagnostics and source.*; nothing from later stages.
"""

from __future__ import annotations

import json
import re

from gatewayctl.diagnostics import Position, Range, pointer_join
from gatewayctl.source.common import LoadResult, load_diagnostic, type_name
from gatewayctl.source.document import Document
from gatewayctl.source.text import Entry, LineTable

MAX_DEPTH = 400
_WS = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_LITERAL = re.compile(r"true|false|null")

_MESSAGES = {
    "Expecting value": ("expected a value", 'A value is a "string", a number, true, false, null, [a list] or {an object}.'),
    "Expecting ',' delimiter": ("expected ',' between items", "Separate items and key/value pairs with commas."),
    "Expecting ':' delimiter": ("expected ':' after the key", 'Write "key": value.'),
    "Expecting property name enclosed in double quotes": (
        "expected a key in double quotes",
        'Keys are "quoted"; JSON allows no trailing comma before } or ].',
    ),
    "Extra data": ("unexpected text after the end of the document", "A JSON file holds exactly one value."),
    "Unterminated string starting at": ("a string is never closed", 'Close the string with " on the same line.'),
    "Invalid control character at": ("a control character inside a string", "Write it as an escape such as \\n or \\t."),
    "Invalid \\escape": ("an invalid backslash escape", "Valid escapes: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX."),
    "Invalid \\uXXXX escape": ("an invalid \\u escape", "Write \\u followed by exactly 4 hex digits."),
}


class _Duplicate(Exception):
    pass


def parse(path: str, text: str, sha256: str) -> LoadResult:
    lines = LineTable(text)
    duplicates = []

    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                duplicates.append(k)
            out[k] = v
        return out

    def constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        return None, (_syntax(path, text, lines, exc),)
    except RecursionError:
        return None, (load_diagnostic("GW005", path, "invalid JSON: nested too deeply to read",
                                      "Flatten the structure.", lines.first_line_range()),)
    except ValueError as exc:
        return None, (_value_error(path, text, lines, str(exc)),)
    if duplicates:
        try:
            return None, tuple(_duplicates(path, text, lines))
        except RecursionError:  # deeper than the scanner follows: name the key, skip the place
            return None, (load_diagnostic(
                "GW004", path, f"duplicate key '{duplicates[0]}'",
                "Remove one of the two entries or merge them; the later one would silently win.",
                lines.first_line_range()),)
    if not isinstance(data, dict):
        rng = lines.line_range(lines.position(len(text) - len(text.lstrip(" \t\r\n"))).line)
        return None, (load_diagnostic(
            "GW006", path, f"the top level of a config must be an object of sections, not {type_name(data)}",
            'Wrap the content in an object: {"telegram": {...}}.', rng),)
    return Document(path, text, "json", data, sha256, build_index=_build), ()


def _syntax(path, text, lines, exc):
    message, hint = exc.msg, ""
    for prefix, (ours, h) in _MESSAGES.items():
        if exc.msg.startswith(prefix):
            message, hint = ours, h
            break
    offset = min(exc.pos, len(text))
    if offset >= len(text):
        offset = len(text.rstrip(" \t\r\n"))
    start = lines.position(offset)
    end = Position(start.line, min(start.column + 1, len(lines.line_text(start.line)) + 1))
    return load_diagnostic("GW005", path, f"invalid JSON: {message}", hint, Range(start, end))


def _value_error(path, text, lines, reason):
    if "is not JSON" in reason:
        m = re.search(r"-?\b(?:NaN|Infinity)\b", text)
        rng = lines.range(m.start(), m.end()) if m else lines.first_line_range()
        return load_diagnostic("GW005", path, f"invalid JSON: {reason}",
                               'JSON has no NaN or Infinity; use a number, null or a string.', rng)
    m = re.search(r"\d{4300,}", text)
    rng = lines.range(m.start(), m.end()) if m else lines.first_line_range()
    return load_diagnostic("GW007", path, "a number has more digits than can be read (over 4300)",
                           'Quote it if it is an identifier: "...".', rng)


def _duplicates(path, text, lines):
    out = []
    scanner = _Scanner(text)
    scanner.value(0, (), 0)
    for tokens, span, first in scanner.duplicates:
        first_line = lines.position(first).line
        out.append(load_diagnostic(
            "GW004", path,
            f"duplicate key '{tokens[-1]}': first defined on line {first_line}, again on line {lines.position(span[0]).line}",
            "Remove one of the two entries or merge them; the later one would silently win.",
            lines.range(*span), pointer_join(*tokens)))
    return out


class _Scanner:
    """Walks text json.loads accepted, recording every pointer's spans."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.entries: dict[tuple, Entry] = {}
        self.duplicates: list = []

    def _ws(self, p: int) -> int:
        return _WS.match(self.s, p).end()

    def value(self, p: int, tokens: tuple, depth: int, key=None) -> int:
        if depth > MAX_DEPTH:
            raise RecursionError("JSON nested too deeply to locate")
        s = self.s
        p = self._ws(p)
        c = s[p]
        if c == "{":
            start = p
            p = self._ws(p + 1)
            seen: dict[str, int] = {}
            if s[p] == "}":
                end = p + 1
            else:
                while True:
                    m = _STRING.match(s, p)
                    name = json.loads(m.group())
                    kspan = (m.start(), m.end())
                    p = self._ws(m.end())
                    p = self._ws(p + 1)  # the ':'
                    if name in seen:
                        self.duplicates.append((tokens + (name,), kspan, seen[name]))
                        p = self.value(p, tokens + ("\x00dup",), depth + 1)
                    else:
                        seen[name] = kspan[0]
                        p = self.value(p, tokens + (name,), depth + 1, key=kspan)
                    p = self._ws(p)
                    if s[p] == ",":
                        p = self._ws(p + 1)
                        continue
                    end = p + 1
                    break
            self.entries[tokens] = Entry(value=(start, end), key=key)
            return end
        if c == "[":
            start = p
            p = self._ws(p + 1)
            i = 0
            if s[p] == "]":
                end = p + 1
            else:
                while True:
                    p = self._ws(self.value(p, tokens + (str(i),), depth + 1))
                    i += 1
                    if s[p] == ",":
                        p += 1
                        continue
                    end = p + 1
                    break
            self.entries[tokens] = Entry(value=(start, end), key=key)
            return end
        if c == '"':
            m = _STRING.match(s, p)
            raw = m.group()[1:-1]
            slash = raw.find("\\")
            clean = len(raw) if slash == -1 else slash
            self.entries[tokens] = Entry(value=(m.start(), m.end()), key=key, content_start=p + 1, clean_len=clean)
            return m.end()
        m = _NUMBER.match(s, p) or _LITERAL.match(s, p)
        self.entries[tokens] = Entry(value=(m.start(), m.end()), key=key)
        return m.end()


class _JsonIndex:
    def __init__(self, entries: dict) -> None:
        self.entries = entries

    def entry(self, tokens) -> Entry | None:
        return self.entries.get(tuple(tokens))


def _build(doc: Document):
    scanner = _Scanner(doc.text)
    scanner.value(0, (), 0)
    return _JsonIndex(scanner.entries)
