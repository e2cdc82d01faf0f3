"""Memory of a running gateway: a six-lane rollout against the built-in fakes.

    .venv/bin/python bench/bench_memory.py [--settle 3] [--samples 3]

Starts the fakes of Feishu, Telegram, WeCom, Matrix, WhatsApp and QQ Bot in
this process, then `gatewayctl gateway run --config` with the six-lane
config of tests/test_rollout_six.py (the seed rollout), waits until every
lane's worker says it is connected, lets it idle, and reads
/proc/PID/smaps_rollup of the owner and of every process under it:

- RSS counts every shared page again in every process, so six lanes look
  far bigger than they are;
- USS (Private_Clean + Private_Dirty) is what the process alone costs:
  what stopping it would give back;
- PSS splits each shared page among the processes that map it, so the PSS
  of all processes adds up to what the host really spends.

Built-in lanes are forked from the lane template (runtime/template.py), a
process that imported the lanes' libraries once: a lane's USS is what it
wrote to after the fork (its event loop, clients, buffers, and the shared
pages it touched), not a whole interpreter. To say what a lane would cost
on its own, two reference interpreters of the same venv are measured in the
same run, idle: `python -c` (bare) and one that imported asyncio. The host
total counts the owner, the template and every lane.

Goal (issue 17): a lane at most 12 MiB USS; the idle six-lane host (owner
and lanes) under 120 MiB PSS in total. Samples are taken `--samples` times
a second apart after `--settle` seconds idle; the medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MiB = 1024 * 1024
FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty")


def smaps_rollup(pid: int) -> dict[str, int] | None:
    """Bytes per field of /proc/PID/smaps_rollup (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            text = fh.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in FIELDS:
            out[name] = int(rest.split()[0]) * 1024
    out["Uss"] = out.get("Private_Clean", 0) + out.get("Private_Dirty", 0)
    return out


def _other(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmd = b""
    if b"gatewayctl.runtime.template" in cmd:
        return "lane template"  # the process lanes are forked from (runtime/template.py)
    return f"pid {pid} (other child)"


def descendants(root: int) -> list[int]:
    """Every live process under ``root`` (from /proc/*/stat parent pids)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parent[int(entry)] = int(fields[1])
    out, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = sorted(p for p, pp in parent.items() if pp == pid)
        out.extend(kids)
        frontier.extend(kids)
    return out


def reference(code: str) -> subprocess.Popen:
    """An idle interpreter of this venv that ran ``code`` and then waits."""
    return subprocess.Popen(
        [sys.executable, "-c", code + "\nimport sys\nsys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def mib(x: float) -> str:
    return f"{x / MiB:6.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settle", type=float, default=3.0, help="seconds idle before the first sample (default 3)")
    ap.add_argument("--samples", type=int, default=3, help="samples, a second apart (default 3)")
    args = ap.parse_args()

    from gatewayctl.fakes import FakeMatrix, FakeTelegram, FakeWhatsAppCloud
    from gatewayctl.fakes.feishu import FakeFeishu
    from gatewayctl.fakes.qqbot import FakeQQBot
    from gatewayctl.fakes.wecom import FakeWeCom
    from tests.test_rollout_six import WA_SECRET, GatewayProc, base_env, six_config

    tg = FakeTelegram(token="123456:BENCH-fake-token-abcdefghijklmnop").start()
    fs, wc, mx, wa, qq = FakeFeishu().start(), FakeWeCom().start(), FakeMatrix().start(), FakeWhatsAppCloud().start(), FakeQQBot().start()
    refs = {"python (bare)": reference("pass"), "python + asyncio": reference("import asyncio")}
    gw = None
    try:
        for proc in refs.values():
            proc.stdout.readline()
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            env = base_env(tmp_path)
            env.update(
                LARK_WORK_APP_ID=fs.app_id, LARK_WORK_APP_SECRET=fs.app_secret, TELEGRAM_BOT_TOKEN=tg.token,
                WECOM_ALERTS_BOT_ID=wc.bot_id, WECOM_ALERTS_SECRET=wc.secret, MATRIX_ACCESS_TOKEN=mx.access_token,
                WA_TOKEN=wa.access_token, WA_VERIFY="bench-verify", WA_APP_SECRET=WA_SECRET,
                QQBOT_APP_ID=qq.app_id, QQBOT_CLIENT_SECRET=qq.client_secret,
            )  # fmt: skip
            gw = GatewayProc(tmp_path, env, six_config(fs, tg, wc, mx, wa, qq), selectors="lark=work,telegram=bot_123456,wecom=alerts")
            status = gw.start(6)
            owner = status["pid"]
            label = {owner: "owner"}
            for lane in status["lanes"]:
                for pid in (lane.get("pid"), (lane.get("worker") or {}).get("pid")):
                    if isinstance(pid, int):
                        label.setdefault(pid, f"lane {lane['family']}")
            time.sleep(args.settle)
            samples: dict[str, list[dict]] = {}
            for i in range(args.samples):
                if i:
                    time.sleep(1)
                pids = [owner, *descendants(owner)]
                for pid in pids:
                    got = smaps_rollup(pid)
                    if got is not None:
                        samples.setdefault(label.get(pid) or _other(pid), []).append(got)
                for name, proc in refs.items():
                    got = smaps_rollup(proc.pid)
                    if got is not None:
                        samples.setdefault(name, []).append(got)
            gw.stop()
            gw = None
    finally:
        if gw is not None:
            gw.stop()
        for proc in refs.values():
            proc.kill()
            proc.wait()
        for fake in (tg, fs, wc, mx, wa, qq):
            fake.stop()

    med = {name: {f: statistics.median(s[f] for s in rows) for f in ("Rss", "Pss", "Uss")} for name, rows in samples.items()}
    gateway = [n for n in med if n not in refs]
    lanes = [n for n in gateway if n.startswith("lane ")]
    print(f"idle six-lane gateway against the fakes, MiB, median of {args.samples} samples after {args.settle:g} s idle:")
    print(f"  {'process':<26} {'RSS':>6} {'PSS':>6} {'USS':>6}")
    for name in sorted(gateway, key=lambda n: (n != "owner", n)) + list(refs):
        m = med[name]
        print(f"  {name:<26} {mib(m['Rss'])} {mib(m['Pss'])} {mib(m['Uss'])}")
    total_rss = sum(med[n]["Rss"] for n in gateway)
    total_pss = sum(med[n]["Pss"] for n in gateway)
    total_uss = sum(med[n]["Uss"] for n in gateway)
    print(f"  {'total (owner, template, lanes)':<26} {mib(total_rss)} {mib(total_pss)} {mib(total_uss)}")
    if lanes:
        worst = max(lanes, key=lambda n: med[n]["Uss"])
        lane_uss = statistics.median(med[n]["Uss"] for n in lanes)
        base = med["python + asyncio"]["Uss"]
        print(f"  lane USS: median {lane_uss / MiB:.1f} MiB, largest {worst} {med[worst]['Uss'] / MiB:.1f} MiB  (goal <= 12)")
        print(f"  host PSS: {total_pss / MiB:.1f} MiB  (goal < 120)")
        print(
            f"  for scale: an interpreter of its own with asyncio imported is {base / MiB:.1f} MiB USS "
            f"(bare {med['python (bare)']['Uss'] / MiB:.1f}); a lane forked from the template "
            f"({'measured' if 'lane template' in med else 'NOT running'}) owns {lane_uss / MiB:.1f} MiB (median lane)"
        )


if __name__ == "__main__":
    main()
