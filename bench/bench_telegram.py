"""Benchmark: one Telegram lane with the echo handler against the loopback fake.

Measures
  1. throughput: N messages queued at the fake, time until N replies arrive
     (messages/s through `gatewayctl lane serve`);
  2. latency: one message at a time, inject -> reply seen at the fake
     (median, p99), for the lane worker and for a minimal direct client
     (long-poll getUpdates + sendMessage with httpx, no handler, no status,
     no cursor) in its own process; the difference is the latency the lane
     adds per message.

The fake runs in this process; each client runs in its own process so they
do not share a GIL with the fake. Run from the repo root:

    .venv/bin/python bench/bench_telegram.py [--messages 2000] [--samples 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from gatewayctl.fakes import FakeTelegram  # noqa: E402
from tests.fakes import plans  # noqa: E402

DIRECT_CLIENT = r"""
import sys, httpx
base, token = sys.argv[1], sys.argv[2]
offset = None
with httpx.Client(timeout=30) as c:
    while True:
        payload = {"timeout": 1, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        r = c.post(f"{base}/bot{token}/getUpdates", json=payload).json()
        for u in r.get("result", []):
            m = u["message"]
            c.post(f"{base}/bot{token}/sendMessage", json={"chat_id": m["chat"]["id"], "text": m["text"]})
            offset = u["update_id"] + 1
"""


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.001)
    return False


def _pctl(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _latencies(tg: FakeTelegram, samples: int) -> list[float]:
    out = []
    for i in range(samples):
        before = len(tg.snapshot_sent())
        t0 = time.monotonic()
        tg.inject(42, 7, f"ping {i}")
        got = tg.wait_sent(before + 1, timeout=10)
        if not got:
            raise SystemExit("benchmark: no reply within 10 s")
        out.append((got[before]["at"] - t0) * 1000)
    return out


def _start_lane(tg: FakeTelegram, tmp: str) -> subprocess.Popen:
    plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")),
                            os.path.join(tmp, "plan.json"))
    env = {"PATH": os.environ.get("PATH", ""), "TG_TOKEN": tg.token,
           "GATEWAYCTL_LANE_STATUS": os.path.join(tmp, "rt", "lane.json")}
    return subprocess.Popen([sys.executable, "-m", "gatewayctl", "lane", "serve", "--plan", plan_path,
                             "--lane", "telegram"], env=env, cwd=REPO)


def _warm(tg: FakeTelegram) -> None:
    before = len(tg.snapshot_sent())
    tg.inject(42, 7, "warm-up")
    if not tg.wait_sent(before + 1, timeout=30):
        raise SystemExit("benchmark: client never answered the warm-up message")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--json", action="store_true", help="print the numbers as one JSON object")
    args = ap.parse_args(argv)
    results: dict = {"messages": args.messages, "samples": args.samples, "python": sys.version.split()[0]}

    with tempfile.TemporaryDirectory() as tmp, FakeTelegram() as tg:
        lane = _start_lane(tg, tmp)
        try:
            _warm(tg)
            results["lane_latency_ms"] = _latencies(tg, args.samples)
            before = len(tg.snapshot_sent())
            t0 = time.monotonic()
            for i in range(args.messages):
                tg.inject(42, 7, f"bulk {i}")
            if not tg.wait_sent(before + args.messages, timeout=300):
                raise SystemExit("benchmark: the lane did not answer every bulk message")
            elapsed = tg.snapshot_sent()[-1]["at"] - t0
            results["throughput_msgs_per_s"] = args.messages / elapsed
        finally:
            lane.terminate()
            lane.wait(30)

    with FakeTelegram() as tg:
        direct = subprocess.Popen([sys.executable, "-c", DIRECT_CLIENT, tg.base_url, tg.token])
        try:
            _warm(tg)
            results["direct_latency_ms"] = _latencies(tg, args.samples)
            before = len(tg.snapshot_sent())
            t0 = time.monotonic()
            for i in range(args.messages):
                tg.inject(42, 7, f"bulk {i}")
            if not tg.wait_sent(before + args.messages, timeout=300):
                raise SystemExit("benchmark: the direct client did not answer every bulk message")
            results["direct_throughput_msgs_per_s"] = args.messages / (tg.snapshot_sent()[-1]["at"] - t0)
        finally:
            direct.terminate()
            direct.wait(30)

    lane_lat, direct_lat = results.pop("lane_latency_ms"), results.pop("direct_latency_ms")
    summary = {
        **results,
        "lane_median_ms": statistics.median(lane_lat),
        "lane_p99_ms": _pctl(lane_lat, 0.99),
        "direct_median_ms": statistics.median(direct_lat),
        "direct_p99_ms": _pctl(direct_lat, 0.99),
    }
    summary["added_median_ms"] = summary["lane_median_ms"] - summary["direct_median_ms"]
    summary["added_p99_ms"] = summary["lane_p99_ms"] - summary["direct_p99_ms"]
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print(f"Telegram lane, echo handler, loopback fake (Python {summary['python']})")
        print(f"  throughput   lane {summary['throughput_msgs_per_s']:8.0f} msg/s   "
              f"direct client {summary['direct_throughput_msgs_per_s']:8.0f} msg/s   ({args.messages} messages)")
        print(f"  latency      lane median {summary['lane_median_ms']:6.2f} ms  p99 {summary['lane_p99_ms']:6.2f} ms")
        print(f"               direct median {summary['direct_median_ms']:6.2f} ms  p99 {summary['direct_p99_ms']:6.2f} ms")
        print(f"  added by the lane: median {summary['added_median_ms']:+.2f} ms, p99 {summary['added_p99_ms']:+.2f} ms"
              f"  ({args.samples} samples)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
