"""The coordinator against a real etcd, without lane processes: claims,
fences, definitions, hand-overs and duplicate host ids, each host a
Coordinator with its own EtcdBackend (gatewayctl.runtime.fleet)."""

from __future__ import annotations


import os
import time

import pytest

from gatewayctl.compile.plan import fleet_budget
from gatewayctl.runtime.fleet.backend import EtcdBackend, HostRecord, read_boot_id
from gatewayctl.runtime.fleet.coordinator import Coordinator
from gatewayctl.workers.fence import FENCE_FORMAT
from tests.support import poll

pytestmark = pytest.mark.slow  # waits out settle delays and TTLs

LANE = "telegram/bot_123456"
OLD, NEW = "a" * 64, "b" * 64


class Host:
    def __init__(self, tmp_path, etcd, prefix, host_id, definitions, *, token=None, ttl=3.0, settle=0.3):
        self.budget = fleet_budget(ttl, 0.5, settle)
        self.backend = EtcdBackend([etcd.endpoint], prefix, ttl, timeout_s=self.budget.request_timeout_s)
        self.fence_fds = {}
        for lane in definitions:
            path = tmp_path / f"{host_id}-{token or ''}-{lane.replace('/', '_')}"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.ftruncate(fd, 16)
            self.fence_fds[lane] = fd
        self.logs: list[str] = []
        record = HostRecord(host_id=host_id, token=token or f"{host_id}-token", boot_id=read_boot_id(),
                            pid=os.getpid(), pid_start_ticks=None, started_at_ms=int(time.time() * 1000),
                            version="test", lanes=dict(definitions), plan_sha256="c" * 64)
        self.coordinator = Coordinator(self.backend, host_id=host_id, record=record, budget=self.budget,
                                       fence_fds=self.fence_fds, log=self.logs.append, wake=lambda: None)
        self.closed = False

    def start(self):
        self.coordinator.start()
        return self

    def grants(self):
        return self.coordinator.grants()

    def registered(self):
        return self.coordinator.status()["registered"]

    def fence(self, lane):
        return FENCE_FORMAT.unpack(os.pread(self.fence_fds[lane], FENCE_FORMAT.size, 0))

    def close(self, resign=True):
        if self.closed:
            return
        self.closed = True
        self.coordinator.close(resign=resign)
        for fd in self.fence_fds.values():
            os.close(fd)


@pytest.fixture
def hosts(tmp_path, shared_etcd, etcd_prefix):
    made = []

    def make(host_id, definitions, **kw):
        h = Host(tmp_path, shared_etcd, etcd_prefix, host_id, definitions, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def test_a_claim_writes_the_fence_from_the_renewal_and_renewals_move_it_forward(hosts):
    a = hosts("host-a", {LANE: OLD}).start()
    assert poll(lambda: LANE in a.grants(), 10)
    stop_ns, dead_ns = a.fence(LANE)
    b = a.budget
    now_ns = time.monotonic_ns()
    # dead - stop is the grace; dead lies at most one budget ahead.
    assert dead_ns - stop_ns == pytest.approx(b.stop_grace_s * 1e9, abs=1e6)
    assert now_ns < dead_ns <= now_ns + b.lane_dead_after_s * 1e9
    assert poll(lambda: a.fence(LANE)[1] > dead_ns, b.renew_every_s + 3), "a renewal did not extend the fence"
    view = a.coordinator.status()["lanes"][LANE]
    assert view["holder"] == "host-a" and view["reason"] is None


def test_a_host_with_another_definition_waits_while_a_host_with_the_fleets_definition_lives(hosts):
    a = hosts("host-a", {LANE: OLD}).start()
    assert poll(lambda: LANE in a.grants(), 10)
    b = hosts("host-b", {LANE: NEW}).start()
    c = hosts("host-c", {LANE: OLD}).start()
    assert poll(lambda: b.registered() and c.registered(), 10)
    time.sleep(1.0)  # both settled
    a.close()  # resigns: the lane is free at once
    assert poll(lambda: LANE in c.grants(), 15), c.logs
    assert LANE not in b.grants()
    assert poll(lambda: b.coordinator.status()["lanes"][LANE]["reason"] == "held by host-c", 5), \
        b.coordinator.status()["lanes"]
    # c goes too: no live host has OLD any more, so b serves it with NEW.
    c.close()
    assert poll(lambda: LANE in b.grants(), 15), b.logs
    view = b.backend.view()
    assert view.holders[LANE].definition_sha256 == NEW and view.definitions[LANE] == NEW


def test_an_unheld_lane_with_the_fleets_definition_on_a_live_host_is_not_taken_by_another(hosts):
    a = hosts("host-a", {LANE: OLD}).start()
    assert poll(lambda: LANE in a.grants(), 10)
    b = hosts("host-b", {LANE: NEW}).start()
    assert poll(lambda: b.registered(), 10)
    time.sleep(1.0)
    # a hands the lane over (release request): b may not take it (its
    # definition differs while a, which has the fleet's, lives)...
    a.backend.request_release(LANE, by="test")
    assert poll(lambda: LANE not in a.grants(), 10)
    a.coordinator.lane_stopped(LANE, True)
    assert poll(lambda: LANE not in a.backend.view().holders, 10)
    time.sleep(1.5)
    assert LANE not in b.grants()
    reason = b.coordinator.status()["lanes"][LANE]["reason"]
    assert reason and "definition" in reason and OLD[:12] in reason, reason
    # ... so the host with the fleet's definition takes it back once the
    # request has aged out (nobody else could).
    assert poll(lambda: LANE in a.grants(), 20), a.logs


def test_a_release_request_hands_the_lane_over_only_after_the_owner_says_it_stopped(hosts):
    a = hosts("host-a", {LANE: OLD}).start()
    assert poll(lambda: LANE in a.grants(), 10)
    b = hosts("host-b", {LANE: OLD}).start()
    assert poll(lambda: b.registered(), 10)
    time.sleep(0.8)
    holder = a.backend.request_release(LANE, by="test")
    assert holder is not None and holder.host_id == "host-a"
    # a stops offering the lane at once (its fence says stop now) ...
    assert poll(lambda: LANE not in a.grants(), 10)
    stop_ns, _ = a.fence(LANE)
    assert stop_ns <= time.monotonic_ns()
    # ... but keeps the key until its owner reports the lane stopped.
    time.sleep(1.0)
    assert a.backend.view().holders[LANE].host_id == "host-a"
    a.coordinator.lane_stopped(LANE, True)
    assert poll(lambda: LANE in b.grants(), 10), (a.logs, b.logs)
    view = b.backend.view()
    assert view.holders[LANE].host_id == "host-b" and LANE not in view.releases


def test_a_duplicate_live_host_id_is_refused(hosts):
    a = hosts("host-a", {LANE: OLD}).start()
    assert poll(lambda: a.registered(), 10)
    twin = hosts("host-a", {LANE: OLD}, token="another-run").start()  # this process lives: not a dead predecessor
    fatal = poll(lambda: twin.coordinator.fatal(), 15)
    assert fatal and "host-a" in fatal and "--host-id" in fatal, fatal
    assert LANE not in twin.grants()
    assert a.registered()

