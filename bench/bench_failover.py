"""Benchmark fleet failover: SIGKILL of a lane's holder to the first reply
from the new holder, against lease_ttl_s.

    .venv/bin/python bench/bench_failover.py [--runs 5] [--ttl 6]

Per run, in a fresh temp dir: a real etcd on 127.0.0.1 (tests/etcd_server.py;
Debian's etcd-server), three owners on this machine with their own
GATEWAYCTL_HOME and host id running one six-lane fleet plan against the
built-in fakes (tests/fleethosts.py). A client sends a Telegram message every
100 ms; once every lane is served, the Telegram lane's holder is killed
with SIGKILL (its lanes die with it). Failover time is from the kill to the
first reply to a message sent after it (the fakes are polled every 5 ms). The bound
is lease_ttl_s (the dead holder's lease must expire) plus one poll interval
plus the lane's start and connect.

Prints the median, min and max over the runs and the median minus the TTL.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import fleethosts  # noqa: E402
from tests.etcd_server import EtcdServer, etcd_binary, unique_prefix  # noqa: E402
from tests.fakes import flow  # noqa: E402
from tests.support import poll  # noqa: E402

TELEGRAM = "telegram/bot_123456"


def one_run(ttl_s: float) -> float:
    with tempfile.TemporaryDirectory(prefix="gwbench-failover-") as tmp:
        tmp = Path(tmp)
        etcd = EtcdServer(tmp / "etcd")
        etcd.start()
        (tmp / "fleet").mkdir()
        fleet = fleethosts.Fleet(tmp / "fleet", etcd, unique_prefix("bench"), ttl_s=ttl_s)
        try:
            fleet.start()
            holders = fleet.wait_all_served(timeout=120)
            victim = fleet.hosts[holders[TELEGRAM]]
            tg = flow.telegram(fleet.fakes.tg)
            traffic = flow.Flow([tg], interval_s=0.1).start()
            time.sleep(1.0)
            killed = time.monotonic()
            fleethosts.kill_hard(victim)
            lane = traffic.lanes[0]
            time.sleep(0.3)  # replies to messages sent before the kill may still land: count only later ones
            old = set(lane.sent)
            first = poll(lambda: min((t for text, t in list(lane.first_seen.items()) if text not in old), default=None),
                         ttl_s + 60, interval=0.005)
            traffic.close()
            if first is None:
                raise SystemExit(f"no reply within {ttl_s + 60:g} s of the kill")
            return first - killed
        finally:
            fleet.stop()
            etcd.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ttl", type=float, default=fleethosts.TTL_S)
    args = ap.parse_args()
    if etcd_binary() is None:
        print("bench_failover: no etcd binary (apt-get install etcd-server); skipped")
        return 0
    times = []
    for i in range(args.runs):
        t = one_run(args.ttl)
        times.append(t)
        print(f"run {i + 1}: {t:.2f} s", flush=True)
    med = statistics.median(times)
    print(f"failover (SIGKILL of the holder -> first reply from the new holder), lease_ttl_s {args.ttl:g}:")
    print(f"  median {med:.2f} s  min {min(times):.2f} s  max {max(times):.2f} s  over {len(times)} runs")
    print(f"  median - ttl = {med - args.ttl:+.2f} s  (ratio to ttl {med / args.ttl:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
