"""The fixture corpus: every file is a test.

fixtures/valid/**: must produce no diagnostics at all.
fixtures/invalid/**: each offending line ends with `# expect: GWnnn[, GWnnn]`;
the set of (code, line) pairs the full pipeline reports must equal the
markers exactly, so a missing and an unexpected diagnostic both fail.
A JSON fixture is invalid JSON anyway where it tests loading, so it can
carry the same comment marker.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatewayctl.pipeline import lint_file

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
SUFFIXES = {".toml", ".yaml", ".yml", ".json"}
MARK = re.compile(r"#\s*expect:\s*(GW\d{3}(?:\s*,\s*GW\d{3})*)")


def _files(kind: str) -> list[Path]:
    return sorted(p for p in (FIXTURES / kind).rglob("*") if p.suffix in SUFFIXES and p.is_file())


def marks_of(path: Path) -> set[tuple[str, int]]:
    return expected_marks(path.read_text(encoding="utf-8"))


def expected_marks(text: str) -> set[tuple[str, int]]:
    out = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = MARK.search(line)
        if m:
            for code in m.group(1).split(","):
                out.add((code.strip(), lineno))
    return out


def reported(path: Path) -> tuple[set[tuple[str, int]], list]:
    """What the one lint pass (the pipeline, suppressions included) reports."""
    rel = str(path.relative_to(REPO))
    diags = lint_file(str(path)).diagnostics
    pairs = {(d.code, d.range.start.line if d.range else 0) for d in diags}
    return pairs, [f"{d.code} {rel}:{d.range.start.line if d.range else 0} {d.message}" for d in diags]


def _ids(paths):
    return [str(p.relative_to(FIXTURES)) for p in paths]


VALID = _files("valid")
INVALID = _files("invalid")


def test_corpus_is_not_empty():
    assert len(VALID) >= 3
    assert len(INVALID) >= 20


@pytest.mark.parametrize("path", VALID, ids=_ids(VALID))
def test_valid_fixture_is_clean(path):
    pairs, readable = reported(path)
    assert not pairs, "unexpected diagnostics:\n" + "\n".join(readable)


@pytest.mark.parametrize("path", INVALID, ids=_ids(INVALID))
def test_invalid_fixture_matches_markers(path):
    expected = marks_of(path)
    assert expected, f"{path} has no `# expect:` marker"
    pairs, readable = reported(path)
    missing = expected - pairs
    unexpected = pairs - expected
    assert not missing and not unexpected, (
        f"missing: {sorted(missing)}\nunexpected: {sorted(unexpected)}\nreported:\n" + "\n".join(readable)
    )


def test_every_code_has_an_invalid_fixture():
    from gatewayctl.diagnostics import CODES

    seen = set()
    for p in INVALID:
        seen |= {c for c, _ in marks_of(p)}
    # GW001 (unreadable file) cannot be expressed as a committed fixture; it
    # is covered by tests/test_cli_check.py. GW5xx are plan-time codes,
    # covered by the plan tests.
    exempt = {"GW001"} | {c for c in CODES if c.startswith("GW5")}
    assert sorted(set(CODES) - seen - exempt) == []
