"""Small helpers shared by the benchmarks: interleaved timing, medians."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    return str(path) if path.exists() else name


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_cmd(argv, *, cwd=REPO, ok=(0, 1), cpu: list | None = None) -> float:
    """Wall seconds of one run; its CPU seconds (user + system, the
    process and its waited-for children) are appended to ``cpu`` when
    given: on a machine shared with other work the CPU time barely moves
    while the wall time follows the load."""
    env = dict(os.environ, NO_COLOR="1")
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(_children_cpu() - c0)
    if proc.returncode not in ok:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {argv[:3]}...\n{proc.stderr.decode()[-2000:]}")
    return dt


def interleaved(cmds: dict[str, list[str]], runs: int, *, cpu: dict | None = None, **kw) -> dict[str, list[float]]:
    """Run each command once per round, alternating, so drift hits all alike.
    ``cpu``: a dict to fill with each command's CPU seconds per run."""
    out = {name: [] for name in cmds}
    if cpu is not None:
        cpu.update({name: [] for name in cmds})
    for name, argv in cmds.items():  # warm the page cache / pyc files
        time_cmd(argv, **kw)
    for _ in range(runs):
        for name, argv in cmds.items():
            out[name].append(time_cmd(argv, cpu=None if cpu is None else cpu[name], **kw))
    return out


def median(xs) -> float:
    return statistics.median(xs)


def fmt_s(x: float) -> str:
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"
