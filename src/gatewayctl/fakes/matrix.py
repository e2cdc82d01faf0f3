"""Fake Matrix homeserver (client-server API v3): /sync with since, timeout
and inline filters, whoami, idempotent PUT send with txnId, errcode bodies
(M_UNKNOWN_TOKEN 401, M_LIMIT_EXCEEDED 429 with retry_after_ms). Two
/sync requests in progress at once (both clients still connected) count in
``overlaps``: two consumers of one account."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import unquote

from gatewayctl.fakes._http import FakeRequest, FakeServer, sent_listing

API = "/_matrix/client/v3"
_SEND = re.compile(r"^/_matrix/client/v3/rooms/([^/]+)/send/([^/]+)/([^/]+)$")


def _err(status: int, errcode: str, error: str, **extra):
    return status, {"errcode": errcode, "error": error, **extra}, None


class FakeMatrix(FakeServer):
    def __init__(self, access_token: str = "syt_fake_access_token_0001", *, user_id: str = "@gwbot:localhost",
                 host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.access_token = access_token
        self.user_id = user_id
        self.timeline: list[tuple[int, str, dict]] = []  # (stream position, room, event)
        self.pos = 0
        self.sent: list[dict] = []
        self.txns: dict[str, str] = {}
        self.failures: dict[str, list[int]] = {}  # "sync"|"send" -> [retry_after_ms, ...]
        self.sync_calls: list[dict] = []
        self.send_attempts = 0  # every PUT, including idempotent repeats
        self._syncs: set[FakeRequest] = set()  # /sync requests in progress

    # -- test control -------------------------------------------------
    def inject(self, room_id: str, sender: str, body: str, *, msgtype: str = "m.text", content: dict | None = None,
               event_type: str = "m.room.message") -> str:
        with self.cond:
            self.pos += 1
            event_id = f"$ev{self.pos}:localhost"
            event = {
                "type": event_type,
                "event_id": event_id,
                "sender": sender,
                "origin_server_ts": int(time.time() * 1000),
                "content": content if content is not None else {"msgtype": msgtype, "body": body},
                "unsigned": {"age": 0},
            }
            self.timeline.append((self.pos, room_id, event))
            self.cond.notify_all()
            return event_id

    def fail_next(self, kind: str, retry_after_ms: int, count: int = 1) -> None:
        with self.cond:
            self.failures.setdefault(kind, []).extend([retry_after_ms] * count)

    def wait_sent(self, n: int, timeout: float = 10.0):
        return self.wait_until(lambda: list(self.sent) if len(self.sent) >= n else None, timeout)

    def snapshot_sent(self) -> list[dict]:
        with self.cond:
            return list(self.sent)

    # -- wire ---------------------------------------------------------
    def _authed(self, req: FakeRequest) -> bool:
        auth = req.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else req.query.get("access_token", "")
        return token == self.access_token

    def dispatch(self, req: FakeRequest):
        if req.path.startswith("/_fake/"):
            return self._control(req)
        if not req.path.startswith("/_matrix/"):
            return _err(404, "M_UNRECOGNIZED", "Unrecognized request")
        if not self._authed(req):
            if "authorization" not in req.headers and "access_token" not in req.query:
                return _err(401, "M_MISSING_TOKEN", "Missing access token")
            return _err(401, "M_UNKNOWN_TOKEN", "Unknown access token", soft_logout=False)
        if req.path == f"{API}/account/whoami" and req.method == "GET":
            return 200, {"user_id": self.user_id, "device_id": "FAKEDEVICE", "is_guest": False}, None
        if req.path == f"{API}/sync" and req.method == "GET":
            with self.cond:
                if any(not other.peer_gone() for other in self._syncs):
                    self.overlaps += 1  # another consumer's /sync is waiting for its answer
                self._syncs.add(req)
            try:
                return self._sync(req)
            finally:
                with self.cond:
                    self._syncs.discard(req)
        m = _SEND.match(req.path)
        if m and req.method == "PUT":
            return self._send(req, unquote(m.group(1)), unquote(m.group(2)), unquote(m.group(3)))
        return _err(404, "M_UNRECOGNIZED", "Unrecognized request")

    def _take_failure(self, kind: str):
        queued = self.failures.get(kind)
        if queued:
            ms = queued.pop(0)
            return _err(429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=ms)
        return None

    def _sync(self, req: FakeRequest):
        with self.cond:
            self.sync_calls.append(dict(req.query))
            self.cond.notify_all()
            failed = self._take_failure("sync")
            if failed:
                return failed
        since_raw = req.query.get("since")
        since = 0
        if since_raw:
            if not re.fullmatch(r"s\d+", since_raw):
                return _err(400, "M_INVALID_PARAM", "Invalid since token")
            since = int(since_raw[1:])
        try:
            timeout_ms = int(req.query.get("timeout") or 0)
        except ValueError:
            return _err(400, "M_INVALID_PARAM", "timeout must be an integer")
        flt = {}
        if req.query.get("filter", "").startswith("{"):
            try:
                flt = json.loads(req.query["filter"])
            except ValueError:
                return _err(400, "M_INVALID_PARAM", "filter is not valid JSON")
        timeline_filter = ((flt.get("room") or {}).get("timeline") or {})
        types = timeline_filter.get("types")
        limit = timeline_filter.get("limit")
        rooms_filter = (flt.get("room") or {}).get("rooms")
        deadline = time.monotonic() + min(timeout_ms, 60000) / 1000
        with self.cond:
            while True:
                events = [(p, r, e) for p, r, e in self.timeline if p > since
                          and (types is None or e["type"] in types)
                          and (rooms_filter is None or r in rooms_filter)]
                left = deadline - time.monotonic()
                if events or left <= 0 or self.closing or not since_raw:
                    break
                self.cond.wait(left)
            rooms: dict = {}
            for _p, room, event in events:
                rooms.setdefault(room, []).append(event)
            join = {}
            for room, evs in rooms.items():
                limited = isinstance(limit, int) and len(evs) > limit
                if limited:
                    evs = evs[-limit:] if limit > 0 else []
                join[room] = {
                    "timeline": {"events": evs, "limited": limited, "prev_batch": f"t{since}"},
                    "state": {"events": []},
                    "ephemeral": {"events": []},
                    "account_data": {"events": []},
                    "unread_notifications": {},
                }
            body = {"next_batch": f"s{self.pos}", "rooms": {"join": join, "invite": {}, "leave": {}},
                    "presence": {"events": []}, "account_data": {"events": []}}
            return 200, body, None

    def _send(self, req: FakeRequest, room_id: str, event_type: str, txn_id: str):
        with self.cond:
            self.send_attempts += 1
            failed = self._take_failure("send")
            if failed:
                return failed
            key = f"{self.access_token}|{txn_id}"
            if key in self.txns:  # idempotent retry: same event, nothing new
                return 200, {"event_id": self.txns[key]}, None
        try:
            content = req.json()
        except ValueError:
            return _err(400, "M_NOT_JSON", "Content not JSON.")
        if not isinstance(content, dict):
            return _err(400, "M_BAD_JSON", "Content must be an object")
        with self.cond:
            self.pos += 1
            event_id = f"$ev{self.pos}:localhost"
            self.txns[key] = event_id
            event = {"type": event_type, "event_id": event_id, "sender": self.user_id,
                     "origin_server_ts": int(time.time() * 1000), "content": content, "unsigned": {"transaction_id": txn_id}}
            # The bot's own message comes back through /sync, as on a real server.
            self.timeline.append((self.pos, room_id, event))
            self.sent.append({"room_id": room_id, "txn_id": txn_id, "event_id": event_id, "content": content,
                              "at": time.monotonic()})
            self.cond.notify_all()
            return 200, {"event_id": event_id}, None

    def _control(self, req: FakeRequest):
        if req.path == "/_fake/inject" and req.method == "POST":
            body = req.control_json("room_id", "sender", "text")
            eid = self.inject(str(body["room_id"]), str(body["sender"]), str(body["text"]))
            return 200, {"event_id": eid}, None
        if req.path == "/_fake/sent":
            return sent_listing(self, req)
        return 404, {"error": "unknown control path"}, None
