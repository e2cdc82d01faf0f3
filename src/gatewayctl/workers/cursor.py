"""Per-account cursor persistence (Telegram offset, Matrix since token,
WhatsApp seen message ids).

On one host: one small JSON file per lane in the runtime directory,
rewritten after each handled message, so a restart neither loses nor
repeats one. The file stays open and each save is a single pwrite at offset
0, padded with spaces to never shrink: a process that dies mid-save leaves
either the old or the new record (one write(2) call), and it costs
microseconds instead of the temp-file-and-rename milliseconds a per-message
save would otherwise add.

In a fleet ($GATEWAYCTL_LANE_CURSOR, set by the owner): the cursor lives in
etcd under the lane's key, so it travels with the lane to the next holder.
Each save is one transaction that writes only while the lane's holder key
is still attached to this host's lease; a failed compare means another host
holds the lane now, and the lane stops (LaneFailure). An etcd that does not
answer in time is a LaneFailure too: the lane cannot persist its progress.
Each call is bounded by the configured timeout and by the lane's dead
deadline (workers.fence), whichever comes first.

Imports the standard library, sibling worker modules and, only in a fleet,
gatewayctl.runtime.fleet.etcd (the one runtime module a lane may use).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from gatewayctl.workers.base import LaneContext, LaneFailure, cursor_path, printable
from gatewayctl.workers.fence import Fenced

ENV_CURSOR = "GATEWAYCTL_LANE_CURSOR"
_MAX_CONFIG = 64 * 1024


@dataclass(frozen=True, slots=True)
class EtcdCursorConfig:
    """Where a fleet lane keeps its cursor ($GATEWAYCTL_LANE_CURSOR)."""

    endpoints: tuple[str, ...]
    cursor_key: str
    holder_key: str
    lease: int
    timeout_s: float
    username: str | None = None  # resolved from the environment names the owner gave
    password: str | None = None

    def __repr__(self) -> str:  # never the password
        return (f"EtcdCursorConfig(endpoints={self.endpoints!r}, cursor_key={self.cursor_key!r}, "
                f"holder_key={self.holder_key!r}, lease={self.lease}, timeout_s={self.timeout_s})")


def config_from_env(environ, lane: str) -> EtcdCursorConfig | None:
    """The fleet cursor configuration, or None without $GATEWAYCTL_LANE_CURSOR.
    Anything unusable raises LaneFailure naming the field (never a value that
    could be a credential)."""
    raw = environ.get(ENV_CURSOR)
    if raw is None:
        return None

    def bad(what: str) -> LaneFailure:
        return LaneFailure(f"{lane}: ${ENV_CURSOR} is unusable: {what}; the gateway owner sets it "
                           "(run the lane under `gatewayctl gateway run`)")

    if len(raw) > _MAX_CONFIG:
        raise bad(f"longer than {_MAX_CONFIG} characters")
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad("not JSON") from None
    if not isinstance(data, dict):
        raise bad("not a JSON object")
    if data.get("backend") != "etcd":
        raise bad(f"backend is {printable(data.get('backend'), 40)!r}, the only one is \"etcd\"")
    endpoints = data.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints or not all(isinstance(e, str) and e for e in endpoints):
        raise bad("endpoints is not a non-empty list of URLs")
    keys = {}
    for name in ("cursor_key", "holder_key"):
        value = data.get(name)
        if not isinstance(value, str) or not value.startswith("/"):
            raise bad(f"{name} is not an etcd key starting with '/'")
        keys[name] = value
    lease = data.get("lease")
    if isinstance(lease, bool) or not isinstance(lease, int) or lease <= 0:
        raise bad("lease is not a positive lease id")
    timeout = data.get("timeout_s")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
        raise bad("timeout_s is not a positive number of seconds")
    creds = {}
    for field in ("username_env", "password_env"):
        name = data.get(field)
        if name is None:
            creds[field] = None
            continue
        if not isinstance(name, str) or not name:
            raise bad(f"{field} is not an environment variable name")
        value = environ.get(name)
        if value is None:
            raise LaneFailure(f"{lane}: the etcd credential variable {printable(name, 80)} ({field}) is not set "
                              "in the lane's environment")
        creds[field] = value
    if (creds["username_env"] is None) != (creds["password_env"] is None):
        raise bad("username_env and password_env must be given together")
    return EtcdCursorConfig(endpoints=tuple(endpoints), cursor_key=keys["cursor_key"], holder_key=keys["holder_key"],
                            lease=lease, timeout_s=float(timeout), username=creds["username_env"],
                            password=creds["password_env"])


class Cursor:
    def __init__(self, ctx: LaneContext):
        self.ctx = ctx
        self.etcd: EtcdCursorConfig | None = getattr(ctx, "cursor_store", None)
        self.path = None if self.etcd is not None else cursor_path(ctx)
        self._fd: int | None = None
        self._size = 0
        self._client = None
        self._last_saved: bytes | None = None

    # -- the two stores -----------------------------------------------------
    def load(self) -> dict:
        if self.etcd is not None:
            return self._etcd_load()
        if self.path is None:
            return {}
        try:
            with open(self.path, "rb") as fh:
                data = json.loads(fh.read() or b"null")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict) -> None:
        raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
        if self.etcd is not None:
            self._etcd_save(raw)
            return
        if self.path is None:
            return
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
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- etcd ---------------------------------------------------------------
    def _etcd(self):
        from gatewayctl.runtime.fleet import etcd

        if self._client is None:
            cfg = self.etcd
            try:
                self._client = etcd.EtcdClient(cfg.endpoints, timeout_s=cfg.timeout_s, username=cfg.username,
                                               password=cfg.password)
            except etcd.EtcdError as exc:
                raise LaneFailure(f"{self.ctx.lane.name}: cannot use etcd for the cursor ({exc.message})") from None
        return etcd, self._client

    def _budget(self) -> float:
        """The call's deadline: the configured timeout, cut to what is left
        before the lane's dead deadline (a fenced lane must be gone by then)."""
        timeout = self.etcd.timeout_s
        fence = getattr(self.ctx, "fence", None)
        if fence is not None:
            try:
                _, dead_ns = fence.read()
            except Fenced:  # the descriptor became unusable: the last deadline read still bounds us
                dead_ns = fence.last[1] if fence.last else fence.now_ns()
            left = (dead_ns - fence.now_ns()) / 1e9
            if left <= 0:
                raise Fenced(fence._trip(fence._expired("saving its cursor", -int(left * 1e9))))
            timeout = min(timeout, left)
        return timeout

    def _etcd_load(self) -> dict:
        etcd, client = self._etcd()
        try:
            kv = client.get(self.etcd.cursor_key, timeout_s=self._budget())
        except etcd.EtcdError as exc:
            raise LaneFailure(f"{self.ctx.lane.name}: cannot read the cursor from etcd ({exc.message})") from None
        if kv is None:
            return {}
        self._last_saved = kv.value
        try:
            data = json.loads(kv.value)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _etcd_save(self, raw: bytes) -> None:
        if raw == self._last_saved:
            return  # nothing new: no write, no revision
        cfg = self.etcd
        etcd, client = self._etcd()
        try:
            result = client.txn([etcd.compare_lease(cfg.holder_key, cfg.lease)],
                                [etcd.put_op(cfg.cursor_key, raw)],
                                [etcd.range_op(cfg.holder_key)], timeout_s=self._budget())
        except etcd.EtcdError as exc:
            # Without the cursor the next holder would repeat replies: stop instead.
            raise LaneFailure(f"{self.ctx.lane.name}: cannot persist the cursor in etcd ({exc.message})") from None
        if not result.succeeded:
            raise LaneFailure(f"{self.ctx.lane.name}: lost the lane to another host{_holder(result)} "
                              f"(lease {cfg.lease:x} no longer holds {cfg.holder_key}); stopping")
        self._last_saved = raw


def _holder(result) -> str:
    """" (now held by <host>)" from the failure branch's read of the holder key, when it says."""
    for resp in result.responses:
        if resp.range is not None and resp.range.kvs:
            try:
                holder = json.loads(resp.range.kvs[0].value)
            except ValueError:
                return ""
            host = holder.get("host_id") if isinstance(holder, dict) else None
            return f" (now held by {printable(host, 80)})" if isinstance(host, str) and host else ""
        if resp.range is not None:
            return " (nobody holds it now)"
    return ""
