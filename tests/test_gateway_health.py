"""`gateway status` exits 0 healthy, 11 degraded, 3 down, and `--json`
says the same in its `health` field: a probe needs no parsing."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import jsonschema
import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.compile.plan import RestartPolicy
from gatewayctl.runtime.states import DEGRADED, DOWN, HEALTHY, health
from tests.lane_programs.plans import cli, finish, lane, make_plan, read_status, start_owner, wait_for, wait_running

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "status.schema.json").read_text())


def _lane(state: str) -> dict:
    return {"family": "telegram", "account": "a", "state": state}


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({"running": False, "phase": "stopped", "lanes": []}, DOWN),
        ({"running": False, "phase": "running", "lanes": [_lane("running")]}, DOWN),  # stale snapshot
        ({"running": True, "phase": "running", "lanes": [_lane("running"), _lane("running")]}, HEALTHY),
        ({"running": True, "phase": "starting", "lanes": [_lane("running")]}, DEGRADED),
        ({"running": True, "phase": "stopping", "lanes": [_lane("running")]}, DEGRADED),
        ({"running": True, "phase": "running", "lanes": []}, DEGRADED),
    ]
    + [({"running": True, "phase": "running", "lanes": [_lane("running"), _lane(s)]}, DEGRADED)
       for s in ("starting", "backoff", "stopping", "stopped", "fatal")],
)
def test_health_of_a_status_document(doc, expected):
    assert health(doc) == expected


def _status(home: Path) -> tuple[int, dict]:
    proc = cli(home, "gateway", "status", "--json")
    doc = json.loads(proc.stdout)
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    return proc.returncode, doc


def test_no_owner_is_down_and_exit_3(tmp_path):
    code, doc = _status(tmp_path / "home")
    assert (code, doc["health"]) == (exitcodes.NOT_RUNNING, "down")


@pytest.mark.slow
def test_a_lane_in_backoff_is_degraded_then_healthy_again(tmp_path):
    home = tmp_path / "home"
    # one steady lane, one that crashes on start: on-failure keeps the owner
    # up with the crashing lane in backoff between its restarts
    policy = RestartPolicy(policy="on-failure", max_restarts=50, window_s=60, backoff_initial_s=2, backoff_max_s=2)
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("matrix", "crash", "0.3")], restart=policy)
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)

        def degraded():
            code, doc = _status(home)
            return (code, doc) if doc["health"] == "degraded" and any(ln["state"] == "backoff" for ln in doc["lanes"]) else None

        code, doc = wait_for(degraded, 15, what="a lane in backoff")
        assert code == exitcodes.DEGRADED and doc["running"] is True
        human = cli(home, "gateway", "status")
        assert human.returncode == exitcodes.DEGRADED
    finally:
        owner.send_signal(signal.SIGTERM)
        finish(owner)
    code, doc = _status(home)
    assert (code, doc["health"]) == (exitcodes.NOT_RUNNING, "down")


@pytest.mark.slow
def test_every_lane_running_is_healthy_exit_0(tmp_path):
    home = tmp_path / "home"
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("feishu", "run", account="work")])
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        code, doc = wait_for(
            lambda: (r := _status(home))[1]["health"] == "healthy" and r, 10, what="every lane running"
        )
        assert code == exitcodes.OK and all(ln["state"] == "running" for ln in doc["lanes"])
        assert read_status(home)["running"] is True
    finally:
        owner.send_signal(signal.SIGTERM)
        finish(owner)
