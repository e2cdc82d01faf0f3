"""A position-keeping TOML scanner: JSON pointer -> key/value source spans.

tomllib (the parser of record) keeps no positions, and tomlkit's item tree
has no reliable source offsets (its items know their text, not where it
was), so this module scans the text itself. It runs only on text tomllib
already accepted (or, to explain a duplicate key, on the accepted prefix
up to the offending statement), which keeps it small: it checks structure,
not the finer rules of TOML.

Spans are (start, end) character offsets into the original text (CRLF kept);
``text.LineTable`` turns them into positions.

Imports the standard library and source.text only (not tomllib: it must
not depend on a parser it is checked against).
"""

from __future__ import annotations

import re

from gatewayctl.records import field, record
from gatewayctl.source.text import Entry

# Deeper than tomllib's own recursion allows in practice; a guard so that
# this scanner fails cleanly instead of exhausting the stack.
MAX_DEPTH = 400

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?)?"
    r"|\d{2}:\d{2}:\d{2}(?:\.\d+)?"
)
_TOKEN = re.compile(r"[A-Za-z0-9_+.:-]+")
_BASIC_BODY = re.compile(r'[^"\\\n]*')
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.S)
_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class ScanError(Exception):
    """The text is not the TOML this scanner expects (a bug or a rejected file)."""


@record(frozen=False)
class Value:
    start: int
    end: int
    kind: str  # "string" | "scalar" | "array" | "inline"
    content_start: int | None = None
    clean_len: int = 0
    items: list = field(default_factory=list)  # Value (array) or KeyVal (inline)


@record(frozen=False)
class KeyPart:
    name: str
    start: int
    end: int


@record(frozen=False)
class KeyVal:
    keys: list
    value: Value

    @property
    def start(self) -> int:
        return self.keys[0].start


@record(frozen=False)
class Header:
    keys: list
    aot: bool
    start: int
    end: int

    @property
    def name_span(self) -> tuple[int, int]:
        return (self.keys[0].start, self.keys[-1].end)


def decode_basic(raw: str) -> str:
    def sub(m: re.Match) -> str:
        if m.group(1) or m.group(2):
            return chr(int(m.group(1) or m.group(2), 16))
        return _SIMPLE_ESCAPES.get(m.group(3), m.group(3))

    return _ESCAPE.sub(sub, raw)


class Scanner:
    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)

    # -- document -------------------------------------------------------

    def statements(self, stop: int | None = None) -> list:
        """Headers and key/value pairs in document order.

        With ``stop``: scan until a statement reaches that offset and return
        what was scanned when the text breaks off (the explain-an-error mode).
        """
        s, n = self.s, self.n
        out: list = []
        pos = 0
        try:
            while True:
                pos = self._ws(pos)
                if pos >= n:
                    break
                c = s[pos]
                if c == "\n":
                    pos += 1
                    continue
                if c == "\r" and s.startswith("\r\n", pos):
                    pos += 2
                    continue
                if c == "#":
                    pos = self._comment(pos)
                    continue
                if c == "[":
                    stmt, pos = self._header(pos)
                else:
                    stmt, pos = self._keyval(pos, 0)
                out.append(stmt)
                if stop is not None and pos >= stop:
                    break
                pos = self._ws(pos)
                if pos < n and s[pos] == "#":
                    pos = self._comment(pos)
                if pos < n and s[pos] not in "\r\n":
                    raise ScanError(f"text after a statement at {pos}")
        except (ScanError, IndexError, ValueError):
            if stop is None:
                raise ScanError("unscannable text") from None
        return out

    # -- pieces ---------------------------------------------------------

    def _ws(self, pos: int) -> int:
        s, n = self.s, self.n
        while pos < n and s[pos] in " \t":
            pos += 1
        return pos

    def _comment(self, pos: int) -> int:
        end = self.s.find("\n", pos)
        end = self.n if end == -1 else end
        if end > pos and self.s[end - 1] == "\r":
            end -= 1
        return end

    def _blank(self, pos: int) -> int:
        """Skip blanks, line breaks and comments (inside arrays)."""
        s, n = self.s, self.n
        while pos < n:
            c = s[pos]
            if c in " \t\r\n":
                pos += 1
            elif c == "#":
                pos = self._comment(pos)
            else:
                break
        return pos

    def _header(self, pos: int):
        s = self.s
        aot = s.startswith("[[", pos)
        p = self._ws(pos + (2 if aot else 1))
        keys, p = self._key(p)
        p = self._ws(p)
        close = "]]" if aot else "]"
        if not s.startswith(close, p):
            raise ScanError(f"header not closed at {p}")
        end = p + len(close)
        return Header(keys, aot, pos, end), end

    def _key(self, p: int):
        s = self.s
        parts = []
        while True:
            p = self._ws(p)
            c = s[p]
            if c == '"':
                m = _BASIC_BODY.match(s, p + 1)
                body_end = m.end()
                # skip escapes: the body regex stops at a backslash
                while s[body_end] == "\\":
                    body_end = _BASIC_BODY.match(s, body_end + 2).end()
                if s[body_end] != '"':
                    raise ScanError(f"unterminated quoted key at {p}")
                parts.append(KeyPart(decode_basic(s[p + 1 : body_end]), p, body_end + 1))
                p = body_end + 1
            elif c == "'":
                end = s.index("'", p + 1)
                parts.append(KeyPart(s[p + 1 : end], p, end + 1))
                p = end + 1
            else:
                m = _BARE.match(s, p)
                if m is None:
                    raise ScanError(f"bad key at {p}")
                parts.append(KeyPart(m.group(), p, m.end()))
                p = m.end()
            q = self._ws(p)
            if q < self.n and s[q] == ".":
                p = q + 1
                continue
            return parts, p

    def _keyval(self, pos: int, depth: int):
        keys, p = self._key(pos)
        p = self._ws(p)
        if self.s[p] != "=":
            raise ScanError(f"expected '=' at {p}")
        value, p = self._value(self._ws(p + 1), depth)
        return KeyVal(keys, value), p

    def _value(self, p: int, depth: int):
        if depth > MAX_DEPTH:
            raise ScanError("nested too deeply")
        s = self.s
        c = s[p]
        if c == '"':
            if s.startswith('"""', p):
                return self._ml_string(p, '"""')
            return self._basic(p)
        if c == "'":
            if s.startswith("'''", p):
                return self._ml_string(p, "'''")
            end = s.index("'", p + 1)
            return Value(p, end + 1, "string", p + 1, end - p - 1), end + 1
        if c == "[":
            return self._array(p, depth)
        if c == "{":
            return self._inline(p, depth)
        m = _DATETIME.match(s, p) or _TOKEN.match(s, p)
        if m is None:
            raise ScanError(f"bad value at {p}")
        return Value(p, m.end(), "scalar"), m.end()

    def _basic(self, p: int):
        s = self.s
        i = _BASIC_BODY.match(s, p + 1).end()
        first_escape = i if s[i] == "\\" else None
        while s[i] == "\\":
            i = _BASIC_BODY.match(s, i + 2).end()
        if s[i] != '"':
            raise ScanError(f"unterminated string at {p}")
        clean_end = first_escape if first_escape is not None else i
        return Value(p, i + 1, "string", p + 1, clean_end - p - 1), i + 1

    def _ml_string(self, p: int, delim: str):
        s = self.s
        start = p + 3
        # A line break right after the opening delimiter is not content.
        if s.startswith("\n", start):
            start += 1
        elif s.startswith("\r\n", start):
            start += 2
        quote = delim[0]
        i = start
        first_special = None
        while True:
            c = s[i]
            if c == quote and s.startswith(delim, i):
                run = 3
                while run < 5 and i + run < self.n and s[i + run] == quote:
                    run += 1
                close_end = i + run
                content_end = close_end - 3
                break
            if c == "\\" and quote == '"':
                if first_special is None:
                    first_special = i
                i += 2
                continue
            if c == "\r" and first_special is None:
                first_special = i  # CRLF decodes to one character
            i += 1
        clean_end = content_end if first_special is None else min(first_special, content_end)
        return Value(p, close_end, "string", start, max(clean_end - start, 0)), close_end

    def _array(self, p: int, depth: int):
        s = self.s
        items = []
        i = self._blank(p + 1)
        while s[i] != "]":
            v, i = self._value(i, depth + 1)
            items.append(v)
            i = self._blank(i)
            if s[i] == ",":
                i = self._blank(i + 1)
            elif s[i] != "]":
                raise ScanError(f"bad array at {i}")
        return Value(p, i + 1, "array", items=items), i + 1

    def _inline(self, p: int, depth: int):
        s = self.s
        items = []
        i = self._blank(p + 1)
        while s[i] != "}":
            kv, i = self._keyval(i, depth + 1)
            items.append(kv)
            i = self._blank(i)
            if s[i] == ",":
                i = self._blank(i + 1)
            elif s[i] != "}":
                raise ScanError(f"bad inline table at {i}")
        return Value(p, i + 1, "inline", items=items), i + 1


# -- pointers -------------------------------------------------------------


@record(frozen=False)
class Definition:
    """One place that defines a path (for explaining redefinitions)."""

    path: tuple
    span: tuple[int, int]  # where to point: key or header name
    explicit: bool  # a header's own table, a key's value (not a parent made on the way)
    stmt_start: int
    stmt_end: int  # header end, or the end of the key's value
    is_header: bool
    value_kind: str = ""  # for key/value leaves: the Value.kind


class Builder:
    """Applies TOML's table rules to scanned statements to name every path."""

    def __init__(self) -> None:
        self.entries: dict[tuple, Entry] = {}
        self.aot_counts: dict[tuple, int] = {}
        self.explicit: set[tuple] = set()
        self.defs: list[Definition] = []
        self.table: tuple = ()

    def add(self, stmt) -> None:
        if isinstance(stmt, Header):
            self._header(stmt)
        else:
            self._keyval(stmt, self.table)

    def _header(self, h: Header) -> None:
        entries = self.entries
        line_span = (h.start, h.end)
        path: tuple = ()
        last = len(h.keys) - 1
        for i, part in enumerate(h.keys):
            path = path + (part.name,)
            if i < last:
                if path not in entries:
                    entries[path] = Entry(value=line_span, key=(part.start, part.end))
                self.defs.append(Definition(path, (part.start, part.end), False, h.start, h.end, True))
                if path in self.aot_counts:
                    path = path + (str(self.aot_counts[path] - 1),)
            elif h.aot:
                self.defs.append(Definition(path, h.name_span, True, h.start, h.end, True))
                count = self.aot_counts.get(path, 0)
                if count == 0:
                    entries[path] = Entry(value=line_span, key=h.name_span)
                self.aot_counts[path] = count + 1
                path = path + (str(count),)
                entries[path] = Entry(value=line_span, key=h.name_span)
            else:
                self.defs.append(Definition(path, h.name_span, True, h.start, h.end, True))
                # An explicit [header] is where a table "is", even if a deeper
                # header already created it implicitly.
                if path not in self.explicit:
                    entries[path] = Entry(value=line_span, key=h.name_span)
                    self.explicit.add(path)
        self.table = path

    def _keyval(self, kv: KeyVal, base: tuple) -> None:
        entries = self.entries
        path = base
        value = kv.value
        for part in kv.keys[:-1]:
            path = path + (part.name,)
            if path not in entries:
                entries[path] = Entry(value=(part.start, value.end), key=(part.start, part.end))
            self.defs.append(Definition(path, (part.start, part.end), False, kv.start, value.end, False))
        leaf = kv.keys[-1]
        path = path + (leaf.name,)
        self.defs.append(
            Definition(path, (kv.keys[0].start, leaf.end), True, kv.start, value.end, False, value.kind)
        )
        self._value(path, (leaf.start, leaf.end), value)

    def _value(self, path: tuple, key, value: Value) -> None:
        self.entries[path] = Entry(
            value=(value.start, value.end),
            key=key,
            content_start=value.content_start,
            clean_len=value.clean_len,
        )
        if value.kind == "array":
            for i, item in enumerate(value.items):
                self._value(path + (str(i),), None, item)
        elif value.kind == "inline":
            for item in value.items:
                self._keyval(item, path)


@record
class TomlIndex:
    entries: dict

    def entry(self, tokens) -> Entry | None:
        return self.entries.get(tuple(tokens))


def build_index(text: str) -> TomlIndex:
    builder = Builder()
    for stmt in Scanner(text).statements():
        builder.add(stmt)
    return TomlIndex(builder.entries)


# -- explaining a redefinition ------------------------------------------------


@record
class Redefinition:
    path: tuple  # the key defined twice
    second: tuple[int, int]  # span of the offending definition
    first: tuple[int, int]  # span of the earlier one
    first_kind: str  # "table" | "array" | "inline" | "value" | "dotted"
    # The offending definition reaches below ``path`` (a.b.c = 1 after a.b = 1):
    # the clash is a value that would have to become a table.
    deeper: bool = False


def explain_redefinition(text: str, offset: int) -> Redefinition | None:
    """Find the definition tomllib rejected at ``offset`` and the one it clashes with."""
    builder = Builder()
    for stmt in Scanner(text).statements(stop=offset):
        builder.add(stmt)
    defs = builder.defs
    second_i = None
    for i, d in enumerate(defs):
        if d.is_header:
            if d.stmt_start <= offset <= d.stmt_end:
                second_i = i
        elif d.explicit and d.stmt_end == offset:
            second_i = i
    if second_i is None:
        return None
    second = defs[second_i]
    # The statement's own parents ("a" of "a.c = 1") are not earlier definitions.
    earlier = [d for d in defs[:second_i] if d.stmt_start < second.stmt_start or d.stmt_end < second.stmt_start]
    target = second.path
    first = next((d for d in earlier if d.path == target and d.explicit), None)
    if first is None:
        first = next((d for d in earlier if d.path == target), None)
    if first is None:
        first = next(
            (d for d in earlier if d.explicit and not d.is_header and target[: len(d.path)] == d.path),
            None,
        )
        if first is not None:
            target = first.path
    if first is None:
        return None
    if first.is_header:
        kind = "table"
    elif not first.explicit:
        kind = "dotted"
    else:
        kind = {"inline": "inline", "array": "array"}.get(first.value_kind, "value")
    return Redefinition(target, second.span, first.span, kind, len(second.path) > len(target))
