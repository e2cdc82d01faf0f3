"""The owner slot, liveness, stop requests and the status a reader sees.

One owner per runtime directory. Claiming creates ``owner-active.json``
exclusively under an flock on the directory, so of many simultaneous
``gateway run`` exactly one wins and the rest are refused without writing
anything. An owner is alive when its pid answers signal 0, is not a zombie,
and still has the start time recorded at claim (a reused pid is a different
process); it is stale when alive but its heartbeat is older than 15 s.

Standard library only; imports nothing from gatewayctl outside runtime.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass

from gatewayctl.runtime import statefiles
from gatewayctl.runtime.statefiles import RuntimePaths, atomic_write_json, read_json
from gatewayctl.runtime.system import System

HEARTBEAT_S = 5.0
STALE_MS = 15_000
STATUS_FORMAT_VERSION = 1

# The keys of the status JSON, in the contract's order (loong's keys first).
STATUS_KEYS = (
    "runtime_dir",
    "phase",
    "running",
    "stale",
    "pid",
    "mode",
    "version",
    "config_path",
    "attached_cli_session",
    "started_at_ms",
    "last_heartbeat_at",
    "stopped_at_ms",
    "shutdown_reason",
    "last_error",
    "configured_surface_count",
    "running_surface_count",
    "bind_address",
    "port",
    "port_source",
    "token_path",
    "format_version",
    "plan_sha256",
    "lanes",
    "last_apply",
)
# Kept in owner-active.json for liveness and stop matching; never shown.
PRIVATE_KEYS = ("owner_token", "pid_start_ticks")


class OwnerActive(Exception):
    """Another live owner holds the slot."""

    def __init__(self, path: str, pid, stale: bool = False):
        self.path = path
        self.pid = pid
        self.stale = stale
        message = f"gateway owner already active at {path} (pid={pid if pid is not None else 'unknown'})"
        if stale:
            message += (
                "; its heartbeat is older than 15 s, so it looks hung: "
                f"stop it (kill {pid}) and run again"
            )
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Liveness:
    alive: bool  # the recorded process exists and is the same process
    stale: bool  # dead, or alive with a heartbeat older than STALE_MS
    heartbeat_age_ms: int | None


def liveness(record: dict, system: System, now_ms: int | None = None) -> Liveness:
    pid = record.get("pid")
    ticks = record.get("pid_start_ticks")
    if not isinstance(pid, int) or not system.pid_alive(pid, ticks if isinstance(ticks, int) else None):
        return Liveness(False, True, None)
    now_ms = system.now_ms() if now_ms is None else now_ms
    beat = record.get("last_heartbeat_at")
    age = now_ms - beat if isinstance(beat, int) else None
    return Liveness(True, age is None or age > STALE_MS, age)


def _lock_dir(runtime_dir: str) -> int:
    fd = os.open(runtime_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0))
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _unlock_dir(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def refuse_if_active(paths: RuntimePaths, system: System) -> None:
    """Raise OwnerActive when a live owner holds the slot; writes nothing."""
    record = read_json(paths.owner_active)
    if record is None:
        return
    live = liveness(record, system)
    if live.alive:
        raise OwnerActive(paths.owner_active, record.get("pid"), stale=live.stale)


def claim(paths: RuntimePaths, system: System, record: dict) -> dict | None:
    """Take the slot with ``record`` (which carries ``owner_token``).

    Returns the dead predecessor's record if one was displaced (its lanes may
    need reaping), else None. Raises OwnerActive, or OSError when the
    directory cannot be written.
    """
    # Checked before anything is created, so a refused run writes nothing.
    refuse_if_active(paths, system)
    statefiles.secure_runtime_dir(paths.runtime_dir)
    fd = _lock_dir(paths.runtime_dir)
    try:
        previous = read_json(paths.owner_active)
        if previous is not None:
            live = liveness(previous, system)
            if live.alive:
                raise OwnerActive(paths.owner_active, previous.get("pid"), stale=live.stale)
            # Dead owner: its slot is reclaimable at once (the lock makes
            # check-and-remove one step for every claimant).
            statefiles.remove(paths.owner_active)
        elif os.path.exists(paths.owner_active):
            # Present but unparseable: writes are atomic, so this is not a
            # half-written file of a live owner; treat it as debris.
            statefiles.remove(paths.owner_active)
        if not statefiles.exclusive_create_json(paths.owner_active, record):
            other = read_json(paths.owner_active) or {}
            raise OwnerActive(paths.owner_active, other.get("pid"))
    finally:
        _unlock_dir(fd)
    return previous


def release(paths: RuntimePaths, owner_token: str) -> bool:
    """Delete the slot only if it still carries ``owner_token``."""
    try:
        fd = _lock_dir(paths.runtime_dir)
    except OSError:
        return False
    try:
        current = read_json(paths.owner_active)
        if current is not None and current.get("owner_token") == owner_token:
            statefiles.remove(paths.owner_active)
            statefiles.fsync_dir(paths.runtime_dir)
            return True
        return False
    finally:
        _unlock_dir(fd)


# -- leftovers of a dead owner -------------------------------------------------


def write_lane_groups(paths: RuntimePaths, owner_token: str, groups: list[dict], marker: str) -> None:
    atomic_write_json(paths.lane_groups, {"owner_token": owner_token, "marker": marker, "groups": groups})


def reap_leftovers(paths: RuntimePaths, system: System, own_token: str, timeout_s: float = 3.0) -> list[int]:
    """SIGKILL what a dead owner's lanes left behind; returns the pids that were killed.

    ``lane-groups.json`` is a file, not an instruction: it only narrows the
    search. A process is killed only when the process itself proves it is a
    lane process of that owner (``System.kill_marked``: in a recorded group
    and session, started no earlier than its leader, carrying the random
    marker the owner put in its lanes' environment). A record that names
    someone else's processes kills nothing.
    """
    record = read_json(paths.lane_groups)
    if record is None or record.get("owner_token") == own_token:
        return []
    marker = record.get("marker")
    wanted: dict[int, int] = {}
    for group in record.get("groups") or []:
        if not isinstance(group, dict):
            continue
        pgid, since = group.get("pgid"), group.get("start_ticks")
        if type(pgid) is int and pgid > 1 and type(since) is int and since >= 0:
            wanted[pgid] = since
    killed: list[int] = []
    if isinstance(marker, str) and len(marker) >= 16 and wanted:
        deadline = system.monotonic() + timeout_s
        while system.monotonic() < deadline:
            left = system.marked_processes(wanted, marker)
            if not left:
                break
            for pid in left:
                if system.kill_marked(pid, wanted, marker) and pid not in killed:
                    killed.append(pid)
            system.sleep(0.02)
    statefiles.remove(paths.lane_groups)
    return sorted(killed)


# -- status as a reader sees it --------------------------------------------------


def empty_status(paths: RuntimePaths) -> dict:
    doc = {key: None for key in STATUS_KEYS}
    doc.update(
        runtime_dir=paths.runtime_dir,
        phase="stopped",
        running=False,
        stale=False,
        configured_surface_count=0,
        running_surface_count=0,
        format_version=STATUS_FORMAT_VERSION,
        lanes=[],
    )
    return doc


def public_status(record: dict, paths: RuntimePaths) -> dict:
    doc = empty_status(paths)
    for key in STATUS_KEYS:
        if key in record:
            doc[key] = record[key]
    if isinstance(record.get("fleet"), dict):
        doc["fleet"] = record["fleet"]  # a fleet host only (no key otherwise)
    doc["runtime_dir"] = paths.runtime_dir
    doc["format_version"] = STATUS_FORMAT_VERSION
    if not isinstance(doc["lanes"], list):
        doc["lanes"] = []
    return doc


def load_status(paths: RuntimePaths, system: System) -> dict:
    """The status JSON: the persisted snapshot judged against the live slot,
    with its ``health`` (healthy, degraded, down)."""
    from gatewayctl.runtime.states import health

    doc = _judged_status(paths, system)
    doc["health"] = health(doc)
    return doc


def _judged_status(paths: RuntimePaths, system: System) -> dict:
    active = read_json(paths.owner_active)
    snapshot = read_json(paths.status)
    if active is None:
        if snapshot is None:
            return empty_status(paths)
        doc = public_status(snapshot, paths)
        # No slot means no owner, whatever the last snapshot said; a snapshot
        # still claiming to run is reported as stale.
        if doc["running"]:
            doc["stale"] = True
            _as_dead(doc, system)
        doc["running"] = False
        return doc
    same_run = (
        snapshot is not None
        and snapshot.get("pid") == active.get("pid")
        and snapshot.get("started_at_ms") == active.get("started_at_ms")
    )
    record = dict(snapshot) if same_run else dict(active)
    beats = [b for b in (active.get("last_heartbeat_at"), record.get("last_heartbeat_at")) if isinstance(b, int)]
    if beats:
        record["last_heartbeat_at"] = max(beats)
    live = liveness({**active, "last_heartbeat_at": record.get("last_heartbeat_at")}, system)
    doc = public_status(record, paths)
    doc["stale"] = live.stale
    doc["running"] = bool(doc["running"]) and not live.stale
    if not live.alive:
        _as_dead(doc, system)
    return doc


def _as_dead(doc: dict, system: System) -> None:
    """A dead owner's last snapshot, told as what it is now.

    The owner died without finalizing (SIGKILL, OOM): its snapshot still
    says ``running``, its lanes ``running`` with their pids. The lanes died
    with it (parent-death signal), so each lane is judged by its own
    process: gone means ``fatal`` (exited, and nobody will restart it); one
    that somehow lives on keeps its state and says it was left behind (the
    next ``gateway run`` kills it). The phase becomes ``failed``.
    """
    from gatewayctl.runtime.states import LANE_HAS_PROCESS, LaneState

    if doc.get("phase") in ("starting", "running", "stopping"):
        doc["phase"] = "failed"
        reason = f"gateway owner (pid {doc.get('pid')}) died without shutting down"
        doc["last_error"] = doc.get("last_error") or reason
        doc["shutdown_reason"] = doc.get("shutdown_reason") or reason
    running = 0
    for lane in doc["lanes"]:
        if not isinstance(lane, dict):
            continue
        pid = lane.get("pid")
        if lane.get("state") in LANE_HAS_PROCESS or lane.get("state") == LaneState.BACKOFF:
            if isinstance(pid, int) and system.pid_alive(pid):
                lane["last_error"] = lane.get("last_error") or (
                    f"its owner died and left this lane's process (pid {pid}) running; "
                    "the next `gateway run` kills it"
                )
            else:
                lane["state"] = LaneState.FATAL
                lane["pid"] = None
                lane["last_error"] = lane.get("last_error") or "its owner died; the lane's process is gone"
        if lane.get("state") == LaneState.RUNNING:
            running += 1
    doc["running_surface_count"] = running


# -- stop requests -------------------------------------------------------------


def request_stop(paths: RuntimePaths, system: System) -> str:
    """Ask the live owner to stop: ``requested``, ``already_requested`` or ``already_stopped``.

    Raises OSError when the request cannot be written.
    """
    active = read_json(paths.owner_active)
    if active is None:
        return "already_stopped"
    if not liveness(active, system).alive:
        return "already_stopped"
    token = active.get("owner_token")
    existing = read_json(paths.stop_request)
    if existing is not None and existing.get("target_owner_token") == token:
        return "already_requested"
    atomic_write_json(
        paths.stop_request,
        {"requested_at_ms": system.now_ms(), "requested_by_pid": system.getpid(), "target_owner_token": token},
    )
    return "requested"


def stop_requested_for(paths: RuntimePaths, owner_token: str) -> bool:
    existing = read_json(paths.stop_request)
    return existing is not None and existing.get("target_owner_token") == owner_token


def active_owner(paths: RuntimePaths, system: System) -> dict | None:
    """The live owner's slot record (private keys included), or None."""
    record = read_json(paths.owner_active)
    if record is None or not liveness(record, system).alive:
        return None
    return record


def wait_until_gone(paths: RuntimePaths, system: System, record: dict, timeout_s: float | None) -> bool:
    """Poll until the owner of ``record`` has released its slot or died; False on timeout."""
    deadline = None if timeout_s is None else system.monotonic() + timeout_s
    token = record.get("owner_token")
    while True:
        current = read_json(paths.owner_active)
        if current is None or current.get("owner_token") != token or not liveness(current, system).alive:
            return True
        if deadline is not None and system.monotonic() >= deadline:
            return False
        system.sleep(0.05)


