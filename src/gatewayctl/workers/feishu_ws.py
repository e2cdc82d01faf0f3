"""Feishu/Lark long connection: the pbbp2 frame codec and the websocket
event loop (endpoint discovery, ping/pong, multi-part data frames, acks,
reconnect per the server's ClientConfig).

The frame is a protobuf message. There is no protobuf package here, and
one message with nine fields does not justify one, so this module carries a
small proto2 codec for exactly it. Field numbers and types follow
``pbbp2.proto`` as compiled into larksuite/oapi-sdk-python
``lark_oapi/ws/pb/pbbp2_pb2.py`` (and oapi-sdk-go ``ws/pbbp2.pb.go``)::

    message Header { required string key = 1; required string value = 2; }
    message Frame {
      required uint64 SeqID = 1;   required uint64 LogID = 2;
      required int32  service = 3; required int32  method = 4;
      repeated Header headers = 5;
      optional string payload_encoding = 6; optional string payload_type = 7;
      optional bytes  payload = 8;          optional string LogIDNew = 9;
    }

The protocol around it follows ``lark_oapi/ws/client.py``: ``POST
{base}/callback/ws/endpoint`` with ``{"AppID", "AppSecret"}`` gives the
websocket URL (its query carries ``device_id`` and ``service_id``) and a
ClientConfig; method 0 frames are control frames (header ``type`` ``ping``
from us, ``pong`` from the server, whose payload may carry a new
ClientConfig), method 1 frames carry data (header ``type`` ``event``;
``message_id``/``sum``/``seq`` split one payload over ``sum`` frames); every
data frame is answered by echoing it with the payload ``{"code": 200}``.

We chose this codec over the official SDK (lark-oapi): it binds an event
loop at import time (a module-level ``asyncio.get_event_loop()``), which
breaks a lane that owns its own loop, and it pins websockets below 16 while
the workers run on websockets 17; it would also bring requests and the full
protobuf runtime for one message.

Imports httpx, websockets, the standard library and sibling worker modules.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import websockets
from websockets.asyncio.client import connect

from gatewayctl.workers import httpclient
from gatewayctl.workers.base import LaneFailure, jittered, printable, server_delay

log = logging.getLogger("gatewayctl.workers.feishu")

METHOD_CONTROL = 0
METHOD_DATA = 1
ENDPOINT_PATH = "/callback/ws/endpoint"

# Endpoint codes (lark_oapi/ws/const.py): 1 and 1000040343 are the server's
# trouble (retry); anything else non-zero is ours (bad credentials, limits).
_RETRYABLE_ENDPOINT_CODES = {1, 1000040343}
_ASSEMBLY_TTL_S = 5.0
MAX_PARTS = 256  # parts of one payload; events are a few KiB, split into a handful
_HEALTHY_SESSION_S = 10.0


class FrameError(ValueError):
    """Bytes that are not a pbbp2 Frame."""


# ----------------------------------------------------------------- codec


@dataclass(frozen=True, slots=True)
class Frame:
    seq_id: int = 0
    log_id: int = 0
    service: int = 0
    method: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    payload_encoding: str | None = None
    payload_type: str | None = None
    payload: bytes | None = None
    log_id_new: str | None = None

    def header(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.headers:
            if k == key:
                return v
        return default

    def encode(self) -> bytes:
        out = bytearray()
        # Required proto2 fields are always written, zero or not.
        _key(out, 1, 0), _varint(out, self.seq_id)
        _key(out, 2, 0), _varint(out, self.log_id)
        _key(out, 3, 0), _varint(out, self.service & 0xFFFFFFFFFFFFFFFF)
        _key(out, 4, 0), _varint(out, self.method & 0xFFFFFFFFFFFFFFFF)
        for k, v in self.headers:
            inner = bytearray()
            _bytes_field(inner, 1, k.encode("utf-8"))
            _bytes_field(inner, 2, v.encode("utf-8"))
            _bytes_field(out, 5, bytes(inner))
        if self.payload_encoding is not None:
            _bytes_field(out, 6, self.payload_encoding.encode("utf-8"))
        if self.payload_type is not None:
            _bytes_field(out, 7, self.payload_type.encode("utf-8"))
        if self.payload is not None:
            _bytes_field(out, 8, self.payload)
        if self.log_id_new is not None:
            _bytes_field(out, 9, self.log_id_new.encode("utf-8"))
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> "Frame":
        values: dict[int, object] = {}
        headers: list[tuple[str, str]] = []
        for number, wire, value in _fields(data):
            if number in (1, 2, 3, 4):
                if wire != 0:
                    raise FrameError(f"field {number} has wire type {wire}, expected varint")
                if number in (3, 4):
                    value = _int32(value)
                values[number] = value
            elif number == 5:
                if wire != 2:
                    raise FrameError("headers entry is not length-delimited")
                key = val = None
                for n, w, v in _fields(value):
                    if w == 2 and n == 1:
                        key = _text(v)
                    elif w == 2 and n == 2:
                        val = _text(v)
                if key is None or val is None:
                    raise FrameError("a header without key or value")
                headers.append((key, val))
            elif number in (6, 7, 9):
                if wire != 2:
                    raise FrameError(f"field {number} is not length-delimited")
                values[number] = _text(value)
            elif number == 8:
                if wire != 2:
                    raise FrameError("payload is not length-delimited")
                values[8] = bytes(value)
            # unknown fields are skipped, as protobuf readers do
        missing = [n for n in (1, 2, 3, 4) if n not in values]
        if missing:
            raise FrameError(f"required field(s) {missing} missing")
        return cls(
            seq_id=values[1], log_id=values[2], service=values[3], method=values[4], headers=tuple(headers),
            payload_encoding=values.get(6), payload_type=values.get(7), payload=values.get(8),
            log_id_new=values.get(9),
        )

    def replace(self, **changes) -> "Frame":
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(changes)
        return Frame(**fields)


def _key(out: bytearray, number: int, wire: int) -> None:
    _varint(out, (number << 3) | wire)


def _varint(out: bytearray, value: int) -> None:
    if value < 0:
        raise FrameError("negative varint")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _bytes_field(out: bytearray, number: int, data: bytes) -> None:
    _key(out, number, 2)
    _varint(out, len(data))
    out += data


def _read_varint(data, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise FrameError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise FrameError("varint too long")


def _fields(data):
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        key, pos = _read_varint(view, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise FrameError("field number 0")
        if wire == 0:
            value, pos = _read_varint(view, pos)
        elif wire == 2:
            length, pos = _read_varint(view, pos)
            if pos + length > len(view):
                raise FrameError("truncated length-delimited field")
            value = view[pos:pos + length]
            pos += length
        elif wire == 1:
            if pos + 8 > len(view):
                raise FrameError("truncated fixed64")
            value = int.from_bytes(view[pos:pos + 8], "little")
            pos += 8
        elif wire == 5:
            if pos + 4 > len(view):
                raise FrameError("truncated fixed32")
            value = int.from_bytes(view[pos:pos + 4], "little")
            pos += 4
        else:
            raise FrameError(f"unsupported wire type {wire}")
        yield number, wire, value


def _int32(value: int) -> int:
    value &= 0xFFFFFFFFFFFFFFFF
    if value >= 1 << 63:
        value -= 1 << 64
    return value


def _text(view) -> str:
    try:
        return bytes(view).decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("a string field is not UTF-8") from None


def ping_frame(service_id: int) -> Frame:
    return Frame(service=service_id, method=METHOD_CONTROL, headers=(("type", "ping"),))


def ack_frame(frame: Frame, code: int = 200, biz_rt_ms: int = 0) -> Frame:
    """The answer to a data frame: the same frame, a ``biz_rt`` header, and
    a JSON response as payload (what the SDKs send back)."""
    return frame.replace(headers=frame.headers + (("biz_rt", str(biz_rt_ms)),),
                         payload=json.dumps({"code": code, "headers": None, "data": None}).encode("utf-8"))


# ------------------------------------------------------------ the client


@dataclass(slots=True)
class ClientConfig:
    """Reconnect/ping knobs the server hands out (seconds; count -1 = forever)."""

    reconnect_count: int = -1
    reconnect_interval: float = 120.0
    reconnect_nonce: float = 30.0
    ping_interval: float = 120.0

    def update(self, raw) -> None:
        """Take the server's values; delays are clamped (base.server_delay:
        a negative interval would be a hot loop, a huge one a lane that
        never pings or never comes back)."""
        if not isinstance(raw, dict):
            return
        for attr, key in (("reconnect_count", "ReconnectCount"), ("reconnect_interval", "ReconnectInterval"),
                          ("reconnect_nonce", "ReconnectNonce"), ("ping_interval", "PingInterval")):
            value = raw.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if attr == "reconnect_count":
                    self.reconnect_count = int(value) if -1 <= value <= 1_000_000 else -1
                elif attr == "reconnect_nonce":
                    self.reconnect_nonce = server_delay(value, floor=0.0, default=30.0)
                else:
                    setattr(self, attr, server_delay(value, default=getattr(self, attr)))


class _Retry(Exception):
    """A transient failure of discovery or of the connection."""


class Assembler:
    """Reassembles payloads split over ``sum`` data frames (by message_id);
    parts older than a few seconds are dropped, as the SDK's cache does."""

    def __init__(self, clock=time.monotonic):
        self._parts: dict[str, tuple[float, list]] = {}
        self._clock = clock

    def add(self, message_id: str, total: int, seq: int, payload: bytes) -> bytes | None:
        if total <= 1:
            return payload
        now = self._clock()
        for key in [k for k, (at, _) in self._parts.items() if now - at > _ASSEMBLY_TTL_S]:
            del self._parts[key]
        if not 0 <= seq < total:
            return None
        at, parts = self._parts.get(message_id, (now, [None] * total))
        if len(parts) != total:
            parts = [None] * total
        parts[seq] = payload
        if any(p is None for p in parts):
            self._parts[message_id] = (at, parts)
            return None
        self._parts.pop(message_id, None)
        return b"".join(parts)


class WsReceiver:
    """Receives events over the long connection and hands each payload
    (decoded JSON) to ``on_event``; answers every data frame with an ack
    once the event is taken in (``on_event`` returns quickly: the turn
    itself runs in the background, so the ack never waits on a handler)."""

    def __init__(self, lane, base_url: str, app_id: str, app_secret: str, on_event, client: httpx.AsyncClient):
        self.lane = lane  # the FeishuLane (ctx, status)
        self.ctx = lane.ctx
        self.base = base_url
        self.app_id = app_id
        self.app_secret = app_secret
        self.on_event = on_event
        self.client = client
        self.config = ClientConfig()
        self.assembler = Assembler()
        self.connections = 0
        self._session_started: float | None = None

    async def run(self) -> None:
        ctx = self.ctx
        attempts = 0  # failures since the last connection that worked
        while not ctx.stop.is_set():
            self._session_started = None
            ctx.check_fence("connecting")
            try:
                url, service_id = await self._discover()
                await self._session(url, service_id)
            except _Retry as exc:
                ctx.status.connected(False, ctx.redact(str(exc)))
            if ctx.stop.is_set():
                return
            # A connection that held for a while was a success; one the server
            # closes at once counts as a failed attempt (no tight loop).
            started = self._session_started
            if started is not None and time.monotonic() - started >= _HEALTHY_SESSION_S:
                attempts = 0
            attempts += 1
            if 0 <= self.config.reconnect_count < attempts:
                raise LaneFailure(
                    f"{ctx.lane.name}: the feishu long connection could not be re-established "
                    f"({self.config.reconnect_count} reconnects allowed by the server's ClientConfig)"
                )
            # As the SDK: the first retry waits a random share of the nonce
            # (a fleet does not reconnect all at once), later ones the interval.
            if attempts == 1:
                delay = random.random() * self.config.reconnect_nonce
            else:
                delay = jittered(self.config.reconnect_interval)
            await ctx.pause(delay)

    async def _discover(self) -> tuple[str, int]:
        ctx = self.ctx
        try:
            resp = await self.client.post(f"{self.base}{ENDPOINT_PATH}", headers={"locale": "zh"},
                                          json={"AppID": self.app_id, "AppSecret": self.app_secret}, timeout=15)
        except httpx.HTTPError as exc:
            raise _Retry(f"feishu endpoint discovery: network error ({httpclient.describe(exc)})") from None
        if resp.status_code != 200:
            raise _Retry(f"feishu endpoint discovery: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            raise _Retry("feishu endpoint discovery: the answer is not JSON") from None
        code = body.get("code") if isinstance(body, dict) else None
        if code in _RETRYABLE_ENDPOINT_CODES:
            raise _Retry(f"feishu endpoint discovery: server busy (code {code})")
        if code != 0:
            raise LaneFailure(ctx.redact(
                f"{ctx.lane.name}: feishu refused the long connection for this app (code {printable(code, 20)}: "
                f"{printable(body.get('msg', ''), 200) if isinstance(body, dict) else ''}); check app_id/app_secret and that "
                "the app subscribes to events over the long connection"
            ))
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        self.config.update(data.get("ClientConfig"))
        url = data.get("URL")
        if not isinstance(url, str) or not url:
            raise _Retry("feishu endpoint discovery: no URL in the answer")
        query = parse_qs(urlsplit(url).query)
        try:
            service_id = int((query.get("service_id") or ["0"])[0])
        except ValueError:
            service_id = 0
        return url, service_id

    async def _session(self, url: str, service_id: int) -> None:
        ctx = self.ctx
        try:
            ws = await connect(url, open_timeout=15, ping_interval=None, close_timeout=2, max_size=16 * 1024 * 1024)
        except websockets.exceptions.InvalidStatus as exc:
            status = exc.response.status_code
            headers = exc.response.headers
            hs = headers.get("handshake-status")
            msg = printable(headers.get("handshake-msg", ""), 200)
            if hs in ("403",) or (hs == "514" and headers.get("handshake-autherrcode") == "1000040350"):
                raise LaneFailure(f"{ctx.lane.name}: feishu refused the websocket (handshake {hs}: {msg})") from None
            raise _Retry(f"feishu websocket handshake: HTTP {status} {msg}".rstrip()) from None
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
            raise _Retry(f"feishu websocket: cannot connect ({type(exc).__name__})") from None
        self.connections += 1
        self._session_started = time.monotonic()
        ctx.status.connected(True)
        pinger = asyncio.ensure_future(self._ping(ws, service_id))
        stopper = asyncio.ensure_future(ctx.stop.wait())
        reader = asyncio.ensure_future(self._read(ws))
        try:
            done, _ = await asyncio.wait({pinger, stopper, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()
        finally:
            for task in (pinger, stopper, reader):
                task.cancel()
            await asyncio.gather(pinger, stopper, reader, return_exceptions=True)
            await ws.close()
        if not ctx.stop.is_set():
            raise _Retry("feishu websocket: the server closed the connection")

    async def _ping(self, ws, service_id: int) -> None:
        while True:
            try:
                await ws.send(ping_frame(service_id).encode())
            except websockets.exceptions.ConnectionClosed:
                return
            await self.ctx.clock.sleep(max(self.config.ping_interval, 0.05))

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                # Fenced: the frame is not acknowledged, Feishu delivers it again (to the next holder).
                self.ctx.check_fence("taking a frame")
                if isinstance(raw, str):
                    raw = raw.encode("utf-8")
                try:
                    frame = Frame.decode(raw)
                except FrameError as exc:
                    log.warning("%s: a websocket frame that is not pbbp2 (%s); ignored", self.ctx.lane.name, exc)
                    continue
                await self._frame(ws, frame)
        except websockets.exceptions.ConnectionClosed:
            return

    async def _frame(self, ws, frame: Frame) -> None:
        kind = frame.header("type")
        if frame.method == METHOD_CONTROL:
            if kind == "pong" and frame.payload:
                try:
                    self.config.update(json.loads(frame.payload))
                except ValueError:
                    pass
            return
        if frame.method != METHOD_DATA:
            return
        try:
            total = int(frame.header("sum", "1") or 1)
            seq = int(frame.header("seq", "0") or 0)
        except ValueError:
            self.ctx.malformed("frame", "sum or seq is not a number")
            return
        if not 1 <= total <= MAX_PARTS:
            # The parts list is allocated up front: sum=10**9 would be gigabytes.
            self.ctx.malformed("frame", f"sum {total} outside 1-{MAX_PARTS}")
            return
        payload = self.assembler.add(frame.header("message_id", "") or "", total, seq, frame.payload or b"")
        if payload is None:
            return  # more parts to come; the last part is the one acknowledged
        started = time.monotonic()
        code = 200
        if kind == "event":
            try:
                event = json.loads(payload)
            except ValueError:
                event = None
                code = 500
            if isinstance(event, dict):
                await self.on_event(event)
        await ws.send(ack_frame(frame, code, int((time.monotonic() - started) * 1000)).encode())
