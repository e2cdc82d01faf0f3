"""Fast unit tests of the runtime: state tables, the lane state machine with an
injected clock and fake processes, slot liveness, atomic files, log rotation,
argv/env expansion and the control API (a real loopback server, no processes)."""

from __future__ import annotations

import json
import os
import signal
import stat
import urllib.error
import urllib.request

import pytest

from gatewayctl.compile.plan import FrozenMap, Lane, RestartPolicy
from gatewayctl.runtime import slot, statefiles
from gatewayctl.runtime.control import ControlServer
from gatewayctl.runtime.lanes import LaneRunner, describe_exit
from gatewayctl.runtime.logs import LaneLog
from gatewayctl.runtime.owner import expand_argv, lane_environment
from gatewayctl.runtime.states import (
    LANE_STATES,
    LANE_TRANSITIONS,
    OWNER_PHASES,
    OWNER_TRANSITIONS,
    IllegalTransition,
    LaneState,
    check_lane_transition,
    check_owner_transition,
)
from gatewayctl.runtime.statefiles import RuntimePaths


class FakeProc:
    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        return self.returncode


class FakeSystem:
    """Hand-driven clock, fake processes, recorded signals."""

    def __init__(self):
        self.t = 1000.0
        self.next_pid = 500
        self.procs: list[FakeProc] = []
        self.signals: list[tuple[int, int]] = []
        self.live: dict[int, int] = {}  # pid -> start ticks
        self.spawn_error: OSError | None = None

    def now_ms(self):
        return int(self.t * 1000)

    def now_ns(self):
        return int(self.t * 1e9)

    def monotonic(self):
        return self.t

    def getpid(self):
        return 42

    def proc_start_ticks(self, pid):
        return self.live.get(pid)

    def pid_alive(self, pid, start_ticks=None):
        return pid in self.live and (start_ticks is None or self.live[pid] == start_ticks)

    def spawn(self, argv, env, cwd, output_fd):
        if self.spawn_error is not None:
            raise self.spawn_error
        proc = FakeProc(self.next_pid)
        self.next_pid += 1
        self.live[proc.pid] = 7
        self.procs.append(proc)
        return proc

    def killpg(self, pgid, sig):
        self.signals.append((pgid, sig))
        return True

    def live_groups(self, groups):
        return set()

    def sleep(self, seconds):
        self.t += seconds

    def advance(self, seconds):
        self.t += seconds


def make_lane(family="telegram", account="a", worker=("w",), env=()):
    return Lane(family, None, account, account, "selector", FrozenMap(), (), worker, env)


def make_runner(tmp_path, system, policy=None, start_seconds=1.0):
    return LaneRunner(
        make_lane(),
        argv=("w",),
        env={},
        cwd=None,
        policy=policy or RestartPolicy(),
        system=system,
        log=LaneLog(str(tmp_path / "lane.log")),
        status_path=str(tmp_path / "lane-status.json"),
        start_seconds=start_seconds,
        rand=lambda: 0.0,  # no jitter: the exact steps are under test here
    )


def crash(system, runner, code=3):
    system.procs[-1].returncode = code
    assert runner.poll()


# -- state tables ---------------------------------------------------------------


def test_transition_tables_cover_every_state_and_only_known_ones():
    assert set(OWNER_TRANSITIONS) == set(OWNER_PHASES)
    assert set(LANE_TRANSITIONS) == set(LANE_STATES)
    for table, states in ((OWNER_TRANSITIONS, OWNER_PHASES), (LANE_TRANSITIONS, LANE_STATES)):
        for targets in table.values():
            assert targets <= set(states)
    assert OWNER_TRANSITIONS["stopped"] == OWNER_TRANSITIONS["failed"] == frozenset()
    assert LANE_TRANSITIONS[LaneState.FATAL] == frozenset()


def test_illegal_transitions_raise():
    check_owner_transition("starting", "running")
    with pytest.raises(IllegalTransition):
        check_owner_transition("stopped", "running")
    with pytest.raises(IllegalTransition):
        check_owner_transition("running", "starting")
    with pytest.raises(IllegalTransition):
        check_lane_transition(LaneState.FATAL, LaneState.STARTING)


# -- the lane state machine -----------------------------------------------------


def test_lane_becomes_running_after_start_seconds(tmp_path):
    system = FakeSystem()
    runner = make_runner(tmp_path, system)
    runner.start()
    assert runner.state == LaneState.STARTING and runner.pid == 500 and runner.pgid == 500
    system.advance(0.5)
    runner.tick()
    assert runner.state == LaneState.STARTING
    system.advance(0.6)
    runner.tick()
    assert runner.state == LaneState.RUNNING


def test_lane_is_running_as_soon_as_the_worker_says_ready(tmp_path):
    system = FakeSystem()
    runner = make_runner(tmp_path, system)
    runner.start()
    (tmp_path / "lane-status.json").write_text(json.dumps({"state": "ready", "offset": 17}))
    runner.refresh_worker_status()
    runner.tick()
    assert runner.state == LaneState.RUNNING
    assert runner.snapshot()["worker"] == {"state": "ready", "offset": 17}


def test_restart_never_fails_closed_on_first_crash(tmp_path):
    system = FakeSystem()
    runner = make_runner(tmp_path, system, RestartPolicy("never"))
    runner.start()
    crash(system, runner, 3)
    assert runner.state == LaneState.FATAL
    assert runner.last_error == "exit code 3"
    assert runner.last_exit == {"code": 3, "signal": None}
    # The crashed lane's whole group is killed so nothing it started survives.
    assert system.signals == [(500, signal.SIGKILL)]


def test_on_failure_backs_off_exponentially_and_gives_up_at_the_cap(tmp_path):
    system = FakeSystem()
    policy = RestartPolicy("on-failure", max_restarts=3, window_s=60, backoff_initial_s=1, backoff_max_s=3)
    runner = make_runner(tmp_path, system, policy)
    runner.start()
    delays = []
    for _ in range(3):
        crash(system, runner)
        assert runner.state == LaneState.BACKOFF
        delays.append(runner.next_start_at - system.t)
        system.advance(delays[-1] - 0.01)
        runner.tick()
        assert runner.state == LaneState.BACKOFF  # not yet due
        system.advance(0.01)
        runner.tick()
        assert runner.state == LaneState.STARTING
    assert delays == [1, 2, 3]  # doubling, capped at backoff_max_s
    assert runner.restarts == 3
    crash(system, runner)
    assert runner.state == LaneState.FATAL
    assert runner.last_error == "exit code 3 (gave up after 3 restarts within 60 s)"


def test_failures_older_than_the_window_do_not_count(tmp_path):
    system = FakeSystem()
    policy = RestartPolicy("on-failure", max_restarts=1, window_s=10, backoff_initial_s=1, backoff_max_s=8)
    runner = make_runner(tmp_path, system, policy)
    runner.start()
    for _ in range(4):
        crash(system, runner)
        assert runner.state == LaneState.BACKOFF
        assert runner.next_start_at - system.t == 1  # the window forgot the earlier failure
        system.advance(11)
        runner.tick()
    crash(system, runner)
    system.advance(1)
    runner.tick()
    crash(system, runner)
    assert runner.state == LaneState.FATAL


def test_exit_zero_without_a_stop_request_is_a_failure(tmp_path):
    system = FakeSystem()
    runner = make_runner(tmp_path, system)
    runner.start()
    crash(system, runner, 0)
    assert runner.state == LaneState.FATAL
    assert runner.last_error == "exited with code 0 without a stop request"


def test_stop_sends_sigterm_to_the_group_and_a_requested_exit_is_no_failure(tmp_path):
    system = FakeSystem()
    runner = make_runner(tmp_path, system)
    runner.start()
    runner.stop()
    assert runner.state == LaneState.STOPPING
    assert system.signals == [(500, signal.SIGTERM)]
    runner.kill()
    assert system.signals[-1] == (500, signal.SIGKILL)
    crash(system, runner, -signal.SIGKILL)
    assert runner.state == LaneState.STOPPED
    assert runner.last_error is None
    assert runner.last_exit == {"code": None, "signal": "SIGKILL"}


def test_stop_during_backoff_cancels_the_restart(tmp_path):
    system = FakeSystem()
    runner = make_runner(tmp_path, system, RestartPolicy("on-failure", backoff_initial_s=5))
    runner.start()
    crash(system, runner)
    runner.stop()
    assert runner.state == LaneState.STOPPED
    system.advance(60)
    runner.tick()
    assert runner.state == LaneState.STOPPED and len(system.procs) == 1


def test_a_worker_that_cannot_be_executed_fails_like_a_crash(tmp_path):
    system = FakeSystem()
    system.spawn_error = FileNotFoundError(2, "No such file or directory")
    runner = make_runner(tmp_path, system)
    runner.start()
    assert runner.state == LaneState.FATAL
    assert runner.last_error == "cannot start worker 'w': No such file or directory"


def test_describe_exit():
    assert describe_exit(2) == ({"code": 2, "signal": None}, "exit code 2")
    assert describe_exit(-signal.SIGTERM) == ({"code": None, "signal": "SIGTERM"}, "killed by SIGTERM")


# -- slot and status ------------------------------------------------------------


def _record(system, pid, **extra):
    rec = {"pid": pid, "pid_start_ticks": 7, "owner_token": f"{pid}-1", "last_heartbeat_at": system.now_ms()}
    rec.update(phase="running", running=True, started_at_ms=1, mode="gateway_headless")
    rec.update(extra)
    return rec


def test_liveness_dead_reused_hung_and_fresh():
    system = FakeSystem()
    system.live[10] = 7
    assert slot.liveness(_record(system, 10), system) == slot.Liveness(True, False, 0)
    assert slot.liveness(_record(system, 11), system).stale  # pid gone
    assert not slot.liveness(_record(system, 10, pid_start_ticks=8), system).alive  # pid reused
    hung = _record(system, 10, last_heartbeat_at=system.now_ms() - 15_001)
    assert slot.liveness(hung, system) == slot.Liveness(True, True, 15_001)


def test_claim_refuses_a_live_owner_writing_nothing_and_reclaims_a_dead_one(tmp_path):
    system = FakeSystem()
    paths = RuntimePaths(str(tmp_path / "rt"))
    system.live[10] = 7
    assert slot.claim(paths, system, _record(system, 10)) is None
    listing = sorted(os.listdir(paths.runtime_dir))
    with pytest.raises(slot.OwnerActive) as refused:
        slot.claim(paths, system, _record(system, 11))
    assert refused.value.message == f"gateway owner already active at {paths.owner_active} (pid=10)"
    assert sorted(os.listdir(paths.runtime_dir)) == listing
    del system.live[10]  # the owner died: its slot is reclaimable at once
    previous = slot.claim(paths, system, _record(system, 11))
    assert previous["pid"] == 10
    assert statefiles.read_json(paths.owner_active)["pid"] == 11


def test_release_only_removes_our_own_slot(tmp_path):
    system = FakeSystem()
    paths = RuntimePaths(str(tmp_path / "rt"))
    slot.claim(paths, system, _record(system, 10))
    assert not slot.release(paths, "someone-else")
    assert os.path.exists(paths.owner_active)
    assert slot.release(paths, "10-1")
    assert not os.path.exists(paths.owner_active)


def test_load_status_judges_the_snapshot_against_the_live_slot(tmp_path):
    system = FakeSystem()
    paths = RuntimePaths(str(tmp_path / "rt"))
    empty = slot.load_status(paths, system)
    assert empty["phase"] == "stopped" and empty["running"] is False and empty["lanes"] == []
    # every status key, plus the health the reader computes from them
    assert list(empty) == [*slot.STATUS_KEYS, "health"] and empty["health"] == "down"
    system.live[10] = 7
    slot.claim(paths, system, _record(system, 10))
    statefiles.atomic_write_json(paths.status, {**_record(system, 10), "lanes": [{"family": "x"}]})
    doc = slot.load_status(paths, system)
    assert doc["running"] and not doc["stale"] and doc["lanes"] == [{"family": "x"}]
    assert "owner_token" not in doc and "pid_start_ticks" not in doc
    system.advance(16)
    assert slot.load_status(paths, system)["stale"] is True  # hung
    del system.live[10]
    doc = slot.load_status(paths, system)
    assert doc["running"] is False and doc["stale"] is True


def test_stop_request_outcomes_and_token_matching(tmp_path):
    system = FakeSystem()
    paths = RuntimePaths(str(tmp_path / "rt"))
    statefiles.ensure_dir(paths.runtime_dir)
    assert slot.request_stop(paths, system) == "already_stopped"
    system.live[10] = 7
    slot.claim(paths, system, _record(system, 10))
    assert slot.request_stop(paths, system) == "requested"
    assert slot.request_stop(paths, system) == "already_requested"
    assert slot.stop_requested_for(paths, "10-1")
    assert not slot.stop_requested_for(paths, "11-1")


# -- files ------------------------------------------------------------------------


def test_atomic_writes_are_private_and_leave_no_temp_files(tmp_path):
    paths = RuntimePaths(str(tmp_path / "rt"))
    statefiles.ensure_dir(paths.runtime_dir)
    statefiles.atomic_write_json(paths.status, {"a": 1})
    statefiles.atomic_write_json(paths.status, {"a": 2})
    assert statefiles.read_json(paths.status) == {"a": 2}
    assert stat.S_IMODE(os.stat(paths.runtime_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(paths.status).st_mode) == 0o600
    assert os.listdir(paths.runtime_dir) == ["status.json"]
    assert statefiles.exclusive_create_json(paths.owner_active, {"x": 1})
    assert not statefiles.exclusive_create_json(paths.owner_active, {"x": 2})
    assert statefiles.read_json(paths.owner_active) == {"x": 1}
    assert sorted(os.listdir(paths.runtime_dir)) == ["owner-active.json", "status.json"]


def test_home_resolution(monkeypatch, tmp_path):
    assert RuntimePaths.from_env({"GATEWAYCTL_HOME": str(tmp_path)}).runtime_dir == str(tmp_path / "gateway-runtime")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert RuntimePaths.from_env({}).runtime_dir == str(tmp_path / ".gatewayctl" / "gateway-runtime")


def test_lane_log_is_capped_and_rotated(tmp_path):
    log = LaneLog(str(tmp_path / "x.log"), max_bytes=1024, backups=2)
    for _ in range(50):
        log.write(b"y" * 100)
    log.close()
    names = sorted(os.listdir(tmp_path))
    assert names == ["x.log", "x.log.1", "x.log.2"]
    assert all(os.path.getsize(tmp_path / n) <= 1024 for n in names)
    assert os.path.getsize(tmp_path / "x.log.1") == 1024


# -- lane argv and environment -----------------------------------------------------


def test_placeholders_expand_at_launch():
    import sys

    lane = make_lane(worker=("{gatewayctl}", "lane", "serve", "--plan", "{plan}", "--lane", "{family}", "--dir={runtime_dir}"))
    argv = expand_argv(lane.worker, lane, plan_path="/rt/plan.json", runtime_dir="/rt")
    assert argv == (sys.executable, "-m", "gatewayctl", "lane", "serve", "--plan", "/rt/plan.json", "--lane", "telegram", "--dir=/rt")


def test_lane_environment_passes_only_named_variables():
    lane = make_lane(env=("TELEGRAM_BOT_TOKEN", "MISSING"))
    environ = {"PATH": "/bin", "TELEGRAM_BOT_TOKEN": "t0k", "LARK_APP_SECRET": "other-lane-secret", "LC_ALL": "C"}
    env = lane_environment(lane, environ, status_path="/rt/lanes/x.json", runtime_dir="/rt")
    assert env == {
        "PATH": "/bin",
        "LC_ALL": "C",
        "TELEGRAM_BOT_TOKEN": "t0k",
        "GATEWAYCTL_LANE_STATUS": "/rt/lanes/x.json",
        "GATEWAYCTL_RUNTIME_DIR": "/rt",
        "GATEWAYCTL_LANE": "telegram/a",
    }


# -- control API ---------------------------------------------------------------------


def test_control_api_health_auth_status_and_stop():
    outcomes = iter(["requested", "already_requested", "already_stopped"])
    server = ControlServer(0, "s3cret", status_fn=lambda: {"phase": "running"}, stop_fn=lambda: next(outcomes))
    port = server.start()
    base = f"http://127.0.0.1:{port}"

    def call(path, method="GET", token=None):
        req = urllib.request.Request(base + path, method=method, data=b"" if method == "POST" else None)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    try:
        assert call("/health") == (200, {"status": "ok"})
        code, body = call("/api/gateway/status")
        assert code == 401 and body["error"]["code"] == "unauthorized"
        assert call("/api/gateway/status", token="wrong")[0] == 401
        assert call("/api/gateway/status", token="s3cret") == (200, {"phase": "running"})
        assert call("/api/gateway/stop", "POST", "s3cret") == (202, {"outcome": "requested"})
        assert call("/api/gateway/stop", "POST", "s3cret") == (202, {"outcome": "already_requested"})
        assert call("/api/gateway/stop", "POST", "s3cret") == (200, {"outcome": "already_stopped"})
        assert call("/api/gateway/nope", token="s3cret")[0] == 404
        assert call("/api/gateway/stop", "POST")[0] == 401
    finally:
        server.close()


def test_restart_delays_are_jittered_within_half_a_step(tmp_path):
    """Lanes that fail together must not restart in lockstep: each delay is
    its doubling step less a random share of up to half of it."""
    import random as _random

    seen = set()
    for seed in range(20):
        system = FakeSystem()
        policy = RestartPolicy("on-failure", max_restarts=5, window_s=60, backoff_initial_s=2, backoff_max_s=8)
        runner = make_runner(tmp_path, system, policy)
        runner.rand = _random.Random(seed).random
        runner.start()
        crash(system, runner)
        delay = runner.next_start_at - system.t
        assert 1.0 <= delay <= 2.0
        seen.add(delay)
    assert len(seen) > 10  # spread out, not one value
