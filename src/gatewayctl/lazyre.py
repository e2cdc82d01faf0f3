"""Regular expressions compiled on first use.

A cold `gatewayctl check` of a clean file imports some thirty module-level
patterns and uses four (bench/bench_coldstart.py); compiling the others
(error messages, suppression comments, redaction, selector syntax) cost it
about 3 ms. ``lazy(pattern, flags)`` stands where ``re.compile(pattern,
flags)`` stood and compiles the pattern the first time one of its methods
or attributes is used; the compiled pattern then answers everything, so
behaviour is re's own.

Imports nothing at module level (re is imported on first use); any
gatewayctl package may import it.
"""

from __future__ import annotations

__all__ = ["ALNUM", "LOWER_ALNUM", "CharsetName", "lazy"]


class LazyPattern:
    __slots__ = ("_pattern", "_flags", "_compiled")

    def __init__(self, pattern, flags=0):
        self._pattern = pattern
        self._flags = flags
        self._compiled = None

    def __getattr__(self, name):
        compiled = self._compiled
        if compiled is None:
            import re

            compiled = self._compiled = re.compile(self._pattern, self._flags)
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy({self._pattern!r})"


def lazy(pattern, flags=0) -> LazyPattern:
    """``re.compile(pattern, flags)``, compiled when first used."""
    return LazyPattern(pattern, flags)


class CharsetName:
    """``re.compile(f"[{first}][{rest}]*\\\\Z").match`` for plain character
    sets, without re: a name-shaped check on the clean path (env pointer
    names, profile ids) must not cost a cold check the re import. ``match``
    answers True or False where re answers a match or None (callers test
    its truth); tests/test_records.py holds it to the regular expression."""

    __slots__ = ("_first", "_rest")

    def __init__(self, first: str, rest: str):
        self._first = frozenset(first)
        self._rest = rest

    def match(self, text: str) -> bool:
        return text != "" and text[0] in self._first and not text.strip(self._rest)


_ASCII_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
LOWER_ALNUM = _ASCII_LOWER + _DIGITS
ALNUM = _ASCII_LOWER + _ASCII_LOWER.upper() + _DIGITS
