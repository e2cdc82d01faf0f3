"""Selector grammar and parser: well-formed lists, every GW401 kind with its
exact column, recovery across entries, and properties over arbitrary text."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayctl.diagnostics import CODES
from gatewayctl.selectors import Selector, parse_selectors
from gatewayctl.selectors.parser import _parser
from tests.support import examples


def parse(*texts: str):
    return parse_selectors([(f"/{i}", t) for i, t in enumerate(texts)])


def only_finding(text: str):
    selectors, findings = parse(text)
    assert len(findings) == 1, findings
    return selectors, findings[0]


def span(text: str, finding) -> str:
    return text[finding.column_offset : finding.column_offset + finding.length]


# ------------------------------------------------------------ well-formed


def test_one_selector_with_positions():
    (sel,), findings = parse("lark=work")
    assert findings == ()
    assert sel == Selector("lark", "work", "/0", 0, 9, 0, 4, 5, 4)


def test_whitespace_around_entries_and_equals_is_trimmed():
    text = "  lark = work ,\twecom=alerts  "
    (a, b), findings = parse(text)
    assert findings == ()
    assert (a.channel, a.account, b.channel, b.account) == ("lark", "work", "wecom", "alerts")
    assert text[a.offset : a.offset + a.length] == "lark = work"
    assert text[b.channel_offset : b.channel_offset + b.channel_length] == "wecom"
    assert text[b.account_offset : b.account_offset + b.account_length] == "alerts"


def test_account_may_hold_inner_spaces_and_any_letters():
    (sel,), findings = parse("Lark=Lark Prod")
    assert findings == ()
    assert (sel.channel, sel.account) == ("Lark", "Lark Prod")  # case kept: resolving is validate's job
    (sel,), findings = parse("feishu=运营 A/B.1")
    assert findings == ()
    assert sel.account == "运营 A/B.1"


def test_repeated_items_keep_their_pointers_and_order():
    selectors, findings = parse_selectors([("/gateway/channel_accounts/0", "lark=work"), ("/gateway/channel_accounts/1", "wecom=alerts, telegram=bot_1")])
    assert findings == ()
    assert [(s.pointer, s.channel, s.offset) for s in selectors] == [
        ("/gateway/channel_accounts/0", "lark", 0),
        ("/gateway/channel_accounts/1", "wecom", 0),
        ("/gateway/channel_accounts/1", "telegram", 14),
    ]


def test_non_string_items_are_left_to_the_schema():
    assert parse_selectors([("/0", 5), ("/1", "lark=work")])[1] == ()  # type: ignore[list-item]


# ------------------------------------------------------------ GW401 kinds

SYNTAX_CASES = [
    # text, offending span, column_offset, words the message must hold
    ("telegrambot123", "telegrambot123", 0, "expected `=` followed by an account id after `telegrambot123`"),
    ("  telegrambot123 ", "telegrambot123", 2, "expected `=` followed by an account id"),
    ("=work", "=", 0, "missing channel before `=work`"),
    ("lark=", "=", 4, "missing account id after `lark=`"),
    ("lark =  ", "=", 5, "missing account id after `lark=`"),
    ("lark=work,", ",", 9, "trailing comma: remove it or add CHANNEL=ACCOUNT after it"),
    (",lark=work", ",", 0, "empty entry before the first comma"),
    ("lark=work,,wecom=alerts", ",,", 9, "empty entry between commas"),
    ("lark=work, ,wecom=alerts", ", ,", 9, "empty entry between commas"),
    ("lark!=work", "!", 4, "unexpected character `!` in channel name `lark!`"),
    ("@lark=work", "@", 0, "unexpected character `@` at the start of `@lark=work`"),
    ("飞书=work", "飞", 0, "unexpected character `飞`"),
    ("lark work", "work", 5, "expected `=` after channel `lark`, found `work`"),
    ("lark=work=ops", "=", 9, "unexpected `=` after account id `work`"),
    ("lark==work", "=", 5, "unexpected `=` after `lark=`"),
    ("lark=Lark\tProd", "\t", 9, "unexpected tab (U+0009) in account id"),
    ("lark=work\nops", "\n", 9, "unexpected line break (U+000A) in account id"),
    ("lark=wo\x00rk", "\x00", 7, "unexpected control character U+0000 in account id"),
    ("lark=\x01", "\x01", 5, "unexpected control character U+0001 after `lark=`"),
    ("", "", 0, "empty selector"),
    ("   ", "   ", 0, "empty selector"),
    (",", ",", 0, "empty selector: only commas"),
    (" , ,", " , ,", 0, "empty selector: only commas"),
]


@pytest.mark.parametrize(("text", "offending", "offset", "words"), SYNTAX_CASES)
def test_syntax_error_points_at_the_offending_characters(text, offending, offset, words):
    selectors, finding = only_finding(text)
    assert finding.code == "GW401"
    assert finding.pointer == "/0"
    assert finding.column_offset == offset
    assert span(text, finding) == offending
    assert words in finding.message
    assert "CHANNEL=ACCOUNT" in finding.hint


def test_recovery_reports_every_bad_entry_and_keeps_the_good_ones():
    text = "telegrambot123, lark=work ,=x, wecom=alerts,"
    selectors, findings = parse(text)
    assert [(s.channel, s.account) for s in selectors] == [("lark", "work"), ("wecom", "alerts")]
    assert [span(text, f) for f in findings] == ["telegrambot123", "=", ","]
    assert [f.column_offset for f in findings] == [0, 27, 43]


def test_recovered_entries_have_the_same_positions_as_a_clean_parse():
    good = "lark = work, wecom=alerts"
    clean, _ = parse(good)
    recovered, findings = parse(good + ", oops")
    assert len(findings) == 1
    assert recovered == clean


def test_a_bad_item_does_not_hide_the_next_item():
    selectors, findings = parse("lark=", "wecom", "telegram=bot_1")
    assert [f.pointer for f in findings] == ["/0", "/1"]
    assert [s.pointer for s in selectors] == ["/2"]


def test_gw401_is_registered_as_an_error():
    assert CODES["GW401"].severity == "error"


# ------------------------------------------------------------ grammar loading


def test_grammar_ships_as_package_data_and_loads_once():
    grammar = resources.files("gatewayctl.selectors").joinpath("selectors.lark")
    assert grammar.is_file()
    assert _parser() is _parser()
    assert _parser().options.parser == "lalr"


def test_lark_is_imported_only_by_the_selectors_package(repo_root):
    offenders = []
    for path in (repo_root / "src" / "gatewayctl").rglob("*.py"):
        if "selectors" in path.relative_to(repo_root / "src" / "gatewayctl").parts[:1]:
            continue
        if re.search(r"^\s*(import lark|from lark\b)", path.read_text(encoding="utf-8"), re.M):
            offenders.append(str(path))
    assert offenders == []


# ------------------------------------------------------------ properties

TERMINAL_NAMES = tuple(t.name for t in _parser().terminals) + ("$END", "__ANON", "Token(", "Unexpected")
_QUOTED = re.compile(r"`[^`]*`")

_TRICKY = "=, \t\n\x00\x7f`'\"!@#é飞\u00a0\u2028"
any_text = st.text(alphabet=st.one_of(st.sampled_from(_TRICKY), st.sampled_from("abcLK09_-"), st.characters()), max_size=40)


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(any_text, max_size=4))
def test_any_text_gives_selectors_or_located_findings_never_an_exception(texts):
    selectors, findings = parse(*texts)
    by_pointer = {f"/{i}": t for i, t in enumerate(texts)}
    for f in findings:
        text = by_pointer[f.pointer]
        assert f.code == "GW401"
        assert f.column_offset is not None and f.length is not None
        assert 0 <= f.column_offset <= f.column_offset + f.length <= len(text)
        # User text is quoted between backticks; outside the quotes the
        # words are ours and must not leak lark's vocabulary.
        ours = _QUOTED.sub("", f.message + " " + f.hint)
        for name in TERMINAL_NAMES:
            assert name not in ours, (name, f.message)
        assert "\n" not in f.message
    for s in selectors:
        text = by_pointer[s.pointer]
        assert 0 <= s.offset and s.offset + s.length <= len(text)
        assert text[s.channel_offset : s.channel_offset + s.channel_length] == s.channel
        assert text[s.account_offset : s.account_offset + s.account_length] == s.account
        assert s.offset == s.channel_offset
        assert s.account_offset + s.account_length == s.offset + s.length
    # Every text yields at least one selector or one finding.
    pointers = {s.pointer for s in selectors} | {f.pointer for f in findings}
    assert pointers == {p for p, t in by_pointer.items()}


channel_names = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
account_ids = st.from_regex(r"[A-Za-z0-9_.:/@-]([A-Za-z0-9_.:/@ -]{0,10}[A-Za-z0-9_.:/@-])?", fullmatch=True)
blanks = st.sampled_from(["", " ", "  ", "\t", " \n "])


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.tuples(channel_names, account_ids, blanks, blanks, blanks), min_size=1, max_size=6))
def test_round_trip_of_well_formed_lists(entries):
    parts = [f"{pad1}{ch}{pad2}={pad3}{acc}" for ch, acc, pad1, pad2, pad3 in entries]
    text = ",".join(parts)
    selectors, findings = parse(text)
    assert findings == ()
    assert [(s.channel, s.account) for s in selectors] == [(ch, acc) for ch, acc, *_ in entries]
    # Re-rendering the parsed list and parsing again gives the same entries.
    again, findings = parse(", ".join(s.text for s in selectors))
    assert findings == ()
    assert [(s.channel, s.account) for s in again] == [(s.channel, s.account) for s in selectors]


# ------------------------------------------------------------ one value, one selector (loong's reading)

from gatewayctl.selectors import parse_flag_selectors  # noqa: E402
from gatewayctl.selectors import parser as parser_module  # noqa: E402


def flag(text: str):
    return parse_flag_selectors([("/0", text)])


@pytest.mark.parametrize(
    ("text", "channel", "account"),
    [
        ("lark=work", "lark", "work"),
        ("  lark =  work ", "lark", "work"),
        ("lark=work,wecom=alerts", "lark", "work,wecom=alerts"),  # the comma belongs to the account
        ("lark=a=b", "lark", "a=b"),  # split at the first `=` only
        ("lark==b", "lark", "=b"),
        ("Lark=Lark\tProd", "Lark", "Lark\tProd"),  # loong normalizes the tab later
        ("lark=work,", "lark", "work,"),
    ],
)
def test_flag_is_split_at_the_first_equals_sign_and_trimmed(text, channel, account):
    (sel,), findings = flag(text)
    assert findings == ()
    assert (sel.channel, sel.account) == (channel, account)
    assert text[sel.channel_offset : sel.channel_offset + sel.channel_length] == channel
    assert text[sel.account_offset : sel.account_offset + sel.account_length] == account


@pytest.mark.parametrize(
    ("text", "offending", "words"),
    [
        ("", "", "empty selector"),
        (" \t ", " \t ", "empty selector"),
        ("telegrambot123", "telegrambot123", "expected `=` followed by an account id after `telegrambot123`"),
        ("=work", "=", "missing channel before `=work`"),
        ("  = work", "=", "missing channel before `=work`"),
        ("lark=", "=", "missing account id after `lark=`"),
        ("lark =  ", "=", "missing account id after `lark=`"),
        ("lark!=work", "!", "unexpected character `!` in channel name `lark!`"),
        ("la rk=work", " ", "unexpected space in channel name `la rk`"),
    ],
)
def test_flag_syntax_errors_point_at_the_offending_characters(text, offending, words):
    selectors, (finding,) = flag(text)
    assert selectors == ()
    assert finding.code == "GW401"
    assert span(text, finding) == offending
    assert words in finding.message


def test_flag_trims_what_rust_trims_and_nothing_more():
    # U+001F is whitespace to Python's str.strip but not to Rust's trim().
    (sel,), _ = flag("lark=work\x1f")
    assert sel.account == "work\x1f"
    (sel,), _ = flag("\u3000lark=work\u00a0")
    assert (sel.channel, sel.account) == ("lark", "work")


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(any_text, max_size=4))
def test_any_flag_value_gives_one_selector_or_one_located_finding(texts):
    selectors, findings = parse_flag_selectors([(f"/{i}", t) for i, t in enumerate(texts)])
    assert len(selectors) + len(findings) == len(texts)
    by_pointer = {f"/{i}": t for i, t in enumerate(texts)}
    for f in findings:
        text = by_pointer[f.pointer]
        assert f.code == "GW401" and "\n" not in f.message
        assert 0 <= f.column_offset <= f.column_offset + f.length <= len(text)
    for s in selectors:
        text = by_pointer[s.pointer]
        assert text[s.channel_offset : s.channel_offset + s.channel_length] == s.channel
        assert text[s.account_offset : s.account_offset + s.account_length] == s.account
        # loong's own reading: split at the first `=`, then trim each side.
        head, _, tail = text.strip(parser_module.RUST_WHITESPACE).partition("=")
        assert s.channel == head.strip(parser_module.RUST_WHITESPACE)
        assert s.account == tail.strip(parser_module.RUST_WHITESPACE)

