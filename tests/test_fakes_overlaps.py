"""Every fake counts concurrent consumers of its one account (``overlaps``,
``GET /_fake/overlaps``): the fleet tests assert zero over a whole run, so a
count must appear with two real lane workers on one account, and must stay
zero for one lane that polls, answers, reconnects and is restarted."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from gatewayctl.fakes import FakeFeishu, FakeMatrix, FakeQQBot, FakeTelegram, FakeWeCom, FakeWhatsAppCloud
from gatewayctl.fakes import post_webhook, webhook_payload
from gatewayctl.fakes.feishu import message_event
from tests.fakes import plans
from tests.support import poll, read_json

WA_SECRET = "overlap-app-secret"


def _http_overlaps(base: str) -> int:
    with urllib.request.urlopen(f"{base}/_fake/overlaps", timeout=10) as resp:
        return json.loads(resp.read())["overlaps"]


def _count(calls, method):
    return sum(1 for m, _ in calls if m == method)


def _webhook_url(status_path):
    url = poll(lambda: (read_json(status_path) or {}).get("webhook_url"))
    assert url, "the lane never reported its webhook address"
    return url


# ---------------------------------------------------------------- telegram


def test_telegram_one_poller_is_no_overlap_two_are(tmp_path):
    with FakeTelegram() as tg:
        p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
        env = {"TG_TOKEN": tg.token}
        with plans.LaneThread(p, "telegram", env, state_dir=str(tmp_path / "a")):
            tg.inject(42, 7, "one")
            assert tg.wait_sent(1, timeout=20)
            assert tg.wait_until(lambda: _count(tg.calls, "getUpdates") >= 3, timeout=20)
        # A restart: the stopped lane's abandoned long poll does not count.
        with plans.LaneThread(p, "telegram", env, state_dir=str(tmp_path / "a")):
            before = _count(tg.calls, "getUpdates")
            assert tg.wait_until(lambda: _count(tg.calls, "getUpdates") >= before + 2, timeout=20)
        assert tg.overlaps == 0 and _http_overlaps(tg.base_url) == 0
        first = plans.LaneThread(p, "telegram", env, state_dir=str(tmp_path / "b")).start()
        second = plans.LaneThread(p, "telegram", env, state_dir=str(tmp_path / "c")).start()
        try:
            assert tg.wait_until(lambda: tg.overlaps >= 1, timeout=20)
            assert _http_overlaps(tg.base_url) == tg.overlaps
            # Still Telegram's answer: one of the two pollers is refused with 409.
            ended = poll(lambda: first.outcome or second.outcome, timeout=20)
            assert ended and ended.kind == "lane" and "409" in ended.message
        finally:
            first.stop()
            second.stop()


def test_telegram_a_poll_whose_client_went_away_is_not_a_consumer():
    with FakeTelegram() as tg:
        body = json.dumps({"timeout": 30}).encode()
        raw = socket.create_connection(("127.0.0.1", tg.port))
        raw.sendall(f"POST /bot{tg.token}/getUpdates HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert tg.wait_until(lambda: tg._polls, timeout=10)
        raw.close()  # a killed lane: its poll is still waiting on the server side
        req = urllib.request.Request(f"{tg.base_url}/bot{tg.token}/getUpdates", data=json.dumps({"timeout": 0}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["ok"] is True
        assert tg.overlaps == 0


# ---------------------------------------------------------------- matrix


def test_matrix_two_sync_long_polls_at_once_overlap(tmp_path):
    with FakeMatrix() as mx:
        p = plans.plan([plans.matrix_lane(mx)], plans.Handler(kind="echo"))
        env = {"MX_TOKEN": mx.access_token}
        with plans.LaneThread(p, "matrix", env, state_dir=str(tmp_path / "a")):
            assert mx.wait_until(lambda: len(mx.sync_calls) >= 2, timeout=20)
            mx.inject("!room:localhost", "@alice:localhost", "hello")
            assert mx.wait_sent(1, timeout=20)
            assert mx.wait_until(lambda: len(mx.sync_calls) >= 5, timeout=20)
        assert mx.overlaps == 0 and _http_overlaps(mx.base_url) == 0
        with plans.LaneThread(p, "matrix", env, state_dir=str(tmp_path / "b")), \
                plans.LaneThread(p, "matrix", env, state_dir=str(tmp_path / "c")):
            assert mx.wait_until(lambda: mx.overlaps >= 1, timeout=20)
            assert _http_overlaps(mx.base_url) >= 1


# ---------------------------------------------------------------- wecom


def test_wecom_a_takeover_is_an_overlap(tmp_path):
    with FakeWeCom() as wc:
        p = plans.plan([plans.wecom_lane(wc)], plans.Handler(kind="echo"))
        env = plans.wecom_env(wc)
        with plans.LaneThread(p, "wecom", env):
            assert wc.wait_connected(1)
            wc.drop()  # a reconnect of the one lane is not a second consumer
            assert wc.wait_connected(2, timeout=20)
        assert wc.overlaps == 0 and _http_overlaps(f"http://127.0.0.1:{wc.ws_thread.port}") == 0
        first = plans.LaneThread(p, "wecom", env).start()
        try:
            assert wc.wait_connected(3)
            with plans.LaneThread(p, "wecom", env):
                assert wc.wait_until(lambda: wc.overlaps >= 1, timeout=20)
                assert _http_overlaps(f"http://127.0.0.1:{wc.ws_thread.port}") == wc.overlaps
        finally:
            first.stop()


# ---------------------------------------------------------------- feishu / qq


def test_feishu_two_live_websockets_of_one_app_overlap(tmp_path):
    with FakeFeishu() as fs:
        p = plans.plan([plans.feishu_lane(fs)], plans.Handler(kind="echo"))
        env = plans.feishu_env(fs)
        with plans.LaneThread(p, "feishu", env):
            assert fs.wait_ws(1, timeout=20)
            fs.push_event(message_event("hi", message_id="om_1"))
            assert fs.wait_sent(1, timeout=20)
            fs.drop_ws()
            assert fs.wait_ws(2, timeout=30)
        assert fs.overlaps == 0 and _http_overlaps(fs.base_url) == 0
        with plans.LaneThread(p, "feishu", env):
            assert fs.wait_ws(3, timeout=20)
            with plans.LaneThread(p, "feishu", env):
                assert fs.wait_until(lambda: fs.overlaps >= 1, timeout=20)
                assert _http_overlaps(fs.base_url) == fs.overlaps


def test_qqbot_two_live_gateway_sessions_of_one_app_overlap(tmp_path):
    with FakeQQBot() as qq:
        p = plans.plan([plans.qqbot_lane(qq)], plans.Handler(kind="echo"))
        env = plans.qqbot_env(qq)
        with plans.LaneThread(p, "qqbot", env):
            assert qq.wait_ready(1, timeout=20)
            qq.inject_c2c("u_alice", "ping")
            assert qq.wait_sent(1, timeout=20)
            qq.drop()
            assert qq.wait_ready(2, timeout=30)
        assert qq.overlaps == 0 and _http_overlaps(qq.base_url) == 0
        with plans.LaneThread(p, "qqbot", env):
            assert qq.wait_ready(3, timeout=20)
            with plans.LaneThread(p, "qqbot", env):
                assert qq.wait_until(lambda: qq.overlaps >= 1, timeout=20)
                assert _http_overlaps(qq.base_url) == qq.overlaps


# ---------------------------------------------------------------- whatsapp


def test_whatsapp_a_second_reply_to_one_message_is_an_overlap(tmp_path):
    with FakeWhatsAppCloud() as wa:
        env = {"WA_TOKEN": wa.access_token, "WA_VERIFY": "verify", "WA_APP_SECRET": WA_SECRET}
        p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
        one = webhook_payload(wa.phone_number_id, "15551234567", "hello", "wamid.IN1")
        with plans.LaneThread(p, "whatsapp", env, status_path=str(tmp_path / "a.json"),
                              state_dir=str(tmp_path / "a")):
            url = _webhook_url(str(tmp_path / "a.json"))
            assert post_webhook(url, one, WA_SECRET)[0] == 200
            assert post_webhook(url, one, WA_SECRET)[0] == 200  # Meta redelivers: answered once
            assert wa.wait_sent(1, timeout=20)
        assert wa.overlaps == 0 and _http_overlaps(wa.base_url) == 0
        # Two receivers of one number (two hosts behind one webhook URL): both answer.
        with plans.LaneThread(p, "whatsapp", env, status_path=str(tmp_path / "b.json"),
                              state_dir=str(tmp_path / "b")), \
                plans.LaneThread(p, "whatsapp", env, status_path=str(tmp_path / "c.json"),
                                 state_dir=str(tmp_path / "c")):
            two = webhook_payload(wa.phone_number_id, "15551234567", "again", "wamid.IN2")
            for status in ("b.json", "c.json"):
                assert post_webhook(_webhook_url(str(tmp_path / status)), two, WA_SECRET)[0] == 200
            assert wa.wait_sent(3, timeout=20)
        assert wa.overlaps == 1 and _http_overlaps(wa.base_url) == 1


@pytest.mark.parametrize("fake_class", [FakeTelegram, FakeMatrix, FakeWhatsAppCloud, FakeFeishu, FakeQQBot])
def test_overlaps_start_at_zero_over_http_too(fake_class):
    with fake_class() as fake:
        assert fake.overlaps == 0
        assert _http_overlaps(fake.base_url) == 0
