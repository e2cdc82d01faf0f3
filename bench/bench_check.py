"""gatewayctl check vs check-jsonschema on the same files and schema.

(a) one typical config, a fresh process each time (what a pre-commit hook
    or a CI step pays);
(b) 1,000 configs in one process (a monorepo sweep).

Usage: .venv/bin/python bench/bench_check.py [--runs N]
Prints medians and the ratio; machines here are noisy, so runs alternate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, fmt_s, interleaved, median, tool  # noqa: E402

SCHEMA = REPO / "schemas" / "config.schema.json"
EXAMPLE = REPO / "examples" / "gateway-rollout.toml"


def make_corpus(directory: Path, n: int) -> list[str]:
    base = EXAMPLE.read_text()
    paths = []
    for i in range(n):
        text = base.replace('"work"', f'"work{i}"').replace("accounts.work]", f"accounts.work{i}]")
        text = text.replace("lark=work", f"lark=work{i}").replace("123456789", str(100000000 + i))
        p = directory / f"config-{i:04d}.toml"
        p.write_text(text)
        paths.append(str(p))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--bulk-runs", type=int, default=5)
    ap.add_argument("--files", type=int, default=1000)
    args = ap.parse_args()

    ours = [tool("gatewayctl"), "check"]
    peer = [tool("check-jsonschema"), "--schemafile", str(SCHEMA)]

    single = interleaved({"gatewayctl": ours + [str(EXAMPLE)], "check-jsonschema": peer + [str(EXAMPLE)]}, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_corpus(Path(tmp), args.files)
        bulk = interleaved({"gatewayctl": ours + files, "check-jsonschema": peer + files}, args.bulk_runs)

    g1, c1 = median(single["gatewayctl"]), median(single["check-jsonschema"])
    g2, c2 = median(bulk["gatewayctl"]), median(bulk["check-jsonschema"])
    print(f"(a) one config, fresh process, median of {args.runs}:")
    print(f"    gatewayctl check        {fmt_s(g1)}")
    print(f"    check-jsonschema        {fmt_s(c1)}")
    print(f"    ratio (peer / ours)     {c1 / g1:.2f}x  (goal >= 1.0)")
    print(f"(b) {args.files} configs, one process, median of {args.bulk_runs}:")
    print(f"    gatewayctl check        {fmt_s(g2)}  ({args.files / g2:.0f} files/s)")
    print(f"    check-jsonschema        {fmt_s(c2)}  ({args.files / c2:.0f} files/s)")
    print(f"    throughput ratio        {c2 / g2:.2f}x  (goal >= 3.0)")


if __name__ == "__main__":
    main()
