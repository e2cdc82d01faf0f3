"""Telegram lane against the loopback fake Bot API, in-process."""

from __future__ import annotations

import time

import pytest

from gatewayctl.fakes import FakeTelegram
from tests.fakes import plans
from tests.fakes.handler_http import UrlHandlerServer
from tests.support import poll as _poll, read_json


@pytest.fixture
def tg():
    with FakeTelegram() as fake:
        yield fake


def _env(fake):
    return {"TG_TOKEN": fake.token, "PATH": "/usr/bin:/bin"}




def _status(path):
    return read_json(path, None)


@pytest.mark.parametrize("kind", ["echo", "exec", "url"])
def test_message_in_reply_out_through_each_handler(tg, tmp_path, kind):
    url_server = UrlHandlerServer().start() if kind == "url" else None
    try:
        handler = {
            "echo": plans.Handler(kind="echo"),
            "exec": plans.exec_handler(),
            "url": plans.Handler(kind="url", url=url_server.url if url_server else None, timeout_s=5),
        }[kind]
        p = plans.plan([plans.telegram_lane(tg)], handler)
        status_path = str(tmp_path / "lane.json")
        with plans.LaneThread(p, "telegram", _env(tg), status_path=status_path):
            tg.inject(42, 7, "hello there")
            sent = tg.wait_sent(1)
            assert sent is not None, "no reply reached the fake"
            expected = {"echo": "hello there", "exec": "handled: hello there", "url": "url: hello there"}[kind]
            assert sent[0]["chat_id"] == 42
            assert sent[0]["text"] == expected
            assert sent[0]["reply_to"] == 1
            st = _poll(lambda: (s := _status(status_path)) and s["replies_sent"] == 1 and s)
            assert st["connected"] is True and st["messages_received"] == 1 and st["state"] == "running"
            assert st["last_inbound_at_ms"] > 0
        final = _status(status_path)
        assert final["state"] == "stopped" and final["connected"] is False
        if url_server:
            req = url_server.requests[0]
            assert set(req) == {"id", "family", "account", "conversation_id", "sender_id", "message_id", "text"}
            assert (req["family"], req["account"], req["conversation_id"], req["sender_id"]) == (
                "telegram", "bot_123456", "42", "7")
    finally:
        if url_server:
            url_server.stop()


def test_polls_with_allowed_updates_message_and_offset(tg):
    p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "telegram", _env(tg)):
        uid = tg.inject(42, 7, "one")
        assert tg.wait_sent(1)
        assert _poll(lambda: tg.max_offset_seen == uid + 1)
    polls = [params for method, params in tg.calls if method == "getUpdates"]
    assert all(params["allowed_updates"] == ["message"] for params in polls)
    assert all(params["timeout"] == 1 for params in polls)


def test_allowlist_miss_gets_no_reply(tg):
    p = plans.plan([plans.telegram_lane(tg, allowed_chat_ids=(42,), allowed_sender_ids=(7,))], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "telegram", _env(tg)):
        tg.inject(99, 7, "wrong chat")
        tg.inject(42, 8, "wrong sender")
        tg.inject(42, 7, "right one")
        sent = tg.wait_sent(1)
        assert sent and sent[0]["text"] == "right one"
        # the two misses come before the hit in the same stream, so they were seen and dropped
        assert _poll(lambda: tg.max_offset_seen >= 1003)
    assert [s["text"] for s in tg.snapshot_sent()] == ["right one"]


def test_empty_chat_allowlist_fails_closed(tg, tmp_path):
    status_path = str(tmp_path / "lane.json")
    p = plans.plan([plans.telegram_lane(tg, allowed_chat_ids=())], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "telegram", _env(tg), status_path=status_path):
        uid = tg.inject(42, 7, "anyone?")
        assert _poll(lambda: tg.max_offset_seen == uid + 1)
        st = _poll(lambda: (s := _status(status_path)) and s["messages_ignored"] == 1 and s)
        assert "fail closed" in st["last_error"]
    assert tg.snapshot_sent() == []


def test_require_mention_in_groups(tg):
    p = plans.plan([plans.telegram_lane(tg, allowed_chat_ids=(-100,), require_mention=True)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "telegram", _env(tg)):
        tg.inject(-100, 7, "no mention here", chat_type="group")
        text = "@gw_fake_bot ping"
        tg.inject(-100, 7, text, chat_type="group", entities=[{"type": "mention", "offset": 0, "length": 12}])
        sent = tg.wait_sent(1)
        assert sent[0]["text"] == "ping"
        assert _poll(lambda: tg.max_offset_seen >= 1002)
    assert len(tg.snapshot_sent()) == 1


def test_429_retry_after_is_honoured(tg):
    tg.fail_next("sendMessage", 429, retry_after=1)
    p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "telegram", _env(tg)):
        tg.inject(42, 7, "rate me")
        t0 = time.monotonic()
        sent = tg.wait_sent(1)
        assert sent and sent[0]["text"] == "rate me"
    sends = [c for c in tg.calls if c[0] == "sendMessage"]
    assert len(sends) == 2  # refused once, then retried
    assert sent[0]["at"] - t0 >= 0.9


def test_409_other_poller_is_a_lane_failure(tg):
    tg.other_poller = True
    p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
    runner = plans.LaneThread(p, "telegram", _env(tg)).start()
    outcome = runner.join(10)
    assert outcome is not None and outcome.kind == "lane"
    assert "409" in outcome.message and "another poller" in outcome.message
    assert tg.token not in outcome.message


def test_409_webhook_set_says_so(tg):
    tg.webhook_url = "https://example.org/hook"
    p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "telegram", _env(tg)).start().join(10)
    assert outcome.kind == "lane"
    assert "webhook is set" in outcome.message and "https://example.org/hook" in outcome.message


def test_401_is_fatal_and_names_the_reference_not_the_value(tg):
    p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "telegram", {"TG_TOKEN": "999:wrong-token-value"}).start().join(10)
    assert outcome.kind == "lane"
    assert "401" in outcome.message and "TG_TOKEN" in outcome.message
    assert "wrong-token-value" not in outcome.message


def test_missing_secret_names_the_env_variable(tg):
    p = plans.plan([plans.telegram_lane(tg, env_name="NOPE_TOKEN")], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "telegram", {}).start().join(10)
    assert outcome.kind == "lane" and "NOPE_TOKEN" in outcome.message and "not set" in outcome.message


def test_network_errors_back_off_and_recover(tg, tmp_path):
    tg.fail_next("getUpdates", 502, count=2)
    status_path = str(tmp_path / "lane.json")
    p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "telegram", _env(tg), status_path=status_path):
        tg.inject(42, 7, "after the storm")
        assert tg.wait_sent(1, timeout=15)
    polls = [c for c in tg.calls if c[0] == "getUpdates"]
    assert len(polls) >= 3


def test_long_reply_split_at_4096(tg):
    p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "telegram", _env(tg)):
        tg.inject(42, 7, "x" * 5000)
        sent = tg.wait_sent(2)
    assert [len(s["text"]) for s in sent] == [4096, 904]


def test_restart_mid_stream_loses_and_repeats_nothing(tg, tmp_path):
    state_dir = str(tmp_path / "rt")
    p = plans.plan([plans.telegram_lane(tg)], plans.exec_handler())
    texts = [f"m{i}" for i in range(12)]
    first = plans.LaneThread(p, "telegram", _env(tg), state_dir=state_dir).start()
    for t in texts[:6]:
        tg.inject(42, 7, t)
    assert tg.wait_sent(3)
    first.stop()
    for t in texts[6:]:
        tg.inject(42, 7, t)
    with plans.LaneThread(p, "telegram", _env(tg), state_dir=state_dir):
        assert tg.wait_sent(12, timeout=20)
        assert _poll(lambda: tg.max_offset_seen >= 1012)
    replies = [s["text"] for s in tg.snapshot_sent()]
    assert sorted(replies) == sorted(f"handled: {t}" for t in texts)
    assert len(replies) == len(set(replies)) == 12


def test_unreachable_api_backs_off_then_recovers(tmp_path):
    import socket

    with socket.socket() as s:  # a free port; nothing listens there until the fake starts
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status_path = str(tmp_path / "lane.json")
    lane = plans.lane("telegram", "bot_123456", {
        "base_url": f"http://127.0.0.1:{port}", "polling_timeout_s": 1, "allowed_chat_ids": [42]},
        [plans.SecretRef("bot_token", "env", "TG_TOKEN")])
    p = plans.plan([lane], plans.Handler(kind="echo"))
    token = FakeTelegram.__init__.__defaults__[0]
    with plans.LaneThread(p, "telegram", {"TG_TOKEN": token}, status_path=status_path):
        st = _poll(lambda: (s := _status(status_path)) and s.get("last_error") and s)
        assert st["connected"] is False and "network error" in st["last_error"]
        with FakeTelegram(port=port) as live:
            live.inject(42, 7, "back online")
            assert live.wait_sent(1, timeout=20)
            assert _poll(lambda: (s := _status(status_path)) and s["connected"] and s)
