"""`gateway apply` with real processes (tests/lane_programs/worker.py lanes):
unchanged lanes keep their pid, removed lanes stop, added lanes start, a
lane that does not become ready is rolled back, one apply at a time, a
change that needs a full restart is refused, and SIGHUP of an owner started
from a saved plan changes nothing."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import jsonschema
import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.compile import planfile
from gatewayctl.compile.plan import RestartPolicy
from tests.lane_programs.plans import cli, finish, lane, make_plan, read_status, runtime_dir, start_owner, wait_for, wait_running

pytestmark = pytest.mark.slow

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" / "status.schema.json").read_text())


def _pids(doc: dict) -> dict:
    return {f"{ln['family']}/{ln['account']}": ln["pid"] for ln in doc["lanes"]}


def _healthy(home):
    def ok():
        doc = read_status(home)
        return doc if doc["lanes"] and all(ln["state"] == "running" for ln in doc["lanes"]) else None

    return wait_for(ok, 15, what="every lane running")


@pytest.fixture
def owner_with_two_lanes(tmp_path):
    home = tmp_path / "home"
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("matrix", "run", account="m")])
    owner = start_owner(home, plan)
    wait_running(home, owner)
    _healthy(home)
    yield home, owner, plan
    owner.send_signal(signal.SIGTERM)
    finish(owner)


def test_add_and_remove_keep_the_unchanged_lane_running(tmp_path, owner_with_two_lanes):
    home, owner, _ = owner_with_two_lanes
    before = _pids(read_status(home))
    new = make_plan(tmp_path, [lane("telegram", "run"), lane("feishu", "run", account="work")])
    done = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(new), "--wait", "--timeout", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout and "1 added" in done.stdout and "1 removed" in done.stdout
    doc = read_status(home)
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    after = _pids(doc)
    assert set(after) == {"telegram/a", "feishu/work"}
    assert after["telegram/a"] == before["telegram/a"], "the unchanged lane was restarted"
    new_sha = planfile.digest(planfile.load(str(new)))
    assert doc["plan_sha256"] == new_sha and {ln["plan_sha256"] for ln in doc["lanes"]} == {new_sha}
    assert json.loads((runtime_dir(home) / "plan.json").read_text())["plan_sha256"] == new_sha
    record = doc["last_apply"]
    assert record["result"] == "succeeded" and record["origin"] == "api" and record["to"] == new_sha
    assert record["lanes"]["added"] == ["feishu/work"] and record["lanes"]["removed"] == ["matrix/m"]
    assert record["lanes"]["unchanged"] == ["telegram/a"]

    again = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(new), "--wait")
    assert again.returncode == 0 and "no-op" in again.stdout and "no changes" in again.stdout
    assert _pids(read_status(home)) == after


def test_a_lane_that_is_not_ready_is_rolled_back(tmp_path, owner_with_two_lanes):
    home, owner, plan = owner_with_two_lanes
    before = read_status(home)
    old_sha = before["plan_sha256"]
    # telegram re-pointed to a worker that never says it is ready
    bad = make_plan(tmp_path, [lane("telegram", "unready", account="b"), lane("matrix", "run", account="m")])
    done = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(bad), "--wait", "--timeout", "2")
    assert done.returncode == exitcodes.APPLY_FAILED, done.stdout + done.stderr
    assert "telegram/b: not ready within 2 s" in done.stdout and "rolled back" in done.stdout
    doc = _healthy(home)
    assert {f"{ln['family']}/{ln['account']}" for ln in doc["lanes"]} == {"telegram/a", "matrix/m"}
    assert _pids(doc)["matrix/m"] == _pids(before)["matrix/m"]
    assert doc["plan_sha256"] == old_sha and doc["last_apply"]["result"] == "failed"
    assert json.loads((runtime_dir(home) / "plan.json").read_text())["plan_sha256"] == old_sha
    assert doc["running"] and doc["phase"] == "running"


def test_a_crashing_new_lane_under_restart_never_does_not_fail_the_owner(tmp_path, owner_with_two_lanes):
    home, owner, _ = owner_with_two_lanes
    bad = make_plan(tmp_path, [lane("telegram", "crash", "0.1", account="b"), lane("matrix", "run", account="m")])
    done = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(bad), "--wait", "--timeout", "10")
    assert done.returncode == exitcodes.APPLY_FAILED
    assert "telegram/b" in done.stdout and "exit code 3" in done.stdout
    doc = _healthy(home)
    assert owner.poll() is None and doc["phase"] == "running"


def test_one_apply_at_a_time(tmp_path, owner_with_two_lanes):
    home, owner, _ = owner_with_two_lanes
    slow = make_plan(tmp_path, [lane("telegram", "unready", account="b"), lane("matrix", "run", account="m")])
    first = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(slow), "--timeout", "5")
    assert first.returncode == 0 and "requested" in first.stdout
    other = make_plan(tmp_path, [lane("telegram", "run"), lane("feishu", "run", account="w")])
    second = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(other), "--wait")
    assert second.returncode == exitcodes.APPLY_FAILED
    assert "already in progress" in second.stderr
    wait_for(lambda: read_status(home)["last_apply"]["result"] == "failed", 30, what="the first apply to roll back")


def test_a_new_control_port_needs_a_full_restart(tmp_path, owner_with_two_lanes):
    home, owner, _ = owner_with_two_lanes
    doc = read_status(home)
    from dataclasses import replace

    from gatewayctl.compile.plan import Control

    plan = planfile.load(str(make_plan(tmp_path, [lane("telegram", "run"), lane("matrix", "run", account="m")])))
    moved = tmp_path / "moved.json"
    planfile.write(replace(plan, control=Control(port=26399, port_source="cli")), str(moved))
    done = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(moved), "--wait")
    assert done.returncode == exitcodes.APPLY_FAILED
    assert "control.port" in done.stdout and "full restart" in done.stdout
    assert _pids(read_status(home)) == _pids(doc)


def test_sighup_of_an_owner_started_from_a_saved_plan_changes_nothing(owner_with_two_lanes):
    home, owner, _ = owner_with_two_lanes
    before = read_status(home)
    owner.send_signal(signal.SIGHUP)
    doc = wait_for(lambda: (d := read_status(home))["last_apply"] and d, 10, what="the SIGHUP record")
    assert doc["last_apply"]["result"] == "refused" and doc["last_apply"]["origin"] == "sighup"
    assert "saved plan" in doc["last_apply"]["message"]
    assert _pids(doc) == _pids(before) and doc["plan_sha256"] == before["plan_sha256"]
    assert owner.poll() is None


def test_apply_without_an_owner_is_exit_3(tmp_path):
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    done = cli(tmp_path / "home", "gateway", "apply", "--trust-plan", "--plan", str(plan))
    assert done.returncode == exitcodes.NOT_RUNNING


def test_replacing_lanes_again_and_again_leaks_no_descriptor(tmp_path, owner_with_two_lanes):
    """Each replaced lane's runner (the old one after a success, the new one
    after a rollback) gives back its log and inherited descriptors."""
    home, owner, plan = owner_with_two_lanes
    changed = make_plan(tmp_path, [lane("telegram", "chatty", "100"), lane("matrix", "run", account="m")])
    unready = make_plan(tmp_path, [lane("telegram", "unready"), lane("matrix", "run", account="m")])

    def there_and_back():
        for target in (changed, plan):
            done = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(target), "--wait", "--timeout", "20")
            assert done.returncode == 0, done.stdout + done.stderr
        failed = cli(home, "gateway", "apply", "--trust-plan", "--plan", str(unready), "--wait", "--timeout", "2")
        assert failed.returncode == exitcodes.APPLY_FAILED, failed.stdout + failed.stderr
        _healthy(home)

    fds = Path(f"/proc/{owner.pid}/fd")
    there_and_back()
    before = len(list(fds.iterdir()))
    for _ in range(3):
        there_and_back()
    after = len(list(fds.iterdir()))
    assert after <= before, f"the owner holds {after - before} more descriptors after 3 more rounds"


def test_a_sighup_during_an_apply_leaves_that_apply_its_record(tmp_path):
    """A SIGHUP refused while an apply runs is logged, and the apply's own
    result still reaches `last_apply` under its id (`--wait` reads it there)."""
    import subprocess
    import threading

    from tests.lane_programs.plans import GATEWAYCTL, env_for

    home = tmp_path / "home"
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("matrix", "run", account="m")])
    owner = start_owner(home, plan)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(owner.stderr), daemon=True)
    reader.start()
    trigger = tmp_path / "ready-now"
    try:
        wait_running(home, owner)
        _healthy(home)
        # The new telegram lane becomes ready only once the test says so.
        later = make_plan(tmp_path, [lane("telegram", "ready-after", str(trigger), account="b"),
                                     lane("matrix", "run", account="m")])
        waiting = subprocess.Popen([*GATEWAYCTL, "gateway", "apply", "--trust-plan", "--plan", str(later), "--wait",
                                    "--timeout", "10"], env=env_for(home), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        running = wait_for(lambda: (r := read_status(home)["last_apply"]) and r["result"] == "running" and r, 20,
                           what="the apply to run")
        owner.send_signal(signal.SIGHUP)
        wait_for(lambda: any("SIGHUP: this owner was started from a saved plan" in line for line in log), 20,
                 what="the owner to refuse the SIGHUP")
        trigger.write_text("")
        out, err = waiting.communicate(timeout=150)
        assert waiting.returncode == 0, out + err
        assert f"apply {running['id']} succeeded" in out, out + err
        record = read_status(home)["last_apply"]
        assert record["id"] == running["id"] and record["result"] == "succeeded" and record["origin"] == "api"
        assert _pids(read_status(home)).keys() == {"telegram/b", "matrix/m"}
    finally:
        owner.send_signal(signal.SIGTERM)
        owner.wait(30)
