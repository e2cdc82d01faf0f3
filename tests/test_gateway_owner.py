"""The gateway owner with real processes: run, status, stop, failures, races.

No mocks: owners are `python -m gatewayctl gateway run` processes, lanes are
tests/lane_programs/worker.py, and liveness is checked through /proc. Each
test gets its own GATEWAYCTL_HOME and an ephemeral control port.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.compile.plan import RestartPolicy
from tests.lane_programs.plans import (
    GATEWAYCTL,
    alive,
    cli,
    env_for,
    finish,
    group_alive,
    lane,
    lane_pids,
    load_json,
    make_plan,
    read_status,
    runtime_dir,
    start_owner,
    wait_for,
    wait_running,
)

pytestmark = pytest.mark.slow

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "status.schema.json").read_text())


def validate(doc: dict) -> dict:
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    return doc


def status_json(home: Path) -> tuple[int, dict]:
    proc = cli(home, "gateway", "status", "--json")
    return proc.returncode, validate(json.loads(proc.stdout))


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def test_run_status_stop_round_trip(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("feishu", "run", account="work")])
    code, doc = status_json(home)
    assert code == exitcodes.NOT_RUNNING and doc["phase"] == "stopped" and doc["pid"] is None
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        code, doc = status_json(home)
        assert code == 0
        assert doc["running"] is True and doc["stale"] is False and doc["pid"] == owner.pid
        assert doc["mode"] == "gateway_headless" and doc["port_source"] == "ephemeral_cli"
        assert doc["configured_surface_count"] == doc["running_surface_count"] == 2
        assert [(ln["family"], ln["account"], ln["state"]) for ln in doc["lanes"]] == [
            ("telegram", "a", "running"),
            ("feishu", "work", "running"),
        ]
        assert all(ln["worker"]["state"] == "ready" for ln in doc["lanes"])
        pids = lane_pids(doc)
        assert len(pids) == 2 and all(alive(p) for p in pids)
        assert all(os.getpgid(p) == p for p in pids)  # each lane leads its own group
        assert "owner_token" not in json.dumps(doc)

        human = cli(home, "gateway", "status")
        assert human.returncode == 0 and f"running (pid {owner.pid}" in human.stdout
        assert "telegram/a  running  pid " in human.stdout

        # 0700 directory, 0600 files, everywhere.
        rdir = runtime_dir(home)
        assert stat.S_IMODE(rdir.stat().st_mode) == 0o700
        for path in rdir.rglob("*"):
            want = 0o700 if path.is_dir() else 0o600
            assert stat.S_IMODE(path.stat().st_mode) == want, path
        assert load_json(rdir / "plan.json")["plan_sha256"] == doc["plan_sha256"]

        # The control API: loopback, /health open, the rest behind the bearer token.
        base = f"http://127.0.0.1:{doc['port']}"
        assert json.load(urllib.request.urlopen(base + "/health", timeout=5)) == {"status": "ok"}
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(base + "/api/gateway/status", timeout=5)
        assert denied.value.code == 401
        assert json.load(denied.value)["error"]["code"] == "unauthorized"
        token = Path(doc["token_path"]).read_text().strip()
        req = urllib.request.Request(base + "/api/gateway/status", headers={"Authorization": f"Bearer {token}"})
        api_doc = validate(json.load(urllib.request.urlopen(req, timeout=5)))
        assert api_doc["pid"] == owner.pid and api_doc["running"] is True

        stop = cli(home, "gateway", "stop", "--wait", "--timeout", "20")
        assert stop.returncode == 0, stop.stderr
        assert stop.stdout.splitlines() == [
            "gateway stop requested",
            "gateway owner stopped: shutdown requested: gateway stop requested",
        ]
        rc, out, err = finish(owner)
        assert rc == 0, err
    finally:
        if owner.poll() is None:
            owner.kill()
    code, doc = status_json(home)
    assert code == exitcodes.NOT_RUNNING
    assert doc["phase"] == "stopped" and doc["running"] is False and doc["stale"] is False
    assert doc["shutdown_reason"] == "shutdown requested: gateway stop requested"
    assert doc["port"] is None and doc["token_path"] is None and doc["stopped_at_ms"]
    assert all(ln["state"] == "stopped" for ln in doc["lanes"])
    assert not any(alive(p) for p in pids)
    left = sorted(p.name for p in runtime_dir(home).iterdir())
    assert left == ["lanes", "logs", "plan.json", "status.json"]
    assert cli(home, "gateway", "stop").stdout == "gateway is not running\n"


def test_second_owner_refused_fast_and_writes_nothing(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        active = runtime_dir(home) / "owner-active.json"
        before = {p.name: p.stat().st_ino for p in runtime_dir(home).iterdir()}
        t0 = time.monotonic()
        second = cli(home, "gateway", "run", "--plan", str(plan), "--trust-plan")
        elapsed = time.monotonic() - t0
        assert second.returncode == exitcodes.OWNER_ACTIVE
        assert second.stderr.strip() == f"gateway owner already active at {active} (pid={owner.pid})"
        assert elapsed < 5
        after = {p.name: p.stat().st_ino for p in runtime_dir(home).iterdir()}
        # Only the live owner's own heartbeat may have replaced its files; nothing new appeared.
        assert set(after) == set(before)
        assert not (runtime_dir(home) / "stop-request.json").exists()
        assert read_status(home)["pid"] == owner.pid
    finally:
        owner.send_signal(signal.SIGTERM)
        rc, _, err = finish(owner)
    assert rc == 0, err
    assert read_status(home)["shutdown_reason"] == "shutdown requested: sigterm received"


def test_sigkill_owner_is_dead_at_once_and_next_owner_reaps(tmp_path, home):
    marker = tmp_path / "grandchild.pid"
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("matrix", "grandchild", str(marker))])
    owner = start_owner(home, plan)
    wait_running(home, owner)
    grandchild = int(wait_for(lambda: marker.exists() and marker.read_text(), what="grandchild pid"))
    lanes = lane_pids(read_status(home))
    owner.send_signal(signal.SIGKILL)
    # No wait() on the owner yet: it stays a zombie, which must still count as dead.
    code, doc = status_json(home)
    assert code == exitcodes.NOT_RUNNING
    assert doc["running"] is False and doc["stale"] is True and doc["pid"] == owner.pid
    assert f"not running (pid {owner.pid} died without shutting down" in cli(home, "gateway", "status").stdout
    # The parent-death signal takes the lanes down with the owner.
    wait_for(lambda: not any(alive(p) for p in lanes), 10, what="lanes to die with the owner")
    assert alive(grandchild)  # PDEATHSIG is not inherited: the next owner must reap it
    owner.wait()

    t0 = time.monotonic()
    second = start_owner(home, plan)
    try:
        wait_running(home, second)
        assert time.monotonic() - t0 < 10
        wait_for(lambda: not alive(grandchild), 5, what="leftover grandchild reaped")
    finally:
        second.send_signal(signal.SIGINT)
        rc, _, err = finish(second)
    assert rc == 0, err
    assert read_status(home)["shutdown_reason"] == "shutdown requested: ctrl-c received"


def test_crashing_lane_with_restart_never_fails_closed(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("wecom", "crash", "0.3", "3", account="alerts")])
    owner = start_owner(home, plan)
    rc, _, err = finish(owner)
    message = "gateway owner failed because wecom(account=alerts) exited unexpectedly: exit code 3"
    assert rc == exitcodes.OWNER_FAILED
    assert err.strip().endswith(message)
    code, doc = status_json(home)
    assert code == exitcodes.NOT_RUNNING
    assert doc["phase"] == "failed" and doc["last_error"] == message and doc["shutdown_reason"] == message
    by_family = {ln["family"]: ln for ln in doc["lanes"]}
    assert by_family["wecom"]["state"] == "fatal" and by_family["wecom"]["last_exit"] == {"code": 3, "signal": None}
    assert by_family["wecom"]["restarts"] == 0
    assert by_family["telegram"]["state"] == "stopped"
    log = Path(by_family["wecom"]["log_path"]).read_text()
    assert "worker: exiting with 3" in log and "restart policy is never" in log


def test_crashing_lane_on_failure_restarts_with_backoff_then_fails_closed(tmp_path, home):
    policy = RestartPolicy("on-failure", max_restarts=2, window_s=60, backoff_initial_s=0.1, backoff_max_s=0.2)
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("matrix", "crash", "0.2")], restart=policy)
    owner = start_owner(home, plan)
    seen = wait_for(
        lambda: [ln for ln in read_status(home)["lanes"] if ln["family"] == "matrix" and ln["restarts"] >= 1],
        15,
        what="a restart",
    )
    assert seen[0]["last_error"] == "exit code 3"
    rc, _, err = finish(owner)
    assert rc == exitcodes.OWNER_FAILED
    doc = validate(read_status(home))
    matrix = [ln for ln in doc["lanes"] if ln["family"] == "matrix"][0]
    assert matrix["restarts"] == 2 and matrix["state"] == "fatal"
    assert doc["last_error"] == (
        "gateway owner failed because matrix(account=a) exited unexpectedly: "
        "exit code 3 (gave up after 2 restarts within 60 s)"
    )
    log = Path(matrix["log_path"]).read_text()
    # Each delay is its doubling step less a random jitter of up to half of it.
    delays = [float(d) for d in re.findall(r"restarting in ([0-9.]+) s", log)]
    assert len(delays) == 2 and 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2, log


def test_lane_exiting_zero_unasked_is_a_failure(tmp_path, home):
    plan = make_plan(tmp_path, [lane("qqbot", "exit0", "0.2")])
    rc, _, err = finish(start_owner(home, plan))
    assert rc == exitcodes.OWNER_FAILED
    assert "qqbot(account=a) exited unexpectedly: exited with code 0 without a stop request" in err


def test_lane_ignoring_sigterm_is_killed_after_grace(tmp_path, home, monkeypatch, capsys):
    from gatewayctl.cli.gateway import run_stop

    plan = make_plan(tmp_path, [lane("telegram", "ignore-term"), lane("matrix", "run")], grace=1.0)
    owner = start_owner(home, plan)
    wait_running(home, owner)
    pids = lane_pids(read_status(home))
    t0 = time.monotonic()
    assert cli(home, "gateway", "stop").stdout == "gateway stop requested\n"
    # In-process, right away: a second `gatewayctl` process could take longer
    # to start on a loaded machine than the owner takes to finish the grace.
    monkeypatch.setenv("GATEWAYCTL_HOME", str(home))
    capsys.readouterr()
    assert run_stop(False, None) == 0
    assert capsys.readouterr().out == "gateway stop already requested\n"
    rc, _, err = finish(owner)
    elapsed = time.monotonic() - t0
    assert rc == 0, err
    assert 0.9 < elapsed < 15
    doc = read_status(home)
    by_family = {ln["family"]: ln for ln in doc["lanes"]}
    assert by_family["telegram"]["last_exit"] == {"code": None, "signal": "SIGKILL"}
    assert by_family["matrix"]["last_exit"] == {"code": 0, "signal": None}
    assert "grace period over: SIGKILL" in Path(by_family["telegram"]["log_path"]).read_text()
    assert not any(alive(p) for p in pids)


def test_lane_grandchildren_do_not_survive_stop(tmp_path, home):
    marker = tmp_path / "grandchild.pid"
    plan = make_plan(tmp_path, [lane("matrix", "grandchild", str(marker))], grace=0.5)
    owner = start_owner(home, plan)
    wait_running(home, owner)
    grandchild = int(wait_for(lambda: marker.exists() and marker.read_text(), what="grandchild pid"))
    leader = lane_pids(read_status(home))[0]
    assert os.getpgid(grandchild) == leader
    cli(home, "gateway", "stop")
    rc, _, err = finish(owner)
    assert rc == 0, err
    assert not alive(grandchild) and not alive(leader)
    assert group_alive(leader) == []


def test_stale_stop_request_for_an_old_owner_does_not_stop_a_new_one(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    first = start_owner(home, plan)
    wait_running(home, first)
    old_token = load_json(runtime_dir(home) / "owner-active.json")["owner_token"]
    first.send_signal(signal.SIGKILL)
    first.wait()
    # A stop request aimed at the dead owner, as if `gateway stop` raced its death.
    (runtime_dir(home) / "stop-request.json").write_text(
        json.dumps({"requested_at_ms": 1, "requested_by_pid": 1, "target_owner_token": old_token})
    )
    second = start_owner(home, plan)
    try:
        wait_running(home, second)
        # The owner polls every 100 ms; survive many polls.
        deadline = time.monotonic() + 0.8
        while time.monotonic() < deadline:
            assert second.poll() is None
            assert read_status(home)["running"]
            time.sleep(0.05)
        stop = cli(home, "gateway", "stop", "--wait", "--timeout", "20")
        assert stop.stdout.startswith("gateway stop requested\n")
    finally:
        rc, _, err = finish(second)
    assert rc == 0, err


def test_twenty_simultaneous_runs_make_exactly_one_owner(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    procs = [start_owner(home, plan) for _ in range(20)]
    try:
        wait_for(lambda: sum(p.poll() is not None for p in procs) >= 19, 60, 0.05, what="19 refusals")
        refused = [(p, p.returncode, p.stderr.read()) for p in procs if p.poll() is not None]
        running = [p for p in procs if p.poll() is None]
        assert len(running) == 1, [r[1:] for r in refused]
        assert len(refused) == 19
        winner = running[0]
        active = runtime_dir(home) / "owner-active.json"
        for _, rc, err in refused:
            assert rc == exitcodes.OWNER_ACTIVE, err
            assert err.strip().startswith(f"gateway owner already active at {active} (pid=")
        doc = wait_running(home, winner)
        assert doc["pid"] == winner.pid
        assert not (runtime_dir(home) / "stop-request.json").exists()
        assert sorted(p.name for p in runtime_dir(home).iterdir() if p.name.startswith(".tmp")) == []
    finally:
        cli(home, "gateway", "stop")
        for proc in procs:
            if proc.poll() is None:
                finish(proc)


def test_status_reader_never_sees_a_torn_file(tmp_path, home):
    """An in-process owner with a 50 ms heartbeat and a lane restarting all the time,
    read by another process in a tight loop."""
    from gatewayctl.runtime import Owner, OwnerOptions, RuntimePaths
    from gatewayctl.compile import planfile
    from tests.lane_programs.plans import STATUS_READER

    policy = RestartPolicy("on-failure", max_restarts=1000, window_s=60, backoff_initial_s=0.01, backoff_max_s=0.02)
    plan_path = make_plan(tmp_path, [lane("matrix", "crash", "0.02"), lane("telegram", "run")], restart=policy)
    paths = RuntimePaths(str(runtime_dir(home)))
    owner = Owner(
        planfile.load(str(plan_path)),
        paths,
        OwnerOptions(version="test", heartbeat_s=0.05),
        environ=env_for(home),
    )
    owner.claim()
    reader = subprocess.Popen(
        [GATEWAYCTL[0], STATUS_READER, paths.runtime_dir, "60"],
        env=env_for(home),
        stdout=subprocess.PIPE,
        text=True,
    )
    result = owner.run()
    out, _ = reader.communicate(timeout=30)
    report = json.loads(out)
    assert result.ok, result.last_error
    assert report["torn"] == []
    assert report["reads"] > 500
    assert report["heartbeats"] > 10
    assert report["restarts_seen"] >= 3
    assert report["stop"] == "requested"
    validate(read_status(home))


def test_multi_channel_serve_runs_in_its_mode_with_plain_lines(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run")], mode="multi_channel_serve", session="cli-supervisor")
    owner = start_owner(home, plan, command=("multi-channel-serve", "--session", "cli-supervisor"))
    doc = wait_running(home, owner)
    assert doc["mode"] == "multi_channel_serve" and doc["attached_cli_session"] == "cli-supervisor"
    owner.send_signal(signal.SIGINT)
    rc, out, err = finish(owner)
    assert rc == 0, err
    lines = out.splitlines()
    assert "  telegram(account=a): running pid=" in "\n".join(lines)
    assert lines[-1] == "gateway owner stopped: shutdown requested: ctrl-c received"
    assert "\x1b[" not in out  # not a TTY: no redraw escapes


def test_detach_starts_in_background_and_stop_wait_reports(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    started = cli(home, "gateway", "run", "--plan", str(plan), "--trust-plan", "--detach")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("gateway owner started in the background (pid ")
    doc = read_status(home)
    assert doc["running"]
    stop = cli(home, "gateway", "stop", "--wait", "--timeout", "20")
    assert stop.returncode == 0 and "gateway owner stopped" in stop.stdout
    wait_for(lambda: not alive(doc["pid"]), 10, what="detached owner exit")
