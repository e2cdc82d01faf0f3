"""A hung owner, with real processes and the real 15 s heartbeat limit.

SIGSTOP freezes the owner: its pid is alive and its start time matches, so
only the heartbeat's age can tell that it no longer owns anything. The unit
tests cover this with a fake clock; this test proves it end to end.
"""

from __future__ import annotations

import signal
import time

import pytest

from gatewayctl.cli import exitcodes
from tests.lane_programs.plans import cli, finish, lane, make_plan, read_status, runtime_dir, start_owner, wait_for, wait_running
from tests.test_gateway_owner import status_json

pytestmark = pytest.mark.slow

STALE_AFTER_S = 15


def test_hung_owner_is_reported_stale_refuses_a_second_owner_and_recovers(tmp_path):
    home = tmp_path / "home"
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        owner.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        code, doc = status_json(home)
        assert code == 0 and doc["running"] is True and doc["stale"] is False  # not yet: the heartbeat is fresh

        def stale():
            code, doc = status_json(home)
            return (code, doc) if doc["stale"] else None

        code, doc = wait_for(stale, STALE_AFTER_S + 10, interval=0.5, what="the hung owner to be reported stale")
        # Stale only once the heartbeat is older than the limit (the owner
        # rewrites it every 5 s, so between 10 and 15 s after the freeze).
        assert time.monotonic() - frozen_at >= STALE_AFTER_S - 5.5
        assert code == exitcodes.NOT_RUNNING and doc["running"] is False and doc["pid"] == owner.pid
        assert "stale" in cli(home, "gateway", "status").stdout

        # Alive but hung: refused, never displaced, so no lane runs twice.
        second = cli(home, "gateway", "run", "--plan", str(plan), "--trust-plan")
        assert second.returncode == exitcodes.OWNER_ACTIVE
        assert f"(pid={owner.pid})" in second.stderr
        assert read_status(home)["pid"] == owner.pid
        assert (runtime_dir(home) / "owner-active.json").exists()

        owner.send_signal(signal.SIGCONT)
        wait_for(lambda: not status_json(home)[1]["stale"], 10, interval=0.2, what="the resumed owner to heartbeat again")
        assert status_json(home)[0] == 0
    finally:
        owner.send_signal(signal.SIGCONT)
        owner.send_signal(signal.SIGTERM)
        rc, _, err = finish(owner)
    assert rc == 0, err
