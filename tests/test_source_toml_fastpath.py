"""The rtoml fast path must read every document exactly as tomllib does.

tomllib is the parser of record (errors, positions); rtoml only makes the
valid-file path fast. For generated documents covering headers, dotted
keys, inline tables, arrays of tables, every string form and dates, both
must give equal values; where rtoml refuses, tomllib's answer is used.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib

import pytest
from hypothesis import given, settings, strategies as st

from gatewayctl.source import load_document, toml_source

from tests.test_source_properties import same, toml_scalars, trees, write_toml
from tests.support import examples

rtoml = pytest.importorskip("rtoml", reason="rtoml (the optional fast TOML path) is not installed")


def _equal(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b and (getattr(a, "utcoffset", None) is None or a.utcoffset() == b.utcoffset())


@settings(max_examples=examples(200), deadline=None)
@given(trees(toml_scalars()), st.data())
def test_fast_path_values_equal_tomllib_values(tree, data):
    text = "\n".join(write_toml(tree, data.draw).lines) + "\n"
    if data.draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    reference = tomllib.loads(text)
    try:
        fast = rtoml.loads(text.replace("\r\n", "\n"))
    except Exception:
        fast = None  # refused: the loader falls back to tomllib
    if fast is not None:
        assert _equal(fast, reference), text
    doc, diags = load_document("gen.toml", data=text.encode())
    assert diags == ()
    assert same(doc.data, tree)


def test_loader_uses_the_fast_parser_when_present(monkeypatch):
    calls = []
    real = toml_source._fast_toml_loads

    def spy(text):
        calls.append(text)
        return real(text)

    monkeypatch.setattr(toml_source, "_fast_toml_loads", spy)
    doc, diags = load_document("a.toml", data=b"[telegram]\nenabled = false\n")
    assert calls and diags == () and doc.data == {"telegram": {"enabled": False}}


def test_fast_parser_is_rtoml_core_without_its_wrapper():
    """The loader calls rtoml's compiled core directly (the wrapper's
    typing and pathlib imports cost a cold check 5-7 ms): same values as
    rtoml.loads, same refusals, and a fresh process never imports the
    wrapper on a clean file."""
    text = '[telegram]\nbot_token = { env = "T" }\nallowed_chat_ids = [1, -2]\nx = 1.5\nd = 2024-05-01\n'
    assert toml_source._fast_toml_loads is not rtoml.loads
    assert _equal(toml_source._fast_toml_loads(text), rtoml.loads(text))
    for bad in ("a = 1\na = 2\n", "n = 1__2\n", "x = [\n", "[a]\n[a]\n"):
        with pytest.raises(Exception) as wrapped:
            rtoml.loads(bad)
        with pytest.raises(Exception) as core:
            toml_source._fast_toml_loads(bad)
        assert str(core.value) == str(wrapped.value)
    script = (
        "import sys\n"
        "from gatewayctl.source import load_document\n"
        "doc, diags = load_document('a.toml', data=b'[telegram]\\nenabled = false\\n')\n"
        "assert diags == () and doc.data == {'telegram': {'enabled': False}}\n"
        "assert 'rtoml._rtoml' in sys.modules and 'rtoml' not in sys.modules, sorted(sys.modules)\n"
        "assert 'typing' not in sys.modules and 'pathlib' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_integers_beyond_64_bits_fall_back_to_tomllib_and_are_refused_where_they_are():
    # TOML caps integers at 64 bits and rtoml refuses more; tomllib reads
    # them, and the load stage then refuses them as TOML 1.0 and loong do
    # (GW007), located by tomllib's parse.
    doc, diags = load_document("big.toml", data=b"n = 123456789012345678901234567890\n")
    assert doc is None and [d.code for d in diags] == ["GW007"]
    assert (diags[0].range.start.line, diags[0].range.start.column) == (1, 5)
    doc, diags = load_document("edge.toml", data=b"n = 9223372036854775807\nm = -9223372036854775808\n")
    assert diags == () and doc.data == {"n": 2**63 - 1, "m": -(2**63)}


def test_errors_still_come_from_tomllib_with_a_position():
    doc, diags = load_document("bad.toml", data=b"[telegram]\nenabled = true\nenabled = false\n")
    assert doc is None and diags[0].code == "GW004"
    assert diags[0].range.start.line == 3
