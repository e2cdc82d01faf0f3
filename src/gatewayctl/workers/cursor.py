"""Per-account cursor persistence (Telegram offset, Matrix since token).

One small JSON file per lane in the runtime directory, replaced atomically
after the messages it covers are handled, so a restart neither loses nor
repeats messages. Standard library only.
"""

from __future__ import annotations

from gatewayctl.workers.base import LaneContext, LaneFailure, cursor_path
from gatewayctl.workers.status import read_json, write_json_atomic


def load(ctx: LaneContext) -> dict:
    path = cursor_path(ctx)
    data = read_json(path) if path else None
    return data if isinstance(data, dict) else {}


def save(ctx: LaneContext, data: dict) -> None:
    path = cursor_path(ctx)
    if path is None:
        return
    try:
        write_json_atomic(path, data)
    except OSError as exc:
        # Without the cursor a restart would repeat replies: stop instead.
        raise LaneFailure(f"{ctx.lane.name}: cannot persist the cursor at {path} ({exc.strerror or exc})") from None
