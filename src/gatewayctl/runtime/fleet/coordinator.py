"""A host's part in a fleet: register, renew, read the fleet, claim, give back.

The coordinator is a thread beside the owner's loop: etcd calls block (each
bounded by the budget's request timeout), and lane supervision must not.
It decides which lanes this host holds; the owner's loop reads that
(``grants``) and starts or stops lanes to match, and tells the coordinator
when a lane it had to give back has stopped (``lane_stopped``), which is
only then released in etcd, so two hosts never serve it at once.

Fencing. Each held lane has a fence file the owner created; the lane gets a
read-only descriptor of it (``GATEWAYCTL_LANE_FENCE_FD``) and reads two
CLOCK_MONOTONIC deadlines from it before every poll and send:

    stop = renewal sent + lease_ttl - margin - stop_grace   (take no new work, stop)
    dead = renewal sent + lease_ttl - margin                 (the process is gone)

A renewal counts from the moment its request was sent, which is no later
than the server's renewal, so ``dead`` comes before the server could
expire the lease (``margin`` covers clock-rate drift and scheduling). Only
a successful renewal moves the deadlines forward; a paused owner or a lost
etcd therefore stops its lanes by themselves, and a paused lane finds its
deadline passed when it resumes. The owner enforces the same deadlines
with signals for workers that do not read the fence.

Imports the plan and the runtime's own modules only.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from gatewayctl.runtime.fleet import placement
from gatewayctl.runtime.fleet.backend import (
    BackendUnavailable,
    FleetView,
    Holder,
    HostIdConflict,
    HostRecord,
    LeaseLost,
    Renewal,
)
from gatewayctl.workers.fence import FENCE_FORMAT

def write_fence(fd: int, stop_mono: float, dead_mono: float) -> None:
    """One pwrite of both deadlines (16 bytes at offset 0: never torn), in
    the format the lane reads (workers/fence.py)."""
    os.pwrite(fd, FENCE_FORMAT.pack(int(stop_mono * 1e9), int(dead_mono * 1e9)), 0)


@dataclass(frozen=True)
class Grant:
    """A lane this host holds: run it until ``stop_mono``, gone by ``dead_mono``."""

    lane: str
    lease: int
    since_ms: int
    stop_mono: float
    dead_mono: float


@dataclass
class LaneView:
    """What a status reader sees of a lane's place in the fleet."""

    holder: str | None = None  # host id
    since_ms: int | None = None
    reason: str | None = None  # why this host does not run it (standby)

    def to_json(self) -> dict:
        return {"holder": self.holder, "since_ms": self.since_ms, "reason": self.reason}


@dataclass
class _State:
    registered: bool = False
    renewal: Renewal | None = None
    registered_mono: float = 0.0
    last_renewal_ms: int | None = None
    error: str | None = None
    fatal: str | None = None
    grants: dict[str, Grant] = field(default_factory=dict)
    giving_up: dict[str, str] = field(default_factory=dict)  # lane -> why
    lanes: dict[str, LaneView] = field(default_factory=dict)
    hosts: tuple[str, ...] = ()


class Coordinator:
    def __init__(
        self,
        backend,
        *,
        host_id: str,
        record: HostRecord,
        budget,
        fence_fds: dict[str, int],
        log: Callable[[str], None],
        wake: Callable[[], None],
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.backend = backend
        self.host_id = host_id
        self.record = record
        self.budget = budget
        self.fence_fds = fence_fds  # lane name -> the owner's writable fence descriptor
        self.definitions = dict(record.lanes)  # lane name -> this host's definition digest
        self._log = log
        self._wake = wake
        self._now_ms = now_ms
        self._mono = monotonic
        self._lock = threading.Lock()
        self._state = _State(lanes={lane: LaneView(reason="not claimed yet") for lane in self.definitions})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_renew = 0.0
        self._seen_rebalance: int | None = None
        self._unheld_since: dict[str, float] = {}
        self._cooldown: dict[str, float] = {}  # lane -> not before (monotonic): handed over, let another host take it
        self._stopped: dict[str, float] = {}  # lane -> when the owner last saw it without a process
        self._giving_up_at: dict[str, float] = {}  # lane -> when the hand-over began
        self._release_seen: dict[str, tuple] = {}  # lane -> (request, first seen, host asked)
        self._hosts_seen: frozenset = frozenset()
        self._hosts_changed_at = 0.0
        self._startup_done = False
        self._settled_at = 0.0  # fallback delays count from here at the earliest

    # -- the owner's side ---------------------------------------------------

    def start(self) -> None:
        for fd in self.fence_fds.values():
            write_fence(fd, 0.0, 0.0)  # fenced until a claim says otherwise
        self._thread = threading.Thread(target=self._run, name="gatewayctl-fleet", daemon=True)
        self._thread.start()

    def grants(self) -> dict[str, Grant]:
        """The lanes to run now (held and not being given back)."""
        with self._lock:
            return {k: g for k, g in self._state.grants.items() if k not in self._state.giving_up}

    def fence_of(self, lane: str) -> Grant | None:
        """The deadlines of a held lane, including one being given back."""
        with self._lock:
            return self._state.grants.get(lane)

    def fatal(self) -> str | None:
        with self._lock:
            return self._state.fatal

    def lane_stopped(self, lane: str, stopped: bool) -> None:
        """The owner's report, after it started or stopped what it had to:
        ``lane`` has no process (True) or has one (False). A hand-over is
        released only on a report made after it began."""
        with self._lock:
            if stopped:
                self._stopped[lane] = self._mono()
            else:
                self._stopped.pop(lane, None)

    def status(self) -> dict:
        with self._lock:
            s = self._state
            return {
                "host_id": self.host_id,
                "backend": self.backend.kind,
                "registered": s.registered,
                "lease": format(s.renewal.lease, "x") if s.renewal is not None and s.registered else None,
                "lease_ttl_s": self.budget.ttl_s,
                "last_renewal_ms": s.last_renewal_ms,
                "hosts": list(s.hosts),
                "error": s.error,
                "lanes": {lane: view.to_json() for lane, view in sorted(s.lanes.items())},
            }

    def lane_view(self, lane: str) -> dict | None:
        with self._lock:
            view = self._state.lanes.get(lane)
            return None if view is None else view.to_json()

    def close(self, *, resign: bool = True) -> None:
        """Stop the thread; then give every lane back at once (revoke the lease)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.budget.request_timeout_s * 3 + 1.0)
        if resign:
            try:
                self.backend.resign()
            except (BackendUnavailable, LeaseLost):
                pass  # the lease expires by itself within its TTL
        for fd in self.fence_fds.values():
            try:
                write_fence(fd, 0.0, 0.0)
            except OSError:
                pass
        self.backend.close()

    # -- the thread -----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                changed = self._tick()
            except Exception as exc:  # noqa: BLE001 - the thread must not die silently
                changed = self._set_error(f"fleet coordinator error: {type(exc).__name__}: {exc}")
            if changed:
                self._wake()
            self._stop.wait(self.budget.poll_s)

    def _set_error(self, message: str | None) -> bool:
        with self._lock:
            if self._state.error == message:
                return False
            self._state.error = message
        if message:
            self._log(f"fleet: {message}")
        return True

    def _tick(self) -> bool:
        changed = False
        now = self._mono()
        if not self._state.registered:
            try:
                renewal = self.backend.register(self.record)
            except HostIdConflict as exc:
                with self._lock:
                    self._state.fatal = exc.message
                self._stop.set()
                return True
            except BackendUnavailable as exc:
                return self._set_error(f"cannot register this host: {exc.message}")
            with self._lock:
                self._state.registered = True
                self._state.renewal = renewal
                self._state.registered_mono = now
                self._state.last_renewal_ms = self._now_ms()
            self._next_renew = renewal.sent_mono + self.budget.renew_every_s
            self._seen_rebalance = None
            self._log(f"fleet: registered as {self.host_id} (lease {renewal.lease:x}, ttl {renewal.ttl_s:g} s)")
            changed = True
        elif now >= self._next_renew:
            try:
                renewal = self.backend.keepalive()
            except LeaseLost as exc:
                self._lose_all(f"this host's lease is gone ({exc.message}); registering again")
                with self._lock:
                    self._state.registered = False
                self._set_error(f"lease lost: {exc.message}")
                return True
            except BackendUnavailable as exc:
                self._next_renew = now + self.budget.poll_s
                return self._set_error(f"cannot renew the lease: {exc.message}") or changed
            self._renewed(renewal)
        try:
            view = self.backend.view()
        except BackendUnavailable as exc:
            return self._set_error(f"cannot read the fleet: {exc.message}") or changed
        changed = self._set_error(None) or changed
        return self._reconcile(view, now) or changed

    def _deadlines(self, renewal: Renewal) -> tuple[float, float]:
        b = self.budget
        return renewal.sent_mono + b.lane_stop_after_s, renewal.sent_mono + b.lane_dead_after_s

    def _renewed(self, renewal: Renewal) -> None:
        stop, dead = self._deadlines(renewal)
        with self._lock:
            self._state.renewal = renewal
            self._state.last_renewal_ms = self._now_ms()
            for lane, grant in list(self._state.grants.items()):
                if lane in self._state.giving_up:
                    continue
                self._state.grants[lane] = Grant(lane, grant.lease, grant.since_ms, stop, dead)
                write_fence(self.fence_fds[lane], stop, dead)
        self._next_renew = renewal.sent_mono + self.budget.renew_every_s

    def _lose(self, lane: str, why: str) -> None:
        """``lane`` is not ours any more (caller holds no lock)."""
        with self._lock:
            grant = self._state.grants.pop(lane, None)
            self._state.giving_up.pop(lane, None)
        if grant is not None:
            write_fence(self.fence_fds[lane], 0.0, 0.0)
            self._log(f"fleet: {lane}: {why}")

    def _lose_all(self, why: str) -> None:
        for lane in list(self._state.grants):
            self._lose(lane, why)

    def _give_up(self, lane: str, why: str) -> None:
        """Hand ``lane`` over: stop it now (gracefully), release it once stopped."""
        with self._lock:
            if lane in self._state.giving_up or lane not in self._state.grants:
                return
            self._state.giving_up[lane] = why
            grant = self._state.grants[lane]
            now = self._mono()
            self._giving_up_at[lane] = now
            dead = min(grant.dead_mono, now + self.budget.stop_grace_s)
            self._state.grants[lane] = Grant(lane, grant.lease, grant.since_ms, now, dead)
        write_fence(self.fence_fds[lane], now, dead)
        self._log(f"fleet: {lane}: handing over ({why})")

    def _reconcile(self, view: FleetView, now: float) -> bool:
        b = self.budget
        me = self.host_id
        renewal = self._state.renewal
        if renewal is None:
            return False
        lease = renewal.lease
        changed = False
        if me not in view.hosts:
            # Our host key is gone: the lease expired (a long pause) and
            # everything under it with it. Start over.
            self._lose_all("this host's registration vanished (its lease expired)")
            with self._lock:
                self._state.registered = False
            return True

        # 1. What we hold according to etcd (ownership by lease id).
        for lane in self.definitions:
            holder = view.holders.get(lane)
            held = lane in self._state.grants
            ours = holder is not None and holder.lease == lease
            if held and not ours:
                who = f"held by {holder.host_id} now" if holder is not None else "its key is gone"
                self._lose(lane, f"lost the lane ({who})")
                changed = True
            elif ours and not held:
                self._adopt(lane, holder, renewal)
                changed = True

        # 2. Hand-overs that finished: the lane's process is gone, release the key.
        for lane in list(self._state.giving_up):
            with self._lock:
                done = self._stopped.get(lane, -1.0) > self._giving_up_at.get(lane, 0.0)
            if done:
                try:
                    self.backend.release(lane)
                except BackendUnavailable:
                    continue  # the next tick tries again; the lane stays stopped
                except LeaseLost:
                    pass  # the lease is gone, and the lane key with it
                self._cooldown[lane] = now + max(b.settle_s, b.poll_s * 4)
                self._lose(lane, "released")
                changed = True

        # 3. Hand-over requests: `fleet release`, and `fleet rebalance`.
        for lane, request in view.releases.items():
            if lane in self._state.grants and request.get("lease") == lease:
                self._give_up(lane, f"fleet release requested by {request.get('by') or 'someone'}")
                changed = True
        hosts = {h: dict(rec.lanes) for h, rec in view.hosts.items()}
        settled = self._settled(now, frozenset(hosts))
        holders = {lane: h.host_id for lane, h in view.holders.items() if h.host_id in hosts}
        if self._seen_rebalance is None:
            self._seen_rebalance = view.rebalance_generation
        elif view.rebalance_generation > self._seen_rebalance and settled:
            self._seen_rebalance = view.rebalance_generation
            for lane in placement.excess(me, hosts, holders, view.definitions):
                if lane in self._state.grants:
                    self._give_up(lane, f"fleet rebalance (generation {view.rebalance_generation})")
                    changed = True

        # 4. Claims.
        all_lanes = sorted({lane for lanes in hosts.values() for lane in lanes})
        # The host asked to hand a lane over does not take it back while
        # the request stands (the next holder's claim deletes it), for at
        # most a TTL plus three settle delays: then nobody else could.
        excluded = {}
        for lane, request in view.releases.items():
            key = (request.get("lease"), request.get("at_ms"))
            seen = self._release_seen.get(lane)
            if seen is None or seen[0] != key:
                holder = view.holders.get(lane)
                asked = request.get("host_id") or (
                    holder.host_id if holder is not None and holder.lease == request.get("lease") else None)
                seen = self._release_seen[lane] = (key, now, asked)
            if now - seen[1] > b.ttl_s + 3 * b.settle_s or not seen[2]:
                continue
            excluded[lane] = frozenset({seen[2]})
        for lane in [k for k in self._release_seen if k not in view.releases]:
            del self._release_seen[lane]
        assignment = placement.assign_free(all_lanes, hosts, holders, view.definitions, excluded)
        views: dict[str, LaneView] = {}
        for lane in self.definitions:
            holder = view.holders.get(lane)
            if holder is not None:
                self._unheld_since.pop(lane, None)
                reason = None if holder.lease == lease else f"held by {holder.host_id}"
                views[lane] = LaneView(holder.host_id, holder.since_ms, reason)
                continue
            first_seen = self._unheld_since.setdefault(lane, now)
            preferred = assignment.preferred.get(lane)
            recorded = view.definitions.get(lane)
            if preferred is None or (preferred != me and me not in assignment.fallback.get(lane, [])):
                if me in excluded.get(lane, frozenset()):
                    why = "handed over: waiting for another host to take it"
                elif recorded is not None and recorded != self.definitions[lane]:
                    why = (f"the fleet runs this lane with definition {recorded[:12]}, this host's plan has "
                           f"{self.definitions[lane][:12]}: waiting (it takes the lane only when no live host "
                           "has the fleet's definition)")
                else:
                    why = "no host may take it"
                views[lane] = LaneView(None, None, why)
                continue
            delay = 0.0 if preferred == me else b.settle_s * (1 + assignment.fallback[lane].index(me))
            if not settled:
                views[lane] = LaneView(None, None, f"settling: waiting {b.settle_s:g} s for the other hosts")
                continue
            if now < self._cooldown.get(lane, 0.0):
                views[lane] = LaneView(None, None, "handed over: waiting for another host to take it")
                continue
            if now - max(first_seen, self._settled_at) < delay:
                views[lane] = LaneView(None, None, f"unheld: {preferred} should take it first")
                continue
            since_ms = self._now_ms()
            try:
                got = self.backend.claim(lane, self.definitions[lane], since_ms)
            except BackendUnavailable as exc:
                self._set_error(f"cannot claim {lane}: {exc.message}")
                views[lane] = LaneView(None, None, "claim failed: etcd unavailable")
                continue
            except LeaseLost as exc:
                self._lose_all(f"lease lost while claiming ({exc.message})")
                with self._lock:
                    self._state.registered = False
                return True
            if got is None:
                views[lane] = LaneView(None, None, "another host claimed it first")
                continue
            self._adopt(lane, got, self._state.renewal)
            self._unheld_since.pop(lane, None)
            views[lane] = LaneView(me, got.since_ms, None)
            changed = True
        with self._lock:
            old_hosts = self._state.hosts
            self._state.hosts = tuple(sorted(hosts))
            changed = changed or old_hosts != self._state.hosts
            for lane, v in views.items():
                if self._state.lanes.get(lane) != v:
                    self._state.lanes[lane] = v
                    changed = True
        return changed

    def _settled(self, now: float, hosts: frozenset) -> bool:
        """After registering, a host claims nothing until the set of live
        hosts has stayed the same for ``settle_s`` (so hosts started together
        share the lanes, however slowly each came up), for at most a TTL
        more. Once settled it stays settled: a failover is not delayed."""
        if hosts != self._hosts_seen:
            self._hosts_seen, self._hosts_changed_at = hosts, now
        if self._startup_done:
            return True
        b = self.budget
        since = now - self._state.registered_mono
        if since >= b.settle_s and (now - self._hosts_changed_at >= b.settle_s or since >= b.ttl_s + b.settle_s):
            self._startup_done = True
            self._settled_at = now
        return self._startup_done

    def _adopt(self, lane: str, holder: Holder, renewal: Renewal) -> None:
        stop, dead = self._deadlines(renewal)
        with self._lock:
            self._state.grants[lane] = Grant(lane, holder.lease, holder.since_ms, stop, dead)
            self._state.giving_up.pop(lane, None)
        write_fence(self.fence_fds[lane], stop, dead)
        self._log(f"fleet: {lane}: claimed (lease {holder.lease:x})")
