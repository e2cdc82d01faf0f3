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

# Names resolve on first use (PEP 562): a lane process that imports only
# ``gatewayctl.runtime.fleet.etcd`` must not pay for the owner, its control
# server and asyncio (about 70 ms) just because this package is its parent.
_LAZY = {
    "Owner": "owner",
    "OwnerOptions": "owner",
    "OwnerResult": "owner",
    "STATUS_FORMAT_VERSION": "slot",
    "OwnerActive": "slot",
    "active_owner": "slot",
    "load_status": "slot",
    "request_stop": "slot",
    "wait_until_gone": "slot",
    "RuntimePaths": "statefiles",
    "RuntimeRefused": "statefiles",
    "System": "system",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
