"""Fake QQ Bot open platform (API v2): ``/app/getAppAccessToken`` (token
host; ``expires_in`` as a string), ``/gateway``, passive replies on
``/v2/users/{openid}/messages`` and ``/v2/groups/{group_openid}/messages``
(``msg_id`` required: no proactive sends), and the op-code websocket
gateway: Hello (op 10), Identify (op 2) -> READY, heartbeats (op 1 -> op
11), Resume (op 6) -> RESUMED with the events missed meanwhile replayed,
Reconnect (op 7) and Invalid Session (op 9) on demand. A second live
gateway websocket of the one app counts in ``overlaps`` (two consumers)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time

from websockets.exceptions import ConnectionClosed

from gatewayctl.fakes._http import FakeRequest, FakeServer
from gatewayctl.fakes.wecom import WsThread

_REPLY = re.compile(r"^/v2/(users|groups)/([^/]+)/messages$")
INTENT_GROUP_AND_C2C = 1 << 25


class FakeQQBot(FakeServer):
    def __init__(self, app_id: str = "102000001", client_secret: str = "qq-fake-client-secret-001", *,
                 heartbeat_interval_ms: int = 1000, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.app_id = app_id
        self.client_secret = client_secret
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.expires_in = "7200"
        self.sent: list[dict] = []
        self.rejected: list[dict] = []
        self.identifies: list[dict] = []
        self.resumes: list[dict] = []
        self.heartbeats = 0
        self.answer_heartbeats = True
        self.ws_connections = 0
        self._live: set = set()  # open websocket connections (overlaps counts a second one)
        self.session_id: str | None = None
        self.events: list[dict] = []  # every dispatch with its seq, for replay on resume
        self.seq = 0
        self._ready = False
        self._ws = None
        self._ids = itertools.count(1)
        self.ws_thread = WsThread(self._ws_connection)

    def start(self):
        self.ws_thread.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self.ws_thread.stop()

    # -- test control -----------------------------------------------------
    def wait_ready(self, n: int = 1, timeout: float = 10.0) -> bool:
        """n sessions established (READY or RESUMED) and one live now."""
        return bool(self.wait_until(lambda: self._ready and len(self.identifies) + len(self.resumes) >= n, timeout))

    def wait_sent(self, n: int, timeout: float = 10.0):
        return self.wait_until(lambda: list(self.sent) if len(self.sent) >= n else None, timeout)

    def snapshot_sent(self) -> list[dict]:
        with self.cond:
            return list(self.sent)

    def inject_c2c(self, user_openid: str, text: str) -> str:
        msg_id = f"ROBOT1.0_c2c{next(self._ids)}"
        self._dispatch("C2C_MESSAGE_CREATE", {"id": msg_id, "author": {"user_openid": user_openid},
                                              "content": text, "timestamp": "2026-11-27T00:00:00+08:00"})
        return msg_id

    def inject_group(self, group_openid: str, member_openid: str, text: str) -> str:
        msg_id = f"ROBOT1.0_grp{next(self._ids)}"
        self._dispatch("GROUP_AT_MESSAGE_CREATE", {"id": msg_id, "author": {"member_openid": member_openid},
                                                   "content": f" {text}", "group_openid": group_openid,
                                                   "timestamp": "2026-11-27T00:00:00+08:00"})
        return msg_id

    def drop(self) -> None:
        """The connection breaks (no close frame from the platform's side of things)."""
        ws = self._ws
        if ws is not None:
            self.ws_thread.call(ws.close(code=1011, reason="fake drop"))

    def close_with(self, code: int, reason: str = "") -> None:
        """Close the gateway connection with a QQ close code (4004, 4914, ...)."""
        ws = self._ws
        if ws is not None:
            self.ws_thread.call(ws.close(code=code, reason=reason))

    def ask_reconnect(self) -> None:
        self._send({"op": 7})

    def invalidate_session(self, resumable: bool = False) -> None:
        self._send({"op": 9, "d": resumable})

    def _send(self, payload: dict) -> None:
        ws = self._ws
        assert ws is not None, "no gateway connection"
        self.ws_thread.call(ws.send(json.dumps(payload)))

    def _dispatch(self, kind: str, data: dict) -> None:
        """Record an event; deliver it now when a session is live, else on resume."""
        with self.cond:
            self.seq += 1
            event = {"op": 0, "s": self.seq, "t": kind, "d": data, "id": f"{kind}:{self.seq}"}
            self.events.append(event)
            ws = self._ws if self._ready else None
        if ws is not None:
            try:
                self.ws_thread.call(ws.send(json.dumps(event)))
            except ConnectionClosed:
                pass

    # -- HTTP -------------------------------------------------------------
    def dispatch(self, req: FakeRequest):
        if req.path == "/app/getAppAccessToken" and req.method == "POST":
            body = req.json()
            if body.get("appId") != self.app_id or body.get("clientSecret") != self.client_secret:
                return 200, {"code": 100016, "message": "invalid appid or secret"}, None
            with self.cond:
                self.token_requests += 1
                token = f"qqtok{self.token_requests:04d}"
                self.tokens.add(token)
            return 200, {"access_token": token, "expires_in": self.expires_in}, None
        auth = req.headers.get("authorization", "")
        with self.cond:
            ok = auth.startswith("QQBot ") and auth[6:] in self.tokens
        if not ok:
            return 401, {"message": "token not exist or expire", "code": 11244}, None
        if req.path == "/gateway" and req.method == "GET":
            return 200, {"url": f"{self.ws_thread.url}/websocket/"}, None
        m = _REPLY.match(req.path)
        if m and req.method == "POST":
            body = req.json()
            record = {"kind": m.group(1), "peer": m.group(2), "content": body.get("content"),
                      "msg_id": body.get("msg_id"), "msg_seq": body.get("msg_seq"), "msg_type": body.get("msg_type")}
            with self.cond:
                if not body.get("msg_id"):
                    self.rejected.append(record)
                    return 400, {"code": 40034, "message": "proactive messages are not allowed here"}, None
                self.sent.append(record)
                self.cond.notify_all()
            return 200, {"id": f"out{len(self.sent)}", "timestamp": int(time.time())}, None
        return 404, {"code": 404, "message": "not found"}, None

    # -- websocket gateway --------------------------------------------------
    async def _ws_connection(self, ws) -> None:
        with self.cond:
            self.ws_connections += 1
            self._live = {other for other in self._live if other.state.name == "OPEN"}
            if self._live:
                self.overlaps += 1  # a second live connection of the one app
            self._live.add(ws)
        try:
            await ws.send(json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}))
            async for raw in ws:
                msg = json.loads(raw)
                op, d = msg.get("op"), msg.get("d")
                if op == 2:
                    token = (d or {}).get("token", "")
                    if not token.startswith("QQBot ") or token[6:] not in self.tokens:
                        await ws.close(code=4004, reason="invalid token")
                        return
                    with self.cond:
                        self.identifies.append(d)
                        self.session_id = f"sess-{next(self._ids)}"
                        self._ws = ws
                        self._ready = True
                        self.cond.notify_all()
                    await ws.send(json.dumps({"op": 0, "s": 0, "t": "READY", "d": {
                        "version": 1, "session_id": self.session_id,
                        "user": {"id": "bot-user", "username": "fakebot", "bot": True}, "shard": [0, 1]}}))
                elif op == 6:
                    d = d or {}
                    if d.get("session_id") != self.session_id:
                        await ws.send(json.dumps({"op": 9, "d": False}))
                        continue
                    with self.cond:
                        self.resumes.append(d)
                        missed = [e for e in self.events if e["s"] > int(d.get("seq") or 0)]
                        self._ws = ws
                        self._ready = True
                        self.cond.notify_all()
                    for event in missed:
                        await ws.send(json.dumps(event))
                    await ws.send(json.dumps({"op": 0, "s": self.seq, "t": "RESUMED", "d": ""}))
                elif op == 1:
                    with self.cond:
                        self.heartbeats += 1
                        answer = self.answer_heartbeats
                        self.cond.notify_all()
                    if answer:
                        await ws.send(json.dumps({"op": 11}))
        except ConnectionClosed:
            pass
        finally:
            with self.cond:
                self._live.discard(ws)
                if self._ws is ws:
                    self._ws = None
                    self._ready = False
                self.cond.notify_all()
            await asyncio.sleep(0)
