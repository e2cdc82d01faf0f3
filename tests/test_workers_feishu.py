"""Feishu/Lark lane against the loopback fake: webhook mode (encrypted and
signed callbacks, url_verification, forged callbacks, retried deliveries
answered once), websocket mode (pbbp2 frames, multi-part payloads, acks,
reconnect), token refresh, allowlists, ignore_bot_messages, require_mention."""

from __future__ import annotations

import json
import time

import pytest

from gatewayctl.fakes.feishu import (
    ENCRYPT_KEY,
    VERIFY_TOKEN,
    FakeFeishu,
    encrypt,
    mention,
    message_event,
    post_callback,
)
from gatewayctl.workers import feishu as feishu_worker
from tests.fakes import plans
from tests.fakes.plans import feishu_env, feishu_lane
from tests.support import poll as _poll, read_json




def _status(path):
    return read_json(path, {})


def _webhook_url(status_path):
    url = _poll(lambda: _status(status_path).get("webhook_url"))
    assert url, "the lane never reported its webhook address"
    return url


@pytest.fixture
def fs():
    with FakeFeishu() as fake:
        yield fake


# ------------------------------------------------------------ crypto units


def test_decrypt_matches_feishu_encryption_and_rejects_a_wrong_key():
    blob = encrypt(ENCRYPT_KEY, b'{"challenge":"c1"}', iv=bytes(range(16)))
    assert feishu_worker.decrypt(ENCRYPT_KEY, blob) == b'{"challenge":"c1"}'
    with pytest.raises(ValueError):
        feishu_worker.decrypt("another-key", blob)
    with pytest.raises(ValueError):
        feishu_worker.decrypt(ENCRYPT_KEY, "c2hvcnQ=")


def test_signature_is_sha256_of_timestamp_nonce_key_body():
    import hashlib

    body = b'{"encrypt":"x"}'
    expected = hashlib.sha256(b"1700000000" + b"abc" + ENCRYPT_KEY.encode() + body).hexdigest()
    assert feishu_worker.signature("1700000000", "abc", ENCRYPT_KEY, body) == expected
    headers = {"x-lark-request-timestamp": "1700000000", "x-lark-request-nonce": "abc", "x-lark-signature": expected}
    assert feishu_worker.signature_ok(headers, ENCRYPT_KEY, body)
    assert not feishu_worker.signature_ok(headers, ENCRYPT_KEY, body + b" ")
    assert not feishu_worker.signature_ok({}, ENCRYPT_KEY, body)


# ------------------------------------------------------------ webhook mode


def test_webhook_url_verification_and_message_in_reply_out(fs, tmp_path):
    status = str(tmp_path / "lane.json")
    p = plans.plan([feishu_lane(fs, mode="webhook")], plans.exec_handler())
    with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=status):
        url = _webhook_url(status)
        challenge = {"challenge": "ajls384kdjx98XX", "token": VERIFY_TOKEN, "type": "url_verification"}
        code, body = post_callback(url, challenge, encrypt_key=ENCRYPT_KEY, signed=False)
        assert code == 200 and json.loads(body) == {"challenge": "ajls384kdjx98XX"}
        bad = dict(challenge, token="wrong-token")
        assert post_callback(url, bad, encrypt_key=ENCRYPT_KEY, signed=False)[0] == 401

        ev = message_event("deploy status?", token=VERIFY_TOKEN, message_id="om_in1")
        code, body = post_callback(url, ev, encrypt_key=ENCRYPT_KEY)
        assert code == 200 and json.loads(body) == {"msg": "success"}
        sent = fs.wait_sent(1)
        assert sent == [{"reply_to": "om_in1", "text": "handled: deploy status?", "message_id": "om_out0001"}]
        st = _poll(lambda: (d := _status(status)) and d.get("replies_sent") == 1 and d)
        assert st["connected"] is True


def test_webhook_rejects_forged_and_undecryptable_callbacks(fs, tmp_path):
    status = str(tmp_path / "lane.json")
    p = plans.plan([feishu_lane(fs, mode="webhook")], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=status):
        url = _webhook_url(status)
        ev = message_event("forged", token=VERIFY_TOKEN)
        assert post_callback(url, ev, encrypt_key=ENCRYPT_KEY, signature="0" * 64)[0] == 401
        assert post_callback(url, ev, encrypt_key=ENCRYPT_KEY, signed=False)[0] == 401
        assert post_callback(url, ev, encrypt_key="someone-elses-key")[0] == 400
        assert post_callback(url, message_event("wrong token", token="nope"), encrypt_key=ENCRYPT_KEY)[0] == 401
        assert post_callback(url, message_event("real", token=VERIFY_TOKEN), encrypt_key=ENCRYPT_KEY)[0] == 200
        assert fs.wait_sent(1)
        # Forged callbacks are refused before anything is taken in.
        assert _status(status).get("messages_received") in (None, 0, 1)
    assert [s["text"] for s in fs.snapshot_sent()] == ["real"]


def test_webhook_retried_delivery_is_answered_once_even_across_a_restart(fs, tmp_path):
    state_dir = str(tmp_path / "rt")
    p = plans.plan([feishu_lane(fs, mode="webhook")], plans.Handler(kind="echo"))
    ev = message_event("only once", token=VERIFY_TOKEN, event_id="ev_retry_1")
    for round_ in range(2):
        status = str(tmp_path / f"lane{round_}.json")
        with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=status, state_dir=state_dir):
            url = _webhook_url(status)
            for _ in range(3):  # Feishu retries a callback it thinks was lost
                assert post_callback(url, ev, encrypt_key=ENCRYPT_KEY)[0] == 200
            assert fs.wait_sent(1)
    assert [s["text"] for s in fs.snapshot_sent()] == ["only once"]


def test_allowlists_bots_and_mentions(fs, tmp_path):
    status = str(tmp_path / "lane.json")
    lane = feishu_lane(fs, mode="webhook", allowed_sender_ids=("ou_alice",), require_mention=True)
    p = plans.plan([lane], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=status):
        url = _webhook_url(status)
        bot = mention("@_user_1", fs.bot_open_id, "fakebot")
        other = mention("@_user_2", "ou_bob", "Bob")

        def deliver(text, **kw):
            assert post_callback(url, message_event(text, token=VERIFY_TOKEN, **kw), encrypt_key=ENCRYPT_KEY)[0] == 200

        deliver("@_user_1 wrong chat", chat_id="oc_elsewhere", mentions=[bot])
        deliver("@_user_1 wrong sender", sender_open_id="ou_mallory", mentions=[bot])
        deliver("@_user_1 from a bot", sender_type="app", mentions=[bot])
        deliver("no mention in a group")
        deliver("@_user_2 mentions someone else", mentions=[other])
        deliver("", message_type="image")
        deliver("@_user_1 ask @_user_2 please", mentions=[bot, other])
        deliver("direct chats need no mention", chat_type="p2p")
        assert fs.wait_sent(2)
        assert _poll(lambda: _status(status).get("messages_ignored") == 6)
    assert sorted(s["text"] for s in fs.snapshot_sent()) == ["ask @Bob please", "direct chats need no mention"]


def test_token_cached_and_refreshed_once_after_an_auth_failure(fs, tmp_path):
    status = str(tmp_path / "lane.json")
    p = plans.plan([feishu_lane(fs, mode="webhook")], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=status):
        url = _webhook_url(status)
        for i in range(2):
            post_callback(url, message_event(f"m{i}", token=VERIFY_TOKEN), encrypt_key=ENCRYPT_KEY)
        assert fs.wait_sent(2)
        assert fs.token_requests == 1  # cached across bot info and two replies
        fs.revoke_tokens()
        post_callback(url, message_event("after revoke", token=VERIFY_TOKEN), encrypt_key=ENCRYPT_KEY)
        assert fs.wait_sent(3)
        assert fs.token_requests == 2


def test_token_refreshed_before_expiry(fs, tmp_path):
    fs.expire = 1  # expires at once: every call needs a fresh token
    status = str(tmp_path / "lane.json")
    p = plans.plan([feishu_lane(fs, mode="webhook")], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=status):
        url = _webhook_url(status)
        time.sleep(0.6)  # wall-clock time must pass: half of the 1 s lifetime is the refresh point
        post_callback(url, message_event("late", token=VERIFY_TOKEN), encrypt_key=ENCRYPT_KEY)
        assert fs.wait_sent(1)
    assert fs.token_requests == 2 and fs.reply_calls == 1  # refreshed ahead, no failed call


def test_bad_app_credentials_are_a_lane_failure_naming_references(fs):
    env = feishu_env(fs) | {"LARK_APP_SECRET": "not-the-app-secret"}
    p = plans.plan([feishu_lane(fs)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "feishu", env).start().join(10)
    assert outcome.kind == "lane" and "10014" in outcome.message and "LARK_APP_SECRET" in outcome.message
    assert "not-the-app-secret" not in outcome.message


# ---------------------------------------------------------- websocket mode


def test_websocket_event_in_reply_out_and_ack(fs, tmp_path):
    status = str(tmp_path / "lane.json")
    p = plans.plan([feishu_lane(fs)], plans.exec_handler())
    with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=status):
        assert fs.wait_ws()
        frame_id = fs.push_event(message_event("over the long connection", message_id="om_ws1"))
        assert fs.wait_sent(1)[0] == {"reply_to": "om_ws1", "text": "handled: over the long connection",
                                     "message_id": "om_out0001"}
        acks = fs.wait_acks(1)
        assert acks[0].header("message_id") == frame_id
        assert json.loads(acks[0].payload)["code"] == 200
        assert acks[0].header("biz_rt") is not None
        assert _poll(lambda: fs.pings >= 1)


def test_websocket_multi_part_payload_is_reassembled(fs, tmp_path):
    p = plans.plan([feishu_lane(fs)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=str(tmp_path / "lane.json")):
        assert fs.wait_ws()
        fs.push_event(message_event("split " * 50, message_id="om_split"), parts=3)
        assert fs.wait_sent(1)[0]["text"] == ("split " * 50).strip()
        assert len(fs.wait_acks(1)) == 1  # the last part is the one acknowledged


def test_websocket_retried_event_answered_once_and_reconnect_after_drop(fs, tmp_path):
    p = plans.plan([feishu_lane(fs)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "feishu", feishu_env(fs), status_path=str(tmp_path / "lane.json")):
        assert fs.wait_ws(1)
        ev = message_event("first", event_id="ev_ws_1")
        fs.push_event(ev)
        fs.push_event(ev)
        assert fs.wait_sent(1) and fs.wait_acks(2)
        fs.drop_ws()
        assert fs.wait_ws(2, timeout=15)
        fs.push_event(ev)  # redelivered after the reconnect: still answered once
        fs.push_event(message_event("second", event_id="ev_ws_2"))
        assert fs.wait_sent(2)
        assert len(fs.wait_acks(4)) == 4  # every delivery is acknowledged, answered or not
    assert [s["text"] for s in fs.snapshot_sent()] == ["first", "second"]


def test_websocket_endpoint_refusal_is_a_lane_failure(fs, tmp_path):
    fs.endpoint_code = 1000040350
    p = plans.plan([feishu_lane(fs)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "feishu", feishu_env(fs)).start().join(10)
    assert outcome.kind == "lane" and "1000040350" in outcome.message and "long connection" in outcome.message
    assert fs.app_secret not in outcome.message


def test_websocket_gives_up_after_the_servers_reconnect_count(fs, tmp_path):
    fs.client_config = dict(fs.client_config, ReconnectCount=1, ReconnectInterval=0)
    p = plans.plan([feishu_lane(fs)], plans.Handler(kind="echo"))
    thread = plans.LaneThread(p, "feishu", feishu_env(fs), status_path=str(tmp_path / "lane.json")).start()
    assert fs.wait_ws(1)
    fs.endpoint_code = 1  # "system busy" from now on: a retryable failure
    fs.drop_ws()
    outcome = thread.join(15)
    assert outcome is not None and outcome.kind == "lane"
    assert "could not be re-established" in outcome.message and "1 reconnects" in outcome.message
