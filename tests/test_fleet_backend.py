"""The fleet backend against a real etcd (Debian's etcd-server, started per test or per worker).

Leases, exclusive claims decided by lease id, release and resign, expiry
after the TTL (the slow ones), the cursor surviving its holder, release
requests and rebalance generations, read-only views, host id conflicts and
our own dead predecessor, an unreachable etcd, and the local backend.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time

import pytest

from gatewayctl.runtime.fleet import etcd
from gatewayctl.runtime.fleet.backend import (
    CURSOR_ENV,
    PASSWORD_ENV,
    USERNAME_ENV,
    BackendUnavailable,
    EtcdBackend,
    Holder,
    HostIdConflict,
    HostRecord,
    LeaseLost,
    LocalBackend,
    new_token,
    read_boot_id,
)
from gatewayctl.runtime.system import System
from tests.support import poll

SHA_A = "a" * 64
SHA_B = "b" * 64


def record(host_id: str, *, pid: int | None = None, boot_id: str | None = None, ticks: int | None = None) -> HostRecord:
    pid = os.getpid() if pid is None else pid
    return HostRecord(
        host_id=host_id,
        token=new_token(),
        boot_id=read_boot_id() if boot_id is None else boot_id,
        pid=pid,
        pid_start_ticks=ticks if ticks is not None else System().proc_start_ticks(pid),
        started_at_ms=System().now_ms(),
        version="test",
        lanes={"telegram/bot1": SHA_A},
        plan_sha256="c" * 64,
    )


@pytest.fixture
def make_backend(shared_etcd, etcd_prefix):
    made: list[EtcdBackend] = []

    def make(ttl_s: float = 10, *, endpoint: str | None = None, prefix: str | None = None, **kw) -> EtcdBackend:
        backend = EtcdBackend(
            [endpoint or shared_etcd.endpoint], prefix or etcd_prefix, ttl_s, timeout_s=kw.pop("timeout_s", 2.0), **kw
        )
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.resign()
        backend.close()


@pytest.fixture
def raw(shared_etcd):
    with etcd.EtcdClient([shared_etcd.endpoint], timeout_s=2) as client:
        yield client


def test_register_grants_a_lease_that_keepalive_renews(make_backend, raw, etcd_prefix):
    a = make_backend(ttl_s=7)
    rec = record("host-a")
    before = time.monotonic()
    renewal = a.register(rec)
    assert renewal.lease == a.lease != 0 and renewal.ttl_s == 7 and before <= renewal.sent_mono <= time.monotonic()
    kv = raw.get(f"{etcd_prefix}/hosts/host-a")
    assert kv is not None and kv.lease == renewal.lease
    assert HostRecord.from_json(json.loads(kv.value)) == rec
    again = a.keepalive()
    assert again.lease == renewal.lease and again.ttl_s == 7 and again.sent_mono >= renewal.sent_mono
    assert 0 < raw.lease_time_to_live(renewal.lease) <= 7
    assert a.view().hosts == {"host-a": rec}


def test_only_one_claim_wins_and_ownership_is_the_lease(make_backend, raw, etcd_prefix):
    a, b = make_backend(), make_backend()
    a.register(record("host-a"))
    b.register(record("host-b"))
    won = a.claim("telegram/bot1", SHA_A, 1000)
    assert won is not None and won.lease == a.lease and won.host_id == "host-a" and won.since_ms == 1000
    assert b.claim("telegram/bot1", SHA_A, 2000) is None
    assert a.claim("telegram/bot1", SHA_A, 1000) == won  # claiming what we hold is idempotent
    # A host that calls itself "host-a" too, under another lease (host-a's record
    # removed so it can register), still cannot touch host-a's lane.
    raw.delete(f"{etcd_prefix}/hosts/host-a")
    clone = make_backend()
    clone.register(record("host-a"))
    assert clone.lease != a.lease
    assert clone.claim("telegram/bot1", SHA_B, 3000) is None
    assert clone.update_definition("telegram/bot1", SHA_B) is False
    assert clone.release("telegram/bot1") is False
    assert b.release("telegram/bot1") is False
    holder = a.view().holders["telegram/bot1"]
    assert holder == won
    assert a.view().definitions["telegram/bot1"] == SHA_A
    assert a.update_definition("telegram/bot1", SHA_B) is True
    view = a.view()
    assert view.holders["telegram/bot1"].definition_sha256 == SHA_B and view.definitions["telegram/bot1"] == SHA_B
    definition = json.loads(raw.get(f"{etcd_prefix}/lanes/telegram/bot1/definition").value)
    assert definition["host_id"] == "host-a" and definition["definition_sha256"] == SHA_B
    assert raw.get(f"{etcd_prefix}/lanes/telegram/bot1/definition").lease == 0


def test_release_frees_the_lane_and_keeps_its_cursor(make_backend, raw, etcd_prefix):
    a, b = make_backend(), make_backend()
    a.register(record("host-a"))
    b.register(record("host-b"))
    assert a.claim("wecom/w1", SHA_A, 1) is not None
    raw.put(f"{etcd_prefix}/cursors/wecom/w1", '{"offset":41}')
    assert a.release("wecom/w1") is True
    assert a.release("wecom/w1") is False
    assert "wecom/w1" not in a.view().holders
    assert json.loads(raw.get(f"{etcd_prefix}/cursors/wecom/w1").value) == {"offset": 41}
    taken = b.claim("wecom/w1", SHA_A, 2)
    assert taken is not None and taken.host_id == "host-b"


def test_resign_frees_every_holder_at_once(make_backend):
    a, b = make_backend(), make_backend()
    a.register(record("host-a"))
    b.register(record("host-b"))
    for lane in ("telegram/t1", "matrix/m1"):
        assert a.claim(lane, SHA_A, 1) is not None
    a.resign()
    view = b.view()
    assert view.holders == {} and set(view.hosts) == {"host-b"}
    assert b.claim("telegram/t1", SHA_A, 2) is not None and b.claim("matrix/m1", SHA_A, 2) is not None
    with pytest.raises(LeaseLost):
        a.keepalive()


@pytest.mark.slow
def test_an_expired_lease_frees_holders_after_the_ttl_and_the_cursor_stays(make_backend, raw, etcd_prefix):
    a, b = make_backend(ttl_s=2), make_backend(ttl_s=2)
    a.register(record("host-a"))
    b.register(record("host-b"))
    assert a.claim("qqbot/q1", SHA_A, 1) is not None
    raw.put(f"{etcd_prefix}/cursors/qqbot/q1", '{"seq":7}')
    lost_at = time.monotonic()
    # a stops renewing; b keeps renewing while it waits.
    freed = poll(lambda: b.keepalive() and "qqbot/q1" not in b.view().holders, timeout=10, interval=0.2)
    waited = time.monotonic() - lost_at
    assert freed
    assert 1.0 <= waited < 2 + 2.5  # etcd expires leases on its own clock, checked every 500 ms
    assert "host-a" not in b.view().hosts
    assert json.loads(raw.get(f"{etcd_prefix}/cursors/qqbot/q1").value) == {"seq": 7}
    assert b.claim("qqbot/q1", SHA_A, 2) is not None
    with pytest.raises(LeaseLost, match="expired or was revoked"):
        a.keepalive()


def test_release_requests_name_the_holders_lease_and_a_claim_clears_them(make_backend, etcd_prefix):
    a, b = make_backend(), make_backend()
    a.register(record("host-a"))
    b.register(record("host-b"))
    assert b.request_release("lark/work", by="ops") is None  # nobody holds it
    held = a.claim("lark/work", SHA_A, 1)
    asked = b.request_release("lark/work", by="ops")
    assert asked == held
    req = a.view().releases["lark/work"]
    assert req["lease"] == a.lease and req["by"] == "ops" and isinstance(req["at_ms"], int)
    assert a.release("lark/work")
    assert b.claim("lark/work", SHA_A, 2) is not None
    assert "lark/work" not in b.view().releases


def test_rebalance_generation_counts_up(make_backend):
    a = make_backend()
    assert a.view().rebalance_generation == 0
    assert a.request_rebalance() == 1
    assert make_backend().request_rebalance() == 2
    assert a.view().rebalance_generation == 2


def test_view_never_writes(make_backend, raw, etcd_prefix):
    a = make_backend()
    a.register(record("host-a"))
    a.claim("telegram/bot1", SHA_A, 1)
    reader = make_backend()  # never registered: what `fleet status` does
    revision = raw.range("/", prefix=True, count_only=True).revision
    views = [reader.view() for _ in range(3)] + [a.view()]
    assert all(v.revision == revision for v in views)
    assert raw.range("/", prefix=True, count_only=True).revision == revision
    assert set(views[0].holders) == {"telegram/bot1"} and set(views[0].hosts) == {"host-a"}


def test_records_whose_host_id_is_not_a_host_id_are_not_hosts_or_holders(make_backend, raw, etcd_prefix):
    # Another etcd writer is not trusted: a host id becomes a key segment
    # and is printed in every status, so an escape sequence in one is a
    # malformed record, left out like any other.
    a = make_backend()
    a.register(record("host-a"))
    bad = dict(record("host-b").to_json(), host_id="host-\x1b[2Jb")
    raw.put(f"{etcd_prefix}/hosts/host-\x1b[2Jb", json.dumps(bad))
    holder = {"lane": "telegram/bot1", "host_id": "evil\x1b]0;x\x07", "token": "t", "lease": 1,
              "definition_sha256": SHA_A, "since_ms": 1}
    raw.put(f"{etcd_prefix}/lanes/telegram/bot1/holder", json.dumps(holder))
    view = a.view()
    assert set(view.hosts) == {"host-a"} and view.holders == {}


def test_the_view_reads_everything_but_the_cursors(make_backend, raw, etcd_prefix):
    # A seen-id cursor may be 100 KB and every host reads the view twice a
    # second: the one range must leave the cursors/ subtree out.
    a = make_backend()
    a.register(record("host-a"))
    a.claim("whatsapp/default", SHA_A, 1)
    a.request_rebalance()
    raw.put(a.lane_key("whatsapp/default", "cursor"), json.dumps({"seen": ["x" * 60] * 2000}))
    assert a.lane_key("whatsapp/default", "cursor") == f"{etcd_prefix}/cursors/whatsapp/default"
    seen = []
    real = a._client.range

    def spy(*args, **kw):
        result = real(*args, **kw)
        seen.extend(kv.key.decode() for kv in result.kvs)
        return result

    a._client.range = spy
    view = a.view()
    assert seen and not any("/cursors/" in key for key in seen), seen
    assert f"{etcd_prefix}/rebalance" in seen and f"{etcd_prefix}/hosts/host-a" in seen
    assert set(view.holders) == {"whatsapp/default"} and view.rebalance_generation == 1


def test_a_live_other_incarnation_of_our_host_id_is_a_conflict(make_backend, raw, etcd_prefix):
    a = make_backend()
    first = record("web-1")
    a.register(first)
    b = make_backend()
    start = time.monotonic()
    with pytest.raises(HostIdConflict) as info:
        b.register(record("web-1"), wait_s=0.5)
    assert time.monotonic() - start < 5
    err = info.value
    assert err.holder == first
    assert "host id 'web-1' is held by another live owner" in err.message
    assert f"pid {os.getpid()}" in err.message and first.boot_id[:8] in err.message
    assert "`[fleet] host_id`" in err.message and "--host-id" in err.message
    assert b.lease == 0
    # b's lease was given back: only a's lease holds keys under our prefix.
    leases = {kv.lease for kv in raw.range(etcd_prefix + "/", prefix=True).kvs}
    assert leases == {a.lease}


def test_another_machine_with_our_host_id_is_a_conflict_even_if_its_pid_is_dead_here(make_backend):
    a = make_backend()
    a.register(record("web-1", pid=dead_pid(), boot_id="another-machines-boot-id"))
    with pytest.raises(HostIdConflict, match="pid .* on boot another-"):
        make_backend().register(record("web-1"), wait_s=0.3)


def test_a_conflict_that_frees_up_while_waiting_is_not_a_conflict(make_backend, raw):
    a = make_backend()
    a.register(record("web-1"))
    b = make_backend()

    def resign_soon():
        a.resign()

    import threading

    timer = threading.Timer(0.3, resign_soon)
    timer.start()
    try:
        assert b.register(record("web-1"), wait_s=8).lease == b.lease != 0
    finally:
        timer.cancel()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_our_own_dead_predecessor_is_revoked_at_once(make_backend, raw, etcd_prefix):
    # What a SIGKILLed owner leaves behind: its record and a held lane under a
    # 60 s lease, our boot id, a pid that is gone.
    lease = raw.lease_grant(60)
    gone = record("web-1", pid=dead_pid(), ticks=12345)
    raw.put(f"{etcd_prefix}/hosts/web-1", json.dumps(gone.to_json()), lease=lease.id)
    stale = Holder("telegram/bot1", "web-1", gone.token, lease.id, SHA_A, 1)
    raw.put(f"{etcd_prefix}/lanes/telegram/bot1/holder", json.dumps(stale.to_json()), lease=lease.id)
    b = make_backend(ttl_s=60)
    start = time.monotonic()
    renewal = b.register(record("web-1"), wait_s=30)
    assert time.monotonic() - start < 3  # not the 30 s wait, not the 60 s TTL
    assert renewal.lease != lease.id
    assert raw.lease_time_to_live(lease.id) == -1
    assert b.view().holders == {}
    assert b.claim("telegram/bot1", SHA_A, 2) is not None


def test_a_predecessor_of_ours_whose_pid_was_reused_counts_as_dead(make_backend, raw, etcd_prefix):
    # Same boot, the pid is alive but started at another time: not the owner that wrote the record.
    lease = raw.lease_grant(60)
    reused = record("web-1", pid=os.getpid(), ticks=(System().proc_start_ticks(os.getpid()) or 0) + 1)
    raw.put(f"{etcd_prefix}/hosts/web-1", json.dumps(reused.to_json()), lease=lease.id)
    assert make_backend(ttl_s=60).register(record("web-1"), wait_s=30).lease != lease.id


def test_an_unreachable_etcd_is_backend_unavailable_within_the_timeout(etcd_prefix):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    backend = EtcdBackend([endpoint], etcd_prefix, 10, timeout_s=0.5)
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        backend.register(record("host-a"))
    assert time.monotonic() - start < 1.5
    assert "register: grant a lease" in info.value.message and endpoint in info.value.message
    with pytest.raises(BackendUnavailable):
        backend.view()
    with pytest.raises(LeaseLost, match="not registered"):
        backend.keepalive()
    backend.close()


def test_a_revoked_lease_is_lease_lost(make_backend, raw):
    a = make_backend()
    a.register(record("host-a"))
    assert raw.lease_revoke(a.lease)
    with pytest.raises(LeaseLost, match="our etcd lease is gone"):
        a.claim("telegram/bot1", SHA_A, 1)
    assert a.lease == 0
    with pytest.raises(LeaseLost):
        a.keepalive()
    b = make_backend()
    b.register(record("host-b"))
    assert raw.lease_revoke(b.lease)
    with pytest.raises(LeaseLost, match="expired or was revoked"):
        b.keepalive()
    # Registering again works: a new lease.
    assert b.register(record("host-b")).lease == b.lease != 0


def test_lane_cursor_env_points_at_the_lanes_keys_under_our_lease(make_backend, etcd_prefix, shared_etcd):
    a = make_backend(timeout_s=1.5)
    with pytest.raises(LeaseLost):
        a.lane_cursor_env("telegram/bot1")
    a.register(record("host-a"))
    env = a.lane_cursor_env("telegram/bot1")
    assert set(env) == {CURSOR_ENV}
    assert json.loads(env[CURSOR_ENV]) == {
        "backend": "etcd",
        "endpoints": [shared_etcd.endpoint],
        "cursor_key": f"{etcd_prefix}/cursors/telegram/bot1",
        "holder_key": f"{etcd_prefix}/lanes/telegram/bot1/holder",
        "lease": a.lease,
        "timeout_s": 1.5,
        "username_env": None,
        "password_env": None,
    }


def test_lane_cursor_env_passes_credentials_only_in_the_environment(raw, etcd_prefix, shared_etcd):
    backend = EtcdBackend([shared_etcd.endpoint], etcd_prefix, 10, timeout_s=1, username="gw", password="pw-s3cret")
    backend._lease = 5  # as if registered; auth is not enabled on the test server
    env = backend.lane_cursor_env("telegram/bot1")
    config = json.loads(env[CURSOR_ENV])
    assert config["username_env"] == USERNAME_ENV and config["password_env"] == PASSWORD_ENV
    assert env[USERNAME_ENV] == "gw" and env[PASSWORD_ENV] == "pw-s3cret"
    assert "pw-s3cret" not in env[CURSOR_ENV]
    backend.close()


def test_etcd_with_auth_enabled(etcd_server, etcd_prefix):
    with etcd.EtcdClient([etcd_server.endpoint], timeout_s=2) as admin:
        for path, body in [
            ("/v3/auth/user/add", {"name": "root", "password": "root-pw-1"}),
            ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
            ("/v3/auth/enable", {}),
        ]:
            admin._call(path, body, None, lambda answer: answer)
    good = EtcdBackend([etcd_server.endpoint], etcd_prefix, 10, timeout_s=2, username="root", password="root-pw-1")
    assert good.register(record("host-a")).lease == good.lease != 0
    assert good.claim("telegram/bot1", SHA_A, 1) is not None
    good.resign()
    good.close()
    wrong = EtcdBackend([etcd_server.endpoint], etcd_prefix, 10, timeout_s=2, username="root", password="nope-pw-2")
    with pytest.raises(BackendUnavailable) as info:
        wrong.view()
    assert "refused the configured username/password" in info.value.message and "nope-pw-2" not in info.value.message
    wrong.close()
    anonymous = EtcdBackend([etcd_server.endpoint], etcd_prefix, 10, timeout_s=2)
    with pytest.raises(BackendUnavailable, match="requires authentication"):
        anonymous.view()
    anonymous.close()


@pytest.mark.slow
def test_etcd_down_past_the_ttl_then_back(etcd_server, etcd_prefix):
    """Fencing cannot lean on etcd expiring the lease while it is down: on restart
    etcd extends every lease by its TTL, so the lanes' own deadlines must stop them."""
    a = EtcdBackend([etcd_server.endpoint], etcd_prefix, 2, timeout_s=0.5)
    a.register(record("host-a"))
    assert a.claim("telegram/bot1", SHA_A, 1) is not None
    etcd_server.stop()
    down_since = time.monotonic()
    with pytest.raises(BackendUnavailable):
        a.keepalive()
    # Wait past the TTL with etcd down (polling the dead endpoint, as an owner would).
    assert poll(lambda: time.monotonic() - down_since > 3, timeout=10, interval=0.2)
    etcd_server.start()
    renewal = poll(lambda: _try(a.keepalive), timeout=10, interval=0.1)
    assert renewal and renewal.lease == a.lease
    assert a.view().holders["telegram/bot1"].lease == a.lease
    a.resign()
    a.close()


def _try(call):
    try:
        return call()
    except BackendUnavailable:
        return None


def test_local_backend():
    local = LocalBackend()
    rec = record("only")
    renewal = local.register(rec)
    assert renewal.ttl_s == math.inf and renewal.lease == 0
    assert local.keepalive().ttl_s == math.inf
    held = local.claim("telegram/bot1", SHA_A, 5)
    assert held == Holder("telegram/bot1", "only", rec.token, 0, SHA_A, 5)
    assert local.claim("telegram/bot1", SHA_A, 6) is not None  # the local slot is the exclusivity
    view = local.view()
    assert view.hosts == {"only": rec} and set(view.holders) == {"telegram/bot1"} and view.revision == 0
    assert local.update_definition("telegram/bot1", SHA_B) and local.view().definitions == {"telegram/bot1": SHA_B}
    assert local.lane_cursor_env("telegram/bot1") == {}
    assert local.request_release("telegram/bot1", by="ops") is not None
    assert local.request_rebalance() == 1
    assert local.release("telegram/bot1") and not local.release("telegram/bot1")
    local.claim("matrix/m", SHA_A, 1)
    local.resign()
    assert local.view().holders == {}
    local.close()


def test_records_round_trip_and_malformed_ones_are_none():
    rec = record("h")
    assert HostRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec
    holder = Holder("a/b", "h", "t", 7, SHA_A, 3)
    assert Holder.from_json(holder.to_json()) == holder
    assert HostRecord.from_json({**rec.to_json(), "pid": True}) is None
    assert HostRecord.from_json({**rec.to_json(), "lanes": {"x": 1}}) is None
    assert HostRecord.from_json([]) is None
    assert Holder.from_json({**holder.to_json(), "lease": "7"}) is None


def test_one_backend_may_be_driven_from_several_threads(make_backend):
    """The owner may renew from one thread while it claims from another."""
    import threading

    a = make_backend()
    a.register(record("host-a"))
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                assert a.keepalive().lease == a.lease
                assert a.claim(f"telegram/t{n}-{i}", SHA_A, i) is not None
                assert a.release(f"telegram/t{n}-{i}") is True
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and a.view().holders == {}
