"""Plan compilation at scale: time, peak memory, and growth at 2x input.

    .venv/bin/python bench/bench_plan.py [--runs 5]

Two workloads, each at 1x and 2x:

- accounts: 6 gateway-supervised families x 500 accounts (2x: 1,000), every
  account valid, no selectors (each family runs its default account);
- selectors: 10,000 channel-account selectors (2x: 20,000) on the command
  line against that 1x config; one per family resolves, the rest are
  reported as duplicates (GW404), which is the selector stage's worst case.

Stages timed separately (median of --runs, in one process):
  load      source.load_document (parse, no positions)
  validate  schema, rules, selector parse and resolution
  compile   compile_plan alone (pure)
  dump      planfile.dumps (canonical JSON + digest)
Peak memory is tracemalloc's peak over one whole load+validate+compile+dump
run (a separate run, since tracing slows Python down).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gatewayctl.compile import planfile  # noqa: E402
from gatewayctl.compile.compiler import CompileOptions, compile_plan  # noqa: E402
from gatewayctl.source import load_document, selector_document  # noqa: E402
from gatewayctl.validate import validate  # noqa: E402

FAMILIES = {
    "feishu": ['app_id = {{ env = "FEISHU_{i}_APP_ID" }}', 'app_secret = {{ env = "FEISHU_{i}_SECRET" }}', 'allowed_chat_ids = ["oc_{i}"]'],
    "telegram": ['bot_token = {{ env = "TELEGRAM_{i}_TOKEN" }}', "allowed_chat_ids = [{i}]"],
    "matrix": [
        'base_url = "https://matrix-client.matrix.org"',
        'user_id = "@bot{i}:matrix.org"',
        'access_token = {{ env = "MATRIX_{i}_TOKEN" }}',
        'allowed_room_ids = ["!r{i}:matrix.org"]',
    ],
    "wecom": ['bot_id = {{ env = "WECOM_{i}_BOT" }}', 'secret = {{ env = "WECOM_{i}_SECRET" }}', 'allowed_conversation_ids = ["g{i}"]'],
    "whatsapp": ['phone_number_id = "{i}"', 'webhook_path = "/wa/{i}"'],
    "qqbot": ['app_id = {{ env = "QQ_{i}_APP" }}', 'client_secret = {{ env = "QQ_{i}_SECRET" }}', 'allowed_peer_ids = ["p{i}"]'],
}


def config_text(accounts: int) -> str:
    out = []
    for fam, lines in FAMILIES.items():
        out.append(f'[{fam}]\nenabled = true\ndefault_account = "acct_0"\n')
        for i in range(accounts):
            out.append(f"[{fam}.accounts.acct_{i}]")
            out.extend(line.format(i=i) for line in lines)
            out.append("")
    return "\n".join(out)


def selectors(n: int, accounts: int) -> list[str]:
    fams = list(FAMILIES)
    return [f"{fams[i % len(fams)]}=acct_{i % accounts}" for i in range(n)]


def pipeline(data: bytes, sels: list[str] | None):
    stamps = [time.perf_counter()]
    doc, _ = load_document("bench.toml", data=data)
    stamps.append(time.perf_counter())
    cli = selector_document(sels) if sels is not None else None
    validated, diags = validate(doc, cli_selectors=cli)
    stamps.append(time.perf_counter())
    plan, findings = compile_plan(doc, validated, CompileOptions())
    stamps.append(time.perf_counter())
    out = planfile.dumps(plan) if plan is not None else b""
    stamps.append(time.perf_counter())
    return [b - a for a, b in zip(stamps, stamps[1:])], plan, diags, out


def measure(name: str, data: bytes, sels, runs: int) -> dict:
    pipeline(data, sels)  # warm: schema validator, grammar, caches
    rows = [pipeline(data, sels)[0] for _ in range(runs)]
    med = [statistics.median(col) for col in zip(*rows)]
    tracemalloc.start()
    _, plan, diags, out = pipeline(data, sels)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "name": name,
        "load": med[0],
        "validate": med[1],
        "compile": med[2],
        "dump": med[3],
        "total": sum(med),
        "peak_mib": peak / 2**20,
        "lanes": len(plan.lanes) if plan else 0,
        "diags": len(diags),
        "config_kib": len(data) / 1024,
        "plan_kib": len(out) / 1024,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)

    base = config_text(500).encode()
    double = config_text(1000).encode()
    results = [
        measure("6 fam x 500 accounts", base, None, args.runs),
        measure("6 fam x 1000 accounts", double, None, args.runs),
        measure("10,000 selectors", base, selectors(10_000, 500), args.runs),
        measure("20,000 selectors", base, selectors(20_000, 500), args.runs),
    ]
    head = f"{'workload':<24}{'load':>9}{'validate':>10}{'compile':>9}{'dump':>8}{'total':>9}{'peak MiB':>10}{'lanes':>7}{'diags':>7}"
    print(f"median of {args.runs} runs, times in ms; Python {sys.version.split()[0]}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['name']:<24}{r['load'] * 1e3:>9.1f}{r['validate'] * 1e3:>10.1f}{r['compile'] * 1e3:>9.2f}"
            f"{r['dump'] * 1e3:>8.2f}{r['total'] * 1e3:>9.1f}{r['peak_mib']:>10.1f}{r['lanes']:>7}{r['diags']:>7}"
        )
    print()
    for a, b in ((results[0], results[1]), (results[2], results[3])):
        print(
            f"2x input ({a['name']} -> {b['name']}): total x{b['total'] / a['total']:.2f}, "
            f"compile x{b['compile'] / a['compile']:.2f}, peak memory x{b['peak_mib'] / a['peak_mib']:.2f}"
        )


if __name__ == "__main__":
    main()
