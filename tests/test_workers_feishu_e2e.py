"""Feishu/Lark end to end through `gatewayctl gateway run --config`:
webhook mode (url_verification, encrypted + signed callbacks, a forged one
refused, an allowlist miss, a retried delivery answered once) and websocket
mode (pbbp2 events in, replies out, reconnect after the server drops)."""

from __future__ import annotations

import json

import pytest

from gatewayctl.fakes.feishu import ENCRYPT_KEY, VERIFY_TOKEN, FakeFeishu, message_event, post_callback
from tests.test_rollout_six import GatewayProc, base_env, poll
from tests.support import LANES_AS_ROOT_TOML

pytestmark = pytest.mark.slow


def _config(fs, mode: str) -> str:
    webhook = f"""
webhook_bind = "127.0.0.1:0"
webhook_path = "/feishu/events"
verification_token = {{ env = "LARK_VERIFY_TOKEN" }}
encrypt_key = {{ env = "LARK_ENCRYPT_KEY" }}
""" if mode == "webhook" else ""
    return f"""
{LANES_AS_ROOT_TOML}[outbound_http]
allow_private_hosts = true

[gateway.handler]
echo = true

[feishu]
enabled = true
mode = "{mode}"
default_account = "work"

[feishu.accounts.work]
domain = "lark"
base_url = "{fs.base_url}"
app_id = {{ env = "LARK_WORK_APP_ID" }}
app_secret = {{ env = "LARK_WORK_APP_SECRET" }}
allowed_chat_ids = ["oc_ops_room"]
{webhook}"""


def _env(tmp_path, fs):
    return base_env(tmp_path) | {"LARK_WORK_APP_ID": fs.app_id, "LARK_WORK_APP_SECRET": fs.app_secret,
                                 "LARK_VERIFY_TOKEN": VERIFY_TOKEN, "LARK_ENCRYPT_KEY": ENCRYPT_KEY}


def test_feishu_webhook_mode_through_gateway_run(tmp_path):
    with FakeFeishu() as fs:
        gw = GatewayProc(tmp_path, _env(tmp_path, fs), _config(fs, "webhook"), selectors="lark=work")
        status = gw.start(1)
        try:
            url = status["lanes"][0]["worker"]["webhook_url"]
            code, body = post_callback(url, {"challenge": "c-123", "token": VERIFY_TOKEN,
                                             "type": "url_verification"}, encrypt_key=ENCRYPT_KEY, signed=False)
            assert code == 200 and json.loads(body) == {"challenge": "c-123"}
            forged = message_event("forged", token=VERIFY_TOKEN)
            assert post_callback(url, forged, encrypt_key=ENCRYPT_KEY, signature="f" * 64)[0] == 401
            miss = message_event("wrong chat", token=VERIFY_TOKEN, chat_id="oc_other")
            assert post_callback(url, miss, encrypt_key=ENCRYPT_KEY)[0] == 200
            retried = message_event("answered once", token=VERIFY_TOKEN, event_id="ev_e2e_retry")
            for _ in range(3):
                assert post_callback(url, retried, encrypt_key=ENCRYPT_KEY)[0] == 200
            last = message_event("last", token=VERIFY_TOKEN)
            assert post_callback(url, last, encrypt_key=ENCRYPT_KEY)[0] == 200
            assert fs.wait_sent(2, 20)
            worker = poll(lambda: (w := gw.worker("feishu")) and w.get("replies_sent") == 2
                          and w.get("messages_ignored") == 1 and w)
            assert worker, gw.worker("feishu")
            assert worker["messages_received"] == 3  # the retries never reached the handler
        finally:
            code, out, err = gw.stop()
        assert code == 0, err
        assert sorted(s["text"] for s in fs.snapshot_sent()) == ["answered once", "last"]
        for value in (fs.app_secret, ENCRYPT_KEY, VERIFY_TOKEN):
            assert value not in out + err


def test_feishu_websocket_mode_through_gateway_run(tmp_path):
    with FakeFeishu() as fs:
        gw = GatewayProc(tmp_path, _env(tmp_path, fs), _config(fs, "websocket"), selectors="lark=work")
        gw.start(1)
        try:
            fs.push_event(message_event("over pbbp2", message_id="om_e2e1"))
            fs.push_event(message_event("other chat", chat_id="oc_nope"))
            assert [s["text"] for s in fs.wait_sent(1, 20)] == ["over pbbp2"]
            assert fs.wait_acks(2, 20)
            fs.drop_ws()
            assert fs.wait_ws(2, timeout=20)
            fs.push_event(message_event("after reconnect", message_id="om_e2e2"), parts=2)
            assert [s["text"] for s in fs.wait_sent(2, 20)][1] == "after reconnect"
            assert poll(lambda: gw.worker("feishu").get("connected") is True)
        finally:
            code, out, err = gw.stop()
        assert code == 0, err
