"""Offsets to 1-based line/column positions, shared by every format.

Lines are split on "\\n" only (a "\\r" before it belongs to no column), the
way tomllib and json count them, so a position computed here matches the
coordinates those parsers print.

Imports the standard library and gatewayctl.diagnostics only.
"""

from __future__ import annotations

from bisect import bisect_right

from gatewayctl.diagnostics import Position, Range
from gatewayctl.records import record

BOM = "\ufeff"


class LineTable:
    __slots__ = ("_text", "_starts")

    def __init__(self, text: str) -> None:
        starts = [0]
        find = text.find
        i = find("\n")
        while i != -1:
            starts.append(i + 1)
            i = find("\n", i + 1)
        self._text = text
        self._starts = starts

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def line_text(self, n: int) -> str:
        """Line ``n`` (1-based) without its line break; "" when out of range."""
        if n < 1 or n > len(self._starts):
            return ""
        start = self._starts[n - 1]
        end = self._starts[n] - 1 if n < len(self._starts) else len(self._text)
        line = self._text[start:end]
        return line[:-1] if line.endswith("\r") else line

    def position(self, offset: int) -> Position:
        offset = min(max(offset, 0), len(self._text))
        line = bisect_right(self._starts, offset)
        column = offset - self._starts[line - 1] + 1
        # An offset on the "\r" of a CRLF pair (or the "\n") still maps to
        # just past the visible line, so every position stays inside a line.
        column = min(column, len(self.line_text(line)) + 1)
        return Position(line, column)

    def range(self, start: int, end: int) -> Range:
        if end < start:
            end = start
        return Range(self.position(start), self.position(end))

    def line_start(self, line: int) -> int:
        """Offset of the first character of 1-based ``line`` (the text's
        length past the last line)."""
        if line > len(self._starts):
            return len(self._text)
        return self._starts[max(line, 1) - 1]

    def offset(self, line: int, column: int) -> int:
        """The offset of a 1-based (line, column), clamped into the text."""
        if line < 1:
            return 0
        if line > len(self._starts):
            return len(self._text)
        start = self._starts[line - 1]
        return min(start + max(column, 1) - 1, start + len(self.line_text(line)))

    def first_line_range(self) -> Range:
        return Range(Position(1, 1), Position(1, len(self.line_text(1)) + 1))

    def line_range(self, line: int) -> Range:
        line = min(max(line, 1), len(self._starts))
        return Range(Position(line, 1), Position(line, len(self.line_text(line)) + 1))


def trim_end(text: str, start: int, end: int) -> int:
    """Move ``end`` back over trailing blanks and line breaks (not past start).

    Parsers often end a node at the start of the next line; a range that
    spills onto that line would underline the wrong text.
    """
    while end > start and text[end - 1] in " \t\r\n":
        end -= 1
    return end


@record
class Entry:
    """Where one pointer's key and value are written (character offsets).

    ``key`` is None for entries without a key (array items, selectors).
    For a string value, ``content_start`` is the offset of its first decoded
    character in the source and ``clean_len`` how many decoded characters
    map one-to-one onto source characters from there (up to the first
    escape, line continuation or CRLF).
    """

    value: tuple[int, int]
    key: tuple[int, int] | None = None
    content_start: int | None = None
    clean_len: int = 0
