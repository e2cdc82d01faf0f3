"""A dead owner's status tells what is, not what its last snapshot said (issue 13, item 5).

After `kill -9` of the owner its lanes die too (parent-death signal), yet
the snapshot still said `phase: running`, "3 of 3 running", each lane
`running`. Now the phase is `failed`, a lane whose process is gone is
`fatal` without a pid, "0 of N running", and a stopped owner's heartbeat is
a time, not an age that keeps growing.
"""

from __future__ import annotations

import json
import signal

import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.cli.gateway import render_status
from gatewayctl.runtime import RuntimePaths, slot, statefiles
from tests.lane_programs.plans import (
    alive,
    cli,
    finish,
    lane,
    lane_pids,
    make_plan,
    read_status,
    start_owner,
    wait_for,
    wait_running,
)
from tests.test_runtime_units import FakeSystem, _record


def _lane(family, pid, state="running"):
    return {
        "family": family, "account": "a", "state": state, "pid": pid, "restarts": 0, "started_at_ms": 1,
        "last_exit": None, "last_error": None, "log_path": f"/rt/logs/{family}-a.log", "worker": None,
    }


def test_dead_owner_snapshot_is_judged_lane_by_lane(tmp_path):
    system = FakeSystem()
    paths = RuntimePaths(str(tmp_path / "rt"))
    system.live.update({10: 7, 501: 7})
    slot.claim(paths, system, _record(system, 10))
    lanes = [_lane("telegram", 500), _lane("matrix", 501), _lane("wecom", None, state="backoff")]
    statefiles.atomic_write_json(
        paths.status,
        {**_record(system, 10), "lanes": lanes, "running_surface_count": 2, "configured_surface_count": 3},
    )
    del system.live[10]  # the owner is SIGKILLed; lane 501 somehow survives it
    doc = slot.load_status(paths, system)
    assert doc["running"] is False and doc["stale"] is True
    assert doc["phase"] == "failed"
    assert doc["last_error"] == doc["shutdown_reason"] == "gateway owner (pid 10) died without shutting down"
    by = {ln["family"]: ln for ln in doc["lanes"]}
    assert by["telegram"]["state"] == "fatal" and by["telegram"]["pid"] is None
    assert by["telegram"]["last_error"] == "its owner died; the lane's process is gone"
    assert by["matrix"]["state"] == "running" and "left this lane's process (pid 501) running" in by["matrix"]["last_error"]
    assert by["wecom"]["state"] == "fatal"
    assert doc["running_surface_count"] == 1
    text = render_status(doc, system.now_ms() + 60_000)
    assert "gateway owner: not running (pid 10 died without shutting down" in text
    assert "lanes        1 of 3 running" in text
    assert "heartbeat    none (last at " in text


def test_stopped_owner_heartbeat_does_not_keep_ageing():
    doc = {
        "runtime_dir": "/rt", "phase": "stopped", "running": False, "stale": False, "pid": 4120,
        "mode": "gateway_headless", "version": "0", "config_path": "c.toml", "attached_cli_session": None,
        "started_at_ms": 1_700_000_000_000, "last_heartbeat_at": 1_700_000_060_000, "stopped_at_ms": 1_700_000_061_000,
        "shutdown_reason": "shutdown requested: gateway stop requested", "last_error": None,
        "configured_surface_count": 0, "running_surface_count": 0, "port": None, "plan_sha256": "0" * 64, "lanes": [],
    }
    early, late = render_status(doc, 1_700_000_063_000), render_status(doc, 1_700_009_999_000)
    assert early == late
    assert "heartbeat    none (last at 2023-11-14T22:14:20Z)" in early


@pytest.mark.slow
def test_status_after_kill_9_of_the_owner(tmp_path):
    home = tmp_path / "home"
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("matrix", "run"), lane("wecom", "run")])
    owner = start_owner(home, plan)
    wait_running(home, owner)
    wait_for(lambda: read_status(home)["running_surface_count"] == 3, what="3 lanes running")
    pids = lane_pids(read_status(home))
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    wait_for(lambda: not any(alive(p) for p in pids), 10, what="lanes to die with the owner")
    r = cli(home, "gateway", "status", "--json")
    assert r.returncode == exitcodes.NOT_RUNNING
    doc = json.loads(r.stdout)
    assert doc["phase"] == "failed" and doc["running"] is False and doc["stale"] is True
    assert doc["running_surface_count"] == 0
    assert {ln["state"] for ln in doc["lanes"]} == {"fatal"}
    text = cli(home, "gateway", "status").stdout
    assert "3 of 3 running" not in text and "0 of 3 running" in text
    assert f"pid {owner.pid} died without shutting down" in text
    # and the next owner still claims the slot at once
    second = start_owner(home, plan)
    try:
        wait_running(home, second)
    finally:
        second.send_signal(signal.SIGTERM)
        rc, _, err = finish(second)
    assert rc == 0, err
