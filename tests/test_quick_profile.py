"""The quick run's hypothesis profile reaches every property test (issue 13
item 10): an explicit ``max_examples`` overrides any profile, so each one
goes through ``tests.support.examples``, which scales it by the profile."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import settings

from tests.support import examples

TESTS = Path(__file__).resolve().parent


def test_every_explicit_example_count_is_scaled_by_the_profile():
    fixed = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"max_examples=\d", line) and path.name != "conftest.py"
    ]
    assert fixed == [], "write max_examples=examples(N) (tests/support.py), so that the quick profile scales it:\n" + "\n".join(fixed)


def test_examples_keeps_the_default_profile_count_and_scales_the_quick_one():
    assert settings.get_profile("quick").max_examples == 20
    with settings_profile("default"):
        assert examples(300) == 300 and examples(60) == 60
    with settings_profile("quick"):
        assert examples(300) == 60 and examples(600) == 120
        assert examples(40) == 10  # never fewer than 10


class settings_profile:
    """Load a profile for the block, then the one that was active again."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.before = settings.get_current_profile_name()
        settings.load_profile(self.name)

    def __exit__(self, *exc):
        settings.load_profile(self.before)
