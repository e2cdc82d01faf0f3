"""The lane's own deadline in a fleet: a lane stops serving by itself before
its host's lease could expire on the etcd server, even when the owner that
renews the lease is paused or cut off.

The owner hands each lane an inherited, read-only descriptor
(``GATEWAYCTL_LANE_FENCE_FD``) of a 16-byte file holding
``struct.pack("<qq", stop_ns, dead_ns)`` in CLOCK_MONOTONIC nanoseconds
(``time.monotonic_ns()``; the same clock in every process of the host). The
owner pwrite()s all 16 bytes at offset 0 after every successful keepalive;
nothing else ever extends them.

- ``Fence.check(what)``: one pread; raises ``Fenced`` once ``stop_ns`` has
  passed. The lanes call it before every poll or receive and before every
  send, so a lane resumed after its deadline (SIGSTOP, a stalled VM) sends
  nothing before it notices.
- ``watchdog(...)``: an asyncio task. At ``stop_ns`` it begins the graceful
  stop (the SIGTERM path); at ``dead_ns`` it writes one log line and ends the
  process with ``os._exit(EX_FENCED)``, whatever the lane is doing.

Fail closed: a descriptor that cannot be read, or holds fewer than 16
bytes, counts as a deadline already passed. Without the environment
variable there is no fence (a single host: the local slot guarantees one
owner). Standard library only; no threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
from typing import Callable

from gatewayctl.workers.base import Stopped

log = logging.getLogger("gatewayctl.workers")

ENV_FENCE_FD = "GATEWAYCTL_LANE_FENCE_FD"
EX_FENCED = 75  # EX_TEMPFAIL: the lane stopped by its fence; the owner counts it as a stop, not a failure
FENCE_FORMAT = struct.Struct("<qq")  # stop_ns, dead_ns (CLOCK_MONOTONIC)
# The watchdog re-reads the fence at least this often, so a deadline the
# owner moves closer (to fence a lane at once) takes effect without a signal.
WATCH_EVERY_S = 1.0


class Fenced(Stopped):
    """The lane's deadline passed: it must not poll, receive or send again.

    A ``Stopped``: every loop that ends cleanly on a stop ends on this too
    (a turn in progress is dropped without saving the cursor, so the next
    holder answers it). ``message`` is the one line the lane logs."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Fence:
    """The deadline descriptor of one lane process."""

    def __init__(self, fd: int, *, lane: str = "lane", problem: str = "",
                 clock_ns: Callable[[], int] = time.monotonic_ns):
        self.fd = fd
        self.lane = lane
        self._problem = problem  # set when the environment named no usable descriptor
        self._clock_ns = clock_ns
        self.tripped: str | None = None  # the Fenced message, once the deadline passed
        self.on_trip: Callable[[], None] | None = None  # set by serve: begins the graceful stop
        self.last: tuple[int, int] | None = None  # the latest (stop_ns, dead_ns) read

    @classmethod
    def from_env(cls, environ, *, lane: str = "lane") -> "Fence | None":
        """The fence named by $GATEWAYCTL_LANE_FENCE_FD, or None when unset.
        A value that is not a descriptor number gives a fence that is
        already tripped (fail closed), with the reason in its message."""
        raw = environ.get(ENV_FENCE_FD)
        if raw is None:
            return None
        text = raw.strip()
        if not text.isdigit() or len(text) > 9:
            shown = text[:20] if text.isprintable() else "(not printable)"
            return cls(-1, lane=lane, problem=f"{ENV_FENCE_FD}={shown} is not a descriptor number")
        return cls(int(text), lane=lane)

    # -- reading ----------------------------------------------------------
    def read(self) -> tuple[int, int]:
        """``(stop_ns, dead_ns)``; raises Fenced (and trips) when the
        descriptor cannot be read or is short."""
        if self._problem:
            raise Fenced(self._trip(f"{self.lane}: stopped: the fence is unusable ({self._problem}); "
                                    "the owner must pass the lane's deadline descriptor"))
        try:
            raw = os.pread(self.fd, FENCE_FORMAT.size, 0)
        except OSError as exc:
            raise Fenced(self._trip(f"{self.lane}: stopped: cannot read the fence descriptor {self.fd} "
                                    f"({exc.strerror or exc}); without a deadline the lane does not serve")) from None
        if len(raw) != FENCE_FORMAT.size:
            raise Fenced(self._trip(f"{self.lane}: stopped: the fence descriptor {self.fd} holds {len(raw)} of "
                                    f"{FENCE_FORMAT.size} bytes; without a deadline the lane does not serve"))
        stop_ns, dead_ns = FENCE_FORMAT.unpack(raw)
        self.last = (stop_ns, dead_ns)
        return stop_ns, dead_ns

    def check(self, what: str) -> None:
        """Raise Fenced unless the lane may still ``what`` (poll, receive,
        send): one pread and one clock read."""
        if self.tripped is not None:
            raise Fenced(self.tripped)
        stop_ns, _ = self.read()
        now = self.now_ns()
        if now >= stop_ns:
            raise Fenced(self._trip(self._expired(what, now - stop_ns)))

    def now_ns(self) -> int:
        return self._clock_ns()

    def _expired(self, what: str | None, late_ns: int) -> str:
        where = f"before {what}" if what else "at its deadline"
        return (f"{self.lane}: stopped {where}: its host's lease could not be renewed in time "
                f"(the lane's deadline passed {late_ns / 1e6:.0f} ms ago); another host may take the lane over")

    def _trip(self, message: str) -> str:
        """Record the first reason and begin the graceful stop; returns the reason."""
        if self.tripped is None:
            self.tripped = message
            if self.on_trip is not None:
                self.on_trip()
        return self.tripped


async def watchdog(fence: Fence, *, exit: Callable[[int], None] = os._exit,
                   sleep: Callable[[float], object] = asyncio.sleep) -> None:
    """Trip the fence at its stop deadline (the lane begins its graceful
    stop, the SIGTERM path), then end the process at its dead deadline if it
    is still here: one log line, ``exit(EX_FENCED)``.

    Sleeps until the deadline it read, at most WATCH_EVERY_S at a time, then
    reads again (a renewal moves the deadline on, an owner may move it
    closer). After a SIGSTOP the sleep ends late and the fence acts at once.
    A fence unusable from the start has no dead deadline: the process ends
    at once."""
    while fence.tripped is None:
        try:
            stop_ns, _ = fence.read()
        except Fenced:
            break
        now = fence.now_ns()
        if now >= stop_ns:
            fence._trip(fence._expired(None, now - stop_ns))
            break
        await sleep(min((stop_ns - now) / 1e9, WATCH_EVERY_S))
    dead_ns = fence.last[1] if fence.last is not None else None
    while dead_ns is not None:
        try:
            dead_ns = fence.read()[1]
        except Fenced:
            pass  # keep the last deadline read
        now = fence.now_ns()
        if now >= dead_ns:
            break
        await sleep(min((dead_ns - now) / 1e9, WATCH_EVERY_S))
    late_ms = 0.0 if dead_ns is None else max(0, fence.now_ns() - dead_ns) / 1e6
    # One line; the lane's log prefix ("lane <name>: ") names the lane.
    log.error("the lane did not stop by its deadline (%.0f ms late): its host's lease could not be "
              "renewed in time; exiting with %d", late_ms, EX_FENCED)
    for handler in logging.getLogger("gatewayctl").handlers:
        try:
            handler.flush()
        except (OSError, ValueError):
            pass
    exit(EX_FENCED)
