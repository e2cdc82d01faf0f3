"""gatewayctl check vs check-jsonschema on the same files and schema.

(a) one typical config, a fresh process each time (what a pre-commit hook
    or a CI step pays);
(b) 1,000 configs in one process (a monorepo sweep), also against taplo
    (Rust; `taplo lint --schema` with our schemas/config.schema.json on the
    same files: a native peer that checks the schema only), and with
    `check -j 1` (one process) beside the default `-j` (one per CPU).

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
    ap.add_argument("--no-check-jsonschema", action="store_true", help="leave the slow Python peer out of (b)")
    args = ap.parse_args()

    ours = [tool("gatewayctl"), "check"]
    peer = [tool("check-jsonschema"), "--schemafile", str(SCHEMA)]

    single = interleaved({"gatewayctl": ours + [str(EXAMPLE)], "check-jsonschema": peer + [str(EXAMPLE)]}, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_corpus(Path(tmp), args.files)
        taplo = [tool("taplo"), "lint", "--schema", SCHEMA.as_uri()]
        bulk_cmds = {"gatewayctl": ours + files, "gatewayctl -j 1": ours + ["-j", "1"] + files, "taplo": taplo + files}
        if not args.no_check_jsonschema:
            bulk_cmds["check-jsonschema"] = peer + files
        cpu: dict = {}
        bulk = interleaved(bulk_cmds, args.bulk_runs, cpu=cpu)

    g1, c1 = median(single["gatewayctl"]), median(single["check-jsonschema"])
    g2 = median(bulk["gatewayctl"])
    print(f"(a) one config, fresh process, median of {args.runs}:")
    print(f"    gatewayctl check        {fmt_s(g1)}")
    print(f"    check-jsonschema        {fmt_s(c1)}")
    print(f"    ratio (peer / ours)     {c1 / g1:.2f}x  (goal >= 1.0)")
    print(f"(b) {args.files} configs, one command, median of {args.bulk_runs} (wall; cpu = user+sys of all its processes):")
    for name in bulk_cmds:
        m = median(bulk[name])
        print(f"    {name:<22}  {fmt_s(m):>9}  ({args.files / m:.0f} files/s)  cpu {fmt_s(median(cpu[name]))}")
    if "check-jsonschema" in bulk_cmds:
        print(f"    throughput ratio check-jsonschema / gatewayctl  {median(bulk['check-jsonschema']) / g2:.2f}x  (goal >= 3.0)")
    print(f"    ratio taplo / gatewayctl      {median(bulk['taplo']) / g2:.2f}x  (goal >= 1.0: no slower than taplo)")
    print(f"    ratio taplo / gatewayctl -j 1 {median(bulk['taplo']) / median(bulk['gatewayctl -j 1']):.2f}x")


if __name__ == "__main__":
    main()
