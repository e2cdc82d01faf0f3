"""Fake WeCom AI bot long-connection server (JSON frames over a websocket),
plus ``WsThread``: a websockets server on its own event loop thread, which
the Feishu and QQ fakes reuse for their websocket sides.

Wire format as the real server speaks it: frames ``{"cmd", "headers":
{"req_id"}, "body"}``; ``aibot_subscribe`` answered ``{"headers":
{"req_id"}, "errcode", "errmsg"}`` (no ``cmd`` by default; ``ack_with_cmd``
adds it, as some deployments do); ``ping`` answered the same way;
``aibot_msg_callback`` pushed for injected messages; ``aibot_respond_msg``
recorded and answered; ``aibot_event_callback`` with ``disconnected_event``
for a takeover. ``overlaps`` (and ``GET /_fake/overlaps`` on the websocket
port) counts the takeovers: a subscribe while another connection of the bot
is live is two consumers of one account."""

from __future__ import annotations

import asyncio
import http
import itertools
import json
import threading
import time

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from gatewayctl.fakes._http import Waits


class WsThread:
    """A websockets server on 127.0.0.1 served from a private event loop.

    ``http(path) -> (status, obj) | None`` answers plain HTTP GETs on the
    same port (a fake's ``/_fake/...`` control paths); None: the request goes
    on to the websocket handshake."""

    def __init__(self, handler, host: str = "127.0.0.1", port: int = 0, *, http=None):
        self._handler = handler
        self._http = http
        self.host = host
        self.loop = asyncio.new_event_loop()
        self._server = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = port

    def start(self):
        self._thread.start()

        async def boot():
            self._server = await serve(self._handler, self.host, self.port, ping_interval=None,
                                       max_size=16 * 1024 * 1024, process_request=self._process_request)
            return self._server.sockets[0].getsockname()[1]

        self.port = self.call(boot())
        return self

    def _process_request(self, connection, request):
        if self._http is None:
            return None
        answer = self._http(request.path.split("?", 1)[0])
        if answer is None:
            return None
        status, obj = answer
        body = json.dumps(obj).encode()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                           ("Connection", "close")])
        return Response(status, http.HTTPStatus(status).phrase, headers, body)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def down():
            self._server.close()
            await self._server.wait_closed()

        try:
            self.call(down())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


class FakeWeCom(Waits):
    def __init__(self, bot_id: str = "aibFAKEBOT0001", secret: str = "wecom-fake-secret-0001", *,
                 ack_with_cmd: bool = False, host: str = "127.0.0.1", port: int = 0):
        self.bot_id = bot_id
        self.secret = secret
        self.ack_with_cmd = ack_with_cmd
        self.cond = threading.Condition()
        self.ws_thread = WsThread(self._connection, host, port, http=self._http)
        self.connections = 0  # successful subscriptions
        self.attempts = 0  # websocket connections opened
        self.pings = 0
        self.answer_pings = True
        self.sent: list[dict] = []  # aibot_respond_msg frames received
        self.frames: list[dict] = []  # every frame received, in order
        self.callbacks: dict[str, dict] = {}  # req_id -> callback frame we pushed
        self._current = None
        self.takeovers = 0  # subscribes that took the bot over from a live connection
        self._ids = itertools.count(1)

    # -- lifecycle --------------------------------------------------------
    def start(self) -> "FakeWeCom":
        self.ws_thread.start()
        return self

    def stop(self) -> None:
        self.ws_thread.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        return self.ws_thread.url

    @property
    def overlaps(self) -> int:
        """Concurrent consumers seen: every takeover of a live connection."""
        return self.takeovers

    def _http(self, path: str):
        if path == "/_fake/overlaps":
            with self.cond:
                return 200, {"overlaps": self.overlaps}
        return None

    # -- test control -----------------------------------------------------

    def wait_connected(self, n: int = 1, timeout: float = 10.0) -> bool:
        return bool(self.wait_until(lambda: self.connections >= n and self._current is not None, timeout))

    def wait_sent(self, n: int, timeout: float = 10.0):
        return self.wait_until(lambda: list(self.sent) if len(self.sent) >= n else None, timeout)

    def snapshot_sent(self) -> list[dict]:
        with self.cond:
            return list(self.sent)

    def inject(self, text: str, *, userid: str = "zhangsan", chatid: str | None = None,
               msgtype: str = "text", msgid: str | None = None) -> str:
        """Push an aibot_msg_callback (group when ``chatid`` is given); returns its req_id."""
        n = next(self._ids)
        req_id = f"cb-{n}"
        body = {"msgid": msgid or f"msg-{n}", "aibotid": self.bot_id, "chattype": "group" if chatid else "single",
                "from": {"userid": userid}, "msgtype": msgtype}
        if chatid:
            body["chatid"] = chatid
        if msgtype == "text":
            body["text"] = {"content": text}
        frame = {"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body}
        with self.cond:
            self.callbacks[req_id] = frame
        self._push(frame)
        return req_id

    def _disconnected_event(self) -> dict:
        return {"cmd": "aibot_event_callback", "headers": {"req_id": f"ev-{next(self._ids)}"},
                "body": {"msgid": f"ev-{next(self._ids)}", "create_time": int(time.time()),
                         "aibotid": self.bot_id, "msgtype": "event",
                         "event": {"eventtype": "disconnected_event"}}}

    def takeover(self) -> None:
        """What WeCom does when another client subscribes with the same bot
        (a second subscribe does this by itself, and counts in ``takeovers``)."""
        self._push(self._disconnected_event())

    def drop(self) -> None:
        """Close the current connection from the server side."""
        ws = self._current
        if ws is not None:
            self.ws_thread.call(ws.close(code=1011, reason="fake drop"))

    def _push(self, frame: dict) -> None:
        ws = self._current
        assert ws is not None, "no client connected"
        self.ws_thread.call(ws.send(json.dumps(frame, ensure_ascii=False)))

    # -- wire -------------------------------------------------------------
    def _ack(self, cmd: str, req_id: str, errcode: int = 0, errmsg: str = "ok") -> str:
        frame = {"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg}
        if self.ack_with_cmd:
            frame["cmd"] = cmd
        return json.dumps(frame)

    async def _connection(self, ws) -> None:
        with self.cond:
            self.attempts += 1
        subscribed = False
        try:
            async for raw in ws:
                frame = json.loads(raw)
                cmd = frame.get("cmd")
                req_id = (frame.get("headers") or {}).get("req_id", "")
                with self.cond:
                    self.frames.append(frame)
                    self.cond.notify_all()
                if cmd == "aibot_subscribe":
                    body = frame.get("body") or {}
                    if body.get("bot_id") != self.bot_id or body.get("secret") != self.secret:
                        await ws.send(self._ack(cmd, req_id, 40001, "invalid secret"))
                        await ws.close()
                        return
                    await ws.send(self._ack(cmd, req_id))
                    subscribed = True
                    with self.cond:
                        self.connections += 1
                        previous, self._current = self._current, ws
                        if previous is not None and previous is not ws and previous.state.name == "OPEN":
                            # WeCom keeps one long connection per bot: a new
                            # subscribe takes the bot over from the old one.
                            self.takeovers += 1
                        else:
                            previous = None
                        self.cond.notify_all()
                    if previous is not None:
                        try:
                            await previous.send(json.dumps(self._disconnected_event()))
                        except Exception:  # noqa: BLE001 - the old client may be gone already
                            pass
                elif not subscribed:
                    await ws.send(self._ack(cmd or "", req_id, 40002, "not subscribed"))
                elif cmd == "ping":
                    with self.cond:
                        self.pings += 1
                        answer = self.answer_pings
                    if answer:
                        await ws.send(self._ack(cmd, req_id))
                elif cmd == "aibot_respond_msg":
                    with self.cond:
                        known = req_id in self.callbacks
                    if not known:
                        await ws.send(self._ack(cmd, req_id, 40003, "invalid req_id"))
                        continue
                    stream = (frame.get("body") or {}).get("stream") or {}
                    with self.cond:
                        self.sent.append({"req_id": req_id, "content": stream.get("content"),
                                          "finish": stream.get("finish"), "id": stream.get("id"),
                                          "msgtype": (frame.get("body") or {}).get("msgtype")})
                        self.cond.notify_all()
                    await ws.send(self._ack(cmd, req_id))
        except ConnectionClosed:
            pass
        finally:
            with self.cond:
                if self._current is ws:
                    self._current = None
                self.cond.notify_all()
