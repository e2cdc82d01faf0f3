"""Lanes forked from the lane template (runtime/template.py, issue 17), with
a real six-lane owner against the built-in fakes: each lane is still its
own process, session and group, carries the owner's marker, sees no other
lane's secrets, answers messages; a dead template costs a restart, not the
owner; GATEWAYCTL_LANE_TEMPLATE=0 turns it off."""

from __future__ import annotations

import os
import signal

import pytest

from tests.fakes import flow
from tests.fakes.six import Fakes, Owner
from tests.support import poll

pytestmark = pytest.mark.slow


def proc_stat(pid: int) -> tuple[int, int, int]:
    """(ppid, pgrp, session) of a live process."""
    raw = open(f"/proc/{pid}/stat", "rb").read().decode()
    rest = raw[raw.rfind(")") + 2 :].split()
    return int(rest[1]), int(rest[2]), int(rest[3])


def cmdline(pid: int) -> str:
    return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()


def environ(pid: int) -> bytes:
    return open(f"/proc/{pid}/environ", "rb").read()


@pytest.fixture
def six(tmp_path):
    fakes = Fakes()
    owner = Owner(tmp_path, fakes)
    yield owner
    try:
        owner.stop()
    finally:
        fakes.stop()


def test_lanes_are_forked_from_one_template_each_in_its_own_session_and_they_answer(six):
    status = six.start(6)
    owner_pid = status["pid"]
    lanes = {ln["family"]: ln["pid"] for ln in status["lanes"]}
    parents = {proc_stat(pid)[0] for pid in lanes.values()}
    assert len(parents) == 1, parents
    template = parents.pop()
    assert template != owner_pid and proc_stat(template)[0] == owner_pid
    assert "gatewayctl.runtime.template" in cmdline(template)
    secrets = six.fakes.secrets()
    for family, pid in lanes.items():
        ppid, pgrp, session = proc_stat(pid)
        assert pgrp == pid and session == pid, (family, pgrp, session)  # its own session and group
        env = environ(pid)
        # The marker a later owner's reaper looks for is there ...
        assert b"GATEWAYCTL_LANE_MARK=" in env
        # ... and no lane's secret: /proc shows the template's environment.
        assert not any(s.encode() in env for s in secrets), family
    for channel in six.channels(status, ("telegram", "matrix", "wecom", "qqbot", "feishu", "whatsapp")):
        channel.send(f"via-template-{channel.name}")
    for channel in six.channels(status, ("telegram", "matrix", "wecom", "qqbot", "feishu", "whatsapp")):
        assert poll(lambda: f"via-template-{channel.name}" in channel.replies(), 20), channel.name


def test_a_dead_template_takes_its_lanes_with_it_and_they_come_back_exec_d(six):
    # Restart on failure, so the lanes come back (exec'd: no template now).
    six.config.write_text(six.config.read_text().replace(
        "[gateway.handler]", '[gateway.restart]\npolicy = "on-failure"\nbackoff_initial_s = 0.2\n\n[gateway.handler]', 1))
    status = six.start(6)
    owner_pid = status["pid"]
    old = {ln["family"]: ln["pid"] for ln in status["lanes"]}
    template = proc_stat(next(iter(old.values())))[0]
    os.kill(template, signal.SIGKILL)
    # No lane outlives its template (parent-death signal) ...
    assert poll(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in old.values()), 20, interval=0.1), \
        [p for p in old.values() if os.path.exists(f"/proc/{p}")]
    # ... and the owner restarts them by exec, as its own children.
    back = poll(lambda: six.connected(6), 60, interval=0.2)
    assert back, six.log()[-3000:]
    assert back["pid"] == owner_pid
    for ln in back["lanes"]:
        assert ln["pid"] not in old.values() and proc_stat(ln["pid"])[0] == owner_pid, ln
        assert ln["restarts"] >= 1
    tg = flow.telegram(six.fakes.tg)
    tg.send("after-the-template")
    assert poll(lambda: "after-the-template" in tg.replies(), 20)


def test_the_template_can_be_turned_off(six):
    six.env["GATEWAYCTL_LANE_TEMPLATE"] = "0"
    status = six.start(6)
    owner_pid = status["pid"]
    assert all(proc_stat(ln["pid"])[0] == owner_pid for ln in status["lanes"])
    tg = flow.telegram(six.fakes.tg)
    tg.send("exec-d")
    assert poll(lambda: "exec-d" in tg.replies(), 20)
