"""Benchmark the gateway owner with many lanes of a trivial worker.

    .venv/bin/python bench/bench_gateway.py [--lanes 50] [--runs 3] [--idle-seconds 10]

Per run, in a fresh GATEWAYCTL_HOME with an ephemeral control port:

- run -> all running: from spawning `gatewayctl gateway run --plan P` until
  status.json says phase running with every lane running (each worker
  reports ready through $GATEWAYCTL_LANE_STATUS, so this is real readiness,
  not the 1 s start period);
- idle CPU and RSS: the owner's own user+system CPU time over the idle
  window (from /proc/<pid>/stat, lanes excluded) as a percentage of one core,
  and its VmRSS at the end of the window;
- stop -> exit: from writing the stop request (what `gateway stop` does,
  without that command's own interpreter start-up) until the owner process
  has exited, lanes stopped and state finalized.

Prints medians (and min/max) over the runs as a table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from gatewayctl.compile import planfile
from gatewayctl.compile.plan import Control, FrozenMap, Lane, LaunchPlan, RestartPolicy, RunAs
from gatewayctl.runtime import RuntimePaths, System, load_status, request_stop

# The trivial worker: say ready, then wait for SIGTERM. `-S` skips site
# imports so the measurement is the owner's, not 50 interpreters' start-up.
WORKER_CODE = (
    "import json,os,signal,sys,time\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "p=os.environ['GATEWAYCTL_LANE_STATUS']\n"
    "open(p+'.tmp','w').write(json.dumps({'state':'ready'})); os.replace(p+'.tmp',p)\n"
    "while True: time.sleep(3600)\n"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
FAMILIES = ("feishu", "matrix", "qqbot", "telegram", "wecom", "whatsapp")


def make_plan(workdir: str, lanes: int) -> str:
    config = os.path.join(workdir, "config.toml")
    with open(config, "w") as fh:
        fh.write("# bench stand-in\n")
    with open(config, "rb") as fh:
        sha = hashlib.sha256(fh.read()).hexdigest()
    plan = LaunchPlan(
        config_path=config,
        config_sha256=sha,
        mode="gateway_headless",
        session=None,
        control=Control(port=0, port_source="ephemeral_cli"),
        lanes=tuple(
            # A plan names only the six served families (the loader refuses
            # any other); many lanes cycle through them with distinct accounts.
            Lane(FAMILIES[i % len(FAMILIES)], None, f"a{i:02d}", f"a{i:02d}", "selector", FrozenMap(), (),
                 (sys.executable, "-S", "-c", WORKER_CODE), ())
            for i in range(lanes)
        ),
        restart=RestartPolicy("never"),
        stop_grace_s=5.0,
        # A root owner starts lanes as root only when told to; the bench's
        # trivial workers run as whoever runs the bench.
        run_as=RunAs("root") if os.geteuid() == 0 else None,
    )
    path = os.path.join(workdir, "plan.json")
    planfile.write(plan, path)
    return path


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        rest = fh.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime + stime of the owner itself


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_run(lanes: int, idle_s: float) -> dict:
    workdir = tempfile.mkdtemp(prefix="gwbench-")
    try:
        plan = make_plan(workdir, lanes)
        home = os.path.join(workdir, "home")
        env = dict(os.environ, GATEWAYCTL_HOME=home)
        paths = RuntimePaths(os.path.join(home, "gateway-runtime"))
        system = System()
        t0 = time.monotonic()
        owner = subprocess.Popen(
            [sys.executable, "-m", "gatewayctl", "gateway", "run", "--trust-plan", "--plan", plan],  # hand-made: no config to recompile
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = t0 + 120
        while True:
            doc = load_status(paths, system)
            if doc["phase"] == "running" and doc["running_surface_count"] == lanes:
                break
            if owner.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"owner did not reach running (exit {owner.returncode})")
            time.sleep(0.005)
        t_running = time.monotonic() - t0

        c0, w0 = cpu_ticks(owner.pid), time.monotonic()
        time.sleep(idle_s)
        c1, w1 = cpu_ticks(owner.pid), time.monotonic()
        cpu_pct = 100.0 * (c1 - c0) / CLK_TCK / (w1 - w0)
        rss = rss_kib(owner.pid)

        t1 = time.monotonic()
        request_stop(paths, system)
        code = owner.wait(timeout=60)
        t_stop = time.monotonic() - t1
        if code != 0:
            raise SystemExit(f"owner exited {code}")
        return {"run_to_running_s": t_running, "idle_cpu_pct": cpu_pct, "idle_rss_mib": rss / 1024, "stop_to_exit_s": t_stop}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lanes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    results = []
    for i in range(args.runs):
        r = one_run(args.lanes, args.idle_seconds)
        results.append(r)
        print(
            f"run {i + 1}/{args.runs}: running after {r['run_to_running_s']:.3f}s, idle cpu {r['idle_cpu_pct']:.2f}%, "
            f"rss {r['idle_rss_mib']:.1f} MiB, stopped in {r['stop_to_exit_s']:.3f}s",
            file=sys.stderr,
        )
    rows = [
        ("gateway run -> all lanes running", "run_to_running_s", "s", 3),
        ("gateway stop -> owner exited", "stop_to_exit_s", "s", 3),
        (f"owner CPU while idle ({args.idle_seconds:g} s)", "idle_cpu_pct", "% of a core", 2),
        ("owner RSS while idle", "idle_rss_mib", "MiB", 1),
    ]
    print(f"gateway owner, {args.lanes} lanes of a trivial worker, {args.runs} runs, {os.cpu_count()} CPUs")
    print(f"{'metric':<40} {'median':>10} {'min':>10} {'max':>10}  unit")
    for label, key, unit, digits in rows:
        values = [r[key] for r in results]
        print(
            f"{label:<40} {statistics.median(values):>10.{digits}f} {min(values):>10.{digits}f} "
            f"{max(values):>10.{digits}f}  {unit}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
