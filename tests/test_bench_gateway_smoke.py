"""bench/bench_gateway.py still runs: a benchmark nobody runs rots (it once
exited 7 for months-old reasons: made-up family names the plan loader now
refuses). Tiny settings; the numbers are not checked, only that it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_gateway_runs_with_tiny_settings():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_gateway.py"), "--lanes", "7", "--runs", "1", "--idle-seconds", "0.5"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gateway run -> all lanes running" in done.stdout
