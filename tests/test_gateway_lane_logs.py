"""Per-lane logs with a real owner and a real, chatty lane: capped and rotated.

The owner's cap is 5 MiB per file with 3 backups; a lane that writes 18 MiB
must leave exactly that much history on disk, the newest output last, and
`status` must say where the log is.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from gatewayctl.runtime.logs import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES
from tests.lane_programs.plans import finish, lane, make_plan, read_status, start_owner, wait_for, wait_running

pytestmark = pytest.mark.slow


def test_chatty_lane_log_is_capped_and_rotated(tmp_path):
    home = tmp_path / "home"
    written = 18 * 1024 * 1024
    plan = make_plan(tmp_path, [lane("telegram", "chatty", str(written))])
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        log = Path(read_status(home)["lanes"][0]["log_path"])
        backups = [Path(f"{log}.{i}") for i in range(1, DEFAULT_BACKUPS + 1)]
        # Everything the lane wrote has passed through the owner once the
        # oldest backup exists and the current file holds the tail.
        wait_for(lambda: all(b.exists() for b in backups), 30, interval=0.1, what="three rotations")
        wait_for(lambda: log.exists() and log.stat().st_size > 0, 10, what="the current log")
        sizes = [log.stat().st_size] + [b.stat().st_size for b in backups]
        assert all(size <= DEFAULT_MAX_BYTES for size in sizes), sizes
        assert not Path(f"{log}.{DEFAULT_BACKUPS + 1}").exists()
        total = sum(sizes)
        assert total <= (DEFAULT_BACKUPS + 1) * DEFAULT_MAX_BYTES
        assert total >= DEFAULT_BACKUPS * DEFAULT_MAX_BYTES // 2  # history kept, not truncated away
        assert all((b.stat().st_mode & 0o777) == 0o600 for b in backups)
    finally:
        owner.send_signal(signal.SIGTERM)
        rc, _, err = finish(owner)
    assert rc == 0, err
