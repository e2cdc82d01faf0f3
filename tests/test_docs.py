"""Documentation that the code promises: every code documented, README commands true."""

from __future__ import annotations

import re
from pathlib import Path

from gatewayctl.diagnostics import CODES

REPO = Path(__file__).resolve().parents[1]


def test_every_code_has_a_rules_doc_entry_with_example_and_fix():
    text = (REPO / "docs" / "rules.md").read_text()
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    by_code = {s.split()[0]: s for s in sections}
    missing = sorted(set(CODES) - set(by_code))
    assert not missing, f"codes without a docs/rules.md entry: {missing}"
    for code, body in by_code.items():
        assert code in CODES, f"docs/rules.md documents unknown code {code}"
        assert "```" in body, f"{code}: no example"
        assert re.search(r"(?i)\bfix\b", body), f"{code}: no fix"


def test_readme_first_lines_give_the_two_commands_and_ci_runs_the_test_one():
    lines = (REPO / "README.md").read_text().splitlines()
    head = "\n".join(lines[:15])
    assert "bash scripts/demo.sh" in head
    assert "bash scripts/test.sh" in head
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()
