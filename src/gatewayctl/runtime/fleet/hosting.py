"""The owner's side of a fleet: fence files, the coordinator, and the one
step per loop iteration that makes the lanes match what this host holds.

``FleetHost.step`` starts a lane the coordinator granted (its cursor
pointing at etcd, its fence fresh), stops a lane that is not ours any more
or whose fence ran out (SIGTERM at the stop deadline, SIGKILL at the dead
one: workers that do not read their fence are fenced by the owner), and
reports back which lanes have no process, so a hand-over is released in
etcd only after its lane stopped.

Imports the plan and the runtime's own modules only.
"""

from __future__ import annotations

import os
import socket

from gatewayctl.catalog import is_host_id
from gatewayctl.compile import planfile
from gatewayctl.compile.plan import LaunchPlan, fleet_budget
from gatewayctl.runtime import statefiles
from gatewayctl.runtime.fleet.backend import HostRecord, LeaseLost, read_boot_id
from gatewayctl.runtime.fleet.coordinator import Coordinator
from gatewayctl.runtime.lanes import LaneRunner
from gatewayctl.runtime.states import LaneState
from gatewayctl.workers.fence import ENV_FENCE_FD

HOST_ID_ENV = "GATEWAYCTL_HOST_ID"


def resolve_host_id(plan: LaunchPlan, override: str | None, environ) -> str:
    """``--host-id``, else $GATEWAYCTL_HOST_ID, else ``[fleet] host_id``, else
    the host name; ValueError when the one chosen is not a host id (it
    becomes an etcd key segment)."""
    candidates = (("--host-id", override), (f"${HOST_ID_ENV}", environ.get(HOST_ID_ENV)),
                  ("[fleet] host_id", plan.fleet.host_id if plan.fleet else None),
                  ("the host name", socket.gethostname()))
    for source, candidate in candidates:
        if candidate and candidate.strip():
            host_id = candidate.strip()
            if not is_host_id(host_id):
                raise ValueError(
                    f"{source} {host_id!r} is not a fleet host id (1-64 letters, digits, '.', '_' or '-', starting "
                    "with a letter or digit): pass --host-id or set [fleet] host_id"
                )
            return host_id
    raise ValueError("this host has no name to use as its fleet host id: pass --host-id or set [fleet] host_id")


def _secret(plan: LaunchPlan, ref, environ, cwd) -> str | None:
    if ref is None:
        return None
    from gatewayctl.workers.secrets import _resolve_one

    class _Where:
        name = "fleet"

    return _resolve_one(plan, _Where, ref, environ, cwd, [])


def make_backend(plan: LaunchPlan, environ, cwd, budget=None):
    """The plan's fleet backend. The owner and the `fleet` commands only
    ever see the Backend interface (runtime/fleet/backend.py); another
    coordination service is one more entry here (and in the settings
    schema's ``backend`` enum), not a change to the owner."""
    from gatewayctl.runtime.fleet.backend import EtcdBackend

    fleet = plan.fleet
    budget = budget or fleet_budget(fleet.lease_ttl_s, plan.stop_grace_s, fleet.settle_s)
    factories = {"etcd": EtcdBackend}
    factory = factories.get(fleet.backend)
    if factory is None:  # the schema admits only known backends: a plan from a newer gatewayctl
        raise ValueError(f"fleet backend {fleet.backend!r} is not supported by this gatewayctl")
    return factory(
        list(fleet.endpoints), fleet.prefix, fleet.lease_ttl_s,
        timeout_s=budget.request_timeout_s,
        username=_secret(plan, fleet.username, environ, cwd),
        password=_secret(plan, fleet.password, environ, cwd),
    )


class FleetHost:
    def __init__(self, plan: LaunchPlan, *, host_id: str, token: str, pid: int, pid_start_ticks: int | None,
                 started_at_ms: int, version: str, plan_sha256: str, paths: statefiles.RuntimePaths, environ, cwd,
                 log, wake, backend=None):
        fleet = plan.fleet
        self.plan = plan
        self.host_id = host_id
        self.environ = environ
        self.budget = fleet_budget(fleet.lease_ttl_s, plan.stop_grace_s, fleet.settle_s)
        self.definitions = planfile.lane_definition_digests(plan)
        if backend is None:
            backend = make_backend(plan, environ, cwd, self.budget)
        self.backend = backend
        statefiles.ensure_dir(paths.fence_dir)
        self._write_fds: dict[str, int] = {}
        self.read_fds: dict[str, int] = {}
        for lane in plan.lanes:
            path = paths.lane_fence(lane.family, lane.account_id)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            os.ftruncate(fd, 16)
            self._write_fds[lane.name] = fd
            self.read_fds[lane.name] = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        record = HostRecord(
            host_id=host_id, token=token, boot_id=read_boot_id(), pid=pid, pid_start_ticks=pid_start_ticks,
            started_at_ms=started_at_ms, version=version, lanes=dict(self.definitions), plan_sha256=plan_sha256,
        )
        self.coordinator = Coordinator(
            backend, host_id=host_id, record=record, budget=self.budget, fence_fds=self._write_fds,
            log=log, wake=wake,
        )
        self._log = log
        self._last_status: dict | None = None

    # -- the owner's calls ------------------------------------------------------

    def lane_env(self, lane_name: str) -> dict[str, str]:
        """What a fleet lane's process gets besides the usual: its fence, and
        where its cursor lives (etcd, guarded by this host's lease)."""
        env = {ENV_FENCE_FD: str(self.read_fds[lane_name])}
        env.update(self.backend.lane_cursor_env(lane_name))
        fleet = self.plan.fleet
        for ref in (fleet.username, fleet.password):
            if ref is not None and ref.kind == "env" and str(ref.ref) in self.environ:
                env[str(ref.ref)] = self.environ[str(ref.ref)]
        return env

    def start(self) -> None:
        self.coordinator.start()

    def fatal(self) -> str | None:
        return self.coordinator.fatal()

    def step(self, runners: list[LaneRunner], now_mono: float, *, running: bool) -> list[float]:
        """Make the lanes match the grants; returns the deadlines to wake at."""
        grants = self.coordinator.grants() if running else {}
        wake_at: list[float] = []
        for runner in runners:
            name = runner.lane.name
            grant = grants.get(name)
            fence = self.coordinator.fence_of(name)
            state = runner.state
            if grant is not None and now_mono < grant.stop_mono:
                if state in (LaneState.STOPPED, LaneState.STANDBY):
                    try:
                        env = self.lane_env(name)
                    except LeaseLost:
                        continue  # lost between the grant and now: the next step sees it
                    if state == LaneState.STOPPED:
                        runner.to_standby("waiting for its fleet claim")
                    runner.env.update(env)
                    runner.start()
                wake_at.append(grant.stop_mono)
            else:
                if state == LaneState.STOPPED:
                    runner.to_standby(self._why(name))
                elif state == LaneState.BACKOFF:
                    runner.to_standby(f"not restarted: {self._why(name)}")
                elif state in (LaneState.STARTING, LaneState.RUNNING):
                    runner.stop(reason=self._why(name))
                if fence is not None and runner.has_process and now_mono >= fence.dead_mono:
                    runner.kill()
                elif fence is not None and runner.has_process:
                    wake_at.append(fence.dead_mono)
            self.coordinator.lane_stopped(name, not runner.has_process)
            where = self.coordinator.lane_view(name)
            if where != runner.fleet:
                runner.fleet = where  # shown in status: holder, since, why not here
                runner.changed = True
        return wake_at

    def _why(self, name: str) -> str:
        view = self.coordinator.lane_view(name) or {}
        if view.get("holder") == self.host_id:
            return "handing the lane over, or its fence ran out (the lease could not be renewed in time)"
        return view.get("reason") or (f"held by {view['holder']}" if view.get("holder") else "not claimed")

    def status(self) -> dict:
        return self.coordinator.status()

    def status_changed(self) -> bool:
        current = self.coordinator.status()
        changed = current != self._last_status
        self._last_status = current
        return changed

    def close(self) -> None:
        self.coordinator.close(resign=True)
        for fd in (*self._write_fds.values(), *self.read_fds.values()):
            try:
                os.close(fd)
            except OSError:
                pass
        self._write_fds.clear()
        self.read_fds.clear()
