"""Fake Telegram Bot API: /bot<token>/<method>, {"ok", "result"} envelopes,
getUpdates long polling with offset confirmation, 401/409/429 as Telegram
sends them. A getUpdates that finds another one in progress (from a client
still connected) counts in ``overlaps``: two pollers of one bot, which
Telegram answers with 409 for the older one."""

from __future__ import annotations

import json
import time

from gatewayctl.fakes._http import BadRequest, FakeRequest, FakeServer, sent_listing

MAX_TEXT = 4096


def _err(code: int, description: str, **params):
    body = {"ok": False, "error_code": code, "description": description}
    if params:
        body["parameters"] = params
    return code, body, None


class FakeTelegram(FakeServer):
    def __init__(self, token: str = "123456:TEST-fake-token-abcdefghijklmnopqrstu", *,
                 bot_id: int = 123456, username: str = "gw_fake_bot", host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.token = token
        self.bot = {"id": bot_id, "is_bot": True, "first_name": "Fake", "username": username}
        self.updates: list[dict] = []  # pending, unconfirmed
        self.next_update_id = 1000
        self.next_message_id = 1
        self.sent: list[dict] = []
        self.calls: list[tuple[str, dict]] = []
        self.webhook_url = ""
        self.other_poller = False  # simulate a second getUpdates client
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self.max_offset_seen = 0
        self._poll_generation = 0
        self._polls: dict[int, FakeRequest] = {}  # getUpdates in progress, by generation

    # -- test control -------------------------------------------------
    def inject(self, chat_id: int, sender_id: int, text: str, *, chat_type: str = "private",
               entities: list | None = None) -> int:
        with self.cond:
            uid = self.next_update_id
            self.next_update_id += 1
            mid = self.next_message_id
            self.next_message_id += 1
            message = {
                "message_id": mid,
                "from": {"id": sender_id, "is_bot": False, "first_name": f"user{sender_id}"},
                "chat": {"id": chat_id, "type": chat_type},
                "date": int(time.time()),
                "text": text,
            }
            if entities:
                message["entities"] = entities
            self.updates.append({"update_id": uid, "message": message})
            self.cond.notify_all()
            return uid

    def fail_next(self, method: str, code: int, *, count: int = 1, retry_after: int | None = None,
                  description: str = "") -> None:
        with self.cond:
            params = {"retry_after": retry_after} if retry_after is not None else {}
            desc = description or {429: f"Too Many Requests: retry after {retry_after}", 500: "Internal Server Error"}.get(code, "error")
            self.failures.setdefault(method, []).extend([(code, {"description": desc, **params})] * count)

    def wait_sent(self, n: int, timeout: float = 10.0) -> list[dict] | None:
        return self.wait_until(lambda: list(self.sent) if len(self.sent) >= n else None, timeout)

    def snapshot_sent(self) -> list[dict]:
        with self.cond:
            return list(self.sent)

    # -- wire ---------------------------------------------------------
    def dispatch(self, req: FakeRequest):
        if req.path.startswith("/_fake/"):
            return self._control(req)
        parts = req.path.split("/")
        if len(parts) != 3 or not parts[1].startswith("bot"):
            return _err(404, "Not Found")
        token, method = parts[1][3:], parts[2]
        if token != self.token:
            return _err(401, "Unauthorized")
        try:
            params = req.params()
        except ValueError:
            return _err(400, "Bad Request: can't parse JSON object")
        with self.cond:
            self.calls.append((method, params))
            self.cond.notify_all()  # wait_until on calls (and polls in progress) wakes
            queued = self.failures.get(method)
            if queued:
                code, extra = queued.pop(0)
                params_out = {"retry_after": extra["retry_after"]} if "retry_after" in extra else {}
                status, body, _ = _err(code, extra["description"], **params_out)
                headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
                return status, body, headers
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _err(404, "Not Found: method not found")
        if method == "getUpdates":
            return self._m_getUpdates(params, req)
        return handler(params)

    def _ok(self, result):
        return 200, {"ok": True, "result": result}, None

    def _m_getMe(self, params):
        return self._ok(self.bot)

    def _m_getWebhookInfo(self, params):
        with self.cond:
            return self._ok({"url": self.webhook_url, "has_custom_certificate": False,
                             "pending_update_count": len(self.updates)})

    def _m_setWebhook(self, params):
        with self.cond:
            self.webhook_url = str(params.get("url") or "")
        return self._ok(True)

    def _m_deleteWebhook(self, params):
        with self.cond:
            self.webhook_url = ""
        return self._ok(True)

    def _m_getUpdates(self, params, req: FakeRequest | None = None):
        try:
            offset = int(params.get("offset") or 0)
            timeout = float(params.get("timeout") or 0)
            limit = int(params.get("limit") or 100)
        except (TypeError, ValueError):
            return _err(400, "Bad Request: wrong parameter")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        with self.cond:
            if self.webhook_url:
                return _err(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
            if self.other_poller:
                return _err(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
            self._poll_generation += 1
            generation = self._poll_generation
            live = [g for g, other in self._polls.items() if not other.peer_gone()]
            if live:
                self.overlaps += 1  # a second poller while another waits for its answer
            if req is not None:
                self._polls[generation] = req
            try:
                return self._poll(generation, offset, timeout, limit, allowed)
            finally:
                self._polls.pop(generation, None)

    def _poll(self, generation: int, offset: int, timeout: float, limit: int, allowed):
        with self.cond:
            if offset:
                # Telegram: an offset confirms every update below it, for good.
                self.max_offset_seen = max(self.max_offset_seen, offset)
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
            deadline = time.monotonic() + min(timeout, 50)
            while True:
                if generation != self._poll_generation:
                    return _err(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
                batch = [u for u in self.updates if not allowed or any(k in u for k in allowed)][:limit]
                left = deadline - time.monotonic()
                if batch or left <= 0 or self.closing:
                    return self._ok(batch)
                self.cond.wait(left)

    def _m_sendMessage(self, params):
        text = params.get("text")
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            return _err(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _err(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:
            return _err(400, "Bad Request: message is too long")
        with self.cond:
            mid = self.next_message_id
            self.next_message_id += 1
            message = {"message_id": mid, "from": self.bot, "chat": {"id": _int(chat_id), "type": "private"},
                       "date": int(time.time()), "text": text}
            record = {"chat_id": _int(chat_id), "text": text, "message_id": mid,
                      "reply_to": (params.get("reply_parameters") or {}).get("message_id") if isinstance(params.get("reply_parameters"), dict) else None,
                      "at": time.monotonic()}
            self.sent.append(record)
            self.cond.notify_all()
        return self._ok(message)

    def _control(self, req: FakeRequest):
        if req.path == "/_fake/inject" and req.method == "POST":
            body = req.control_json("chat_id", "text")
            try:
                chat_id, sender_id = int(body["chat_id"]), int(body.get("sender_id", body["chat_id"]))
            except (TypeError, ValueError):
                raise BadRequest("chat_id and sender_id must be integers") from None
            uid = self.inject(chat_id, sender_id, str(body["text"]),
                              chat_type=body.get("chat_type", "private"), entities=body.get("entities"))
            return 200, {"update_id": uid}, None
        if req.path == "/_fake/sent":
            return sent_listing(self, req)
        if req.path == "/_fake/webhook" and req.method == "POST":
            self._m_setWebhook(req.control_json())
            return 200, {"ok": True}, None
        return 404, {"error": "unknown control path"}, None


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
