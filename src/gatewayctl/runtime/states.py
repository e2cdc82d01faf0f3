"""Owner phases and lane states, and which transitions between them are legal.

No dependencies at all (not even the plan): the state machines in
``owner.py`` and ``lanes.py`` consult these tables in the one function each
that writes a state, so an illegal transition is caught as a bug at the
point it happens instead of showing up later as a confusing status.
"""

from __future__ import annotations

# Owner phases (the contract's names; they appear verbatim in status JSON).
STARTING = "starting"
RUNNING = "running"
STOPPING = "stopping"
STOPPED = "stopped"
FAILED = "failed"

OWNER_PHASES = (STARTING, RUNNING, STOPPING, STOPPED, FAILED)

OWNER_TRANSITIONS: dict[str, frozenset[str]] = {
    STARTING: frozenset({RUNNING, STOPPING, FAILED}),
    RUNNING: frozenset({STOPPING, FAILED}),
    # A lane may fail while the owner is draining the others; the run then
    # still ends as failed, because the failure is what the operator must see.
    STOPPING: frozenset({STOPPED, FAILED}),
    STOPPED: frozenset(),
    FAILED: frozenset(),
}


class LaneState:
    STOPPED = "stopped"  # not started yet, or stopped on request
    STARTING = "starting"  # spawned, not yet ready
    RUNNING = "running"  # worker reported ready, or survived the start period
    BACKOFF = "backoff"  # exited unexpectedly, restart scheduled
    STOPPING = "stopping"  # asked to stop, waiting for the process to exit
    FATAL = "fatal"  # exited unexpectedly and will not be restarted
    STANDBY = "standby"  # a fleet lane another host holds (or nobody yet): runs here only once claimed


LANE_STATES = (
    LaneState.STOPPED,
    LaneState.STARTING,
    LaneState.RUNNING,
    LaneState.BACKOFF,
    LaneState.STOPPING,
    LaneState.FATAL,
    LaneState.STANDBY,
)

LANE_TRANSITIONS: dict[str, frozenset[str]] = {
    LaneState.STOPPED: frozenset({LaneState.STARTING, LaneState.STANDBY}),
    # STANDBY: a fenced lane exits by itself (exit 75) when its host's lease
    # could not be renewed in time; that is a hand-over, not a failure.
    LaneState.STARTING: frozenset(
        {LaneState.RUNNING, LaneState.BACKOFF, LaneState.FATAL, LaneState.STOPPING, LaneState.STANDBY}
    ),
    LaneState.RUNNING: frozenset({LaneState.BACKOFF, LaneState.FATAL, LaneState.STOPPING, LaneState.STANDBY}),
    LaneState.BACKOFF: frozenset({LaneState.STARTING, LaneState.STOPPED, LaneState.FATAL, LaneState.STANDBY}),
    LaneState.STOPPING: frozenset({LaneState.STOPPED, LaneState.STANDBY}),
    LaneState.FATAL: frozenset(),
    LaneState.STANDBY: frozenset({LaneState.STARTING, LaneState.STOPPED}),
}

# States in which the lane has a live process we are responsible for.
LANE_HAS_PROCESS = frozenset({LaneState.STARTING, LaneState.RUNNING, LaneState.STOPPING})


class IllegalTransition(RuntimeError):
    """A state writer was asked for a transition the tables forbid (a bug)."""


def check_owner_transition(old: str, new: str) -> None:
    if new not in OWNER_TRANSITIONS.get(old, frozenset()):
        raise IllegalTransition(f"owner phase {old} -> {new} is not allowed")


def check_lane_transition(old: str, new: str) -> None:
    if new not in LANE_TRANSITIONS.get(old, frozenset()):
        raise IllegalTransition(f"lane state {old} -> {new} is not allowed")


# Health of a status document, for probes that read only an exit code.
HEALTHY = "healthy"  # an owner runs and every lane is running
DEGRADED = "degraded"  # an owner runs, but a lane is starting, in backoff, stopping, stopped or fatal
DOWN = "down"  # no owner runs (stopped, failed, stale, or never started)


def health(doc: dict) -> str:
    """``healthy``, ``degraded`` or ``down`` for a status document (the
    ``gateway status --json`` shape). An owner that is not in phase
    ``running`` (still starting, or draining) is degraded while it lives."""
    if not doc.get("running"):
        return DOWN
    lanes = doc.get("lanes") or []
    if doc.get("phase") != RUNNING or not lanes:
        return DEGRADED
    fleet = doc.get("fleet")
    if isinstance(fleet, dict):
        # A fleet host is healthy while it is registered and every lane it
        # has runs here or stands by for another host.
        if fleet.get("error") or not fleet.get("registered"):
            return DEGRADED
        fine = (LaneState.RUNNING, LaneState.STANDBY)
    else:
        fine = (LaneState.RUNNING,)
    if any(not isinstance(lane, dict) or lane.get("state") not in fine for lane in lanes):
        return DEGRADED
    return HEALTHY
