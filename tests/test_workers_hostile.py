"""Hostile and broken chat APIs never crash a lane, never hold it forever,
never grow it without bound, and never reach `gateway status` raw.

One hostile loopback server per protocol family the lanes speak: HTTP
JSON APIs (Telegram, Matrix, the WhatsApp Graph API, through
tests/fakes/hostile.py), signed webhooks (WhatsApp), JSON websocket frames
(WeCom, QQ) and Feishu's events, the last three through the fakes' raw
frame injection. Every payload is generated here.
"""

from __future__ import annotations

import asyncio
import json
import sys

import httpx
import pytest

from gatewayctl.fakes import FakeWhatsAppCloud, post_webhook, webhook_payload
from gatewayctl.fakes.feishu import FakeFeishu, message_event
from gatewayctl.fakes.qqbot import FakeQQBot
from gatewayctl.fakes.wecom import FakeWeCom
from gatewayctl.workers import httpclient
from gatewayctl.workers.base import printable, server_delay
from tests.fakes import plans
from tests.fakes.hostile import Drip, Endless, HostileServer, Json
from tests.support import poll, read_json

TOKEN = "123456:hostile-test-token"
ANSI = "\x1b[31mred\x1b[0m \x1b]0;pwned title\x07\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\ bell\x07 nl\nend"


def _clean(text) -> bool:
    return isinstance(text, str) and "\x1b" not in text and "\x07" not in text and "\n" not in text


def _status(path):
    return read_json(path, None)


# -- the pieces -------------------------------------------------------------------


def test_printable_strips_escape_sequences_and_shows_other_controls():
    out = printable(ANSI)
    assert _clean(out)
    assert "red" in out and "link" in out and "pwned title" not in out
    assert "\\x0a" in out  # a newline is shown, not obeyed
    assert printable("a\u202eb") == "a\\u202eb"  # bidi override made visible
    assert len(printable("x" * 2000)) == 500


@pytest.mark.parametrize("given, expected", [
    (-5, 0.5), (0, 0.5), ("-1", 0.5), (3, 3.0), ("2.5", 2.5), (10**9, 300.0), (float("inf"), 300.0),
    (float("nan"), 1.0), ("abc", 1.0), (None, 1.0), (True, 1.0), ([1], 1.0), ("9" * 5000, 1.0),
])
def test_server_given_delays_are_clamped(given, expected):
    assert server_delay(given) == expected


def _fetch(url: str, timeout: float, max_bytes: int = httpclient.MAX_RESPONSE_BYTES):
    async def go():
        async with httpclient.client(max_bytes=max_bytes) as client:
            return await client.get(url, timeout=timeout)

    return asyncio.run(go())


def test_client_gives_up_on_an_endless_body_at_the_size_cap():
    with HostileServer(lambda req: Endless()) as srv:
        with pytest.raises(httpclient.ResponseTooLarge) as err:
            _fetch(srv.base_url + "/x", timeout=30, max_bytes=1024 * 1024)
        assert "1048576-byte limit" in httpclient.describe(err.value)
        # What reached us before we hung up: the cap plus what sat in socket buffers.
        assert poll(lambda: srv.dropped == 1)
        assert srv.bytes_out < 16 * 1024 * 1024


def test_client_total_deadline_cuts_a_drip_feed():
    # Each byte arrives well within httpx's per-read timeout; only a total
    # deadline ends the request.
    with HostileServer(lambda req: Drip(0.2)) as srv:
        with pytest.raises(httpclient.DeadlineExceeded) as err:
            _fetch(srv.base_url + "/x", timeout=1.5)
        assert isinstance(err.value, httpx.TimeoutException)
        assert "within 1.5 s" in str(err.value)
        assert srv.bytes_out >= 2  # it was dripping, not silent


# -- Telegram ---------------------------------------------------------------------


def _telegram_plan(srv, **extra):
    lane = plans.lane("telegram", "bot_123456", {
        "base_url": srv.base_url, "polling_timeout_s": 1, "allowed_chat_ids": [42], "allowed_sender_ids": [],
        "require_mention": False, **extra}, [plans.SecretRef("bot_token", "env", "TG_TOKEN")])
    return plans.plan([lane], plans.Handler(kind="echo"))


GOOD_UPDATE = {"update_id": 30, "message": {"message_id": 3, "chat": {"id": 42, "type": "private"},
                                            "from": {"id": 7}, "text": "good one"}}


def test_telegram_survives_wrong_types_negative_retry_after_and_ansi(tmp_path):
    """result: 5, chat: "x", error_code: "abc", retry_after -5 and escape
    sequences in descriptions: counted, skipped, clamped, stripped; the lane
    keeps running and still answers the one good update."""
    polls = []

    def script(req):
        if req.path.endswith("/getMe"):
            return Json({"ok": True, "result": {"id": 1, "username": "hostile_bot", "is_bot": True}})
        if req.path.endswith("/sendMessage"):
            return Json({"ok": True, "result": {"message_id": 99}})
        polls.append(req)
        step = len(polls)
        if step == 1:
            return Json({"ok": True, "result": 5})
        if step == 2:
            return Json({"ok": True, "result": [
                {"update_id": 10, "message": {"message_id": 1, "chat": "x", "text": "hi"}},
                {"update_id": "11"},
                {"update_id": 12, "message": {"message_id": 2, "chat": {"id": 42}, "from": 7, "text": "x"}},
                {"update_id": 13, "message": {"message_id": 2, "chat": {"id": 42}, "text": "e", "entities": 5}},
                GOOD_UPDATE,
            ]})
        if step == 3:
            return Json({"ok": False, "error_code": "abc", "description": ANSI}, status=400)
        if step in (4, 5, 6):
            return Json({"ok": False, "error_code": 429, "description": "Too Many Requests",
                         "parameters": {"retry_after": -5}}, status=429)
        return Json({"ok": True, "result": []})

    status_path = str(tmp_path / "lane.json")
    with HostileServer(script) as srv:
        with plans.LaneThread(_telegram_plan(srv), "telegram", {"TG_TOKEN": TOKEN}, status_path=status_path) as t:
            st = poll(lambda: (s := _status(status_path)) and len(polls) >= 8 and s, timeout=20)
            assert st, f"the lane stopped polling after {len(polls)} polls"
            sent = [r.json() for r in srv.requests("/sendMessage")]
            assert [m["text"] for m in sent] == ["good one"] and sent[0]["chat_id"] == 42
            assert t.outcome is None  # still running
            st = poll(lambda: (s := _status(status_path)) and s["malformed_received"] >= 5 and s)
            assert st["state"] == "running" and st["connected"] is True
            # negative retry_after: clamped to 0.5 s, not a hot loop
            gaps = [b.at - a.at for a, b in zip(polls[3:6], polls[4:7])]
            assert all(g >= 0.45 for g in gaps), gaps
        final = _status(status_path)
    assert final["state"] == "stopped"
    assert t.outcome.kind == "ok"


def test_telegram_escape_sequences_in_errors_never_reach_the_status(tmp_path):
    def script(req):
        if req.path.endswith("/getMe"):
            return Json({"ok": True, "result": {"id": 1, "username": "b"}})
        return Json({"ok": False, "error_code": 400, "description": ANSI}, status=400)

    status_path = str(tmp_path / "lane.json")
    with HostileServer(script) as srv:
        with plans.LaneThread(_telegram_plan(srv), "telegram", {"TG_TOKEN": TOKEN}, status_path=status_path):
            st = poll(lambda: (s := _status(status_path)) and s["last_error"] and "red" in s["last_error"] and s)
            assert st, _status(status_path)
            assert _clean(st["last_error"]) and "pwned" not in st["last_error"]
            assert st["connected"] is False and st["state"] in ("starting", "backoff")


def test_telegram_endless_body_is_cut_at_the_cap_and_status_says_so(tmp_path):
    def script(req):
        if req.path.endswith("/getMe"):
            return Json({"ok": True, "result": {"id": 1, "username": "b"}})
        if len(srv.requests("/getUpdates")) == 1:
            return Json({"ok": True, "result": []})  # connected first, then the flood
        return Endless()

    status_path = str(tmp_path / "lane.json")
    with HostileServer(script) as srv:
        with plans.LaneThread(_telegram_plan(srv), "telegram", {"TG_TOKEN": TOKEN}, status_path=status_path):
            st = poll(lambda: (s := _status(status_path)) and "byte limit" in (s["last_error"] or "") and s,
                      timeout=20)
            assert st, _status(status_path)
            assert st["connected"] is False and st["state"] == "backoff"
            assert poll(lambda: srv.dropped >= 1)  # the lane hung up; the server notices on its next send
        # per request: the 8 MiB cap plus what sat in the socket buffers
        per_request = srv.bytes_out / max(1, len(srv.requests("/getUpdates")))
        assert per_request < 24 * 1024 * 1024


@pytest.mark.slow
def test_telegram_drip_feed_ends_at_the_total_deadline_and_status_is_not_connected(tmp_path):
    """A long poll whose answer drips one byte a second: the poll's total
    deadline (polling_timeout_s + 15 = 16 s) ends it; then status says so."""
    state = {"dripping": True}

    def script(req):
        if req.path.endswith("/getMe"):
            return Json({"ok": True, "result": {"id": 1, "username": "b"}})
        if len(srv.requests("/getUpdates")) == 1:
            return Json({"ok": True, "result": []})  # connected first, then the drip
        if state["dripping"]:
            return Drip(1.0)
        return Json({"ok": True, "result": []})

    status_path = str(tmp_path / "lane.json")
    with HostileServer(script) as srv:
        with plans.LaneThread(_telegram_plan(srv), "telegram", {"TG_TOKEN": TOKEN}, status_path=status_path):
            st = poll(lambda: (s := _status(status_path)) and "within 16 s" in (s["last_error"] or "") and s,
                      timeout=40)
            assert st, _status(status_path)
            assert st["connected"] is False and st["state"] == "backoff"
            state["dripping"] = False
            assert poll(lambda: (s := _status(status_path)) and s["connected"] is True, timeout=30)


# -- Matrix -----------------------------------------------------------------------


def test_matrix_survives_wrong_shapes_and_clamps_retry_after_ms(tmp_path):
    syncs = []

    def script(req):
        if req.path.endswith("/account/whoami"):
            return Json({"user_id": "@bot:localhost"})
        if "/send/" in req.path:
            return Json({"event_id": "$out"})
        syncs.append(req)
        step = len(syncs)
        if step == 1:
            return Json({"next_batch": "s1"})
        if step == 2:
            return Json({"next_batch": "s2", "rooms": {"join": ["not", "an", "object"]}})
        if step == 3:
            return Json({"next_batch": "s3", "rooms": {"join": {"!room:localhost": {"timeline": {"events": [
                "x", {"event_id": 5}, {"event_id": "$c", "type": "m.room.message", "sender": 7, "content": {}},
                {"event_id": "$d", "type": "m.room.message", "sender": "@u:x", "content": "text"},
                {"event_id": "$e", "type": "m.room.message", "sender": "@u:x",
                 "content": {"msgtype": "m.text", "body": "fine", "m.mentions": {"user_ids": 5}}},
            ]}}}}})
        if step in (4, 5, 6):
            return Json({"errcode": "M_LIMIT_EXCEEDED", "error": ANSI, "retry_after_ms": -1000}, status=429)
        return Json({"next_batch": f"s{step}"})

    lane = plans.lane("matrix", "ops", {
        "base_url": None, "user_id": "@bot:localhost", "sync_timeout_s": 1, "allowed_room_ids": ["!room:localhost"],
        "allowed_sender_ids": [], "require_mention": False, "ignore_self_messages": True},
        [plans.SecretRef("access_token", "env", "MX_TOKEN")])
    status_path = str(tmp_path / "lane.json")
    with HostileServer(script) as srv:
        lane = plans.lane("matrix", "ops", dict(lane.settings, base_url=srv.base_url), list(lane.secrets))
        p = plans.plan([lane], plans.Handler(kind="echo"))
        with plans.LaneThread(p, "matrix", {"MX_TOKEN": "mx-token"}, status_path=status_path) as t:
            assert poll(lambda: len(syncs) >= 8, timeout=20), len(syncs)
            assert [r.json()["body"] for r in srv.requests("/send/")] == ["fine"]
            st = poll(lambda: (s := _status(status_path)) and s["malformed_received"] >= 5 and s)
            assert st and st["state"] == "running" and _clean(st["last_error"] or "")
            gaps = [b.at - a.at for a, b in zip(syncs[3:6], syncs[4:7])]
            assert all(g >= 0.45 for g in gaps), gaps
            assert t.outcome is None


# -- WhatsApp -----------------------------------------------------------------------

SECRET = "app-secret-for-tests"


def _wa_env(fake):
    return {"WA_TOKEN": fake.access_token, "WA_VERIFY": "verify", "WA_APP_SECRET": SECRET}


def _webhook_url(status_path):
    url = poll(lambda: (s := _status(status_path)) and s.get("webhook_url"))
    assert url, "the lane never reported its webhook address"
    return url


def test_whatsapp_replies_to_the_business_scoped_user_id_when_from_is_omitted(tmp_path):
    status_path = str(tmp_path / "lane.json")
    with FakeWhatsAppCloud() as wa:
        p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
        with plans.LaneThread(p, "whatsapp", _wa_env(wa), status_path=status_path):
            url = _webhook_url(status_path)
            # A user with a username: no phone number anywhere, only the BSUID.
            hidden = webhook_payload(wa.phone_number_id, None, "from a username", "wamid.U1",
                                     user_id="US.13491208655302741918", username="alice.wa")
            assert "from" not in hidden["entry"][0]["changes"][0]["value"]["messages"][0]
            assert post_webhook(url, hidden, SECRET)[0] == 200
            # A user who shares the number: reply by phone number.
            assert post_webhook(url, webhook_payload(wa.phone_number_id, "15551234567", "by phone", "wamid.P1"),
                                SECRET)[0] == 200
            # Neither: never a send to an empty recipient.
            nobody = webhook_payload(wa.phone_number_id, None, "nobody", "wamid.N1")
            nobody["entry"][0]["changes"][0]["value"]["contacts"] = []
            assert post_webhook(url, nobody, SECRET)[0] == 200
            sent = wa.wait_sent(2)
            st = poll(lambda: (s := _status(status_path)) and s["malformed_received"] >= 1 and s)
        assert [(s["to"], s["recipient"], s["text"]) for s in sent] == [
            (None, "US.13491208655302741918", "from a username"),
            ("15551234567", None, "by phone"),
        ]
        assert len(wa.snapshot_sent()) == 2
        assert "neither from nor a contact user_id" in st["last_error"]


def test_whatsapp_signed_but_malformed_deliveries_are_counted_not_fatal(tmp_path):
    status_path = str(tmp_path / "lane.json")
    with FakeWhatsAppCloud() as wa:
        p = plans.plan([plans.whatsapp_lane(wa)], plans.Handler(kind="echo"))
        with plans.LaneThread(p, "whatsapp", _wa_env(wa), status_path=status_path) as t:
            url = _webhook_url(status_path)

            def value(**fields):
                return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
                    {"field": "messages", "value": {"messaging_product": "whatsapp", **fields}}]}]}

            meta = {"display_phone_number": "1", "phone_number_id": wa.phone_number_id}
            bad = [
                [1, 2, 3],
                {"entry": 5},
                {"entry": [{"changes": "x"}]},
                value(metadata="x"),
                value(metadata=meta, messages=5),
                value(metadata=meta, messages=[{"id": "wamid.B1", "from": "1555", "type": "text", "text": "str"}]),
                value(metadata=meta, messages=[{"id": 7, "from": "1555"}]),
            ]
            for payload in bad:
                assert post_webhook(url, payload, SECRET)[0] == 200
            assert post_webhook(url, webhook_payload(wa.phone_number_id, "1555", "still here", "wamid.OK"),
                                SECRET)[0] == 200
            assert wa.wait_sent(1)
            st = poll(lambda: (s := _status(status_path)) and s["malformed_received"] >= 6 and s)
            assert st and st["state"] == "running" and t.outcome is None
    assert [s["text"] for s in wa.snapshot_sent()] == ["still here"]


def test_whatsapp_graph_api_error_text_is_stripped(tmp_path):
    def script(req):
        return Json({"error": {"message": ANSI, "type": "OAuthException", "code": "abc"}}, status=400)

    status_path = str(tmp_path / "lane.json")
    with HostileServer(script) as srv, FakeWhatsAppCloud() as wa:
        lane = plans.whatsapp_lane(wa, api_base_url=srv.base_url)
        with plans.LaneThread(plans.plan([lane], plans.Handler(kind="echo")), "whatsapp", _wa_env(wa),
                              status_path=status_path):
            url = _webhook_url(status_path)
            assert post_webhook(url, webhook_payload(wa.phone_number_id, "1555", "hi", "wamid.E1"), SECRET)[0] == 200
            st = poll(lambda: (s := _status(status_path)) and "HTTP 400" in (s["last_error"] or "") and s)
            assert st and _clean(st["last_error"]) and "red" in st["last_error"]


# -- WeCom, QQ, Feishu: wrong-typed frames and events ---------------------------------------


def test_wecom_wrong_typed_fields_are_counted_and_the_lane_keeps_answering(tmp_path):
    status_path = str(tmp_path / "lane.json")
    with FakeWeCom() as wc:
        p = plans.plan([plans.wecom_lane(wc)], plans.Handler(kind="echo"))
        with plans.LaneThread(p, "wecom", plans.wecom_env(wc), status_path=status_path) as t:
            assert wc.wait_connected()
            for n, body in enumerate([
                {"msgid": "b1", "from": "zhangsan", "msgtype": "text", "text": {"content": "x"}},
                {"msgid": "b2", "from": {"userid": "zhangsan"}, "msgtype": "text", "text": "flat"},
                {"msgid": ["b3"], "from": {"userid": "zhangsan"}},
            ]):
                wc._push({"cmd": "aibot_msg_callback", "headers": {"req_id": f"bad-{n}"}, "body": body})
            wc._push(["not", "a", "frame"])
            wc.inject("after the junk", chatid="group_alerts")
            sent = wc.wait_sent(1)
            assert sent and sent[0]["content"] == "after the junk"
            st = poll(lambda: (s := _status(status_path)) and s["malformed_received"] >= 4 and s)
            assert st and st["state"] == "running" and t.outcome is None


def test_qqbot_wrong_typed_events_and_hello_are_survived(tmp_path):
    status_path = str(tmp_path / "lane.json")
    with FakeQQBot(heartbeat_interval_ms=-5) as qq:  # a negative interval: clamped, no heartbeat flood
        p = plans.plan([plans.qqbot_lane(qq)], plans.Handler(kind="echo"))
        with plans.LaneThread(p, "qqbot", plans.qqbot_env(qq), status_path=status_path) as t:
            assert qq.wait_ready()
            qq._dispatch("C2C_MESSAGE_CREATE", {"id": "m1", "author": "someone", "content": "x"})
            qq._dispatch("C2C_MESSAGE_CREATE", {"id": 5, "author": {"user_openid": "u"}, "content": "x"})
            qq._dispatch("GROUP_AT_MESSAGE_CREATE", {"id": "m3", "author": {"member_openid": "u"},
                                                      "group_openid": "../../evil", "content": "x"})
            allowed_peer = plans.qqbot_lane(qq).settings["allowed_peer_ids"][0]
            qq.inject_c2c(allowed_peer, "real one")
            sent = qq.wait_sent(1)
            assert sent and sent[0]["content"] == "real one"
            st = poll(lambda: (s := _status(status_path)) and s["malformed_received"] >= 2 and s)
            assert st and st["state"] == "running" and t.outcome is None
            assert all("evil" not in s["peer"] for s in qq.snapshot_sent())


def test_feishu_wrong_typed_events_are_counted(tmp_path):
    status_path = str(tmp_path / "lane.json")
    with FakeFeishu() as fs:
        p = plans.plan([plans.feishu_lane(fs)], plans.Handler(kind="echo"))
        with plans.LaneThread(p, "feishu", plans.feishu_env(fs), status_path=status_path) as t:
            assert fs.wait_ws()
            broken = message_event("x")
            broken["event"]["sender"]["sender_id"] = "ou_flat"
            broken["event"]["message"]["mentions"] = 5
            broken["event"]["message"]["content"] = 12
            fs.push_event(broken)
            not_object = message_event("y")
            not_object["event"] = ["list"]
            fs.push_event(not_object)
            fs.push_event(message_event("fine"))
            sent = fs.wait_sent(1)
            assert sent and sent[0]["text"] == "fine"
            st = poll(lambda: (s := _status(status_path)) and s["malformed_received"] >= 1 and s)
            assert st and st["state"] == "running" and t.outcome is None


# -- the exec handler -----------------------------------------------------------------

STALLER = """
import json, os, sys, time
marker = sys.argv[1]
if not os.path.exists(marker):
    open(marker, "w").close()
    time.sleep(3600)  # first life: never reads stdin again (the pipe fills)
for line in sys.stdin:  # second life: a working handler
    req = json.loads(line)
    sys.stdout.write(json.dumps({"id": req["id"], "reply": "back: " + req["text"][:20]}) + "\\n")
    sys.stdout.flush()
"""


def test_exec_handler_that_stops_reading_stdin_is_restarted_and_counted(tmp_path):
    """A handler that stops reading: once the pipe is full, the write would
    block for ever. It gets the reply timeout, then is killed, restarted and
    counted as a handler error; the lane keeps running and answers again."""
    from gatewayctl.fakes import FakeTelegram

    script = tmp_path / "staller.py"
    script.write_text(STALLER)
    handler = plans.Handler(kind="exec", exec=(sys.executable, str(script), str(tmp_path / "marker")), timeout_s=1)
    status_path = str(tmp_path / "lane.json")
    with FakeTelegram() as tg:
        p = plans.plan([plans.telegram_lane(tg)], handler)
        with plans.LaneThread(p, "telegram", {"TG_TOKEN": tg.token, "PATH": "/usr/bin:/bin"},
                              status_path=status_path) as t:
            assert poll(lambda: (tmp_path / "marker").exists())
            # 256 KiB of text: more than the pipe and the write buffer hold together.
            tg.inject(42, 7, "x" * (256 * 1024))
            st = poll(lambda: (s := _status(status_path)) and s["handler_errors"] >= 1 and s, timeout=20)
            assert st and "took no input" in st["last_error"] and "restarting" in st["last_error"]
            assert st["state"] == "running"
            tg.inject(42, 7, "after the stall")
            sent = tg.wait_sent(1, timeout=20)
            assert sent and sent[0]["text"] == "back: after the stall"
            assert t.outcome is None


def test_feishu_frame_claiming_a_billion_parts_is_refused_not_allocated(tmp_path):
    from gatewayctl.fakes.feishu import SERVICE_ID
    from gatewayctl.workers.feishu_ws import METHOD_DATA, Frame

    status_path = str(tmp_path / "lane.json")
    with FakeFeishu() as fs:
        p = plans.plan([plans.feishu_lane(fs)], plans.Handler(kind="echo"))
        with plans.LaneThread(p, "feishu", plans.feishu_env(fs), status_path=status_path) as t:
            assert fs.wait_ws()
            bomb = Frame(seq_id=1, log_id=1, service=SERVICE_ID, method=METHOD_DATA,
                         headers=(("type", "event"), ("message_id", "bomb"), ("sum", str(10**9)), ("seq", "0")),
                         payload=b"{}")
            fs.ws_thread.call(fs._ws.send(bomb.encode()))
            fs.push_event(message_event("after the bomb"))
            sent = fs.wait_sent(1)
            assert sent and sent[0]["text"] == "after the bomb"
            st = poll(lambda: (s := _status(status_path)) and s["malformed_received"] >= 1 and s)
            assert st and "outside 1-256" in st["last_error"] and t.outcome is None


def test_lane_log_lines_are_printable(tmp_path):
    """The lane's stderr log: escape sequences from a chat API never reach it."""
    import logging

    from gatewayctl.workers import serve

    record = logging.LogRecord("gatewayctl.workers", logging.WARNING, __file__, 1, "reply dropped: %s", (ANSI,), None)
    line = serve._PrintableFormatter("lane x: %(message)s").format(record)
    assert _clean(line) and line.startswith("lane x: reply dropped: red")


def test_requests_through_an_environment_proxy_are_bounded_too(monkeypatch):
    """httpx mounts its own transport for HTTP_PROXY; it gets the same
    deadline. The hostile server plays the proxy and drips."""
    with HostileServer(lambda req: Drip(0.2)) as srv:
        monkeypatch.setenv("HTTP_PROXY", srv.base_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with pytest.raises(httpclient.DeadlineExceeded):
            _fetch("http://chat-api.invalid/x", timeout=1.0)
        assert srv.requests()  # it went through the proxy
