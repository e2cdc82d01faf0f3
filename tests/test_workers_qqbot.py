"""QQ Bot lane against the loopback op-code gateway fake: token (string
expires_in), Identify/READY, heartbeats, C2C and group messages answered
passively, allowlist, Resume after a drop with missed events replayed,
Reconnect (op 7), Invalid Session (op 9), token refresh."""

from __future__ import annotations


import pytest

from gatewayctl.fakes.qqbot import INTENT_GROUP_AND_C2C, FakeQQBot
from tests.fakes import plans
from tests.fakes.plans import qqbot_env, qqbot_lane
from tests.support import poll as _poll, read_json




def _status(path):
    return read_json(path, {})


@pytest.fixture
def qq():
    with FakeQQBot() as fake:
        yield fake


def test_identify_then_c2c_and_group_messages_answered_passively(qq, tmp_path):
    status = str(tmp_path / "lane.json")
    p = plans.plan([qqbot_lane(qq)], plans.exec_handler())
    with plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=status):
        assert qq.wait_ready()
        ident = qq.identifies[0]
        assert ident["token"] == "QQBot qqtok0001" and ident["intents"] == INTENT_GROUP_AND_C2C
        assert ident["shard"] == [0, 1]
        c2c = qq.inject_c2c("u_alice", "ping")
        grp = qq.inject_group("g_ops", "m_bob", "status?")
        sent = qq.wait_sent(2)
        by_peer = {s["peer"]: s for s in sent}
        assert by_peer["u_alice"] == {"kind": "users", "peer": "u_alice", "content": "handled: ping",
                                      "msg_id": c2c, "msg_seq": 1, "msg_type": 0}
        assert by_peer["g_ops"]["kind"] == "groups" and by_peer["g_ops"]["msg_id"] == grp
        assert by_peer["g_ops"]["content"] == "handled: status?"
        assert _poll(lambda: qq.heartbeats >= 1)
        st = _poll(lambda: (d := _status(status)) and d.get("replies_sent") == 2 and d)
        assert st["connected"] is True
    assert qq.rejected == []  # never a proactive send


def test_long_reply_parts_carry_the_same_msg_id_and_growing_msg_seq(qq, tmp_path):
    p = plans.plan([qqbot_lane(qq)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=str(tmp_path / "lane.json")):
        assert qq.wait_ready()
        mid = qq.inject_c2c("u_alice", "x" * 4500)
        sent = qq.wait_sent(3)
    assert [(s["msg_id"], s["msg_seq"]) for s in sent] == [(mid, 1), (mid, 2), (mid, 3)]
    assert "".join(s["content"] for s in sent) == "x" * 4500


def test_peer_allowlist_miss_and_empty_allowlist(qq, tmp_path):
    status = str(tmp_path / "lane.json")
    p = plans.plan([qqbot_lane(qq, allowed_peer_ids=("g_ops",))], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=status):
        assert qq.wait_ready()
        qq.inject_c2c("u_stranger", "hi")
        qq.inject_group("g_other", "m_bob", "hi")
        qq.inject_group("g_ops", "m_bob", "allowed")
        assert qq.wait_sent(1)
        assert _poll(lambda: _status(status).get("messages_ignored") == 2)
    assert [s["content"] for s in qq.snapshot_sent()] == ["allowed"]

    status2 = str(tmp_path / "lane2.json")
    p2 = plans.plan([qqbot_lane(qq, allowed_peer_ids=())], plans.Handler(kind="echo"))
    with plans.LaneThread(p2, "qqbot", qqbot_env(qq), status_path=status2):
        assert qq.wait_ready(2)
        qq.inject_c2c("u_alice", "anyone?")
        assert _poll(lambda: _status(status2).get("messages_ignored") == 1)
        assert "fail closed" in _status(status2).get("last_error", "")
    assert len(qq.snapshot_sent()) == 1


def test_resume_after_a_drop_replays_what_was_missed(qq, tmp_path):
    p = plans.plan([qqbot_lane(qq)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=str(tmp_path / "lane.json")):
        assert qq.wait_ready(1)
        qq.inject_c2c("u_alice", "before")
        assert qq.wait_sent(1)
        qq.drop()
        qq.inject_c2c("u_alice", "while away")  # dispatched while no session is live
        assert qq.wait_ready(2, timeout=15)
        assert qq.wait_sent(2)
        qq.inject_c2c("u_alice", "after")
        assert qq.wait_sent(3)
        resume = qq.resumes[0]
        assert resume["session_id"] == qq.session_id and resume["token"].startswith("QQBot ")
        assert resume["seq"] >= 1
    assert len(qq.identifies) == 1 and len(qq.resumes) == 1
    assert [s["content"] for s in qq.snapshot_sent()] == ["before", "while away", "after"]


def test_reconnect_request_resumes_and_invalid_session_identifies_again(qq, tmp_path):
    p = plans.plan([qqbot_lane(qq)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=str(tmp_path / "lane.json")):
        assert qq.wait_ready(1)
        qq.ask_reconnect()
        assert qq.wait_ready(2, timeout=15)
        assert len(qq.resumes) == 1
        qq.invalidate_session(resumable=False)
        assert qq.wait_ready(3, timeout=15)
        assert len(qq.identifies) == 2
        qq.inject_group("g_ops", "m_bob", "still here")
        assert qq.wait_sent(1)


def test_token_expires_in_is_a_string_and_refresh_happens_on_rejection(qq, tmp_path):
    p = plans.plan([qqbot_lane(qq)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=str(tmp_path / "lane.json")):
        assert qq.wait_ready()
        assert qq.token_requests == 1
        with qq.cond:
            qq.tokens.clear()  # the platform forgets the token (rotated)
        qq.inject_c2c("u_alice", "with a new token")
        assert qq.wait_sent(1)
        assert qq.token_requests == 2


def test_bad_credentials_are_a_lane_failure_naming_references(qq):
    env = qqbot_env(qq) | {"QQBOT_CLIENT_SECRET": "wrong-client-secret"}
    p = plans.plan([qqbot_lane(qq)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "qqbot", env).start().join(10)
    assert outcome.kind == "lane" and "100016" in outcome.message and "QQBOT_CLIENT_SECRET" in outcome.message
    assert "wrong-client-secret" not in outcome.message


def test_unacknowledged_heartbeat_means_a_zombie_connection_and_a_resume(tmp_path):
    with FakeQQBot(heartbeat_interval_ms=200) as qq:
        p = plans.plan([qqbot_lane(qq)], plans.Handler(kind="echo"))
        with plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=str(tmp_path / "lane.json")):
            assert qq.wait_ready(1)
            qq.answer_heartbeats = False
            assert qq.wait_until(lambda: len(qq.resumes) >= 1, timeout=10)
            qq.answer_heartbeats = True
            assert qq.wait_ready(2)
            qq.inject_c2c("u_alice", "after the zombie")
            assert qq.wait_sent(1)
        assert len(qq.identifies) == 1


def test_fatal_close_code_is_a_lane_failure(qq, tmp_path):
    p = plans.plan([qqbot_lane(qq)], plans.Handler(kind="echo"))
    thread = plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=str(tmp_path / "lane.json")).start()
    assert qq.wait_ready()
    qq.close_with(4915, "banned")
    outcome = thread.join(15)
    assert outcome is not None and outcome.kind == "lane" and "4915" in outcome.message and "banned" in outcome.message


def test_close_4004_refreshes_the_token_and_resumes(qq, tmp_path):
    p = plans.plan([qqbot_lane(qq)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "qqbot", qqbot_env(qq), status_path=str(tmp_path / "lane.json")):
        assert qq.wait_ready(1)
        qq.close_with(4004, "invalid token")
        assert qq.wait_ready(2, timeout=15)
        assert qq.token_requests == 2 and len(qq.resumes) == 1
