"""WhatsApp Cloud lane: webhook in (signed like Meta), reply out to the fake Graph API."""

from __future__ import annotations

import json

import pytest

from gatewayctl.fakes import FakeWhatsAppCloud, post_webhook, sign, webhook_payload
from gatewayctl.fakes.whatsapp import get
from tests.fakes import plans
from tests.fakes.handler_http import UrlHandlerServer
from tests.support import poll as _poll

SECRET = "app-secret-for-tests"
VERIFY = "verify-me-please"


@pytest.fixture
def wa():
    with FakeWhatsAppCloud() as fake:
        yield fake


def _env(fake):
    return {"WA_TOKEN": fake.access_token, "WA_VERIFY": VERIFY, "WA_APP_SECRET": SECRET}




def _webhook_url(status_path):
    def read():
        try:
            with open(status_path) as fh:
                return json.load(fh).get("webhook_url")
        except (OSError, ValueError):
            return None

    url = _poll(read)
    assert url, "the lane never reported its webhook address"
    return url


@pytest.mark.parametrize("kind", ["echo", "exec", "url"])
def test_message_in_reply_out_through_each_handler(wa, tmp_path, kind):
    url_server = UrlHandlerServer().start() if kind == "url" else None
    try:
        handler = {
            "echo": plans.Handler(kind="echo"),
            "exec": plans.exec_handler(),
            "url": plans.Handler(kind="url", url=url_server.url if url_server else None, timeout_s=5),
        }[kind]
        status_path = str(tmp_path / "lane.json")
        p = plans.plan([plans.whatsapp_lane(wa)], handler)
        with plans.LaneThread(p, "whatsapp", _env(wa), status_path=status_path):
            url = _webhook_url(status_path)
            code, _ = post_webhook(url, webhook_payload(wa.phone_number_id, "15551234567", "olá", "wamid.IN1"), SECRET)
            assert code == 200
            sent = wa.wait_sent(1)
            expected = {"echo": "olá", "exec": "handled: olá", "url": "url: olá"}[kind]
            assert sent[0]["to"] == "15551234567" and sent[0]["text"] == expected
            assert sent[0]["context"] == "wamid.IN1"
    finally:
        if url_server:
            url_server.stop()


def test_verification_handshake(wa, tmp_path):
    status_path = str(tmp_path / "lane.json")
    p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "whatsapp", _env(wa), status_path=status_path):
        url = _webhook_url(status_path)
        ok = get(f"{url}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444")
        assert ok == (200, b"1158201444")
        bad = get(f"{url}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444")
        assert bad[0] == 403
        wrong_path = get(url.replace("/webhook", "/other"))
        assert wrong_path[0] == 404


def test_forged_signature_rejected_before_parsing(wa, tmp_path):
    status_path = str(tmp_path / "lane.json")
    p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "whatsapp", _env(wa), status_path=status_path):
        url = _webhook_url(status_path)
        payload = webhook_payload(wa.phone_number_id, "15551234567", "forged", "wamid.F1")
        assert post_webhook(url, payload, "not-the-app-secret")[0] == 401
        assert post_webhook(url, payload, None)[0] == 401  # unsigned
        # a valid signature over different bytes does not transfer
        other = sign(SECRET, b"{}")
        assert post_webhook(url, payload, None, signature=other)[0] == 401
        # garbage body with a forged signature: rejected as unauthenticated, not as bad JSON
        import urllib.request, urllib.error
        req = urllib.request.Request(url, data=b"{not json", method="POST",
                                     headers={"X-Hub-Signature-256": "sha256=00"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 401
        # the genuine one still works afterwards
        assert post_webhook(url, webhook_payload(wa.phone_number_id, "15551234567", "real", "wamid.R1"), SECRET)[0] == 200
        assert wa.wait_sent(1)
    assert [s["text"] for s in wa.snapshot_sent()] == ["real"]


def test_other_phone_number_and_duplicates_answered_once(wa, tmp_path):
    status_path = str(tmp_path / "lane.json")
    p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "whatsapp", _env(wa), status_path=status_path):
        url = _webhook_url(status_path)
        assert post_webhook(url, webhook_payload("999000", "1555", "not ours", "wamid.X"), SECRET)[0] == 200
        dup = webhook_payload(wa.phone_number_id, "1555", "once", "wamid.D1")
        assert post_webhook(url, dup, SECRET)[0] == 200
        assert post_webhook(url, dup, SECRET)[0] == 200
        assert post_webhook(url, webhook_payload(wa.phone_number_id, "1555", "", "wamid.IMG", msg_type="image"), SECRET)[0] == 200
        assert post_webhook(url, webhook_payload(wa.phone_number_id, "1555", "after", "wamid.D2"), SECRET)[0] == 200
        assert wa.wait_sent(2)
    assert [s["text"] for s in wa.snapshot_sent()] == ["once", "after"]


def test_duplicates_across_restart_answered_once(wa, tmp_path):
    state_dir = str(tmp_path / "rt")
    p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
    msg = webhook_payload(wa.phone_number_id, "1555", "hello", "wamid.RS1")
    for round_ in range(2):
        status_path = str(tmp_path / f"lane{round_}.json")
        with plans.LaneThread(p, "whatsapp", _env(wa), status_path=status_path, state_dir=state_dir):
            assert post_webhook(_webhook_url(status_path), msg, SECRET)[0] == 200
    assert [s["text"] for s in wa.snapshot_sent()] == ["hello"]


def test_send_429_is_retried(wa, tmp_path):
    wa.fail_next(429, 130429)
    status_path = str(tmp_path / "lane.json")
    p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "whatsapp", _env(wa), status_path=status_path):
        url = _webhook_url(status_path)
        assert post_webhook(url, webhook_payload(wa.phone_number_id, "1555", "again", "wamid.T1"), SECRET)[0] == 200
        assert wa.wait_sent(1)


def test_missing_app_secret_names_reference(wa):
    env = _env(wa)
    del env["WA_APP_SECRET"]
    p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "whatsapp", env).start().join(10)
    assert outcome.kind == "lane" and "WA_APP_SECRET" in outcome.message and "app_secret" in outcome.message
