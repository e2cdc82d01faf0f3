"""A lane's last words survive its exit.

A worker writes its final status (state ``failed`` and why) just before it
exits. The owner reads the status file once more after the exit, so
``status.json`` shows that final state, and the lane's ``last_error`` and
the owner's failure message carry the worker's reason instead of only the
exit code (which stays in ``last_exit``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.compile.plan import RestartPolicy
from tests.lane_programs.last_words import TAKEOVER
from tests.lane_programs.plans import (
    cli,
    finish,
    lane,
    make_plan,
    read_status,
    start_owner,
    wait_for,
    wait_running,
)

pytestmark = pytest.mark.slow

LAST_WORDS = str(Path(__file__).parent / "lane_programs" / "last_words.py")


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def _lane(mode: str, trigger: Path):
    return dataclasses.replace(lane("wecom", account="alerts"), worker=(sys.executable, LAST_WORDS, mode, str(trigger)))


def test_takeover_reason_reaches_status_and_failure_message(tmp_path, home):
    trigger = tmp_path / "trigger"
    plan = make_plan(tmp_path, [_lane("takeover", trigger)])
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        trigger.touch()
        rc, _out, err = finish(owner)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert rc == exitcodes.OWNER_FAILED
    expected = f"gateway owner failed because wecom(account=alerts) exited unexpectedly: {TAKEOVER}"
    assert err.strip().splitlines()[-1] == expected
    doc = read_status(home)
    assert doc["phase"] == "failed" and doc["last_error"] == expected
    (entry,) = doc["lanes"]
    assert entry["worker"]["state"] == "failed"  # not the "backoff" written just before
    assert entry["worker"]["last_error"] == TAKEOVER
    assert entry["last_error"] == TAKEOVER
    assert entry["last_exit"] == {"code": 1, "signal": None}
    human = cli(home, "gateway", "status")
    assert human.returncode == exitcodes.NOT_RUNNING
    assert f"last error    {TAKEOVER}" in human.stdout
    assert "worker error" not in human.stdout  # the same text is not shown twice


def test_on_failure_backoff_shows_the_workers_reason(tmp_path, home):
    trigger = tmp_path / "trigger"
    # A long first backoff keeps the lane in backoff while the test looks.
    plan = make_plan(
        tmp_path,
        [_lane("takeover", trigger)],
        restart=RestartPolicy("on-failure", max_restarts=3, window_s=60, backoff_initial_s=30, backoff_max_s=30),
    )
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        trigger.touch()
        doc = wait_for(
            lambda: (d := read_status(home)) and d["lanes"][0]["state"] == "backoff" and d,
            what="lane in backoff",
        )
        entry = doc["lanes"][0]
        assert entry["worker"]["state"] == "failed"
        assert entry["last_error"] == TAKEOVER
        assert entry["last_exit"] == {"code": 1, "signal": None}
        raw = json.loads((home / "gateway-runtime" / "status.json").read_text())
        assert raw["lanes"][0]["last_error"] == TAKEOVER and raw["lanes"][0]["worker"]["state"] == "failed"
        assert cli(home, "gateway", "stop").returncode == 0
        rc, _out, err = finish(owner)
        assert rc == 0, err
    finally:
        if owner.poll() is None:
            owner.kill()


def test_an_older_worker_error_is_a_clue_not_the_cause(tmp_path, home):
    """A worker that died without declaring itself failed keeps the exit text first."""
    trigger = tmp_path / "trigger"
    plan = make_plan(tmp_path, [_lane("stale-error", trigger)])
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        trigger.touch()
        rc, _out, err = finish(owner)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert rc == exitcodes.OWNER_FAILED
    reason = "exit code 3 (worker's last error: handler gave no answer within 5s (request wecom:m1, dropped))"
    assert err.strip().splitlines()[-1] == (
        f"gateway owner failed because wecom(account=alerts) exited unexpectedly: {reason}"
    )
    entry = read_status(home)["lanes"][0]
    assert entry["last_error"] == reason and entry["last_exit"] == {"code": 3, "signal": None}
