"""Matrix lane against the loopback fake homeserver, in-process."""

from __future__ import annotations

import json
import time

import pytest

from gatewayctl.fakes import FakeMatrix
from tests.fakes import plans
from tests.fakes.handler_http import UrlHandlerServer
from tests.support import poll as _poll

ROOM = "!room:localhost"
ALICE = "@alice:localhost"


@pytest.fixture
def mx():
    with FakeMatrix() as fake:
        yield fake


def _env(fake):
    return {"MX_TOKEN": fake.access_token}




def _synced_past(fake, n):
    """The lane has asked /sync with a since token at or beyond stream position n."""
    return lambda: any(int(c.get("since", "s0")[1:]) >= n for c in list(fake.sync_calls))


@pytest.mark.parametrize("kind", ["echo", "exec", "url"])
def test_message_in_reply_out_through_each_handler(mx, kind):
    url_server = UrlHandlerServer().start() if kind == "url" else None
    try:
        handler = {
            "echo": plans.Handler(kind="echo"),
            "exec": plans.exec_handler(),
            "url": plans.Handler(kind="url", url=url_server.url if url_server else None, timeout_s=5),
        }[kind]
        p = plans.plan([plans.matrix_lane(mx)], handler)
        with plans.LaneThread(p, "matrix", _env(mx)):
            assert _poll(lambda: len(mx.sync_calls) >= 2)  # backlog skipped, long poll running
            eid = mx.inject(ROOM, ALICE, "hi bot")
            sent = mx.wait_sent(1)
            assert sent is not None
            expected = {"echo": "hi bot", "exec": "handled: hi bot", "url": "url: hi bot"}[kind]
            assert sent[0]["content"]["body"] == expected
            assert sent[0]["content"]["msgtype"] == "m.text"
            assert sent[0]["txn_id"] == eid  # inbound event id as txn id
            assert sent[0]["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == eid
            # its own reply comes back through /sync and must not be answered
            assert _poll(_synced_past(mx, mx.pos))
        assert len(mx.snapshot_sent()) == 1
    finally:
        if url_server:
            url_server.stop()


def test_first_sync_skips_backlog_and_uses_filter(mx):
    mx.inject(ROOM, ALICE, "old news 1")
    mx.inject(ROOM, ALICE, "old news 2")
    p = plans.plan([plans.matrix_lane(mx)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "matrix", _env(mx)):
        assert _poll(lambda: len(mx.sync_calls) >= 2)
        mx.inject(ROOM, ALICE, "fresh")
        sent = mx.wait_sent(1)
        assert [s["content"]["body"] for s in sent] == ["fresh"]
    first = mx.sync_calls[0]
    assert "since" not in first and first["timeout"] == "0"
    flt = json.loads(mx.sync_calls[1]["filter"])
    assert flt["room"]["timeline"]["types"] == ["m.room.message"]
    assert mx.sync_calls[1]["timeout"] == "1000"
    assert len(mx.snapshot_sent()) == 1


def test_only_text_no_edits_no_self_no_strangers(mx):
    p = plans.plan([plans.matrix_lane(mx, allowed_sender_ids=[ALICE])], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "matrix", _env(mx)):
        assert _poll(lambda: len(mx.sync_calls) >= 2)
        mx.inject(ROOM, ALICE, "a picture", msgtype="m.image")
        mx.inject(ROOM, ALICE, "", content={"msgtype": "m.text", "body": "* edited", "m.new_content": {
            "msgtype": "m.text", "body": "edited"}, "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"}})
        mx.inject(ROOM, mx.user_id, "my own words")
        mx.inject(ROOM, "@mallory:localhost", "not allowed sender")
        mx.inject("!other:localhost", ALICE, "wrong room")
        mx.inject(ROOM, ALICE, "the real one")
        sent = mx.wait_sent(1)
        assert _poll(_synced_past(mx, 6))
    assert [s["content"]["body"] for s in mx.snapshot_sent()] == ["the real one"]


def test_empty_room_allowlist_fails_closed(mx):
    p = plans.plan([plans.matrix_lane(mx, allowed_room_ids=())], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "matrix", _env(mx)):
        assert _poll(lambda: len(mx.sync_calls) >= 2)
        mx.inject(ROOM, ALICE, "hello?")
        assert _poll(_synced_past(mx, 1))
    assert mx.snapshot_sent() == []


def test_require_mention(mx):
    p = plans.plan([plans.matrix_lane(mx, require_mention=True)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "matrix", _env(mx)):
        assert _poll(lambda: len(mx.sync_calls) >= 2)
        mx.inject(ROOM, ALICE, "chatter")
        mx.inject(ROOM, ALICE, "", content={"msgtype": "m.text", "body": "gwbot: status?",
                                             "m.mentions": {"user_ids": [mx.user_id]}})
        sent = mx.wait_sent(1)
        assert _poll(_synced_past(mx, 2))
    assert [s["content"]["body"] for s in mx.snapshot_sent()] == ["gwbot: status?"]


def test_429_retry_after_ms_is_honoured(mx):
    p = plans.plan([plans.matrix_lane(mx)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "matrix", _env(mx)):
        assert _poll(lambda: len(mx.sync_calls) >= 2)
        mx.fail_next("send", 700)
        mx.inject(ROOM, ALICE, "slow down")
        t0 = time.monotonic()
        sent = mx.wait_sent(1)
        assert sent and sent[0]["at"] - t0 >= 0.6


def test_bad_token_is_fatal_without_the_value(mx):
    p = plans.plan([plans.matrix_lane(mx)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "matrix", {"MX_TOKEN": "syt_wrong_value_123"}).start().join(10)
    assert outcome.kind == "lane" and "MX_TOKEN" in outcome.message and "M_UNKNOWN_TOKEN" in outcome.message
    assert "syt_wrong_value_123" not in outcome.message


def test_restart_mid_stream_loses_and_repeats_nothing(mx, tmp_path):
    state_dir = str(tmp_path / "rt")
    p = plans.plan([plans.matrix_lane(mx)], plans.exec_handler())
    texts = [f"m{i}" for i in range(10)]
    first = plans.LaneThread(p, "matrix", _env(mx), state_dir=state_dir).start()
    assert _poll(lambda: len(mx.sync_calls) >= 2)
    for t in texts[:5]:
        mx.inject(ROOM, ALICE, t)
    assert mx.wait_sent(2)
    first.stop()
    for t in texts[5:]:
        mx.inject(ROOM, ALICE, t)
    with plans.LaneThread(p, "matrix", _env(mx), state_dir=state_dir):
        assert mx.wait_sent(10, timeout=20)
        assert _poll(_synced_past(mx, mx.pos))
    replies = [s["content"]["body"] for s in mx.snapshot_sent()]
    assert sorted(replies) == sorted(f"handled: {t}" for t in texts)
    assert mx.send_attempts == 10  # not even an idempotent repeat


def test_own_replies_never_answered_even_without_ignore_self(mx):
    p = plans.plan([plans.matrix_lane(mx, ignore_self_messages=False)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "matrix", _env(mx)):
        assert _poll(lambda: len(mx.sync_calls) >= 2)
        mx.inject(ROOM, ALICE, "once")
        assert mx.wait_sent(1)
        reply_pos = mx.pos
        assert _poll(_synced_past(mx, reply_pos))  # the reply came back through /sync and was skipped
    assert [s["content"]["body"] for s in mx.snapshot_sent()] == ["once"]
