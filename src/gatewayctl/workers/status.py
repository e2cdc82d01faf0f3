"""The live lane status file ($GATEWAYCTL_LANE_STATUS).

The owner reads this file and folds it into ``gateway status --json`` under
the lane's ``worker`` key. Keys: state, connected, messages_received,
messages_ignored, replies_sent, handler_errors, malformed_received,
last_inbound_at_ms, last_error, updated_at_ms, pid, family, account. Writes
are atomic (temp file in the same directory + os.replace) and coalesced so a
busy lane does not rewrite the file per message. Every error text passes
through ``base.printable`` here, the one door to the file: a chat API's
error message never puts escape sequences into ``gateway status``.
Imports the standard library and workers.base.
"""

from __future__ import annotations

import asyncio
import json
import os

from gatewayctl import atomicfile
from gatewayctl.workers.base import printable

STATES = ("starting", "running", "backoff", "stopped", "failed")
_MIN_INTERVAL_S = 0.2


class StatusWriter:
    def __init__(self, path: str | None, *, family: str, account: str, clock):
        self.path = path
        self._clock = clock
        self._last_write = 0.0
        self._pending: asyncio.TimerHandle | None = None
        self.data = {
            "family": family,
            "account": account,
            "pid": os.getpid(),
            "state": "starting",
            "connected": False,
            "messages_received": 0,
            "messages_ignored": 0,
            "replies_sent": 0,
            "handler_errors": 0,
            "malformed_received": 0,
            "last_inbound_at_ms": None,
            "last_error": None,
            "updated_at_ms": clock.now_ms(),
        }

    # The only writers of the state fields; each labels its transition.
    def set_state(self, state: str, *, connected: bool | None = None, error: str | None = None) -> None:
        assert state in STATES, state
        self.data["state"] = state  # any -> state
        if connected is not None:
            self.data["connected"] = connected
        if error is not None:
            self.data["last_error"] = printable(error)
        self.flush()  # transitions are rare and worth seeing at once

    def connected(self, value: bool, error: str | None = None) -> None:
        changed = self.data["connected"] != value or error is not None
        self.data["connected"] = value
        if value and self.data["state"] in ("starting", "backoff"):
            self.data["state"] = "running"  # starting|backoff -> running
        elif not value and self.data["state"] == "running":
            self.data["state"] = "backoff"  # running -> backoff
        if error is not None:
            self.data["last_error"] = printable(error)
        if changed:
            self.flush()

    def message_received(self) -> None:
        self.data["messages_received"] += 1
        self.data["last_inbound_at_ms"] = self._clock.now_ms()
        self._soon()

    def message_ignored(self) -> None:
        self.data["messages_ignored"] += 1
        self._soon()

    def reply_sent(self) -> None:
        self.data["replies_sent"] += 1
        self._soon()

    def handler_error(self, message: str) -> None:
        self.data["handler_errors"] += 1
        self.data["last_error"] = printable(message)
        self._soon()

    def malformed(self, message: str) -> None:
        self.data["malformed_received"] += 1
        self.data["last_error"] = printable(message)
        self._soon()

    def error(self, message: str) -> None:
        self.data["last_error"] = printable(message)
        self._soon()

    def _soon(self) -> None:
        if self.path is None:
            return
        now = self._clock.monotonic()
        if now - self._last_write >= _MIN_INTERVAL_S:
            self.flush()
            return
        if self._pending is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            delay = _MIN_INTERVAL_S - (now - self._last_write)
            self._pending = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self.path is None:
            return
        self.data["updated_at_ms"] = self._clock.now_ms()
        self._last_write = self._clock.monotonic()
        try:
            write_json_atomic(self.path, self.data)
        except OSError:
            # The status file is a view for the owner; losing one update must
            # not take the lane down (the next write retries).
            pass


def write_json_atomic(path: str, obj) -> None:
    # Not durable (no fsync): a live status is rewritten every few hundred
    # milliseconds and a lost update is harmless; torn reads are what matter.
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    data = (json.dumps(obj, sort_keys=True) + "\n").encode("utf-8")
    atomicfile.write_bytes(path, data, durable=False)


def read_json(path: str):
    """The cursor files' reader: a missing or unreadable file is None."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None
