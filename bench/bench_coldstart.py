"""Cold start of the pre-commit hook: `gatewayctl check` on one file in a
fresh process vs `check-jsonschema --schemafile schemas/config.schema.json`
on the same file (both console scripts of the same .venv).

A pre-commit hook or a CI step pays this on every run, so it is the number
users feel. Measured for a clean config (the common case) and for one with
a mistake (diagnostics located in the source), and for the CI formats
(github, sarif) to show a reporter adds no import cost to the others.

The floor is the bare interpreter of the same .venv (`python -c pass`):
no Python program starts faster, so `check`'s multiple of it is what is
left to cut (goal: at most 3x clean, 4x with one mistake).

Usage: .venv/bin/python bench/bench_coldstart.py [--runs N]
Runs alternate between the commands so machine drift hits all alike; the
medians, the ratio to the peer (check-jsonschema / gatewayctl, > 1 means we
are faster) and the multiple of the bare interpreter are printed.
"""

from __future__ import annotations

import argparse
import compileall
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, fmt_s, interleaved, median, tool  # noqa: E402

SCHEMA = REPO / "schemas" / "config.schema.json"
EXAMPLE = REPO / "examples" / "gateway-rollout.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21, help="timed runs per command (default 21)")
    args = ap.parse_args()

    # What an installed gatewayctl runs: byte-compiled modules (this
    # environment may set PYTHONDONTWRITEBYTECODE, which would otherwise
    # make every run compile every module).
    compileall.compile_dir(str(REPO / "src"), quiet=1)
    ours = [tool("gatewayctl"), "check"]
    peer = [tool("check-jsonschema"), "--schemafile", str(SCHEMA)]

    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "config.toml"
        good.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
        bad = Path(tmp) / "bad.toml"
        # The most common mistake a hook catches: a misspelled key.
        bad.write_text(good.read_text(encoding="utf-8").replace("allowed_chat_ids = [123", "allowed_chat_idz = [123"), encoding="utf-8")

        cmds = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "gatewayctl check (clean)": ours + [str(good)],
            "check-jsonschema (clean)": peer + [str(good)],
            "gatewayctl check (1 mistake)": ours + [str(bad)],
            "check-jsonschema (1 mistake)": peer + [str(bad)],
            "gatewayctl --format github": ours + ["--format", "github", str(bad)],
            "gatewayctl --format sarif": ours + ["--format", "sarif", str(bad)],
        }
        cpu: dict = {}
        times = interleaved(cmds, args.runs, cwd=Path(tmp), cpu=cpu)

    med = {name: median(ts) for name, ts in times.items()}
    med_cpu = {name: median(ts) for name, ts in cpu.items()}
    width = max(map(len, med))
    print(f"cold start, one file, fresh process each run, median of {args.runs} (interleaved), wall and CPU (user+sys):")
    for name, m in med.items():
        print(f"  {name:<{width}}  {fmt_s(m):>9}  cpu {fmt_s(med_cpu[name]):>9}")
    for case in ("clean", "1 mistake"):
        ratio = med[f"check-jsonschema ({case})"] / med[f"gatewayctl check ({case})"]
        print(f"  ratio check-jsonschema / gatewayctl ({case}): {ratio:.2f}x  (goal > 1.0: faster)")
    floor = med["python -c pass (floor)"]
    for case, goal in (("clean", 3), ("1 mistake", 4)):
        times_floor = med[f"gatewayctl check ({case})"] / floor
        cpu_floor = med_cpu[f"gatewayctl check ({case})"] / med_cpu["python -c pass (floor)"]
        print(f"  gatewayctl check ({case}) / python -c pass: {times_floor:.2f}x wall, {cpu_floor:.2f}x cpu  (goal <= {goal}x)")


if __name__ == "__main__":
    main()
