"""Fake Feishu/Lark open platform: tenant_access_token, bot info, message
replies and long-connection endpoint discovery over HTTP; the pbbp2 frame
websocket (ping/pong control frames, data frames split over ``sum`` parts,
acks recorded); and the webhook side: builders for ``im.message.receive_v1``
events, AES-256-CBC encryption and X-Lark-Signature signing as Feishu does
them, and a poster that delivers a callback to a lane's webhook. A second
live websocket of the one app counts in ``overlaps`` (two consumers)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from websockets.exceptions import ConnectionClosed

from gatewayctl.workers.feishu_ws import METHOD_CONTROL, METHOD_DATA, Frame
from gatewayctl.fakes._http import FakeRequest, FakeServer
from gatewayctl.fakes.wecom import WsThread

_REPLY = re.compile(r"^/open-apis/im/v1/messages/([^/]+)/reply$")
SERVICE_ID = 7


def _err(status: int, code: int, msg: str):
    return status, {"code": code, "msg": msg}, None


class FakeFeishu(FakeServer):
    def __init__(self, app_id: str = "cli_fakeapp0001", app_secret: str = "feishu-fake-app-secret-01", *,
                 bot_open_id: str = "ou_bot_0001", host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.app_id = app_id
        self.app_secret = app_secret
        self.bot_open_id = bot_open_id
        self.valid_tokens: set[str] = set()
        self.token_requests = 0
        self.expire = 7200
        self.sent: list[dict] = []
        self.reply_calls = 0
        self.acks: list[Frame] = []
        self.pings = 0
        self.ws_connections = 0
        self._live: set = set()  # open websocket connections (overlaps counts a second one)
        self.endpoint_code = 0  # non-zero: discovery refuses with this code
        self.client_config = {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0, "PingInterval": 1}
        self._ids = itertools.count(1)
        self._ws = None
        self.ws_thread = WsThread(self._ws_connection)

    # -- lifecycle --------------------------------------------------------
    def start(self):
        self.ws_thread.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self.ws_thread.stop()

    # -- test control -----------------------------------------------------
    def revoke_tokens(self) -> None:
        """Every issued tenant_access_token becomes invalid (as after a secret reset)."""
        with self.cond:
            self.valid_tokens.clear()

    def wait_sent(self, n: int, timeout: float = 10.0):
        return self.wait_until(lambda: list(self.sent) if len(self.sent) >= n else None, timeout)

    def snapshot_sent(self) -> list[dict]:
        with self.cond:
            return list(self.sent)

    def wait_ws(self, n: int = 1, timeout: float = 10.0) -> bool:
        return bool(self.wait_until(lambda: self.ws_connections >= n and self._ws is not None, timeout))

    def push_event(self, event: dict, *, parts: int = 1) -> str:
        """Send an event over the long connection as data frame(s); returns the frame message_id."""
        ws = self._ws
        assert ws is not None, "no long connection"
        payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
        message_id = f"frame-{next(self._ids)}"
        size = -(-len(payload) // parts)
        chunks = [payload[i * size:(i + 1) * size] for i in range(parts)]
        for seq, chunk in enumerate(chunks):
            frame = Frame(seq_id=next(self._ids), log_id=next(self._ids), service=SERVICE_ID, method=METHOD_DATA,
                          headers=(("type", "event"), ("message_id", message_id), ("sum", str(parts)),
                                   ("seq", str(seq)), ("trace_id", f"trace-{message_id}")),
                          payload=chunk)
            self.ws_thread.call(ws.send(frame.encode()))
        return message_id

    def drop_ws(self) -> None:
        ws = self._ws
        if ws is not None:
            self.ws_thread.call(ws.close(code=1011, reason="fake drop"))

    def wait_acks(self, n: int, timeout: float = 10.0):
        return self.wait_until(lambda: list(self.acks) if len(self.acks) >= n else None, timeout)

    # -- HTTP -------------------------------------------------------------
    def dispatch(self, req: FakeRequest):
        if req.path == "/open-apis/auth/v3/tenant_access_token/internal" and req.method == "POST":
            body = req.json()
            if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
                return 200, {"code": 10014, "msg": "app secret invalid"}, None
            with self.cond:
                self.token_requests += 1
                token = f"t-fake{self.token_requests:04d}"
                self.valid_tokens.add(token)
            return 200, {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": self.expire}, None
        if req.path == "/callback/ws/endpoint" and req.method == "POST":
            body = req.json()
            if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
                return 200, {"code": 1000040344, "msg": "app_id or app_secret is invalid"}, None
            if self.endpoint_code:
                return 200, {"code": self.endpoint_code, "msg": "the app has no long-connection subscription"}, None
            url = f"{self.ws_thread.url}/ws/v2?device_id=dev{next(self._ids)}&service_id={SERVICE_ID}"
            return 200, {"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": dict(self.client_config)}}, None
        auth = req.headers.get("authorization", "")
        with self.cond:
            ok = auth.startswith("Bearer ") and auth[7:] in self.valid_tokens
        if not ok:
            return _err(400, 99991663, "Invalid access token for authorization. Please make a request with token attached.")
        if req.path == "/open-apis/bot/v3/info" and req.method == "GET":
            return 200, {"code": 0, "msg": "ok", "bot": {"activate_status": 2, "app_name": "fake",
                                                         "open_id": self.bot_open_id}}, None
        m = _REPLY.match(req.path)
        if m and req.method == "POST":
            body = req.json()
            with self.cond:
                self.reply_calls += 1
            if body.get("msg_type") != "text":
                return _err(400, 230001, "msg_type not supported here")
            try:
                text = json.loads(body.get("content") or "")["text"]
            except (ValueError, KeyError, TypeError):
                return _err(400, 230001, "invalid content")
            with self.cond:
                mid = f"om_out{len(self.sent) + 1:04d}"
                self.sent.append({"reply_to": m.group(1), "text": text, "message_id": mid})
                self.cond.notify_all()
            return 200, {"code": 0, "msg": "success", "data": {"message_id": mid, "msg_type": "text"}}, None
        return _err(404, 404, "not found")

    # -- websocket (pbbp2) ---------------------------------------------------
    async def _ws_connection(self, ws) -> None:
        with self.cond:
            self.ws_connections += 1
            self._live = {other for other in self._live if other.state.name == "OPEN"}
            if self._live:
                self.overlaps += 1  # a second live connection of the one app
            self._live.add(ws)
            self._ws = ws
            self.cond.notify_all()
        try:
            async for raw in ws:
                frame = Frame.decode(raw)
                if frame.method == METHOD_CONTROL and frame.header("type") == "ping":
                    with self.cond:
                        self.pings += 1
                    pong = Frame(service=frame.service, method=METHOD_CONTROL, headers=(("type", "pong"),),
                                 payload=json.dumps(self.client_config).encode())
                    await ws.send(pong.encode())
                elif frame.method == METHOD_DATA:
                    with self.cond:
                        self.acks.append(frame)
                        self.cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self.cond:
                self._live.discard(ws)
                if self._ws is ws:
                    self._ws = None
                self.cond.notify_all()


# ---------------------------------------------------------------- events


def message_event(text: str, *, chat_id: str = "oc_ops_room", sender_open_id: str = "ou_alice",
                  sender_type: str = "user", chat_type: str = "group", message_id: str | None = None,
                  event_id: str | None = None, token: str = "", mentions: list | None = None,
                  message_type: str = "text", app_id: str = "cli_fakeapp0001") -> dict:
    """An ``im.message.receive_v1`` callback (schema 2.0)."""
    n = time.time_ns()
    content = json.dumps({"text": text}) if message_type == "text" else json.dumps({"image_key": "img_x"})
    return {
        "schema": "2.0",
        "header": {"event_id": event_id or f"ev_{n}", "event_type": "im.message.receive_v1",
                   "create_time": str(int(time.time() * 1000)), "token": token, "app_id": app_id,
                   "tenant_key": "tenant_fake"},
        "event": {
            "sender": {"sender_id": {"open_id": sender_open_id, "union_id": "on_x", "user_id": "u_x"},
                       "sender_type": sender_type, "tenant_key": "tenant_fake"},
            "message": {"message_id": message_id or f"om_{n}", "create_time": str(int(time.time() * 1000)),
                        "chat_id": chat_id, "chat_type": chat_type, "message_type": message_type,
                        "content": content, "mentions": mentions or []},
        },
    }


def mention(key: str, open_id: str, name: str) -> dict:
    return {"key": key, "id": {"open_id": open_id, "union_id": "on_m", "user_id": "u_m"}, "name": name,
            "tenant_key": "tenant_fake"}


def encrypt(encrypt_key: str, plaintext: bytes, *, iv: bytes | None = None) -> str:
    """Feishu's callback encryption: AES-256-CBC, key SHA-256(encrypt_key), IV prefixed, base64."""
    iv = iv or os.urandom(16)
    pad = 16 - len(plaintext) % 16
    padded = plaintext + bytes([pad]) * pad
    key = hashlib.sha256(encrypt_key.encode()).digest()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(padded) + enc.finalize()).decode()


def sign(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def post_callback(url: str, payload: dict, *, encrypt_key: str | None, signed: bool = True,
                  signature: str | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """Deliver like Feishu: the event encrypted (when a key is given), then
    X-Lark-Request-Timestamp / -Nonce / X-Lark-Signature over the raw body."""
    if encrypt_key:
        body = json.dumps({"encrypt": encrypt(encrypt_key, json.dumps(payload).encode())}).encode()
    else:
        body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if signed:
        ts, nonce = str(int(time.time())), f"n{time.time_ns()}"
        headers.update({"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                        "X-Lark-Signature": signature or sign(ts, nonce, encrypt_key or "", body)})
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# The webhook-mode credentials the tests configure and sign with.
VERIFY_TOKEN = "feishu-verification-token-01"
ENCRYPT_KEY = "feishu-encrypt-key-0001"

__all__ = ["FakeFeishu", "message_event", "mention", "encrypt", "sign", "post_callback", "VERIFY_TOKEN", "ENCRYPT_KEY"]
