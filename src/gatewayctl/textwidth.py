"""Display width of text on a terminal, and fitting text into columns.

The only importer of wcwidth. A terminal gives an East Asian wide
character (飞书, 告警) two columns and a combining mark none, so anything
that lines text up (the carets under `check`'s snippets, the columns of
multi-channel-serve's live table) measures columns, never code points.
A character wcwidth calls non-printable (a control character) counts as
zero: callers escape control characters before printing.

wcwidth is imported on the first character that is not printable ASCII:
most configs are ASCII, and importing it costs a cold `check` more than
the whole lint of a seed-sized file.
"""

from __future__ import annotations

ELLIPSIS = "…"

_wcwidth = None


def char_width(ch: str) -> int:
    if " " <= ch <= "~":
        return 1
    global _wcwidth
    if _wcwidth is None:
        from wcwidth import wcwidth

        _wcwidth = wcwidth
    w = _wcwidth(ch)
    return w if w > 0 else 0


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal."""
    if text.isascii():
        return sum(1 for ch in text if " " <= ch <= "~")
    return sum(char_width(ch) for ch in text)


def fit(text: str, columns: int) -> str:
    """``text`` cut to at most ``columns`` columns, ending in … when cut."""
    if columns <= 0:
        return ""
    if width(text) <= columns:
        return text
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > columns - 1:  # keep one column for the ellipsis
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def pad(text: str, columns: int, align: str = "<") -> str:
    """``text`` fitted to ``columns`` and padded with spaces to exactly that width."""
    text = fit(text, columns)
    gap = " " * (columns - width(text))
    return text + gap if align == "<" else gap + text
