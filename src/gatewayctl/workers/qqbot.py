"""QQ Bot lane (QQ open platform, API v2): the op-code websocket gateway ->
handler -> passive replies.

- Access token: ``POST {token_base_url}/app/getAppAccessToken`` with
  ``{"appId", "clientSecret"}``; the answer's ``expires_in`` is a string of
  seconds. The token is refreshed in its last minute (the platform hands out
  a new one only then) and at once when the API or the gateway rejects it.
- ``GET {api_base_url}/gateway`` names the websocket. The server opens with
  Hello (op 10, ``heartbeat_interval`` in ms); we Identify (op 2, token
  ``QQBot <t>``, intents GROUP_AND_C2C_EVENT = 1<<25) or, after a drop,
  Resume (op 6, session_id and the last seq) so nothing dispatched meanwhile
  is lost; heartbeats (op 1 with the last seq) are acknowledged by op 11, an
  unacknowledged one means a zombie connection (resume). Reconnect (op 7)
  resumes; Invalid Session (op 9) starts a new session unless ``d`` is true.
- ``C2C_MESSAGE_CREATE`` (peer: the user's openid) and
  ``GROUP_AT_MESSAGE_CREATE`` (peer: the group's openid) are answered with
  passive replies only: ``POST /v2/users/{openid}/messages`` or
  ``/v2/groups/{group_openid}/messages`` carrying the inbound ``msg_id`` and
  a ``msg_seq`` that grows for each part of the reply. Never a proactive
  send: those are rate-limited per month and need no inbound message.
- ``allowed_peer_ids`` is the conversation allowlist; empty answers nothing
  (fail closed, as every built-in lane).

Imports httpx, websockets, the standard library and sibling worker modules.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict

import httpx
import websockets
from websockets.asyncio.client import connect

from gatewayctl.workers import httpclient
from gatewayctl.workers.base import (
    SHAPE_ERRORS,
    Backoff,
    Inbound,
    LaneContext,
    LaneFailure,
    SendError,
    Stopped,
    TokenCache,
    allowed,
    handle_inbound,
    is_int,
    kind_of,
    post_json,
    printable,
    server_delay,
    split_text,
)
from gatewayctl.workers.secrets import describe

log = logging.getLogger("gatewayctl.workers.qqbot")

DEFAULT_TOKEN_BASE = "https://bots.qq.com"
DEFAULT_API_BASE = "https://api.sgroup.qq.com"
INTENT_GROUP_AND_C2C = 1 << 25
MAX_TEXT = 2000
_REFRESH_MARGIN_S = 60.0
_SEEN_KEEP = 2048
# Close codes after which resuming is pointless (new session) or hopeless (lane failure).
_NEW_SESSION_CODES = {4006, 4007}  # bad session id / bad seq; 4008 and 4009 may resume
_FATAL_CODES = {4010: "invalid shard", 4011: "too many guilds for one shard", 4012: "invalid API version",
                4013: "invalid intents", 4014: "intents not permitted for this bot",
                4914: "the bot is offline/sandboxed and may not connect", 4915: "the bot is banned"}
_TOKEN_CODES = {11241, 11242, 11243, 11244}


class _Transient(Exception):
    pass


class _Reconnect(Exception):
    """End this connection and come back (resume when ``resume``)."""

    def __init__(self, why: str, *, resume: bool = True, refresh_token: bool = False):
        super().__init__(why)
        self.resume = resume
        self.refresh_token = refresh_token


class QQBotLane:
    def __init__(self, ctx: LaneContext, client: httpx.AsyncClient | None = None):
        self.ctx = ctx
        lane = ctx.lane
        self.app_id = ctx.secrets.require("app_id", lane)
        self.client_secret = ctx.secrets.require("client_secret", lane)
        self.token_base = str(ctx.setting("token_base_url") or DEFAULT_TOKEN_BASE).rstrip("/")
        self.api = str(ctx.setting("api_base_url") or DEFAULT_API_BASE).rstrip("/")
        self.allowed_peers = tuple(ctx.setting("allowed_peer_ids", ()) or ())
        self.client = client
        self._tokens = TokenCache(ctx.clock, _REFRESH_MARGIN_S)
        self.session_id: str | None = None
        self.seq: int | None = None
        self.identifies = 0
        self.resumes = 0
        self.seen: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task] = set()
        self._fatal: LaneFailure | None = None
        self._fatal_event = asyncio.Event()

    # -- token and HTTP ---------------------------------------------------
    async def token(self, *, force: bool = False) -> str:
        return await self._tokens.get(self._fetch_token, force=force)

    async def _fetch_token(self) -> tuple[str, float]:
        status, body = await post_json(
            self.client, f"{self.token_base}/app/getAppAccessToken",
            {"appId": self.app_id, "clientSecret": self.client_secret},
            what="qqbot getAppAccessToken", transient=_Transient,
        )
        token = body.get("access_token")
        if not token:
            refs = [describe(s) for s in self.ctx.lane.secrets if s.field in ("app_id", "client_secret")]
            where = f" (from {', '.join(refs)})" if refs else ""
            raise LaneFailure(self.ctx.redact(
                f"{self.ctx.lane.name}: QQ refused the app credentials{where}: HTTP {status} "
                f"code {printable(body.get('code'), 20)} {printable(body.get('message', ''), 200)}".rstrip()
            ))
        try:
            # The platform sends expires_in as a string ("7200").
            expires_in = float(str(body.get("expires_in") or "7200").strip())
        except ValueError:
            expires_in = 7200.0
        return str(token), expires_in

    async def _request(self, method: str, path: str, payload: dict | None = None):
        """An OpenAPI call with the token refreshed once on an auth failure."""
        for attempt in (0, 1):
            token = await self.token(force=attempt == 1)
            try:
                resp = await self.client.request(method, f"{self.api}{path}", json=payload, timeout=30,
                                                 headers={"Authorization": f"QQBot {token}"})
            except httpx.HTTPError as exc:
                raise _Transient(f"qqbot {path}: network error ({httpclient.describe(exc)})") from None
            try:
                body = resp.json()
            except ValueError:
                body = {}
            code = body.get("code") if isinstance(body, dict) and is_int(body.get("code")) else None
            if resp.status_code == 401 or code in _TOKEN_CODES:
                if attempt == 0:
                    continue
                raise LaneFailure(f"{self.ctx.lane.name}: QQ rejects a freshly issued access token on {path} "
                                  f"(HTTP {resp.status_code}, code {code})")
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Transient(f"qqbot {path}: HTTP {resp.status_code} code {code}")
            if resp.status_code >= 400:
                message = printable(body.get("message", ""), 200) if isinstance(body, dict) else ""
                raise SendError(f"qqbot {path}: HTTP {resp.status_code} code {code}: {message}")
            return body
        raise AssertionError("unreachable")

    # -- the gateway ------------------------------------------------------
    async def run(self) -> None:
        ctx = self.ctx
        own = self.client is None
        if own:
            self.client = httpclient.client()
        if not self.allowed_peers:
            ctx.status.error("allowed_peer_ids is empty: no user or group will be answered (fail closed)")
        backoff = Backoff(1.0, 60.0)
        try:
            while not ctx.stop.is_set():
                delay = None
                ctx.check_fence("connecting")
                try:
                    url = await self._gateway_url()
                    await self._session(url, backoff)
                except _Reconnect as exc:
                    ctx.status.connected(False, ctx.redact(f"qqbot: {exc}"))
                    if not exc.resume:
                        self.session_id, self.seq = None, None
                    if exc.refresh_token:
                        self._tokens.invalidate()
                    delay = 0.0 if exc.resume else 1.0
                except (_Transient, SendError) as exc:
                    # SendError here: /gateway answered 4xx (platform trouble
                    # or a bot not yet allowed to connect); retry with backoff.
                    ctx.status.connected(False, ctx.redact(str(exc)))
                except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
                    ctx.status.connected(False, ctx.redact(f"qqbot gateway: {type(exc).__name__}"))
                if ctx.stop.is_set():
                    break
                await ctx.pause(backoff.next_delay() if delay is None else delay)
        finally:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            if own:
                await self.client.aclose()

    async def _gateway_url(self) -> str:
        body = await self._request("GET", "/gateway")
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise _Transient("qqbot /gateway: no url in the answer")
        return url

    async def _session(self, url: str, backoff: Backoff) -> None:
        ctx = self.ctx
        async with connect(url, open_timeout=15, ping_interval=None, close_timeout=2,
                           max_size=4 * 1024 * 1024) as ws:
            hello = await self._recv(ws, timeout=15)
            if hello.get("op") != 10:
                raise _Reconnect(f"expected Hello (op 10), got op {hello.get('op')}")
            d = hello.get("d")
            # Clamped: a negative interval would flood the gateway with
            # heartbeats, a huge one would never notice a dead connection.
            interval = server_delay(d.get("heartbeat_interval") if isinstance(d, dict) else None,
                                    default=41.25, scale=0.001, floor=0.1, ceiling=120.0)
            token = await self.token()
            if self.session_id and self.seq is not None:
                await ws.send(json.dumps({"op": 6, "d": {"token": f"QQBot {token}", "session_id": self.session_id,
                                                         "seq": self.seq}}))
                self.resumes += 1
            else:
                await ws.send(json.dumps({"op": 2, "d": {
                    "token": f"QQBot {token}", "intents": INTENT_GROUP_AND_C2C, "shard": [0, 1],
                    "properties": {"$os": "linux", "$browser": "gatewayctl", "$device": "gatewayctl"},
                }}))
                self.identifies += 1
            acked = asyncio.Event()
            acked.set()
            heart = asyncio.ensure_future(self._heartbeat(ws, interval, acked))
            reader = asyncio.ensure_future(self._read(ws, acked, backoff))
            stopper = asyncio.ensure_future(ctx.stop.wait())
            fatal = asyncio.ensure_future(self._fatal_event.wait())
            try:
                done, _ = await asyncio.wait({heart, reader, stopper, fatal}, return_when=asyncio.FIRST_COMPLETED)
                if self._fatal is not None:
                    raise self._fatal
                for task in (reader, heart):
                    if task in done:
                        task.result()
            finally:
                for task in (heart, reader, stopper, fatal):
                    task.cancel()
                await asyncio.gather(heart, reader, stopper, fatal, return_exceptions=True)

    async def _recv(self, ws, timeout: float | None = None) -> dict:
        try:
            raw = await asyncio.wait_for(ws.recv(), timeout) if timeout else await ws.recv()
        except asyncio.TimeoutError:
            raise _Reconnect("the gateway said nothing within the timeout") from None
        except websockets.exceptions.ConnectionClosed as exc:
            raise self._closed(exc) from None
        try:
            payload = json.loads(raw)
        except (ValueError, TypeError):
            return {}
        return payload if isinstance(payload, dict) else {}

    def _closed(self, exc: websockets.exceptions.ConnectionClosed) -> Exception:
        code = exc.rcvd.code if exc.rcvd is not None else None
        if code in _FATAL_CODES:
            return LaneFailure(f"{self.ctx.lane.name}: the QQ gateway closed the connection with {code} "
                               f"({_FATAL_CODES[code]})")
        if code == 4004:
            return _Reconnect("the gateway rejected the access token (4004)", resume=True, refresh_token=True)
        if code in _NEW_SESSION_CODES:
            return _Reconnect(f"the gateway ended the session ({code})", resume=False)
        return _Reconnect(f"the gateway closed the connection ({code})")

    async def _heartbeat(self, ws, interval: float, acked: asyncio.Event) -> None:
        while True:
            await self.ctx.clock.sleep(interval)
            if not acked.is_set():
                await ws.close()
                raise _Reconnect("a heartbeat got no ack (op 11): zombie connection")
            acked.clear()
            try:
                await ws.send(json.dumps({"op": 1, "d": self.seq}))
            except websockets.exceptions.ConnectionClosed as exc:
                raise self._closed(exc) from None

    async def _read(self, ws, acked: asyncio.Event, backoff: Backoff) -> None:
        ctx = self.ctx
        while True:
            payload = await self._recv(ws)
            ctx.check_fence("taking an event")
            op = payload.get("op")
            if op == 11:
                acked.set()
            elif op == 0:
                if is_int(payload.get("s")):
                    self.seq = payload["s"]
                kind = payload.get("t")
                data = payload.get("d") if isinstance(payload.get("d"), dict) else {}
                if kind == "READY":
                    self.session_id = str(data.get("session_id") or "") or None
                    backoff.reset()
                    ctx.status.connected(True)
                elif kind == "RESUMED":
                    backoff.reset()
                    ctx.status.connected(True)
                elif kind in ("C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE"):
                    if not isinstance(payload.get("d"), dict):
                        ctx.malformed("event", f"d of {kind} is {kind_of(payload.get('d'))}, not an object")
                        continue
                    task = asyncio.ensure_future(self._message(kind, data))
                    self._tasks.add(task)
                    task.add_done_callback(self._turn_done)
            elif op == 7:
                await ws.close()
                raise _Reconnect("the gateway asked for a reconnect (op 7)")
            elif op == 9:
                await ws.close()
                raise _Reconnect("the gateway invalidated the session (op 9)", resume=bool(payload.get("d")))
            elif op == 1:
                await ws.send(json.dumps({"op": 1, "d": self.seq}))

    # -- messages ---------------------------------------------------------
    def _turn_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, LaneFailure):
            # A turn found the credentials gone for good: end the lane through the session.
            if self._fatal is None:
                self._fatal = exc
            self._fatal_event.set()
        elif isinstance(exc, SHAPE_ERRORS):
            self.ctx.malformed("event", f"{type(exc).__name__}: {exc}")
        elif exc is not None:
            log.error("%s: a turn failed: %s", self.ctx.lane.name, self.ctx.redact(repr(exc)))

    async def _message(self, kind: str, data: dict) -> None:
        ctx = self.ctx
        msg_id = data.get("id")
        if not isinstance(msg_id, str) or not msg_id:
            ctx.malformed("event", "a message without a string id")
            return
        if msg_id in self.seen:
            return
        self.seen[msg_id] = None
        while len(self.seen) > _SEEN_KEEP:
            self.seen.popitem(last=False)
        ctx.status.message_received()
        author = data.get("author")
        if not isinstance(author, dict):
            ctx.malformed("event", f"author is {kind_of(author)}, not an object")
            return

        def ident(value) -> str:
            # openids become URL path segments below: only plain ids pass.
            ok = isinstance(value, str) and value.isascii() and all(c.isalnum() or c in "-_" for c in value)
            return value if ok else ""

        if kind == "C2C_MESSAGE_CREATE":
            sender = ident(author.get("user_openid") or author.get("id"))
            peer = sender
            path = f"/v2/users/{peer}/messages"
        else:
            sender = ident(author.get("member_openid") or author.get("id"))
            peer = ident(data.get("group_openid"))
            path = f"/v2/groups/{peer}/messages"
        text = data.get("content")
        if not isinstance(text, str) or not peer or not allowed(peer, self.allowed_peers, empty_means_all=False):
            ctx.status.message_ignored()
            return
        text = text.strip()
        if not text:
            ctx.status.message_ignored()
            return

        async def send(reply: str) -> None:
            for seq, chunk in enumerate(split_text(reply, MAX_TEXT), start=1):
                ctx.check_fence("sending a reply")
                body = {"content": chunk, "msg_type": 0, "msg_id": msg_id, "msg_seq": seq}
                backoff = Backoff()
                while True:
                    ctx.check_fence("sending a reply")  # each try: a retry may come after the deadline
                    try:
                        await self._request("POST", path, body)
                        break
                    except _Transient as exc:
                        ctx.status.error(ctx.redact(str(exc)))
                        await ctx.clock.sleep(backoff.next_delay())

        try:
            await handle_inbound(ctx, Inbound(peer, sender, msg_id, text), send)
        except Stopped:
            pass
