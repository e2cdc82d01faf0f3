"""bench/bench_apply.py still runs (one run): a benchmark nobody runs rots.
The times are not checked; that the apply lost no message on the five
unchanged lanes is (the bench counts it as the test does)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_apply_runs_once():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_apply.py"), "--runs", "1"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gateway apply -> changed lane connected" in done.stdout
    assert "stop + run -> every lane connected" in done.stdout
    lost = re.search(r"^messages lost by the apply \(5 lanes\)\s+(\d+)", done.stdout, re.M)
    assert lost and lost.group(1) == "0", done.stdout + done.stderr
