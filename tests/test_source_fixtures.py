"""fixtures/invalid/loading: each file fails to load with exactly the marked (code, line) pairs.

The shared corpus test (test_fixtures.py) runs the whole pipeline over
.toml/.yaml files; this one checks the load stage alone and includes JSON,
whose marker comment is itself the syntax error being reported.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatewayctl.source import load_document

REPO = Path(__file__).resolve().parents[1]
LOADING = REPO / "fixtures" / "invalid" / "loading"
MARK = re.compile(r"#\s*expect:\s*(GW\d{3}(?:\s*,\s*GW\d{3})*)")
FILES = sorted(p for p in LOADING.iterdir() if p.suffix in {".toml", ".yaml", ".yml", ".json"})


def marks(text: str) -> set[tuple[str, int]]:
    out = set()
    for n, line in enumerate(text.splitlines(), start=1):
        m = MARK.search(line)
        if m:
            out |= {(c.strip(), n) for c in m.group(1).split(",")}
    return out


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_loading_fixture_matches_markers(path):
    text = path.read_text(encoding="utf-8")
    expected = marks(text)
    assert expected, "no `# expect:` marker"
    doc, diags = load_document(str(path.relative_to(REPO)))
    assert doc is None
    got = {(d.code, d.range.start.line) for d in diags}
    assert got == expected, [f"{d.code}:{d.range.start.line} {d.message}" for d in diags]
    lines = text.split("\n")
    for d in diags:
        assert d.message and d.hint, d
        for p in (d.range.start, d.range.end):
            assert 1 <= p.column <= len(lines[p.line - 1]) + 1


def test_every_loading_code_with_a_text_form_has_a_fixture():
    seen = set()
    for p in FILES:
        seen |= {c for c, _ in marks(p.read_text(encoding="utf-8"))}
    # GW001 (unreadable, not UTF-8) cannot be a committed text fixture;
    # tests/test_source_load.py covers it.
    assert {"GW002", "GW003", "GW004", "GW005", "GW006", "GW007"} <= seen
