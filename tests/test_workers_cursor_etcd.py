"""A fleet lane's cursor lives in etcd under the lane's key (workers/cursor.py):
written only while the lane's holder key is attached to its host's lease,
read by the next holder, and a lane that lost its lease or its etcd stops
rather than run without persisting. Against a real etcd (tests/etcd_server.py)."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from gatewayctl.fakes import FakeTelegram
from gatewayctl.runtime.fleet import etcd
from gatewayctl.workers.base import LaneFailure
from gatewayctl.workers.cursor import ENV_CURSOR, Cursor, config_from_env
from gatewayctl.workers.fence import Fence, Fenced
from tests.etcd_server import free_ports
from tests.fakes import plans
from tests.support import poll

LANE = "telegram/bot_123456"


def _config(endpoint, prefix, lease, **extra) -> dict:
    return {"backend": "etcd", "endpoints": [endpoint] if isinstance(endpoint, str) else endpoint,
            "cursor_key": f"{prefix}/lanes/{LANE}/cursor", "holder_key": f"{prefix}/lanes/{LANE}/holder",
            "lease": lease, "timeout_s": 2.0, "username_env": None, "password_env": None, **extra}


def _ctx(config: dict, environ=None, fence=None):
    cfg = config_from_env({ENV_CURSOR: json.dumps(config), **(environ or {})}, LANE)
    return SimpleNamespace(lane=SimpleNamespace(name=LANE), cursor_store=cfg, fence=fence, state_dir=None)


def _hold(client, prefix, host="host-a", ttl=30) -> int:
    """Take the lane's holder key under a fresh lease, as an owner's claim does."""
    lease = client.lease_grant(ttl).id
    client.put(f"{prefix}/lanes/{LANE}/holder", json.dumps({"host_id": host, "lease": lease}), lease=lease)
    return lease


@pytest.fixture
def client(shared_etcd):
    with etcd.EtcdClient([shared_etcd.endpoint], timeout_s=5) as c:
        yield c


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("raw, expected", [
    ("{", "not JSON"),
    ("[]", "not a JSON object"),
    (json.dumps({"backend": "zookeeper"}), "the only one is \"etcd\""),
    (json.dumps(_config([], "/p", 5)), "endpoints is not a non-empty list"),
    (json.dumps(_config("http://127.0.0.1:1", "p", 5)), "cursor_key is not an etcd key"),
    (json.dumps(_config("http://127.0.0.1:1", "/p", 0)), "lease is not a positive lease id"),
    (json.dumps(_config("http://127.0.0.1:1", "/p", 5, timeout_s="2")), "timeout_s is not a positive"),
    (json.dumps(_config("http://127.0.0.1:1", "/p", 5, username_env="U")), "must be given together"),
])
def test_an_unusable_cursor_configuration_names_the_field(raw, expected):
    with pytest.raises(LaneFailure) as exc:
        config_from_env({ENV_CURSOR: raw, "U": "user"}, LANE)
    assert expected in exc.value.message and LANE in exc.value.message
    assert ENV_CURSOR in exc.value.message


def test_credentials_come_from_the_named_variables_and_never_show():
    cfg = config_from_env({ENV_CURSOR: json.dumps(_config("http://127.0.0.1:1", "/p", 5, username_env="EU",
                                                           password_env="EP")),
                           "EU": "lane-user", "EP": "s3cret-pw"}, LANE)
    assert (cfg.username, cfg.password) == ("lane-user", "s3cret-pw")
    assert "s3cret-pw" not in repr(cfg)
    with pytest.raises(LaneFailure) as exc:
        config_from_env({ENV_CURSOR: json.dumps(_config("http://127.0.0.1:1", "/p", 5, username_env="EU",
                                                         password_env="EP")), "EU": "lane-user"}, LANE)
    assert "EP" in exc.value.message and "not set" in exc.value.message


def test_without_the_variable_the_cursor_is_the_file_as_before():
    assert config_from_env({}, LANE) is None


# ---------------------------------------------------------------- against etcd


def test_saved_only_while_held_and_read_by_the_next_holder(client, etcd_prefix):
    lease = _hold(client, etcd_prefix)
    cursor = Cursor(_ctx(_config(client.endpoint, etcd_prefix, lease)))
    assert cursor.load() == {}
    cursor.save({"offset": 1001})
    cursor.save({"offset": 1002})
    cursor.close()
    stored = client.get(f"{etcd_prefix}/lanes/{LANE}/cursor")
    assert json.loads(stored.value) == {"offset": 1002} and stored.lease == 0  # the cursor outlives the lease
    # Failover: the holder's lease is gone, another host holds the lane now.
    client.lease_revoke(lease)
    new_lease = _hold(client, etcd_prefix, host="host-b")
    successor = Cursor(_ctx(_config(client.endpoint, etcd_prefix, new_lease)))
    assert successor.load() == {"offset": 1002}
    successor.save({"offset": 1003})
    successor.close()
    assert json.loads(client.get(f"{etcd_prefix}/lanes/{LANE}/cursor").value) == {"offset": 1003}


def test_a_lane_that_lost_its_lease_stops_and_writes_nothing(client, etcd_prefix):
    lease = _hold(client, etcd_prefix)
    cursor = Cursor(_ctx(_config(client.endpoint, etcd_prefix, lease)))
    cursor.save({"offset": 7})
    client.lease_revoke(lease)  # expired (or revoked): the holder key is gone
    with pytest.raises(LaneFailure) as exc:
        cursor.save({"offset": 8})
    assert "lost the lane to another host (nobody holds it now)" in exc.value.message
    assert exc.value.message.endswith("; stopping")
    _hold(client, etcd_prefix, host="host-b")
    with pytest.raises(LaneFailure) as exc:
        cursor.save({"offset": 9})
    assert "now held by host-b" in exc.value.message and f"lease {lease:x}" in exc.value.message
    cursor.close()
    assert json.loads(client.get(f"{etcd_prefix}/lanes/{LANE}/cursor").value) == {"offset": 7}


def test_an_unreachable_etcd_is_a_lane_failure_within_the_timeout(client, etcd_prefix):
    (port,) = free_ports(1)
    cursor = Cursor(_ctx(_config(f"http://127.0.0.1:{port}", etcd_prefix, 12345, timeout_s=0.5)))
    started = time.monotonic()
    with pytest.raises(LaneFailure) as exc:
        cursor.save({"offset": 1})
    assert "cannot persist the cursor in etcd" in exc.value.message
    with pytest.raises(LaneFailure) as exc:
        cursor.load()
    assert "cannot read the cursor from etcd" in exc.value.message
    assert time.monotonic() - started < 5  # two calls of 0.5 s each, with room for a loaded machine
    cursor.close()


def test_a_save_never_outlives_the_lanes_dead_deadline(client, etcd_prefix, tmp_path):
    lease = _hold(client, etcd_prefix)
    path = tmp_path / "fence"
    now = time.monotonic_ns()
    path.write_bytes(struct.pack("<qq", now - 2 * 10**9, now - 10**9))
    fd = os.open(path, os.O_RDONLY)
    try:
        cursor = Cursor(_ctx(_config(client.endpoint, etcd_prefix, lease), fence=Fence(fd, lane=LANE)))
        with pytest.raises(Fenced):
            cursor.save({"offset": 1})
    finally:
        os.close(fd)
    assert client.get(f"{etcd_prefix}/lanes/{LANE}/cursor") is None


# ---------------------------------------------------------------- a real lane


def _serve(plan_path, env, pass_fds=()):
    full = {"PATH": os.environ.get("PATH", ""), **env}
    return subprocess.Popen([sys.executable, "-m", "gatewayctl", "lane", "serve", "--plan", plan_path,
                             "--lane", "telegram"], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, pass_fds=pass_fds,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _stored_offset(client, prefix):
    kv = client.get(f"{prefix}/lanes/{LANE}/cursor")
    return json.loads(kv.value).get("offset") if kv else None


@pytest.mark.slow
def test_the_next_holder_continues_where_the_last_stopped(client, etcd_prefix, tmp_path):
    """Two hosts in turn (two lane processes, two leases): every message is
    answered exactly once, and the second host never answers history."""
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")),
                                str(tmp_path / "p.json"))
        lease_a = _hold(client, etcd_prefix, host="host-a")
        env = {"TG_TOKEN": tg.token, ENV_CURSOR: json.dumps(_config(client.endpoint, etcd_prefix, lease_a))}
        first = _serve(plan_path, env)
        try:
            for i in range(5):
                tg.inject(42, 7, f"a{i}")
            assert tg.wait_sent(5, timeout=30)
            assert poll(lambda: _stored_offset(client, etcd_prefix) == tg.next_update_id, timeout=20)
        finally:
            first.send_signal(signal.SIGTERM)
            _, err = first.communicate(timeout=30)
        assert first.returncode == 0, err
        assert not list(tmp_path.glob("**/cursor-*.json"))  # no file cursor in a fleet
        for i in range(3):  # arrive while no host serves the lane
            tg.inject(42, 7, f"gap{i}")
        client.lease_revoke(lease_a)
        lease_b = _hold(client, etcd_prefix, host="host-b")
        env[ENV_CURSOR] = json.dumps(_config(client.endpoint, etcd_prefix, lease_b))
        second = _serve(plan_path, env)
        try:
            tg.inject(42, 7, "b0")
            assert tg.wait_sent(9, timeout=30)
            assert poll(lambda: _stored_offset(client, etcd_prefix) == tg.next_update_id, timeout=20)
        finally:
            second.send_signal(signal.SIGTERM)
            second.communicate(timeout=30)
        texts = [s["text"] for s in tg.snapshot_sent()]
        assert sorted(texts) == sorted([f"a{i}" for i in range(5)] + [f"gap{i}" for i in range(3)] + ["b0"])
        assert tg.overlaps == 0


@pytest.mark.slow
def test_a_lane_whose_lane_moved_stops_with_the_reason(client, etcd_prefix, tmp_path):
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")),
                                str(tmp_path / "p.json"))
        lease_a = _hold(client, etcd_prefix, host="host-a")
        env = {"TG_TOKEN": tg.token, ENV_CURSOR: json.dumps(_config(client.endpoint, etcd_prefix, lease_a))}
        proc = _serve(plan_path, env)
        try:
            tg.inject(42, 7, "mine")
            assert tg.wait_sent(1, timeout=30)
            assert poll(lambda: _stored_offset(client, etcd_prefix) == tg.next_update_id, timeout=20)
            client.lease_revoke(lease_a)
            _hold(client, etcd_prefix, host="host-b")
            tg.inject(42, 7, "in flight when the lane moved")
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 1, err
        assert "lost the lane to another host (now held by host-b)" in err and err.count("\n") == 1
        # The one in flight is answered, not recorded: the next holder answers it again.
        assert _stored_offset(client, etcd_prefix) == tg.next_update_id - 1


@pytest.mark.slow
def test_a_lane_that_loses_etcd_stops_with_the_reason(etcd_server, tmp_path):
    """etcd stops: the next save cannot be persisted, so the lane stops (1)
    instead of answering messages a successor would answer again."""
    prefix = "/gatewayctl-test/lose-etcd"
    with etcd.EtcdClient([etcd_server.endpoint], timeout_s=5) as client, FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")),
                                str(tmp_path / "p.json"))
        lease = _hold(client, prefix, ttl=60)
        config = _config(etcd_server.endpoint, prefix, lease, timeout_s=0.5)
        env = {"TG_TOKEN": tg.token, ENV_CURSOR: json.dumps(config)}
        proc = _serve(plan_path, env)
        try:
            tg.inject(42, 7, "one")
            assert tg.wait_sent(1, timeout=30)
            assert poll(lambda: _stored_offset(client, prefix) == tg.next_update_id, timeout=20)
            etcd_server.stop()
            tg.inject(42, 7, "two")
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 1, err
        assert "cannot persist the cursor in etcd" in err and "did not answer" in err
