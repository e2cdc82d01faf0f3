"""The human views summarise each lane's worker stats (issue 5).

`gateway status` prints one compact line per lane (state, pid, restarts,
connected, in, out, handler errors, last inbound, log) plus its last error;
multi-channel-serve's live views show connected / in / out where the worker
reports them. Only what the worker reports is shown.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from gatewayctl.cli.gateway import _LineView, _TableView, render_status, worker_summary
from tests.lane_programs.plans import cli, finish, lane, make_plan, start_owner, wait_for, wait_running

NOW = 1_700_000_000_000


def _lane(**over) -> dict:
    entry = {
        "family": "telegram",
        "account": "bot_123456",
        "state": "running",
        "pid": 1234,
        "restarts": 0,
        "started_at_ms": NOW - 60_000,
        "last_exit": None,
        "last_error": None,
        "log_path": "/rt/logs/telegram-bot_123456.log",
        "worker": {
            "state": "running",
            "connected": True,
            "messages_received": 12,
            "messages_ignored": 0,
            "replies_sent": 12,
            "handler_errors": 0,
            "last_inbound_at_ms": NOW - 3_000,
            "last_error": None,
        },
    }
    entry.update(over)
    return entry


def _doc(*lanes, running=True, phase="running") -> dict:
    return {
        "runtime_dir": "/rt",
        "phase": phase,
        "running": running,
        "stale": False,
        "pid": 4120,
        "mode": "gateway_headless",
        "version": "0.1.0",
        "config_path": "gw.toml",
        "attached_cli_session": None,
        "started_at_ms": NOW - 120_000,
        "last_heartbeat_at": NOW - 2_000,
        "stopped_at_ms": None,
        "shutdown_reason": None,
        "last_error": None,
        "configured_surface_count": len(lanes),
        "running_surface_count": sum(1 for ln in lanes if ln["state"] == "running"),
        "bind_address": "127.0.0.1",
        "port": 26306,
        "port_source": "default",
        "token_path": "/rt/control-token",
        "format_version": 1,
        "plan_sha256": "0" * 64,
        "lanes": list(lanes),
    }


def test_status_line_summarises_worker_stats():
    out = render_status(_doc(_lane()), NOW)
    assert (
        "    telegram/bot_123456  running  pid 1234  restarts 0  connected  in 12  out 12  "
        "handler errors 0  last inbound 3s ago  log /rt/logs/telegram-bot_123456.log\n"
    ) in out
    assert "last error" not in out


def test_status_shows_ignored_disconnected_and_errors():
    worker = {
        "state": "backoff",
        "connected": False,
        "messages_received": 5,
        "messages_ignored": 2,
        "replies_sent": 3,
        "handler_errors": 1,
        "last_inbound_at_ms": None,
        "last_error": "getUpdates failed: ConnectError;\nretrying in 2 s",
    }
    out = render_status(_doc(_lane(worker=worker)), NOW)
    line = next(ln for ln in out.splitlines() if ln.startswith("    telegram/bot_123456"))
    assert "  disconnected  in 5  out 3  ignored 2  handler errors 1  log " in line
    assert "last inbound" not in line  # never received anything: nothing to say
    assert "      worker error  getUpdates failed: ConnectError; retrying in 2 s" in out


def test_lane_error_and_a_different_worker_error_both_show():
    entry = _lane(
        state="backoff",
        pid=None,
        restarts=1,
        last_exit={"code": 1, "signal": None},
        last_error="Telegram answered 409: another poller is using this bot token",
        worker={"state": "failed", "connected": False, "last_error": "Telegram answered 409: another poller is using this bot token"},
    )
    out = render_status(_doc(entry), NOW)
    assert "    telegram/bot_123456  backoff  restarts 1  disconnected  log /rt/" in out
    assert "      last error    Telegram answered 409: another poller is using this bot token" in out
    assert "worker error" not in out


def test_foreign_worker_without_stats_gets_no_invented_ones():
    entry = _lane(worker={"state": "ready", "connected": "yes", "messages_received": True, "replies_sent": -1})
    assert worker_summary(entry, NOW) == []
    assert worker_summary(_lane(worker=None), NOW) == []
    out = render_status(_doc(_lane(worker=None)), NOW)
    assert "    telegram/bot_123456  running  pid 1234  restarts 0  log /rt/logs/telegram-bot_123456.log\n" in out


def test_line_view_shows_connected_in_out_and_reprints_on_connectivity_only():
    stream = io.StringIO()
    view = _LineView(stream)
    view(_doc(_lane()))
    assert "  telegram(account=bot_123456): running pid=1234 connected, in 12, out 12, handler errors 0\n" in stream.getvalue()
    before = stream.getvalue()
    busier = _lane()
    busier["worker"] = {**busier["worker"], "messages_received": 13, "replies_sent": 13}
    view(_doc(busier))
    assert stream.getvalue() == before  # a counter alone does not print a line per message
    lost = _lane()
    lost["worker"] = {**lost["worker"], "connected": False}
    view(_doc(lost))
    assert stream.getvalue().endswith("  telegram(account=bot_123456): running pid=1234 disconnected, in 12, out 12, handler errors 0\n")


class _Tty(io.StringIO):
    def fileno(self):
        raise OSError("not a real terminal")  # width falls back to 120


def test_table_view_has_connected_in_out_columns():
    stream = _Tty()
    quiet = _lane(family="matrix", account="ops", worker=None)
    _TableView(stream)(_doc(_lane(), quiet))
    rows = stream.getvalue().splitlines()
    assert rows[1].split() == ["LANE", "STATE", "PID", "RESTARTS", "CONN", "IN", "OUT", "LAST", "ERROR"]
    assert rows[2].split() == ["telegram/bot_123456", "running", "1234", "0", "yes", "12", "12"]
    assert rows[3].split() == ["matrix/ops", "running", "1234", "0", "-", "-", "-"]


@pytest.mark.slow
def test_gateway_status_shows_a_real_workers_stats(tmp_path):
    import dataclasses

    home = tmp_path / "home"
    trigger = tmp_path / "never"
    worker = (sys.executable, str(Path(__file__).parent / "lane_programs" / "last_words.py"), "takeover", str(trigger))
    plan = make_plan(tmp_path, [dataclasses.replace(lane("wecom", account="alerts"), worker=worker)])
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        human = wait_for(
            lambda: (r := cli(home, "gateway", "status")) and "  connected  in 2  out 2" in r.stdout and r,
            what="worker stats in gateway status",
        )
        assert human.returncode == 0
        assert "    wecom/alerts  running  pid " in human.stdout
        assert "  restarts 0  connected  in 2  out 2  handler errors 0  log " in human.stdout
        assert cli(home, "gateway", "stop").returncode == 0
        rc, _out, err = finish(owner)
        assert rc == 0, err
    finally:
        if owner.poll() is None:
            owner.kill()
