"""bench/bench_memory.py still runs (one sample): a benchmark nobody runs
rots. The numbers are not judged here, only that every process of the
six-lane rollout is measured and the summary is printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_memory_measures_the_owner_and_six_lanes():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_memory.py"), "--settle", "0", "--samples", "1"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split()[1] for line in done.stdout.splitlines()
            if line.startswith("  lane ") and "USS:" not in line and "template" not in line]
    assert sorted(rows) == ["feishu", "matrix", "qqbot", "telegram", "wecom", "whatsapp"], done.stdout
    assert "  owner " in done.stdout and "host PSS:" in done.stdout
    # The lanes were forked from the template, and the host total counts it.
    assert "  lane template " in done.stdout and "a lane forked from the template (measured)" in done.stdout
