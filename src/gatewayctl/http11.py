"""The bounded HTTP/1.1 server under the control API and the webhook
listeners: requests parsed by h11, every read and wait bounded.

Why not ``http.server`` or a hand-written parser: both trusted the peer.
h11 parses strictly (``Content-Length: +3``, ``1_0`` and conflicting
lengths are protocol errors, identical repeats are merged as RFC 9110 8.6
allows), and this module adds what h11 leaves to its caller:

- a total deadline for the request head (``head_timeout_s`` from accept)
  and one for the body (``body_timeout_s`` from the end of the head), so a
  client that drips one byte every few seconds is cut off, not waited for;
- a write deadline for the response (a client that never reads);
- size caps for the head and the body (431 / 413);
- a connection cap: at the cap, the connection that has waited longest
  without sending a complete request head is closed to make room (an idle
  flood rotates through the oldest slots while a real client, which sends
  its request at once, gets through); when every held connection is busy
  with a real request, the new one is refused with 503;
- refusals and evictions logged at most once per ``log_every_s`` with a
  count, never once per connection;
- an exception in a route answers 500 and is logged once per kind; it never
  escapes as "Task exception was never retrieved".

One request per connection (``Connection: close``): webhook providers and
the control CLI open a connection per call. Imports h11 (its only
importer) and the standard library.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import h11

_REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            411: "Length Required", 413: "Payload Too Large", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one server. Defaults suit a webhook listener; the control
    API uses smaller ones (see runtime.control)."""

    max_connections: int = 128
    max_head_bytes: int = 64 * 1024
    max_body_bytes: int = 1024 * 1024
    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    write_timeout_s: float = 10.0
    log_every_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


Route = Callable[[Request], Awaitable[Response]]


@dataclass(slots=True)
class Stats:
    """What the server did; ``held``/``peak_held`` are open connections."""

    accepted: int = 0
    held: int = 0
    peak_held: int = 0
    evicted: int = 0  # idle connections closed to make room at the cap
    refused: int = 0  # connections refused at the cap (every slot busy)
    timed_out: int = 0  # head, body or write deadline passed
    bad_requests: int = 0  # protocol errors and oversize requests
    route_errors: int = 0  # exceptions raised by the route (answered 500)
    served: int = 0


class _RateLimitedLog:
    """One line per kind at most every ``every_s``, carrying how many
    events it stands for."""

    def __init__(self, log: Callable[[str], None], every_s: float, clock=time.monotonic):
        self._log = log
        self._every = every_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._pending: dict[str, int] = {}

    def note(self, kind: str, message: str) -> None:
        now = self._clock()
        count = self._pending.get(kind, 0) + 1
        last = self._last.get(kind)
        if last is not None and now - last < self._every:
            self._pending[kind] = count
            return
        self._last[kind] = now
        self._pending[kind] = 0
        suffix = f" ({count} times since the last report)" if count > 1 else ""
        try:
            self._log(message + suffix)
        except Exception:  # noqa: BLE001 - a broken log sink must not take the server down
            pass


@dataclass(slots=True)
class _Conn:
    writer: asyncio.StreamWriter
    accepted_at: float
    phase: str = "head"  # head -> body -> handling -> writing


class _Timeout(Exception):
    pass


class _Reject(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Server:
    def __init__(self, route: Route, *, limits: Limits | None = None, name: str = "http",
                 log: Callable[[str], None] | None = None):
        self.route = route
        self.limits = limits or Limits()
        self.name = name
        self.stats = Stats()
        self._log = _RateLimitedLog(log or logging.getLogger("gatewayctl.http").warning, self.limits.log_every_s)
        self._conns: dict[int, _Conn] = {}
        self._ids = itertools.count()
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> "Server":
        _quiet_accept_errors()
        # limit: the StreamReader buffer; reads are chunked, never readuntil.
        # backlog: asyncio accepts up to this many sockets in one go before
        # any of them reaches _on_client (where the cap applies), so it
        # bounds the descriptors a burst can take beyond the cap.
        self._server = await asyncio.start_server(self._on_client, host, port, limit=_READ_CHUNK,
                                                  backlog=min(64, max(8, self.limits.max_connections)))
        return self

    @property
    def sockets(self):
        return self._server.sockets if self._server is not None else ()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns.values()):
            conn.writer.transport.abort()

    async def wait_closed(self) -> None:
        """After close(): the listener is shut and every connection task has
        ended (cancelled if it was still waiting), so none is left pending
        when the loop goes away."""
        if self._server is not None:
            await self._server.wait_closed()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the cap ----------------------------------------------------------
    def _make_room(self) -> bool:
        """True when a new connection may be held (after evicting the
        oldest idle one if at the cap)."""
        if len(self._conns) < self.limits.max_connections:
            return True
        idle = [(c.accepted_at, cid) for cid, c in self._conns.items() if c.phase == "head"]
        if not idle:
            return False
        _, oldest = min(idle)
        conn = self._conns.pop(oldest)
        self.stats.evicted += 1
        self.stats.held = len(self._conns)
        conn.writer.transport.abort()
        self._log.note("evicted", f"{self.name}: {self.limits.max_connections} connections open; "
                                  "closed the oldest one still without a request to make room")
        return True

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        if not self._make_room():
            self.stats.refused += 1
            self._log.note("refused", f"{self.name}: refused a connection: all {self.limits.max_connections} "
                                      "connections are busy with requests")
            try:
                writer.write(_head(503, b"busy\n", "text/plain; charset=utf-8", ()) + b"busy\n")
            except (ConnectionError, RuntimeError):
                pass
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        cid = next(self._ids)
        conn = _Conn(writer, time.monotonic())
        self._conns[cid] = conn
        self.stats.held = len(self._conns)
        self.stats.peak_held = max(self.stats.peak_held, self.stats.held)
        try:
            await self._serve(reader, conn)
        except Exception as exc:  # noqa: BLE001 - last line of defence: never an unretrieved task exception
            self._log.note(f"bug:{type(exc).__name__}", f"{self.name}: a connection failed: {type(exc).__name__}")
        finally:
            self._conns.pop(cid, None)
            self.stats.held = len(self._conns)
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()  # a client that does not read gets nothing more
            else:
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, conn: _Conn) -> None:
        try:
            request = await self._read_request(reader, conn)
        except _Timeout as exc:
            self.stats.timed_out += 1
            self._log.note("timeout", f"{self.name}: closed a connection: {exc}")
            await self._write(conn, Response(408, b"request timeout\n"))
            return
        except _Reject as exc:
            self.stats.bad_requests += 1
            self._log.note(f"reject{exc.status}", f"{self.name}: rejected a request: {exc.message}")
            await self._write(conn, Response(exc.status, (exc.message + "\n").encode("utf-8", "replace")))
            return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        if request is None:  # the peer closed before sending a request
            return
        conn.phase = "handling"
        try:
            response = await self.route(request)
        except Exception as exc:  # noqa: BLE001 - hostile input must not crash a listener
            self.stats.route_errors += 1
            self._log.note(f"route:{type(exc).__name__}",
                           f"{self.name}: {request.method} {_printable(request.path)} failed "
                           f"({type(exc).__name__}); answered 500")
            response = Response(500, b"internal error\n")
        await self._write(conn, response)
        self.stats.served += 1

    async def _read_request(self, reader: asyncio.StreamReader, conn: _Conn) -> Request | None:
        limits = self.limits
        h = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head_bytes)
        loop = asyncio.get_running_loop()
        deadline = conn.accepted_at - time.monotonic() + loop.time() + limits.head_timeout_s
        what = "no complete request head"
        head: h11.Request | None = None
        body = bytearray()
        seen_head = bytearray()
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                status = exc.error_status_hint if exc.error_status_hint in (400, 431) else 400
                raise _Reject(status, f"malformed HTTP request ({exc})") from None
            if event is h11.NEED_DATA:
                left = deadline - loop.time()
                if left <= 0:
                    raise _Timeout(f"{what} within {self._budget(head):g} s")
                try:
                    data = await asyncio.wait_for(reader.read(_READ_CHUNK), left)
                except asyncio.TimeoutError:
                    raise _Timeout(f"{what} within {self._budget(head):g} s") from None
                if head is None:
                    # h11 caps only a head that arrives in pieces; one that
                    # arrives whole is measured here.
                    seen_head += data
                    end = seen_head.find(b"\r\n\r\n")
                    if (end < 0 and len(seen_head) > limits.max_head_bytes) or end > limits.max_head_bytes:
                        raise _Reject(431, f"request head over the {limits.max_head_bytes}-byte limit")
                    if end >= 0:
                        seen_head = bytearray()
                h.receive_data(data)  # b"" is the peer's EOF: h11 turns it into ConnectionClosed or an error
                continue
            if isinstance(event, h11.Request):
                head = event
                conn.phase = "body"
                length = _content_length(event.headers)
                if length is not None and length > limits.max_body_bytes:
                    raise _Reject(413, f"body of {length} bytes is over the {limits.max_body_bytes}-byte limit")
                deadline = loop.time() + limits.body_timeout_s
                what = "no complete request body"
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > limits.max_body_bytes:
                    raise _Reject(413, f"body is over the {limits.max_body_bytes}-byte limit")
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return _request(head, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                return None

    def _budget(self, head) -> float:
        return self.limits.head_timeout_s if head is None else self.limits.body_timeout_s

    async def _write(self, conn: _Conn, response: Response) -> None:
        conn.phase = "writing"
        data = _head(response.status, response.body, response.content_type, response.headers) + response.body
        try:
            conn.writer.write(data)
            await asyncio.wait_for(conn.writer.drain(), self.limits.write_timeout_s)
        except asyncio.TimeoutError:
            self.stats.timed_out += 1
            self._log.note("write-timeout", f"{self.name}: a client did not read its response within "
                                            f"{self.limits.write_timeout_s:g} s; closed")
        except (ConnectionError, RuntimeError):
            pass


class _OncePerMinute(logging.Filter):
    """asyncio logs "socket.accept() out of system resource" with a
    traceback each time accept() fails with EMFILE/ENFILE; under a flood
    that is a log line per connection attempt. Let one through a minute."""

    def __init__(self):
        super().__init__()
        self._last = None
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "out of system resource" not in str(record.msg):
            return True
        now = time.monotonic()
        if self._last is not None and now - self._last < 60:
            self._dropped += 1
            return False
        self._last = now
        record.exc_info = None  # the traceback says nothing the message does not
        if self._dropped:
            record.msg = f"{record.msg} ({self._dropped} more since the last report)"
            self._dropped = 0
        return True


_ACCEPT_FILTER = _OncePerMinute()


def _quiet_accept_errors() -> None:
    logger = logging.getLogger("asyncio")
    if _ACCEPT_FILTER not in logger.filters:
        logger.addFilter(_ACCEPT_FILTER)


def _content_length(headers) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value)  # h11 has validated it: digits only, no conflicting repeats
    return None


def _request(head: h11.Request, body: bytes) -> Request:
    target = head.target.decode("latin-1")
    parts = urlsplit(target)
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in head.headers}
    return Request(head.method.decode("latin-1").upper(), parts.path,
                   parse_qs(parts.query, keep_blank_values=True), headers, body)


def _head(status: int, body: bytes, content_type: str, extra: tuple[tuple[str, str], ...]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Type: {content_type}",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in extra]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _printable(text: str, limit: int = 80) -> str:
    out = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return out + ("..." if len(text) > limit else "")


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``; raises ValueError with a reason."""
    bind = bind.strip()
    if bind.startswith("["):
        host, sep, port = bind[1:].partition("]:")
    else:
        host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"webhook_bind {bind!r} is not host:port")
    return host or "127.0.0.1", int(port)
