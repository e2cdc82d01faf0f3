"""A flood of idle connections against the servers we run: the owner's
control API and a WhatsApp lane's webhook listener, as real processes
whose descriptor limit is lowered to 256 (so 1,000 connections held would
be "Too many open files"). What must hold: the process stays up, holds at
most its connection cap, keeps answering real requests while flooded, and
logs the flood in a line or two, not a line per connection.

The measured numbers are printed (pytest -s shows them) for the hardening
report.
"""

from __future__ import annotations

import json
import os
import resource
import select
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from gatewayctl.fakes import FakeWhatsAppCloud, post_webhook, webhook_payload
from tests.fakes import plans
from tests.lane_programs.plans import GATEWAYCTL, TRUST, cli, env_for, finish, lane, make_plan, read_status, wait_running
from tests.support import poll, read_json

pytestmark = pytest.mark.slow

FLOOD = 1000
FD_LIMIT = 256


def _low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


@pytest.fixture(autouse=True)
def _room_for_the_flood():
    """The test process itself holds the 1,000 client sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4 * FLOOD) if hard != resource.RLIM_INFINITY else 4 * FLOOD
    if want < FLOOD + 200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below the {FLOOD + 200} descriptors the flood needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def flood(port: int, n: int = FLOOD) -> list[socket.socket]:
    """Open ``n`` connections without waiting for each handshake (a real
    flood does not wait either); they then sit idle."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    return socks


def open_fds(pid: int) -> int:
    """Descriptors the server process holds: each connection it keeps is
    one. (The client side cannot tell: a connection the kernel completed
    but the server never accepted also looks established from here.)"""
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_control_api_survives_1000_idle_connections(tmp_path):
    home = tmp_path / "home"
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    owner = subprocess.Popen([*GATEWAYCTL, "gateway", "run", "--plan", str(plan), *TRUST], env=env_for(home),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_low_fd_limit)
    socks: list[socket.socket] = []
    try:
        doc = wait_running(home, owner)
        port = doc["port"]
        fds_before = open_fds(owner.pid)
        t0 = time.monotonic()
        socks = flood(port)
        flood_s = time.monotonic() - t0

        def health():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
                    return resp.status == 200
            except OSError:
                return False

        answered = sum(1 for _ in range(20) if poll(health, timeout=10))
        fds_during = open_fds(owner.pid)
        held = fds_during - fds_before
        assert owner.poll() is None, "the owner died under the flood"
        assert answered == 20
        assert held <= 32 + 2, f"the owner holds {held} more descriptors under the flood"
        status = cli(home, "gateway", "status", "--json")
        assert json.loads(status.stdout)["running"] is True
        print(f"\ncontrol API flood: {FLOOD} connections opened in {flood_s:.2f}s; held open by the owner: {held} "
              f"(cap 32; owner fds {fds_before} -> {fds_during}, limit {FD_LIMIT}); /health answered 20/20")
    finally:
        for s in socks:
            s.close()
        stop = cli(home, "gateway", "stop", "--wait", "--timeout", "20")
        rc, _, err = finish(owner)
    assert stop.returncode == 0 and rc == 0, err
    assert "Too many open files" not in err
    flood_lines = [ln for ln in err.splitlines() if "control API:" in ln]
    assert 1 <= len(flood_lines) <= 3, err  # logged once, not per connection


def test_whatsapp_lane_keeps_answering_signed_deliveries_while_flooded(tmp_path):
    secret = "flood-app-secret"
    with FakeWhatsAppCloud() as wa:
        p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
        plan_path = plans.write(p, str(tmp_path / "plan.json"))
        status_path = tmp_path / "lane.json"
        env = dict(os.environ, WA_TOKEN=wa.access_token, WA_VERIFY="v", WA_APP_SECRET=secret,
                   GATEWAYCTL_LANE_STATUS=str(status_path), GATEWAYCTL_RUNTIME_DIR=str(tmp_path))
        stderr_path = tmp_path / "lane.stderr"
        errfile = open(stderr_path, "w")  # a file, not a pipe: a chatty lane must show, not block
        worker = subprocess.Popen([*GATEWAYCTL, "lane", "serve", "--plan", plan_path, "--lane", "whatsapp"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=errfile, text=True,
                                  preexec_fn=_low_fd_limit)
        socks: list[socket.socket] = []
        try:
            url = poll(lambda: (read_json(status_path) or {}).get("webhook_url"), timeout=20)
            assert url, stderr_path.read_text()
            port = int(url.split(":")[2].split("/")[0])
            fds_before = open_fds(worker.pid)
            socks = flood(port)
            latencies = []
            for n in range(20):
                payload = webhook_payload(wa.phone_number_id, "15551234567", f"flooded {n}", f"wamid.FL{n}")
                t0 = time.monotonic()
                code = poll(lambda: _deliver(url, payload, secret) == 200, timeout=20)
                latencies.append(time.monotonic() - t0)
                assert code, f"delivery {n} was not accepted while flooded; {_deliver(url, payload, secret, verbose=True)}"
            sent = wa.wait_sent(20, timeout=20)
            fds_during = open_fds(worker.pid)
            held = fds_during - fds_before
            st = read_json(status_path)
            assert worker.poll() is None
            assert sent is not None and len(sent) == 20
            # 128 connections at most, plus what the deliveries opened: the
            # cursor file, the connection to the Graph API, one in flight.
            assert held <= 128 + 4, held
            assert st["state"] == "running" and st["connected"] is True
            latencies.sort()
            print(f"\nwebhook flood: {FLOOD} idle connections; held open by the lane: {held} (cap 128); "
                  f"20/20 signed deliveries accepted and answered; delivery latency median "
                  f"{latencies[10] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; lane fds {fds_before} -> "
                  f"{fds_during} (limit {FD_LIMIT})")
        finally:
            for s in socks:
                s.close()
            worker.terminate()
            worker.wait(timeout=20)
            errfile.close()
        err = stderr_path.read_text()
        assert worker.returncode == 0, err
        assert "Too many open files" not in err and "Traceback" not in err
        assert len([ln for ln in err.splitlines() if "webhook:" in ln]) <= 3, err


def _deliver(url, payload, secret, verbose=False):
    try:
        return post_webhook(url, payload, secret, timeout=5)[0]
    except OSError as exc:
        return repr(exc) if verbose else 0
