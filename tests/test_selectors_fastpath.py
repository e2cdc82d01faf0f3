"""The regex fast path for well-formed selectors must agree with the Lark
grammar exactly (same selectors, same spans) wherever it answers."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from gatewayctl.selectors import parser
from tests.support import examples

ALPHABET = st.sampled_from(list("lark=work,wecom alerts-_.éA1 \t\u2028=,=,"))


def _grammar_only(text: str):
    selectors, findings = [], []
    tree = None
    try:
        tree = parser._parser().parse(text, start="selectors")
    except __import__("lark").exceptions.UnexpectedInput:
        return None
    for entry in tree.children:
        if isinstance(entry, __import__("lark").Tree):
            channel, _eq, account = entry.children
            selectors.append(parser._selector("/0", 0, entry.meta.start_pos, channel, account))
    return selectors


@settings(max_examples=examples(600), deadline=None)
@given(st.one_of(st.text(ALPHABET, max_size=40), st.text(max_size=30)))
def test_fast_path_agrees_with_the_grammar(text):
    fast = parser._fast_path("/0", text)
    if fast is None:
        return
    assert text.strip(), "an empty text must go to the full path for its message"
    assert _grammar_only(text) == fast


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True),
            st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,8}[A-Za-z0-9]|[A-Za-z0-9]", fullmatch=True),
            st.sampled_from(["", " ", "  "]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_well_formed_lists_take_the_fast_path(entries):
    text = ",".join(f"{pad}{c}{pad}={pad}{a}{pad}" for c, a, pad in entries)
    fast = parser._fast_path("/0", text)
    assert fast is not None
    assert [(s.channel, s.account) for s in fast] == [(c, a) for c, a, _ in entries]
    assert _grammar_only(text) == fast
