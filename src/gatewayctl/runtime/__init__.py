"""The gateway owner runtime: slot, heartbeat, lane supervision, control API, status.

Owns everything under ``<home>/gateway-runtime/`` and the processes it
starts. It runs a ``LaunchPlan`` and nothing else: it imports only
``gatewayctl.compile.plan`` and ``gatewayctl.compile.planfile`` from the
pipeline (never source, selectors, validate, report or cli; import-linter
enforces it), plus the standard library.

Modules: ``states`` (phases, lane states, legal transitions; no
dependencies), ``system`` (every syscall and clock read, injectable),
``statefiles`` (paths, atomic writes, bounded reads, the trust checks of
the runtime directory), ``identity`` (who lanes run as), ``slot`` (claim, liveness, stop
requests, the status a reader sees), ``lanes`` (one supervised worker),
``logs`` (capped, rotated lane logs), ``control`` (loopback HTTP API),
``owner`` (the loop that ties them together).
"""

from gatewayctl.runtime.owner import Owner, OwnerOptions, OwnerResult
from gatewayctl.runtime.slot import (
    STATUS_FORMAT_VERSION,
    OwnerActive,
    active_owner,
    load_status,
    request_stop,
    wait_until_gone,
)
from gatewayctl.runtime.statefiles import RuntimePaths, RuntimeRefused
from gatewayctl.runtime.system import System

__all__ = [
    "Owner",
    "OwnerOptions",
    "OwnerResult",
    "OwnerActive",
    "RuntimePaths",
    "RuntimeRefused",
    "System",
    "STATUS_FORMAT_VERSION",
    "active_owner",
    "load_status",
    "request_stop",
    "wait_until_gone",
]
