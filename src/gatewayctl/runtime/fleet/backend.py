"""The fleet backend: who holds which lane, under whose lease.

The owner drives a ``Backend``; it never talks to etcd itself, so another
coordination service (a PostgreSQL advisory-lock backend, say) can follow
without touching the owner. Two implementations:

- ``LocalBackend``: plans without a ``[fleet]`` table. The local slot
  already guarantees one owner per home, so every claim succeeds, leases
  never expire (``ttl_s`` is infinite) and lanes keep their cursor files.
- ``EtcdBackend``: one etcd lease per owner run; the host record and every
  lane it holds are keys attached to that lease, so they vanish together
  when the lease expires or is revoked. Ownership is decided by lease id,
  never by host name (two owners that both call themselves "web-1" still
  hold different leases).

Key layout (P = the plan's fleet prefix, no trailing slash; values are
compact JSON with sorted keys):

    P/hosts/<host_id>                    HostRecord          host's lease
    P/lanes/<family>/<account>/holder     Holder              holder's lease
    P/lanes/<family>/<account>/definition {definition_sha256, host_id, at_ms}
    P/lanes/<family>/<account>/release    {by, at_ms, lease}  a request to hand the lane over
    P/rebalance                           {generation, at_ms}
    P/cursors/<family>/<account>          the lane's cursor (written by the lane, only while held);
                                          a subtree of its own so that reading the fleet never
                                          transfers cursors (a seen-id list may be 100 KB)

Every etcd failure becomes ``BackendUnavailable`` (nothing answered in time,
or etcd refused) or ``LeaseLost`` (our lease is gone); messages never carry
a credential.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gatewayctl.catalog import is_host_id
from gatewayctl.runtime.fleet import etcd
from gatewayctl.runtime.system import System

CURSOR_ENV = "GATEWAYCTL_LANE_CURSOR"
# The lane reads etcd credentials from these (names travel in CURSOR_ENV's
# JSON, values only in the environment, never in a file or a log line).
USERNAME_ENV = "GATEWAYCTL_ETCD_USERNAME"
PASSWORD_ENV = "GATEWAYCTL_ETCD_PASSWORD"
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


class BackendUnavailable(Exception):
    """The backend could not be reached, or did not answer within the call's deadline."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LeaseLost(Exception):
    """Our lease is gone (expired or revoked): nothing we held is ours any more."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class HostIdConflict(Exception):
    """Another live incarnation holds our host id; ``holder`` is its record (None if unreadable)."""

    def __init__(self, message: str, holder: HostRecord | None) -> None:
        super().__init__(message)
        self.message = message
        self.holder = holder

    def __str__(self) -> str:
        return self.message


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


@dataclass(frozen=True, slots=True)
class HostRecord:
    host_id: str
    token: str  # unique per owner run
    boot_id: str
    pid: int
    pid_start_ticks: int | None
    started_at_ms: int
    version: str
    lanes: dict[str, str] = field(default_factory=dict)  # lane name -> definition_sha256 of this host's plan
    plan_sha256: str = ""

    def to_json(self) -> dict:
        return {
            "host_id": self.host_id,
            "token": self.token,
            "boot_id": self.boot_id,
            "pid": self.pid,
            "pid_start_ticks": self.pid_start_ticks,
            "started_at_ms": self.started_at_ms,
            "version": self.version,
            "lanes": dict(sorted(self.lanes.items())),
            "plan_sha256": self.plan_sha256,
        }

    @classmethod
    def from_json(cls, d: Any) -> HostRecord | None:
        if not isinstance(d, Mapping):
            return None
        lanes = d.get("lanes")
        ticks = d.get("pid_start_ticks")
        if not (
            all(_is_str(d.get(k)) for k in ("host_id", "token", "boot_id", "version", "plan_sha256"))
            and is_host_id(d["host_id"])  # a key segment here, and shown in every status
            and _is_int(d.get("pid"))
            and _is_int(d.get("started_at_ms"))
            and (ticks is None or _is_int(ticks))
            and isinstance(lanes, Mapping)
            and all(_is_str(k) and _is_str(v) for k, v in lanes.items())
        ):
            return None
        return cls(
            host_id=d["host_id"],
            token=d["token"],
            boot_id=d["boot_id"],
            pid=d["pid"],
            pid_start_ticks=ticks,
            started_at_ms=d["started_at_ms"],
            version=d["version"],
            lanes=dict(lanes),
            plan_sha256=d["plan_sha256"],
        )


@dataclass(frozen=True, slots=True)
class Holder:
    lane: str
    host_id: str
    token: str
    lease: int
    definition_sha256: str
    since_ms: int

    def to_json(self) -> dict:
        return {
            "lane": self.lane,
            "host_id": self.host_id,
            "token": self.token,
            "lease": self.lease,
            "definition_sha256": self.definition_sha256,
            "since_ms": self.since_ms,
        }

    @classmethod
    def from_json(cls, d: Any) -> Holder | None:
        if not isinstance(d, Mapping):
            return None
        if not (
            all(_is_str(d.get(k)) for k in ("lane", "host_id", "token", "definition_sha256"))
            and is_host_id(d["host_id"])
            and _is_int(d.get("lease"))
            and _is_int(d.get("since_ms"))
        ):
            return None
        return cls(
            lane=d["lane"],
            host_id=d["host_id"],
            token=d["token"],
            lease=d["lease"],
            definition_sha256=d["definition_sha256"],
            since_ms=d["since_ms"],
        )


@dataclass(frozen=True, slots=True)
class FleetView:
    hosts: dict[str, HostRecord]
    holders: dict[str, Holder]  # lane -> holder
    definitions: dict[str, str]  # lane -> definition_sha256 it was last claimed with
    releases: dict[str, dict]  # lane -> {"by", "at_ms", "lease"}
    rebalance_generation: int
    revision: int


@dataclass(frozen=True, slots=True)
class Renewal:
    sent_mono: float  # time.monotonic() just before the request was sent
    ttl_s: float  # TTL the server granted or renewed (seconds)
    lease: int


class Backend(Protocol):
    kind: str

    def register(self, record: HostRecord, wait_s: float | None = None) -> Renewal: ...
    def keepalive(self) -> Renewal: ...
    def view(self) -> FleetView: ...
    def claim(self, lane: str, definition_sha256: str, since_ms: int) -> Holder | None: ...
    def update_definition(self, lane: str, definition_sha256: str) -> bool: ...
    def release(self, lane: str) -> bool: ...
    def resign(self) -> None: ...
    def request_release(self, lane: str, by: str) -> Holder | None: ...
    def request_rebalance(self) -> int: ...
    def lane_cursor_env(self, lane: str) -> dict[str, str]: ...
    def close(self) -> None: ...


def read_boot_id(path: str = BOOT_ID_PATH) -> str:
    """This boot's id ("" when unknown: then no record is ever taken for our own predecessor)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(100).decode("ascii", "replace").strip()
    except OSError:
        return ""


def new_token() -> str:
    return secrets.token_hex(16)


# ---- local -----------------------------------------------------------------


class LocalBackend:
    """No fleet: this host is the only one, and the local slot already makes it the only owner."""

    kind = "local"

    def __init__(self, system: System | None = None) -> None:
        self._system = system or System()
        self._record: HostRecord | None = None
        self._holders: dict[str, Holder] = {}
        self._releases: dict[str, dict] = {}
        self._generation = 0

    def _renewal(self) -> Renewal:
        return Renewal(sent_mono=self._system.monotonic(), ttl_s=math.inf, lease=0)

    def register(self, record: HostRecord, wait_s: float | None = None) -> Renewal:
        self._record = record
        return self._renewal()

    def keepalive(self) -> Renewal:
        return self._renewal()

    def view(self) -> FleetView:
        record = self._record
        return FleetView(
            hosts={record.host_id: record} if record is not None else {},
            holders=dict(self._holders),
            definitions={lane: h.definition_sha256 for lane, h in self._holders.items()},
            releases=dict(self._releases),
            rebalance_generation=self._generation,
            revision=0,
        )

    def claim(self, lane: str, definition_sha256: str, since_ms: int) -> Holder | None:
        record = self._record
        holder = Holder(
            lane=lane,
            host_id=record.host_id if record else "",
            token=record.token if record else "",
            lease=0,
            definition_sha256=definition_sha256,
            since_ms=since_ms,
        )
        self._holders[lane] = holder
        self._releases.pop(lane, None)
        return holder

    def update_definition(self, lane: str, definition_sha256: str) -> bool:
        held = self._holders.get(lane)
        if held is None:
            return False
        self._holders[lane] = _replace_definition(held, definition_sha256)
        return True

    def release(self, lane: str) -> bool:
        return self._holders.pop(lane, None) is not None

    def resign(self) -> None:
        self._holders.clear()

    def request_release(self, lane: str, by: str) -> Holder | None:
        held = self._holders.get(lane)
        if held is None:
            return None
        self._releases[lane] = {"by": by, "at_ms": self._system.now_ms(), "lease": held.lease}
        return held

    def request_rebalance(self) -> int:
        self._generation += 1
        return self._generation

    def lane_cursor_env(self, lane: str) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass


def _replace_definition(holder: Holder, definition_sha256: str) -> Holder:
    return Holder(
        lane=holder.lane,
        host_id=holder.host_id,
        token=holder.token,
        lease=holder.lease,
        definition_sha256=definition_sha256,
        since_ms=holder.since_ms,
    )


# ---- etcd ------------------------------------------------------------------


class EtcdBackend:
    """Lanes held fleet-wide under one etcd lease per owner run."""

    kind = "etcd"

    def __init__(
        self,
        endpoints: Sequence[str],
        prefix: str,
        ttl_s: float,
        *,
        timeout_s: float,
        username: str | None = None,
        password: str | None = None,
        system: System | None = None,
        boot_id: str | None = None,
        client: etcd.EtcdClient | None = None,
    ) -> None:
        if not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
            raise ValueError(f"fleet prefix must start with '/' and not end with one: {prefix!r}")
        if not ttl_s >= 1:
            raise ValueError(f"lease TTL must be at least 1 s: {ttl_s!r}")
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._has_credentials = username is not None
        self._username = username
        self._password = password
        self._system = system or System()
        self.boot_id = read_boot_id() if boot_id is None else boot_id
        try:
            self._client = client or etcd.EtcdClient(
                endpoints, timeout_s=timeout_s, username=username, password=password
            )
        except etcd.EtcdError as exc:
            raise BackendUnavailable(exc.message) from None
        self.endpoints = self._client.endpoints
        self._lease = 0
        self._record: HostRecord | None = None
        self._held: dict[str, Holder] = {}

    # ---- keys ----

    def host_key(self, host_id: str) -> str:
        return f"{self.prefix}/hosts/{host_id}"

    def lane_key(self, lane: str, part: str) -> str:
        if part == "cursor":
            return f"{self.prefix}/cursors/{lane}"
        return f"{self.prefix}/lanes/{lane}/{part}"

    @property
    def rebalance_key(self) -> str:
        return f"{self.prefix}/rebalance"

    @property
    def lease(self) -> int:
        return self._lease

    # ---- calls ----

    def _do(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except etcd.EtcdError as exc:
            if exc.lease_not_found:
                self._lease_gone()
                raise LeaseLost(f"{what}: our etcd lease is gone ({exc.message})") from None
            raise BackendUnavailable(f"{what}: {exc.message}") from None

    def _lease_gone(self) -> None:
        self._lease = 0
        self._held.clear()

    def _need_lease(self, what: str) -> int:
        if not self._lease:
            raise LeaseLost(f"{what}: not registered (no etcd lease held)")
        return self._lease

    def register(self, record: HostRecord, wait_s: float | None = None) -> Renewal:
        """Grant a lease and put our host record under it, once no other live incarnation holds it."""
        ttl = max(1, math.ceil(self.ttl_s))
        wait = self.ttl_s + 1 if wait_s is None else wait_s
        poll = min(0.5, self.ttl_s / 10)
        key = self.host_key(record.host_id)
        value = _dumps(record.to_json())
        sent = self._system.monotonic()
        lease = self._do("register: grant a lease", lambda: self._client.lease_grant(ttl))
        deadline = self._system.monotonic() + wait
        try:
            while True:
                result = self._do(
                    f"register host {record.host_id!r}",
                    lambda: self._client.txn(
                        [etcd.compare_create(key)],
                        [etcd.put_op(key, value, lease.id)],
                        [etcd.range_op(key)],
                    ),
                )
                if result.succeeded:
                    self._lease = lease.id
                    self._record = record
                    self._held.clear()
                    return Renewal(sent_mono=sent, ttl_s=float(lease.ttl_s), lease=lease.id)
                kv = _first_kv(result)
                if kv is None:
                    continue  # it vanished between the compare and the range: try again at once
                other = HostRecord.from_json(_loads(kv.value))
                if other is not None and (other.token == record.token or self._dead_predecessor(other)):
                    # Our own earlier registration, or this machine's owner that died
                    # without resigning: its lease frees its lanes at once.
                    self._do("register: revoke a dead predecessor's lease", lambda: self._revoke_or_delete(key, kv))
                    continue
                if self._system.monotonic() >= deadline:
                    raise HostIdConflict(_conflict_message(record.host_id, other, wait), other)
                self._system.sleep(poll)
        except BaseException:
            self._best_effort_revoke(lease.id)
            raise

    def _dead_predecessor(self, other: HostRecord) -> bool:
        return bool(self.boot_id) and other.boot_id == self.boot_id and not self._system.pid_alive(
            other.pid, other.pid_start_ticks
        )

    def _revoke_or_delete(self, key: str, kv: etcd.KeyValue) -> None:
        if kv.lease:
            self._client.lease_revoke(kv.lease)
        else:  # a record without a lease is nobody's: remove exactly that version
            self._client.txn([etcd.compare_mod(key, kv.mod_revision)], [etcd.delete_op(key)])

    def _best_effort_revoke(self, lease: int) -> None:
        try:
            self._client.lease_revoke(lease)
        except etcd.EtcdError:
            pass  # it expires by itself within its TTL

    def keepalive(self) -> Renewal:
        lease = self._need_lease("keepalive")
        sent = self._system.monotonic()
        ttl = self._do("keepalive", lambda: self._client.lease_keepalive(lease))
        if ttl <= 0:
            self._lease_gone()
            raise LeaseLost(f"keepalive: etcd lease {lease:x} has expired or was revoked")
        return Renewal(sent_mono=sent, ttl_s=float(ttl), lease=lease)

    def view(self) -> FleetView:
        """The whole fleet in one read (one range, one revision); never writes."""
        # Everything under the prefix except the cursors/ subtree ("cursors0"
        # is the first key after every "cursors/..." key; hosts/, lanes/ and
        # rebalance sort after it).
        result = self._do(
            "read the fleet view",
            lambda: self._client.range(
                self.prefix + "/cursors0", range_end=etcd.prefix_range_end(self.prefix + "/")
            ),
        )
        return parse_view(self.prefix, result)

    def claim(self, lane: str, definition_sha256: str, since_ms: int) -> Holder | None:
        """Take the lane if nobody holds it (create-if-absent under our lease); None if held."""
        lease = self._need_lease(f"claim {lane}")
        record = self._record
        assert record is not None
        holder = Holder(lane, record.host_id, record.token, lease, definition_sha256, since_ms)
        holder_key = self.lane_key(lane, "holder")
        result = self._do(
            f"claim {lane}",
            lambda: self._client.txn(
                [etcd.compare_create(holder_key)],
                [
                    etcd.put_op(holder_key, _dumps(holder.to_json()), lease),
                    etcd.put_op(self.lane_key(lane, "definition"), self._definition_value(definition_sha256)),
                    etcd.delete_op(self.lane_key(lane, "release")),
                ],
                [etcd.range_op(holder_key)],
            ),
        )
        if not result.succeeded:
            kv = _first_kv(result)
            # Ours already (a retried claim whose first answer was lost): still ours.
            current = Holder.from_json(_loads(kv.value)) if kv is not None and kv.lease == lease else None
            if current is None:
                return None
            holder = current
        self._held[lane] = holder
        return holder

    def _definition_value(self, definition_sha256: str) -> str:
        record = self._record
        return _dumps(
            {
                "definition_sha256": definition_sha256,
                "host_id": record.host_id if record else "",
                "at_ms": self._system.now_ms(),
            }
        )

    def update_definition(self, lane: str, definition_sha256: str) -> bool:
        """Record a new definition for a lane we hold; False if we do not hold it."""
        lease = self._need_lease(f"update the definition of {lane}")
        record = self._record
        assert record is not None
        held = self._held.get(lane) or Holder(lane, record.host_id, record.token, lease, "", self._system.now_ms())
        holder = _replace_definition(held, definition_sha256)
        holder_key = self.lane_key(lane, "holder")
        result = self._do(
            f"update the definition of {lane}",
            lambda: self._client.txn(
                [etcd.compare_lease(holder_key, lease)],
                [
                    etcd.put_op(holder_key, _dumps(holder.to_json()), lease),
                    etcd.put_op(self.lane_key(lane, "definition"), self._definition_value(definition_sha256)),
                ],
            ),
        )
        if result.succeeded:
            self._held[lane] = holder
        return result.succeeded

    def release(self, lane: str) -> bool:
        """Let go of a lane we hold (its cursor stays for the next holder); False if not ours."""
        lease = self._need_lease(f"release {lane}")
        holder_key = self.lane_key(lane, "holder")
        result = self._do(
            f"release {lane}",
            lambda: self._client.txn([etcd.compare_lease(holder_key, lease)], [etcd.delete_op(holder_key)]),
        )
        self._held.pop(lane, None)
        return result.succeeded

    def resign(self) -> None:
        """Revoke our lease: the host record and every lane we hold vanish at once. Best effort."""
        lease, self._lease = self._lease, 0
        self._held.clear()
        if lease:
            self._best_effort_revoke(lease)

    def request_release(self, lane: str, by: str) -> Holder | None:
        """Ask the lane's current holder to hand it over; None if nobody holds it."""
        holder_key = self.lane_key(lane, "holder")
        for _ in range(5):
            kv = self._do(f"read the holder of {lane}", lambda: self._client.get(holder_key))
            holder = Holder.from_json(_loads(kv.value)) if kv is not None else None
            if kv is None or holder is None:
                return None
            request = {"by": by, "at_ms": self._system.now_ms(), "lease": kv.lease}
            result = self._do(
                f"request the release of {lane}",
                lambda: self._client.txn(
                    [etcd.compare_mod(holder_key, kv.mod_revision)],
                    [etcd.put_op(self.lane_key(lane, "release"), _dumps(request))],
                ),
            )
            if result.succeeded:
                return holder
        raise BackendUnavailable(f"request the release of {lane}: its holder kept changing; try again")

    def request_rebalance(self) -> int:
        """Bump the fleet's rebalance generation; returns the new one."""
        key = self.rebalance_key
        for _ in range(10):
            kv = self._do("read the rebalance generation", lambda: self._client.get(key))
            current = _generation(kv)
            new = current + 1
            value = _dumps({"generation": new, "at_ms": self._system.now_ms()})
            revision = kv.mod_revision if kv is not None else 0
            result = self._do(
                "request a rebalance",
                lambda: self._client.txn([etcd.compare_mod(key, revision)], [etcd.put_op(key, value)]),
            )
            if result.succeeded:
                return new
        raise BackendUnavailable("request a rebalance: the generation kept changing; try again")

    def lane_cursor_env(self, lane: str) -> dict[str, str]:
        """The environment that points a lane at its cursor key, fenced by our lease on its holder key."""
        lease = self._need_lease(f"hand {lane} its cursor")
        config = {
            "backend": "etcd",
            "endpoints": list(self.endpoints),
            "cursor_key": self.lane_key(lane, "cursor"),
            "holder_key": self.lane_key(lane, "holder"),
            "lease": lease,
            "timeout_s": self.timeout_s,
            "username_env": USERNAME_ENV if self._has_credentials else None,
            "password_env": PASSWORD_ENV if self._has_credentials else None,
        }
        env = {CURSOR_ENV: _dumps(config)}
        if self._has_credentials:
            env[USERNAME_ENV] = self._username or ""
            env[PASSWORD_ENV] = self._password or ""
        return env

    def close(self) -> None:
        self._client.close()


# ---- reading -----------------------------------------------------------------


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _first_kv(result: etcd.TxnResult) -> etcd.KeyValue | None:
    for response in result.responses:
        if response.range is not None and response.range.kvs:
            return response.range.kvs[0]
    return None


def _generation(kv: etcd.KeyValue | None) -> int:
    if kv is None:
        return 0
    data = _loads(kv.value)
    value = data.get("generation") if isinstance(data, dict) else None
    return value if _is_int(value) and value >= 0 else 0


_LANE_PARTS = ("holder", "definition", "release")


def parse_view(prefix: str, result: etcd.RangeResult) -> FleetView:
    """A FleetView from one range over ``prefix/``; malformed records are left out, not fatal."""
    hosts: dict[str, HostRecord] = {}
    holders: dict[str, Holder] = {}
    definitions: dict[str, str] = {}
    releases: dict[str, dict] = {}
    generation = 0
    hosts_dir = f"{prefix}/hosts/"
    lanes_dir = f"{prefix}/lanes/"
    for kv in result.kvs:
        try:
            key = kv.key.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if key.startswith(hosts_dir):
            record = HostRecord.from_json(_loads(kv.value))
            if record is not None and record.host_id == key[len(hosts_dir) :]:
                hosts[record.host_id] = record
        elif key.startswith(lanes_dir):
            lane, _, part = key[len(lanes_dir) :].rpartition("/")
            if not lane or part not in _LANE_PARTS:
                continue
            if part == "holder":
                holder = Holder.from_json(_loads(kv.value))
                # The key's lease is the truth; a record naming another lease is not a holder.
                if holder is not None and holder.lane == lane and holder.lease == kv.lease:
                    holders[lane] = holder
            elif part == "definition":
                data = _loads(kv.value)
                sha = data.get("definition_sha256") if isinstance(data, dict) else None
                if _is_str(sha):
                    definitions[lane] = sha
            elif part == "release":
                data = _loads(kv.value)
                if isinstance(data, dict) and _is_int(data.get("lease")):
                    releases[lane] = data
        elif key == f"{prefix}/rebalance":
            generation = _generation(kv)
    return FleetView(
        hosts=hosts,
        holders=holders,
        definitions=definitions,
        releases=releases,
        rebalance_generation=generation,
        revision=result.revision,
    )


def _conflict_message(host_id: str, other: HostRecord | None, waited_s: float) -> str:
    fix = "set a distinct `[fleet] host_id` in the settings file or pass `--host-id` on each host"
    if other is None:
        who = "a record gatewayctl cannot read"
    else:
        who = f"pid {other.pid} on boot {other.boot_id[:8] or '?'}, started at {other.started_at_ms} ms"
    return (
        f"host id {host_id!r} is held by another live owner ({who}) and did not free up "
        f"within {waited_s:g}s; {fix}"
    )


__all__ = [
    "Backend",
    "BackendUnavailable",
    "EtcdBackend",
    "FleetView",
    "Holder",
    "HostIdConflict",
    "HostRecord",
    "LeaseLost",
    "LocalBackend",
    "Renewal",
    "CURSOR_ENV",
    "new_token",
    "parse_view",
    "read_boot_id",
]
