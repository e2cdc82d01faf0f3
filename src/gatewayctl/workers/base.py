"""Shared pieces of every lane loop: failures, clock, backoff, the inbound
message pipeline (allowlists -> handler -> reply) and the lane context.

Imports only the standard library, gatewayctl.compile.plan and sibling
worker modules.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from gatewayctl.compile.plan import Lane, LaunchPlan

log = logging.getLogger("gatewayctl.workers")


class LaneFailure(Exception):
    """A condition the lane cannot recover from by itself (bad credentials,
    a conflicting poller, a missing secret). The message is one line, names
    references but never secret values."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Clock:
    """Time goes through one object so tests can drive it."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TokenCache:
    """An app access token fetched on demand and reused until shortly before
    it expires (Feishu's tenant token, QQ's app token).

    ``fetch`` returns ``(token, lifetime_s)``. The token is refreshed
    ``margin_s`` early, but never later than half its lifetime, so a short
    lifetime still leaves room. One lock: concurrent callers share a fetch.
    """

    def __init__(self, clock: Clock, margin_s: float):
        self._clock = clock
        self._margin_s = margin_s
        self._lock = asyncio.Lock()
        self._token = ""
        self._expires = 0.0
        self.fetches = 0

    async def get(self, fetch: Callable[[], Awaitable[tuple[str, float]]], *, force: bool = False) -> str:
        async with self._lock:
            now = self._clock.monotonic()
            if self._token and not force and now < self._expires:
                return self._token
            token, lifetime = await fetch()
            self.fetches += 1
            self._token = token
            self._expires = now + lifetime - min(self._margin_s, lifetime / 2)
            return token

    def invalidate(self) -> None:
        """The next ``get`` fetches a new token."""
        self._expires = 0.0


async def post_json(client, url: str, payload: dict, *, what: str, transient: type[Exception]):
    """POST ``payload``; returns ``(status, body)`` with ``body`` a dict ({}
    when the response is not a JSON object). Network errors and 5xx raise
    ``transient`` (the caller backs off and retries)."""
    import httpx

    from gatewayctl.workers.httpclient import describe

    try:
        resp = await client.post(url, timeout=15, json=payload)
    except httpx.HTTPError as exc:
        raise transient(f"{what}: network error ({describe(exc)})") from None
    if resp.status_code >= 500:
        raise transient(f"{what}: HTTP {resp.status_code}")
    try:
        body = resp.json()
    except ValueError:
        body = {}
    return resp.status_code, body if isinstance(body, dict) else {}


def jittered(delay: float, rand: Callable[[], float] = random.random) -> float:
    """``delay`` less a random share of up to half of it, so lanes that lost
    the same server at the same moment do not come back in lockstep."""
    return delay * (1.0 - 0.5 * rand())


class Backoff:
    """Exponential backoff for transient failures (network, 5xx), with
    jitter: each delay is between half and all of the exponential step."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, *, rand: Callable[[], float] = random.random):
        self.initial = initial
        self.maximum = maximum
        self._next = initial
        self._rand = rand

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return jittered(delay, self._rand)

    def reset(self) -> None:
        self._next = self.initial


# A delay a server asks for (retry_after, Retry-After, a reconnect
# interval) is clamped: a negative or zero one would make a hot loop, a huge
# one would park the lane for days.
MIN_SERVER_DELAY_S = 0.5
MAX_SERVER_DELAY_S = 300.0


def server_delay(value, *, default: float = 1.0, scale: float = 1.0, floor: float = MIN_SERVER_DELAY_S,
                 ceiling: float = MAX_SERVER_DELAY_S) -> float:
    """A server-given delay (seconds, or ms with ``scale=0.001``) as a float
    within [floor, ceiling]; ``default`` when it is missing or not a number."""
    if isinstance(value, bool):
        seconds = default
    elif isinstance(value, (int, float)):
        seconds = float(value) * scale
    elif isinstance(value, (str, bytes)) and len(value) <= 32:
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = default
    else:
        seconds = default
    if not math.isfinite(seconds):
        seconds = ceiling if seconds > 0 else default
    return min(max(seconds, floor), ceiling)


_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI (colours, cursor moves)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (titles, hyperlinks), BEL or ST terminated
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[@-_]?"  # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def printable(text, limit: int = 500) -> str:
    """One line that is safe to show on a terminal: escape sequences
    (ANSI colours, OSC titles and links) removed, every other control or
    format character (newlines, BEL, bidi overrides) shown as ``\\xNN`` /
    ``\\uNNNN``, cut at ``limit`` characters. Whatever a chat API sends goes
    through this before it reaches a status file or a log line."""
    text = _ESCAPES.sub("", str(text))
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    line = "".join(out)
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class Inbound:
    """One inbound text message, family-neutral."""

    conversation_id: str
    sender_id: str
    message_id: str
    text: str


@dataclass(slots=True)
class LaneContext:
    plan: LaunchPlan
    lane: Lane
    secrets: "object"  # workers.secrets.Secrets
    handler: "object"  # workers.handlers.Handler
    status: "object"  # workers.status.StatusWriter
    state_dir: str | None
    clock: Clock = field(default_factory=Clock)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    fence: "object" = None  # workers.fence.Fence in a fleet, else None
    cursor_store: "object" = None  # workers.cursor.EtcdCursorConfig in a fleet, else None (a file)
    _malformed_logged: set = field(default_factory=set)

    def setting(self, key: str, default=None):
        return self.lane.settings.get(key, default)

    def check_fence(self, what: str) -> None:
        """Raise fence.Fenced (a Stopped) once the lane's fleet deadline has
        passed; called before every poll or receive and before every send.
        Nothing without a fence (a single host)."""
        if self.fence is not None:
            self.fence.check(what)

    def redact(self, text: str) -> str:
        return self.secrets.redact(text)

    def malformed(self, what: str, detail: str = "") -> None:
        """Count one malformed thing received from the platform (an update,
        an event, a frame, a webhook delivery) that is skipped. The status
        shows the latest; the log gets each kind once, not once per item."""
        self.status.malformed(printable(self.redact(f"skipped a malformed {what}" + (f": {detail}" if detail else ""))))
        if what not in self._malformed_logged:
            self._malformed_logged.add(what)
            log.warning("%s: skipped a malformed %s%s (further ones are only counted: malformed_received)",
                        self.lane.name, what, printable(self.redact(f": {detail}" if detail else "")))

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the lane is asked to stop."""
        if seconds <= 0 or self.stop.is_set():
            return
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass


# What a wrongly shaped payload raises when code reads it as the documented
# shape. Caught around each item received (one update, one event, one
# frame), never around a whole loop: the item is skipped and counted.
SHAPE_ERRORS = (TypeError, AttributeError, KeyError, ValueError, IndexError)


def kind_of(value) -> str:
    """JSON type name of a received value, for "chat is str, not an object"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(type(value), "value")


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def guarded(ctx: "LaneContext", what: str, awaitable) -> bool:
    """Await the handling of one received item; a shape error inside it
    counts the item as malformed instead of ending the lane. True when it
    was handled."""
    try:
        await awaitable
        return True
    except SHAPE_ERRORS as exc:
        ctx.malformed(what, f"{type(exc).__name__}: {exc}")
        return False


def allowed(value, allowlist, *, empty_means_all: bool) -> bool:
    """Membership by string form, so an int chat id matches "123" and 123."""
    if not allowlist:
        return empty_means_all
    wanted = str(value)
    return any(str(item) == wanted for item in allowlist)


async def handle_inbound(ctx: LaneContext, msg: Inbound, send: Callable[[str], Awaitable[None]]) -> None:
    """Ask the handler about one admitted message and send its reply.

    Handler failures are counted and logged, never raised: one bad turn must
    not stop the lane. ``send`` may raise LaneFailure (fatal) which passes up.
    A lane past its fleet deadline neither asks nor sends (fence.Fenced
    passes up: the cursor is not saved, the next holder answers it).
    """
    ctx.check_fence("asking the handler")
    request = {
        "id": f"{ctx.lane.family}:{msg.conversation_id}:{msg.message_id}",
        "family": ctx.lane.family,
        "account": ctx.lane.account_id,
        "conversation_id": msg.conversation_id,
        "sender_id": msg.sender_id,
        "message_id": msg.message_id,
        "text": msg.text,
    }
    try:
        reply = await ctx.handler.ask(request)
    except HandlerError as exc:
        ctx.status.handler_error(ctx.redact(str(exc)))
        log.warning("%s: handler: %s", ctx.lane.name, ctx.redact(str(exc)))
        return
    if reply is None or reply == "":
        return
    ctx.check_fence("sending a reply")
    try:
        await send(reply)
    except SendError as exc:
        ctx.status.error(ctx.redact(str(exc)))
        log.warning("%s: reply dropped: %s", ctx.lane.name, ctx.redact(str(exc)))
        return
    ctx.status.reply_sent()


class HandlerError(Exception):
    """The handler gave no usable answer for one request."""


class SendError(Exception):
    """The platform refused one reply for good (not a transient failure)."""


class Stopped(Exception):
    """The lane was asked to stop while waiting."""


async def until_stopped(ctx: "LaneContext", awaitable):
    """Await ``awaitable`` unless the lane is stopped first (then cancel it).

    Long polls go through here, so SIGTERM never waits out a 30 s poll while
    the handling of a message already received is never cut in half.
    """
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(ctx.stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        stopper.cancel()
        raise
    if task in done:
        stopper.cancel()
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise Stopped()


def cursor_path(ctx: "LaneContext") -> str | None:
    if not ctx.state_dir:
        return None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{ctx.lane.family}-{ctx.lane.account_id}")
    return os.path.join(ctx.state_dir, f"cursor-{safe}.json")


def split_text(text: str, limit: int) -> list[str]:
    """Split a reply into chunks of at most ``limit`` UTF-16 code units
    (Telegram and WhatsApp count that way), preferring line breaks."""

    def units(s: str) -> int:
        return len(s.encode("utf-16-le")) // 2

    if units(text) <= limit:
        return [text]
    chunks: list[str] = []
    rest = text
    while rest:
        if units(rest) <= limit:
            chunks.append(rest)
            break
        # largest prefix that fits, by code points, then back off to a newline
        lo, hi = 1, len(rest)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if units(rest[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        cut = lo
        nl = rest.rfind("\n", 0, cut)
        if nl > cut // 2:
            cut = nl + 1
        chunks.append(rest[:cut])
        rest = rest[cut:]
    return chunks
