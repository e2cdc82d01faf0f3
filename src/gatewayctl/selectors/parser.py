"""Parse channel-account selector texts.

Two readings, because loong has one and gatewayctl's config list had another:

- ``parse_flag_selectors``: loong's. One value is one selector, exactly as
  loong's ``--channel-account`` parses it (crates/daemon/src/lib.rs:1003,
  ``parse_multi_channel_serve_channel_account``): trimmed, split at the
  first ``=``, channel and account trimmed, neither empty. Everything after
  the first ``=`` is the account id, commas and further ``=`` included
  (loong normalizes it later: ``a,b`` -> ``a-b``). Used for command-line
  selectors and for config list entries without a comma.
- ``parse_selectors``: the comma-separated list (selectors.lark), kept for
  one deprecation period for config list entries that hold a comma (the
  validate stage warns about each, GW409).

The grammar (selectors.lark) is the formal definition of the list reading;
this module loads it once, runs it, and turns every parse failure into a
GW401 finding worded for people. Lark's terminal names, expected sets and
exception texts never reach a message.

Error recovery: a text that does not parse as a whole is split at its commas
and each entry is parsed on its own with the grammar's ``entry`` rule. A comma
can stand nowhere but between entries (neither a channel name nor an account
id may contain one), so the split is exact, and one bad entry never hides the
problems of the next. Within one entry only the first problem is reported:
after it, what the user meant is guesswork.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Sequence

from gatewayctl.diagnostics import Finding
from gatewayctl.lazyre import lazy
from gatewayctl.records import record

# typing.TYPE_CHECKING without importing typing (a cold check does not need it).
TYPE_CHECKING = False
if TYPE_CHECKING:  # lark is imported on first use: well-formed input never needs it
    from lark import Lark, Token
    from lark.exceptions import UnexpectedInput

__all__ = ["Selector", "parse_flag_selectors", "parse_selectors", "show", "SYNTAX_CODE"]

SYNTAX_CODE = "GW401"

_HINT = "A selector is CHANNEL=ACCOUNT, for example `lark=work`; the account id must exist in the config."
_CHANNEL_CHARS = "a channel name is ASCII letters, digits, `-` and `_`"
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_MAX_SHOWN = 48


@record
class Selector:
    """One well-formed CHANNEL=ACCOUNT entry and where it was written."""

    channel: str  # as typed, trimmed (not lowercased)
    account: str  # as typed, trimmed
    pointer: str  # pointer of the source string ("/3" or "/gateway/channel_accounts/0")
    offset: int  # 0-based char offset of the entry inside that string
    length: int  # length of the entry (channel through account)
    channel_offset: int
    channel_length: int
    account_offset: int
    account_length: int

    @property
    def text(self) -> str:
        """The entry as a user would retype it, for messages."""
        return f"{self.channel}={self.account}"


@functools.cache
def _parser() -> "Lark":
    from lark import Lark

    # Loaded once per process: building the LALR tables is the expensive part
    # of lark, parsing a selector afterwards costs microseconds.
    # Read beside this module (the package is a directory on disk, in a
    # checkout and in an installed wheel alike).
    with open(os.path.join(os.path.dirname(__file__), "selectors.lark"), encoding="utf-8") as fh:
        grammar = fh.read()
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        start=["selectors", "entry"],
        propagate_positions=True,
    )


def parse_selectors(
    items: Sequence[tuple[str, str]],
) -> tuple[tuple[Selector, ...], tuple[Finding, ...]]:
    """Parse ``(pointer, text)`` pairs; each text holds one or more entries.

    Returns the well-formed selectors in input order and one GW401 finding per
    malformed entry. Never raises on user input. A non-string item is skipped:
    the schema stage reports its type (GW102).
    """
    selectors: list[Selector] = []
    findings: list[Finding] = []
    for pointer, text in items:
        if isinstance(text, str):
            _parse_text(pointer, text, selectors, findings)
    return tuple(selectors), tuple(findings)


# What Rust's str::trim() removes: Unicode White_Space. (Python's str.strip()
# also removes U+001C..U+001F, which loong keeps.)
RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CHANNEL = lazy(r"[A-Za-z0-9_-]+")
_FLAG_HINT = (
    "A selector is CHANNEL=ACCOUNT, for example `lark=work`; one --channel-account value "
    "(or one list entry) holds one selector."
)


def parse_flag_selectors(
    items: Sequence[tuple[str, str]],
) -> tuple[tuple[Selector, ...], tuple[Finding, ...]]:
    """Parse ``(pointer, text)`` pairs the way loong parses ``--channel-account``:
    each text is exactly one selector. Never raises on user input; a
    non-string item is skipped (the schema reports its type)."""
    selectors: list[Selector] = []
    findings: list[Finding] = []
    for pointer, text in items:
        if not isinstance(text, str):
            continue
        sel, finding = _parse_flag(pointer, text)
        if sel is not None:
            selectors.append(sel)
        if finding is not None:
            findings.append(finding)
    return tuple(selectors), tuple(findings)


def _parse_flag(pointer: str, text: str) -> tuple[Selector | None, Finding | None]:
    def bad(message: str, offset: int, length: int) -> tuple[None, Finding]:
        return None, Finding(SYNTAX_CODE, pointer, message, hint=_FLAG_HINT, column_offset=offset, length=length)

    trimmed = text.strip(RUST_WHITESPACE)
    if not trimmed:
        return bad("empty selector: expected CHANNEL=ACCOUNT, for example `lark=work`", 0, len(text))
    lead = len(text) - len(text.lstrip(RUST_WHITESPACE))
    eq = trimmed.find("=")
    if eq < 0:
        return bad(f"expected `=` followed by an account id after `{show(trimmed)}`", lead, len(trimmed))
    raw_channel = trimmed[:eq]
    channel = raw_channel.strip(RUST_WHITESPACE)
    if not channel:
        rest = trimmed[eq + 1 :].strip(RUST_WHITESPACE)
        after = f" `={show(rest)}`" if rest else " `=`"
        return bad(f"missing channel before{after}: write CHANNEL=ACCOUNT", lead + eq, 1)
    c_off = lead + len(raw_channel) - len(raw_channel.lstrip(RUST_WHITESPACE))
    if not _CHANNEL.fullmatch(channel):
        i = next(i for i, ch in enumerate(channel) if not _CHANNEL.fullmatch(ch))
        return bad(
            f"unexpected {_describe(channel[i])} in channel name `{show(channel)}`: {_CHANNEL_CHARS}",
            c_off + i,
            1,
        )
    raw_account = trimmed[eq + 1 :]
    account = raw_account.strip(RUST_WHITESPACE)
    if not account:
        return bad(f"missing account id after `{show(channel)}=`", lead + eq, 1)
    a_off = lead + eq + 1 + len(raw_account) - len(raw_account.lstrip(RUST_WHITESPACE))
    return (
        Selector(
            channel=channel,
            account=account,
            pointer=pointer,
            offset=c_off,
            length=a_off + len(account) - c_off,
            channel_offset=c_off,
            channel_length=len(channel),
            account_offset=a_off,
            account_length=len(account),
        ),
        None,
    )


def _parse_text(pointer: str, text: str, selectors: list[Selector], findings: list[Finding]) -> None:
    if not text.strip():
        findings.append(
            _finding(pointer, "empty selector: expected CHANNEL=ACCOUNT, for example `lark=work`", 0, len(text))
        )
        return
    fast = _fast_path(pointer, text)
    if fast is not None:
        selectors.extend(fast)
        return
    from lark import Tree
    from lark.exceptions import UnexpectedInput

    try:
        tree = _parser().parse(text, start="selectors")
    except UnexpectedInput:
        _recover(pointer, text, selectors, findings)
        return
    for entry in tree.children:
        if isinstance(entry, Tree):
            channel, _equals, account = entry.children
            selectors.append(_selector(pointer, 0, entry.meta.start_pos, channel, account))


# The grammar's terminals as one regex per entry. Well-formed entries (the
# overwhelming majority in a sweep) are recognised with it at a tenth of
# lark's cost; anything it does not fully match, including every malformed
# input, goes to the grammar, which stays the definition of the syntax.
# tests/test_selectors_fastpath.py proves that both agree on every input the
# fast path accepts.
_ENTRY = lazy(
    r"\s*(?P<channel>[A-Za-z0-9_-]+)\s*=\s*"
    r"(?P<account>[^=,\s\x00-\x1f\x7f-\x9f](?:[^=,\x00-\x1f\x7f-\x9f\u2028\u2029]*[^=,\s\x00-\x1f\x7f-\x9f])?)"
    r"\s*"
)


def _fast_path(pointer: str, text: str) -> list[Selector] | None:
    out: list[Selector] = []
    base = 0
    for segment in text.split(","):
        m = _ENTRY.fullmatch(segment)
        if m is None:
            return None
        c0, a0 = m.start("channel"), m.start("account")
        out.append(
            Selector(
                channel=m.group("channel"),
                account=m.group("account"),
                pointer=pointer,
                offset=base + c0,
                length=m.end("account") - c0,
                channel_offset=base + c0,
                channel_length=m.end("channel") - c0,
                account_offset=base + a0,
                account_length=m.end("account") - a0,
            )
        )
        base += len(segment) + 1
    return out


def _recover(pointer: str, text: str, selectors: list[Selector], findings: list[Finding]) -> None:
    bounds: list[tuple[int, int]] = []
    start = 0
    for i, ch in enumerate(text):
        if ch == ",":
            bounds.append((start, i))
            start = i + 1
    bounds.append((start, len(text)))
    if all(not text[a:b].strip() for a, b in bounds):
        findings.append(
            _finding(
                pointer,
                "empty selector: only commas, no CHANNEL=ACCOUNT entry",
                0,
                len(text),
            )
        )
        return
    last = len(bounds) - 1
    for k, (a, b) in enumerate(bounds):
        segment = text[a:b]
        if segment.strip():
            _parse_entry(pointer, a, segment, selectors, findings)
        elif k == 0:
            findings.append(
                _finding(
                    pointer,
                    "empty entry before the first comma: remove the comma or write CHANNEL=ACCOUNT before it",
                    b,
                    1,
                )
            )
        elif k == last:
            findings.append(
                _finding(pointer, "trailing comma: remove it or add CHANNEL=ACCOUNT after it", a - 1, 1)
            )
        else:
            findings.append(
                _finding(
                    pointer,
                    "empty entry between commas: remove one comma or write CHANNEL=ACCOUNT between them",
                    a - 1,
                    b - a + 2,
                )
            )


def _parse_entry(
    pointer: str, base: int, segment: str, selectors: list[Selector], findings: list[Finding]
) -> None:
    # The interactive parser hands us each token as it is accepted, so on an
    # error we know exactly how far the entry got (channel? `=`? account?)
    # without reading lark's parser state or its terminal names.
    from lark.exceptions import UnexpectedInput, UnexpectedToken

    interactive = _parser().parse_interactive(segment, start="entry")
    seen: list[Token] = []
    try:
        for token in interactive.iter_parse():
            seen.append(token)
        interactive.feed_eof(seen[-1] if seen else None)
    except UnexpectedInput as exc:
        if isinstance(exc, UnexpectedToken) and seen and exc.token is seen[-1]:
            seen.pop()
        message, offset, length = _explain(exc, segment, seen)
        findings.append(_finding(pointer, message, base + offset, length))
        return
    channel, _equals, account = seen
    selectors.append(_selector(pointer, base, channel.start_pos, channel, account))


def _explain(exc: "UnexpectedInput", segment: str, seen: list["Token"]) -> tuple[str, int, int]:
    from lark.exceptions import UnexpectedToken

    """Words, offset and length for the first problem of one entry.

    Decided by how many tokens the entry got through (the grammar is
    CHANNEL_NAME EQUALS ACCOUNT_ID) and by the character where it stopped;
    lark's own description of the failure is deliberately not used.
    """
    at_end = isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    pos = len(segment) if at_end or exc.pos_in_stream is None else exc.pos_in_stream
    char = segment[pos] if pos < len(segment) else ""
    whole = _show(segment.strip())

    if not seen:
        if char == "=":
            rest = segment[pos + 1 :].strip()
            after = f" `={_show(rest)}`" if rest else " `=`"
            return f"missing channel before{after}: write CHANNEL=ACCOUNT", pos, 1
        return (
            f"unexpected {_describe(char)} at the start of `{whole}`: {_CHANNEL_CHARS}",
            pos,
            1,
        )

    channel = seen[0]
    if len(seen) == 1:
        shown = _show(channel.value)
        if not char:
            return (
                f"expected `=` followed by an account id after `{shown}`",
                channel.start_pos,
                len(channel.value),
            )
        if pos == channel.end_pos and not char.isspace():
            word = segment[channel.start_pos : pos + _run_length(segment, pos)]
            return (
                f"unexpected {_describe(char)} in channel name `{_show(word)}`: "
                f"{_CHANNEL_CHARS}, followed by `=` and the account id",
                pos,
                1,
            )
        found_len = _run_length(segment, pos)
        return (
            f"expected `=` after channel `{shown}`, found {_describe_run(segment, pos, found_len)}",
            pos,
            found_len,
        )

    equals = seen[1]
    head = f"{_show(channel.value)}="
    if len(seen) == 2:
        if not char:
            return f"missing account id after `{head}`", equals.start_pos, 1
        if char == "=":
            return (
                f"unexpected `=` after `{head}`: an entry has exactly one `=`, between channel and account id",
                pos,
                1,
            )
        return (
            f"unexpected {_describe(char)} after `{head}`: an account id cannot contain "
            "control characters, `=` or `,`",
            pos,
            1,
        )

    account = seen[2]
    if char == "=":
        return (
            f"unexpected `=` after account id `{_show(account.value)}` in `{whole}`: an entry has exactly "
            "one `=`; separate entries with `,`",
            pos,
            1,
        )
    # The account stopped early: the next character cannot be inside an
    # account id, although whitespace around it was skipped. Point at it.
    for i in range(account.end_pos, len(segment)):
        c = segment[i]
        if _is_control(c):
            return (
                f"unexpected {_describe(c)} in account id `{whole}`: an account id may contain "
                "spaces but no tabs, line breaks or other control characters",
                i,
                1,
            )
    # Unreachable with the shipped grammar; kept worded in case it changes.
    return f"unexpected {_describe(char)} after `{whole}`", pos, max(1, len(char))


def _selector(pointer: str, base: int, entry_start: int, channel: Token, account: Token) -> Selector:
    return Selector(
        channel=channel.value,
        account=account.value,
        pointer=pointer,
        offset=base + entry_start,
        length=account.end_pos - entry_start,
        channel_offset=base + channel.start_pos,
        channel_length=len(channel.value),
        account_offset=base + account.start_pos,
        account_length=len(account.value),
    )


def _finding(pointer: str, message: str, offset: int, length: int) -> Finding:
    return Finding(SYNTAX_CODE, pointer, message, hint=_HINT, column_offset=offset, length=length)


def _is_control(c: str) -> bool:
    return unicodedata.category(c) == "Cc" or c in _LINE_BREAKS


def _run_length(segment: str, pos: int) -> int:
    """Length of the word starting at ``pos`` (up to whitespace or a separator)."""
    end = pos
    while end < len(segment) and not segment[end].isspace() and segment[end] not in "=,":
        end += 1
    return max(1, end - pos)


def _describe_run(segment: str, pos: int, length: int) -> str:
    if length == 1:
        return _describe(segment[pos])
    return f"`{_show(segment[pos : pos + length])}`"


def _describe(c: str) -> str:
    if not c:
        return "end of the selector"
    if c == "`":
        return "backtick"
    if c == " ":
        return "space"
    if c == "\t":
        return "tab (U+0009)"
    code = f"U+{ord(c):04X}"
    if c in _LINE_BREAKS:
        return f"line break ({code})"
    if unicodedata.category(c) == "Cc":
        return f"control character {code}"
    if c.isspace() or not c.isprintable():
        name = unicodedata.name(c, "").lower()
        return f"invisible character {code}" + (f" ({name})" if name else "")
    return f"character `{c}`"


def show(text: str) -> str:
    """User text made safe to quote in a one-line message (public: the
    selector rules quote account ids that may hold control characters)."""
    return _show(text)


def _show(text: str) -> str:
    """User text made safe to quote in a one-line message."""
    out = []
    for c in text:
        if c == "`":
            out.append("'")
        elif not c.isprintable() and c != " ":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    shown = "".join(out)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 1] + "\u2026"
