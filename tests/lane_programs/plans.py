"""Helpers for the gateway tests: plans built directly, owners started as real processes.

Plans are constructed as LaunchPlan objects and written with planfile, so
the runtime is tested without depending on the config pipeline. They are
not compiled from a config, so owners run them with ``--trust-plan`` (no
recompile); TRUST is that argument list.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from gatewayctl.compile import planfile
from gatewayctl.compile.plan import Control, FrozenMap, Lane, LaunchPlan, RestartPolicy, RunAs
from tests.support import LANES_AS_ROOT, poll

WORKER = str(Path(__file__).with_name("worker.py"))
STATUS_READER = str(Path(__file__).with_name("status_reader.py"))
GATEWAYCTL = [sys.executable, "-m", "gatewayctl"]
# How the runtime tests run a hand-built plan: nothing to recompile it from.
TRUST = ("--trust-plan",)


def lane(family: str, *mode: str, account: str = "a", env: tuple[str, ...] = ()) -> Lane:
    return Lane(
        family=family,
        alias=None,
        account_id=account,
        account_label=account,
        account_source="selector",
        settings=FrozenMap(),
        secrets=(),
        worker=(sys.executable, WORKER, *(mode or ("run",))),
        env=env,
    )


def make_plan(
    tmp: Path,
    lanes,
    *,
    restart: RestartPolicy | None = None,
    grace: float = 2.0,
    mode: str = "gateway_headless",
    session: str | None = None,
    run_as: RunAs | None = RunAs("root") if LANES_AS_ROOT else None,
) -> Path:
    """Write a config stand-in and a plan pointing at it; returns the plan path.

    ``run_as`` defaults to "as the suite's user" (explicitly root under root)."""
    config = tmp / "config.toml"
    if not config.exists():
        config.write_text("# stand-in config for runtime tests\n")
    plan = LaunchPlan(
        config_path=str(config),
        config_sha256=hashlib.sha256(config.read_bytes()).hexdigest(),
        mode=mode,
        session=session,
        control=Control(port=0, port_source="ephemeral_cli"),
        lanes=tuple(lanes),
        restart=restart or RestartPolicy(),
        stop_grace_s=grace,
        run_as=run_as,
    )
    path = tmp / f"plan-{len(list(tmp.glob('plan-*.json')))}.json"
    planfile.write(plan, str(path))
    return path


def env_for(home: Path, **extra) -> dict:
    env = dict(os.environ)
    env["GATEWAYCTL_HOME"] = str(home)
    env.pop("GATEWAYCTL_GATEWAY_PORT", None)
    env.update(extra)
    return env


def cli(home: Path, *args: str, timeout: float = 30.0, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*GATEWAYCTL, *args], env=env_for(home, **extra), capture_output=True, text=True, timeout=timeout
    )


def start_owner(home: Path, plan: Path, *args: str, command=("gateway", "run"), **extra) -> subprocess.Popen:
    return subprocess.Popen(
        [*GATEWAYCTL, *command, "--plan", str(plan), *TRUST, *args],
        env=env_for(home, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def runtime_dir(home: Path) -> Path:
    return home / "gateway-runtime"


def read_status(home: Path) -> dict:
    """The status as `gateway status --json` computes it, without a process."""
    from gatewayctl.runtime import RuntimePaths, System, load_status

    return load_status(RuntimePaths(str(runtime_dir(home))), System())


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    value = poll(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
    return value


def wait_running(home: Path, owner: subprocess.Popen | None = None, timeout: float = 15.0) -> dict:
    def ready():
        if owner is not None and owner.poll() is not None:
            raise AssertionError(f"owner exited early ({owner.returncode}): {owner.stderr.read()}")
        doc = read_status(home)
        return doc if doc["running"] and doc["phase"] == "running" else None

    return wait_for(ready, timeout, what="owner phase running")


def alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def group_alive(pgid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    rest = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(rest[2]) == pgid and rest[0] not in ("Z", "X"):
                found.append(int(name))
    return found


def finish(owner: subprocess.Popen, timeout: float = 20.0) -> tuple[int, str, str]:
    try:
        out, err = owner.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        owner.send_signal(signal.SIGKILL)
        out, err = owner.communicate()
        raise AssertionError(f"owner did not exit within {timeout}s; stderr: {err}")
    return owner.returncode, out, err


def lane_pids(doc: dict) -> list[int]:
    return [ln["pid"] for ln in doc["lanes"] if ln["pid"]]


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())
