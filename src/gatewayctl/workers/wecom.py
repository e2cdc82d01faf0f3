"""WeCom AI bot lane: long connection (JSON frames over a websocket) ->
handler -> ``aibot_respond_msg``.

Wire format (WeCom "intelligent bot" long connection, as the official
@wecom/aibot-node-sdk speaks it): every frame is ``{"cmd", "headers":
{"req_id"}, "body"}``; answers to our commands come back with the same
``req_id`` and ``errcode``/``errmsg``, with or without ``cmd`` (both are
accepted). The lane subscribes with ``aibot_subscribe`` and ``{bot_id,
secret}``, sends ``ping`` every ``ping_interval_s`` (two unanswered pings
mean a dead connection: reconnect), answers ``aibot_msg_callback`` text
messages with a finished ``stream`` reply carrying the callback's
``req_id``. ``aibot_event_callback`` with ``disconnected_event`` means
another client subscribed with the same bot: WeCom keeps one connection
per bot, so reconnecting would only fight over it; that is a lane failure.

Imports websockets, the standard library and sibling worker modules.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from collections import OrderedDict

import websockets
from websockets.asyncio.client import connect

from gatewayctl.workers.base import (
    SHAPE_ERRORS,
    Backoff,
    Inbound,
    LaneContext,
    LaneFailure,
    SendError,
    Stopped,
    allowed,
    handle_inbound,
    kind_of,
    printable,
)

log = logging.getLogger("gatewayctl.workers.wecom")

DEFAULT_URL = "wss://openws.work.weixin.qq.com"
# aibot_respond_msg stream content is capped at 20480 bytes by WeCom.
MAX_STREAM_BYTES = 20480
_ACK_TIMEOUT_S = 15.0
_SEEN_KEEP = 2048
_MISSED_PINGS_DEAD = 2


class _Dead(Exception):
    """The connection is gone (closed, dropped or silent): reconnect."""


def takeover_message(lane_name: str) -> str:
    return (
        f"{lane_name}: WeCom sent disconnected_event: another client subscribed with this bot's "
        "credentials and took over its long connection (WeCom allows one per bot); "
        "stop the other client, then restart this lane"
    )


def truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", "ignore")


class WeComLane:
    def __init__(self, ctx: LaneContext):
        self.ctx = ctx
        lane = ctx.lane
        self.bot_id = ctx.secrets.require("bot_id", lane)
        self.secret = ctx.secrets.require("secret", lane)
        self.url = str(ctx.setting("websocket_url") or DEFAULT_URL)
        self.ping_interval = float(ctx.setting("ping_interval_s", 30) or 0)
        self.reconnect_interval = float(ctx.setting("reconnect_interval_s", 5) or 0)
        self.allowed_conversations = tuple(ctx.setting("allowed_conversation_ids", ()) or ())
        self.allowed_senders = tuple(ctx.setting("allowed_sender_ids", ()) or ())
        self.ws = None
        self._ids = itertools.count(1)
        self._prefix = f"gw{os.getpid():x}"
        self._waiters: dict[str, asyncio.Future] = {}
        self._unacked_pings: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.connections = 0

    def _req_id(self, kind: str) -> str:
        return f"{self._prefix}_{kind}_{next(self._ids)}"

    async def run(self) -> None:
        ctx = self.ctx
        if not self.allowed_conversations:
            ctx.status.error("allowed_conversation_ids is empty: no conversation will be answered (fail closed)")
        # First retry after reconnect_interval_s, then doubling: a server that
        # keeps refusing is not hammered, a blip costs one interval.
        backoff = Backoff(max(self.reconnect_interval, 0.2), max(60.0, self.reconnect_interval))
        try:
            while not ctx.stop.is_set():
                try:
                    await self._session(backoff)
                except _Dead as exc:
                    ctx.status.connected(False, ctx.redact(f"wecom: {exc}"))
                except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
                    ctx.status.connected(False, ctx.redact(f"wecom: cannot connect ({_describe(exc)})"))
                if ctx.stop.is_set():
                    break
                await ctx.pause(backoff.next_delay())
        finally:
            await self._drain()

    async def _drain(self) -> None:
        """Let the turns in progress finish (the lane's stop grace bounds this)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _session(self, backoff: Backoff) -> None:
        ctx = self.ctx
        ctx.check_fence("connecting")
        async with connect(self.url, open_timeout=_ACK_TIMEOUT_S, ping_interval=None, close_timeout=2,
                           max_size=4 * 1024 * 1024) as ws:
            self.ws = ws
            self._unacked_pings.clear()
            reader = asyncio.ensure_future(self._read(ws))
            try:
                await self._subscribe(ws, reader)
                self.connections += 1
                backoff.reset()
                ctx.status.connected(True)
                pinger = asyncio.ensure_future(self._ping(ws))
                stopper = asyncio.ensure_future(ctx.stop.wait())
                try:
                    done, _ = await asyncio.wait({reader, pinger, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (pinger, stopper):
                        task.cancel()
                    await asyncio.gather(pinger, stopper, return_exceptions=True)
                if reader in done:
                    reader.result()  # raises LaneFailure (takeover) or _Dead
                if pinger in done and not pinger.cancelled() and pinger.exception() is not None:
                    raise pinger.exception()
            finally:
                self.ws = None
                if not reader.done():
                    reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                for fut in self._waiters.values():
                    if not fut.done():
                        fut.set_exception(_Dead("connection closed"))
                self._waiters.clear()

    async def _subscribe(self, ws, reader: asyncio.Future) -> None:
        rid = self._req_id("subscribe")
        ack = await self._command(ws, {"cmd": "aibot_subscribe", "headers": {"req_id": rid},
                                       "body": {"bot_id": self.bot_id, "secret": self.secret}}, rid, reader)
        if ack.get("errcode", 0) != 0:
            raise LaneFailure(self.ctx.redact(
                f"{self.ctx.lane.name}: WeCom refused aibot_subscribe (errcode {printable(ack.get('errcode'), 20)}: "
                f"{printable(ack.get('errmsg', ''), 200)}); check bot_id and secret"
            ))

    async def _command(self, ws, frame: dict, rid: str, reader: asyncio.Future | None = None) -> dict:
        """Send one command and wait for the frame answering its req_id."""
        fut = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
            waiters = {fut} if reader is None else {fut, reader}
            done, _ = await asyncio.wait(waiters, timeout=_ACK_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
            if fut in done:
                return fut.result()
            if reader is not None and reader in done:
                reader.result()
                raise _Dead("connection closed before WeCom answered")
            raise _Dead(f"no answer to {frame.get('cmd')} within {_ACK_TIMEOUT_S:g}s")
        except websockets.exceptions.ConnectionClosed:
            raise _Dead("connection closed while sending") from None
        finally:
            self._waiters.pop(rid, None)

    async def _ping(self, ws) -> None:
        if self.ping_interval <= 0:
            await asyncio.Event().wait()  # pings switched off: only the reader ends the session
        while True:
            await self.ctx.clock.sleep(self.ping_interval)
            if len(self._unacked_pings) >= _MISSED_PINGS_DEAD:
                await ws.close()
                raise _Dead(f"{_MISSED_PINGS_DEAD} pings in a row got no answer")
            rid = self._req_id("ping")
            self._unacked_pings.add(rid)
            try:
                await ws.send(json.dumps({"cmd": "ping", "headers": {"req_id": rid}}))
            except websockets.exceptions.ConnectionClosed:
                raise _Dead("connection closed while pinging") from None

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                self.ctx.check_fence("taking a frame")
                try:
                    frame = json.loads(raw)
                except (ValueError, TypeError):
                    log.warning("%s: a frame that is not JSON; ignored", self.ctx.lane.name)
                    continue
                if not isinstance(frame, dict):
                    self.ctx.malformed("frame", f"a frame is {kind_of(frame)}, not an object")
                    continue
                try:
                    self._dispatch(frame)
                except SHAPE_ERRORS as exc:
                    self.ctx.malformed("frame", f"{type(exc).__name__}: {exc}")
        except websockets.exceptions.ConnectionClosed:
            pass
        raise _Dead("WeCom closed the connection")

    def _dispatch(self, frame: dict) -> None:
        headers = frame.get("headers") if isinstance(frame.get("headers"), dict) else {}
        rid = str(headers.get("req_id") or "")
        cmd = frame.get("cmd")
        if rid in self._unacked_pings:
            self._unacked_pings.clear()  # any answer proves the connection alive
            return
        waiter = self._waiters.get(rid)
        if waiter is not None and cmd not in ("aibot_msg_callback", "aibot_event_callback"):
            if not waiter.done():
                waiter.set_result(frame)
            return
        body = frame.get("body") if isinstance(frame.get("body"), dict) else {}
        if cmd == "aibot_event_callback":
            event = body.get("event") if isinstance(body.get("event"), dict) else {}
            if event.get("eventtype") == "disconnected_event":
                raise LaneFailure(takeover_message(self.ctx.lane.name))
            return
        if cmd == "aibot_msg_callback":
            task = asyncio.ensure_future(self._message(rid, body))
            self._tasks.add(task)
            task.add_done_callback(self._turn_done)

    def _turn_done(self, task: asyncio.Task) -> None:
        """Collect a turn's outcome, so none ends as "Task exception was
        never retrieved": a shape error is a malformed message (counted),
        anything else is logged."""
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, Stopped):
            return  # the lane is stopping (or fenced): the turn is dropped, not failed
        if isinstance(exc, SHAPE_ERRORS):
            self.ctx.malformed("message", f"{type(exc).__name__}: {exc}")
        elif exc is not None:
            log.error("%s: a turn failed: %s", self.ctx.lane.name, printable(self.ctx.redact(repr(exc))))

    async def _message(self, req_id: str, body: dict) -> None:
        ctx = self.ctx
        raw_id = body.get("msgid") or req_id
        if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
            ctx.malformed("message", f"msgid is {kind_of(raw_id)}")
            return
        msgid = str(raw_id)
        if msgid in self.seen:
            return
        self.seen[msgid] = None
        while len(self.seen) > _SEEN_KEEP:
            self.seen.popitem(last=False)
        sender_obj, text_obj = body.get("from"), body.get("text")
        if not isinstance(sender_obj, dict) or (body.get("msgtype") == "text" and not isinstance(text_obj, dict)):
            bad = "from" if not isinstance(sender_obj, dict) else "text"
            ctx.malformed("message", f"{bad} is {kind_of(body.get(bad))}, not an object")
            return
        ctx.status.message_received()
        text = text_obj.get("content") if body.get("msgtype") == "text" else None
        userid = sender_obj.get("userid")
        sender = userid if isinstance(userid, str) else ""
        chatid = body.get("chatid")
        chatid = chatid if isinstance(chatid, str) else ""
        conversation = chatid if body.get("chattype") == "group" and chatid else sender
        if not isinstance(text, str) or not allowed(conversation, self.allowed_conversations, empty_means_all=False) \
                or not allowed(sender, self.allowed_senders, empty_means_all=True):
            ctx.status.message_ignored()
            return

        async def send(reply: str) -> None:
            content = truncate_utf8(reply, MAX_STREAM_BYTES)
            if content != reply:
                ctx.status.error(f"wecom: reply to {msgid} cut to {MAX_STREAM_BYTES} bytes (the stream limit)")
            ws = self.ws
            if ws is None:
                raise SendError(f"wecom: the connection dropped before the reply to {msgid} could be sent")
            frame = {
                "cmd": "aibot_respond_msg",
                "headers": {"req_id": req_id},
                "body": {"msgtype": "stream", "stream": {"id": self._req_id("stream"), "finish": True,
                                                         "content": content}},
            }
            try:
                ack = await self._command(ws, frame, req_id)
            except _Dead as exc:
                raise SendError(f"wecom: reply to {msgid} not confirmed ({exc})") from None
            if ack.get("errcode", 0) != 0:
                raise SendError(f"wecom: aibot_respond_msg refused (errcode {printable(ack.get('errcode'), 20)}: "
                                f"{printable(ack.get('errmsg', ''), 200)})")

        await handle_inbound(ctx, Inbound(conversation, sender, msgid, text), send)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, websockets.exceptions.InvalidStatus):
        return f"HTTP {exc.response.status_code} on the websocket handshake"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
