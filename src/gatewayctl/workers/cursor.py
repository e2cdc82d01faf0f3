"""Per-account cursor persistence (Telegram offset, Matrix since token,
WhatsApp seen message ids).

One small JSON file per lane in the runtime directory, rewritten after each
handled message, so a restart neither loses nor repeats one. The file stays
open and each save is a single pwrite at offset 0, padded with spaces to
never shrink: a process that dies mid-save leaves either the old or the new
record (one write(2) call), and it costs microseconds instead of the
temp-file-and-rename milliseconds a per-message save would otherwise add.
Standard library only.
"""

from __future__ import annotations

import json
import os

from gatewayctl.workers.base import LaneContext, LaneFailure, cursor_path


class Cursor:
    def __init__(self, ctx: LaneContext):
        self.ctx = ctx
        self.path = cursor_path(ctx)
        self._fd: int | None = None
        self._size = 0

    def load(self) -> dict:
        if self.path is None:
            return {}
        try:
            with open(self.path, "rb") as fh:
                data = json.loads(fh.read() or b"null")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict) -> None:
        if self.path is None:
            return
        raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
        try:
            if self._fd is None:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._size = os.fstat(self._fd).st_size
            if len(raw) + 1 < self._size:
                raw = raw + b" " * (self._size - len(raw) - 1)
            raw += b"\n"
            os.pwrite(self._fd, raw, 0)
            self._size = max(self._size, len(raw))
        except OSError as exc:
            # Without the cursor a restart would repeat replies: stop instead.
            raise LaneFailure(
                f"{self.ctx.lane.name}: cannot persist the cursor at {self.path} ({exc.strerror or exc})"
            ) from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
