"""The gateway owner: claims the slot, runs the plan's lanes, answers stop, finalizes.

``Owner._set_phase`` is the only writer of the owner's phase. The loop is
single-threaded (the control API thread only reads files and writes stop
requests): it waits on the lanes' output pipes and a signal wake-up pipe,
reaps exited lanes, applies the restart policy, polls for a stop request
about every 100 ms and rewrites the heartbeat every 5 s. Because the
heartbeat comes from the loop itself, a hung loop shows up as a stale owner.

Imports ``gatewayctl.compile.plan`` / ``planfile`` and the runtime's own
modules only: the owner runs what the plan says and never re-reads a config.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import selectors
import signal
import stat
import sys
import threading
from dataclasses import dataclass
from dataclasses import replace as _replace
from typing import Callable

from gatewayctl.compile import planfile
from gatewayctl.compile.plan import Lane, LaunchPlan, base_environment
from gatewayctl.runtime import identity, slot, statefiles
from gatewayctl.runtime.control import LOOPBACK, ControlServer
from gatewayctl.runtime.lanes import DEFAULT_START_SECONDS, LaneRunner
from gatewayctl.runtime.logs import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES, LaneLog
from gatewayctl.runtime.states import (
    FAILED,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    LaneState,
    check_owner_transition,
)
from gatewayctl.runtime.statefiles import RuntimeRefused
from gatewayctl.runtime.system import System

OWNER_LABELS = {
    "gateway_headless": "gateway owner",
    "gateway_attached_cli": "gateway owner",
    "multi_channel_serve": "multi-channel-serve",
}


@dataclass(frozen=True, slots=True)
class OwnerOptions:
    version: str
    cwd: str | None = None  # lanes' working directory (the owner's by default)
    heartbeat_s: float = slot.HEARTBEAT_S
    stop_poll_s: float = 0.1
    start_seconds: float = DEFAULT_START_SECONDS
    log_max_bytes: int = DEFAULT_MAX_BYTES
    log_backups: int = DEFAULT_BACKUPS
    handle_signals: bool = True  # False when not on the main thread (tests of the loop)
    # argv of a `gatewayctl plan` run that recompiles what this owner was
    # started from (SIGHUP); None for an owner started from a saved plan.
    reload_argv: tuple[str, ...] | None = None
    reload_timeout_s: float = 120.0
    # Fork built-in lanes from one template process that imported their
    # libraries once (runtime/template.py): the pages are shared. The
    # command line turns it on; in-process tests of the loop keep exec.
    lane_template: bool = False
    host_id: str | None = None  # a fleet plan's host id (--host-id); None: $GATEWAYCTL_HOST_ID, [fleet], host name


@dataclass(frozen=True, slots=True)
class OwnerResult:
    phase: str  # "stopped" or "failed"
    shutdown_reason: str | None
    last_error: str | None

    @property
    def ok(self) -> bool:
        return self.phase == STOPPED


def expand_argv(worker: tuple[str, ...], lane: Lane, *, plan_path: str, runtime_dir: str) -> tuple[str, ...]:
    """Replace the runtime placeholders; ``{gatewayctl}`` stands for several argv items."""
    out: list[str] = []
    for item in worker:
        if item == "{gatewayctl}":
            out.extend((sys.executable, "-m", "gatewayctl"))
            continue
        out.append(
            item.replace("{plan}", plan_path)
            .replace("{runtime_dir}", runtime_dir)
            .replace("{family}", lane.family)
            .replace("{account}", lane.account_id)
        )
    return tuple(out)


def lane_environment(
    lane: Lane,
    environ: dict[str, str],
    *,
    status_path: str,
    runtime_dir: str,
    handler_env: tuple[str, ...] = (),
    lane_dir: str | None = None,
    plan_sha256: str | None = None,
    marker: str | None = None,
    who: identity.LaneIdentity | None = None,
) -> dict[str, str]:
    """A lane's environment: base variables, its own names, the handler's names.

    ``handler_env`` (the plan's ``[gateway.handler] env``) is what the lane's
    handler needs, not a channel credential; the worker decides who sees it
    (the built-in exec handler gets exactly those plus the base variables).
    ``lane_dir`` is the lane's own writable directory, ``plan_sha256`` the
    digest its plan must have, ``marker`` what lets a later owner recognise
    the lane's processes; ``who`` (a dropped user) supplies HOME, USER and
    LOGNAME, so a lane never writes into root's home.
    """
    env = base_environment(environ)
    for name in (*lane.env, *handler_env):
        if name in environ:
            env[name] = environ[name]
    if who is not None and who.changes:
        env["HOME"] = who.home or "/"
        env["USER"] = env["LOGNAME"] = who.user or str(who.uid)
    env["GATEWAYCTL_LANE_STATUS"] = status_path
    env["GATEWAYCTL_RUNTIME_DIR"] = runtime_dir
    env["GATEWAYCTL_LANE"] = lane.name
    if lane_dir is not None:
        env["GATEWAYCTL_LANE_DIR"] = lane_dir
    if plan_sha256 is not None:
        env["GATEWAYCTL_PLAN_SHA256"] = plan_sha256
    if marker is not None:
        env["GATEWAYCTL_LANE_MARK"] = marker
    return env


def _fd_path(fd: int) -> str:
    # What a lane opens to reach an inherited descriptor. Through this
    # path the lane needs no permission on the runtime directory above it.
    return f"/proc/self/fd/{fd}"


def sealed_plan_fd(data: bytes, fallback_path: str) -> int:
    """A read-only view of the plan that nobody can change: a sealed memfd.

    Lanes read their plan from a descriptor they inherit, so swapping
    plan.json (or anything on its path) after the owner wrote it changes
    nothing a lane sees. Without memfd sealing (not Linux), the already
    opened plan.json; the lane still checks $GATEWAYCTL_PLAN_SHA256.
    """
    create = getattr(os, "memfd_create", None)
    seals = getattr(fcntl, "F_ADD_SEALS", None)
    if create is None or seals is None:
        return os.open(fallback_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    fd = create("gatewayctl-plan", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fcntl.fcntl(fd, seals, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _cursor_name(lane: Lane) -> str:
    # The built-in worker's cursor file name (workers.base.cursor_path), which
    # the runtime may not import; used once, to move a cursor written by an
    # older gatewayctl from the runtime directory into the lane's directory.
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{lane.family}-{lane.account_id}")
    return f"cursor-{safe}.json"


def adopt_old_cursor(runtime_dir: str, lane_dir: str, lane: Lane, who: identity.LaneIdentity) -> None:
    old = os.path.join(runtime_dir, _cursor_name(lane))
    new = os.path.join(lane_dir, _cursor_name(lane))
    try:
        st = os.lstat(old)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) or os.path.lexists(new):
        return
    os.rename(old, new)
    if who.changes:
        os.chown(new, who.uid, who.gid, follow_symlinks=False)


class Owner:
    def __init__(
        self,
        plan: LaunchPlan,
        paths: statefiles.RuntimePaths,
        options: OwnerOptions,
        *,
        system: System | None = None,
        environ: dict[str, str] | None = None,
        on_change: Callable[[dict], None] | None = None,
    ):
        self.plan = plan
        self.paths = paths
        self.options = options
        self.system = system or System()
        self.environ = dict(os.environ if environ is None else environ)
        self.on_change = on_change
        self.plan_sha256 = planfile.digest(plan)
        self.label = OWNER_LABELS.get(plan.mode, "gateway owner")

        self.phase = STARTING
        self.pid = self.system.getpid()
        self.started_ns = self.system.now_ns()
        self.started_at_ms = self.started_ns // 1_000_000
        # Unique per run: stop requests and the final slot removal match on it.
        self.token = f"{self.pid}-{self.started_ns}"
        self.last_heartbeat_at = self.started_at_ms
        self.stopped_at_ms: int | None = None
        self.shutdown_reason: str | None = None
        self.last_error: str | None = None
        self.bind_address: str | None = None
        self.port: int | None = None
        self.port_source: str | None = None
        self.token_path: str | None = None

        self.lanes: list[LaneRunner] = []
        self.identity: identity.LaneIdentity | None = None
        # Put in every lane's environment and lane-groups.json: a later owner
        # kills only processes that carry it (see slot.reap_leftovers).
        self.lane_marker = secrets.token_hex(16)
        self._claimed = False
        self._dirty = True
        self._selector: selectors.BaseSelector | None = None
        self._fd_lane: dict[int, LaneRunner] = {}
        self._wake_r: int | None = None
        self._wake_w: int | None = None
        self._signal_reason: str | None = None
        self._hurry = False
        self._child_event = False
        self._control: ControlServer | None = None
        self._api_lock = threading.Lock()

        # live apply (runtime/apply.py): one at a time
        self.last_apply: dict | None = None
        self.managed: set = set()  # runners an apply is replacing: not failed by the loop
        self._apply_seq = 0
        self._pending_apply = None  # ApplyRequest, set under _api_lock
        self._apply_gen = None
        self._apply_req = None
        self._apply_record: dict | None = None  # the record of the apply in progress
        self._hup = False
        self._reloading = False
        self._plans_by_sha: dict[str, LaunchPlan] = {}  # the plans lanes may read, by digest
        self._plan_fds: dict[str, int] = {}  # their sealed copies
        self.fleet = None  # runtime.fleet.hosting.FleetHost for a plan with [fleet]
        self._template = None  # runtime.template.LaneTemplate while it runs
        self._lane_system = self.system  # what runners spawn through (TemplatedSystem with a template)

    # -- the one writer of self.phase ------------------------------------------

    def _set_phase(self, new: str) -> None:
        check_owner_transition(self.phase, new)
        self.phase = new
        self._dirty = True

    # -- records ------------------------------------------------------------

    def _record(self, *, running: bool, with_lanes: bool) -> dict:
        doc = {
            "runtime_dir": self.paths.runtime_dir,
            "phase": self.phase,
            "running": running,
            "stale": False,
            "pid": self.pid,
            "mode": self.plan.mode,
            "version": self.options.version,
            "config_path": self.plan.config_path,
            "attached_cli_session": self.plan.session,
            "started_at_ms": self.started_at_ms,
            "last_heartbeat_at": self.last_heartbeat_at,
            "stopped_at_ms": self.stopped_at_ms,
            "shutdown_reason": self.shutdown_reason,
            "last_error": self.last_error,
            "configured_surface_count": len(self.plan.lanes),
            "running_surface_count": sum(1 for r in self.lanes if r.state == LaneState.RUNNING),
            "bind_address": self.bind_address,
            "port": self.port,
            "port_source": self.port_source,
            "token_path": self.token_path,
            "format_version": slot.STATUS_FORMAT_VERSION,
            "plan_sha256": self.plan_sha256,
            "lanes": [r.snapshot() for r in self.lanes] if with_lanes else [],
            "last_apply": self.last_apply,
        }
        if self.fleet is not None:
            doc["fleet"] = self.fleet.status()
        return doc

    def _slot_record(self) -> dict:
        rec = self._record(running=True, with_lanes=False)
        rec["owner_token"] = self.token
        rec["pid_start_ticks"] = self.system.proc_start_ticks(self.pid)
        return rec

    def status(self) -> dict:
        return self._record(running=self.phase in (STARTING, RUNNING, STOPPING), with_lanes=True)

    # -- claim ---------------------------------------------------------------

    def claim(self) -> None:
        """Take the slot, then reap a dead owner's leftovers.

        Raises slot.OwnerActive, RuntimeRefused (lanes would run as root or as
        an unknown user; a runtime directory that is not provably ours) before
        anything is written, or OSError.
        """
        self.identity = identity.resolve(self.plan.run_as)
        slot.claim(self.paths, self.system, self._slot_record())
        self._claimed = True
        slot.reap_leftovers(self.paths, self.system, self.token)
        statefiles.remove(self.paths.lane_groups)

    # -- run -----------------------------------------------------------------

    def run(self) -> OwnerResult:
        """Run until stopped or failed, then finalize. The slot must be claimed."""
        assert self._claimed, "claim() first"
        old_handlers = {}
        try:
            self._setup_loop()
            if self.options.handle_signals:
                old_handlers = self._install_signals()
            self._start_template()
            self._prepare_dirs()
            self._publish()
            self._start_control()
            if self.fleet is not None:
                # Lanes start as the fleet grants them (the loop's _fleet_step).
                self.fleet.start()
            else:
                for runner in self.lanes:
                    runner.start()
            self._flush()
            self._loop()
        except OSError as exc:
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            self._fail(f"{self.label} failed: {exc.strerror or exc}{where}")
        except RuntimeRefused as exc:
            self._fail(f"{self.label} failed: {exc.message}")
        finally:
            if any(r.has_process or r.state == LaneState.BACKOFF for r in self.lanes):
                try:
                    self._drain_lanes()
                except OSError as exc:  # a full disk while draining must not skip finalize
                    self.last_error = self.last_error or f"{self.label} failed while stopping lanes: {exc}"
            self._finalize()
            if old_handlers:
                self._restore_signals(old_handlers)
            self._stop_template()
            self._teardown_loop()
            self._close_held()
        return OwnerResult(self.phase, self.shutdown_reason, self.last_error)

    def _start_template(self) -> None:
        """Start the lane template (before the control thread: the owner is
        still single-threaded). Without one, lanes are exec'd."""
        if not self.options.lane_template or self.environ.get("GATEWAYCTL_LANE_TEMPLATE") == "0":
            return
        from gatewayctl.runtime.template import LaneTemplate, TemplatedSystem

        env = base_environment(self.environ)
        env["GATEWAYCTL_LANE_MARK"] = self.lane_marker  # in every forked lane's /proc environ
        self._template = LaneTemplate.start(env, self.system)
        if self._template is None:
            self._log("lane template did not start; lanes are exec'd one by one")
            return
        self._lane_system = TemplatedSystem(self.system, self._template)
        self._selector.register(self._template.fileno(), selectors.EVENT_READ, None)

    def _stop_template(self) -> None:
        if self._template is None:
            return
        if not self._template.dead:
            try:
                self._selector.unregister(self._template.fileno())
            except (KeyError, ValueError):
                pass
        self._lane_system.template = None
        self._template.close()
        self._template = None

    def _close_held(self) -> None:
        """Close what the lanes inherit: their plan and directory descriptors
        and the sealed plans (the lanes are gone)."""
        for runner in self.lanes:
            self.discard_runner(runner)
        for fd in self._plan_fds.values():
            os.close(fd)
        self._plan_fds = {}

    def _prepare_dirs(self) -> None:
        """The lanes' directories and descriptors, then the runners.

        Each lane gets two inherited descriptors: its plan (a sealed, read-only
        copy; ``{plan}`` names it) and its own directory (status file, cursors;
        owned by the lane's user). Through them a lane under another user
        needs no access to the runtime directory, which stays the owner's 0700.
        A live apply adds the new plan's sealed copy beside the old one, so a
        lane of each can run (and be rolled back to) side by side.
        """
        for d in (self.paths.logs_dir, self.paths.lanes_dir, self.paths.plans_dir):
            statefiles.ensure_dir(d)
        statefiles.atomic_write_bytes(self.paths.plan, planfile.dumps(self.plan))
        self.write_plan_file(self.plan, self.plan_sha256)
        if self.plan.fleet is not None and self.fleet is None:
            from gatewayctl.runtime.fleet.backend import BackendUnavailable
            from gatewayctl.runtime.fleet.hosting import FleetHost, resolve_host_id
            from gatewayctl.workers.base import LaneFailure

            try:
                self.fleet = FleetHost(
                    self.plan, host_id=resolve_host_id(self.plan, self.options.host_id, self.environ),
                    token=self.token, pid=self.pid, pid_start_ticks=self.system.proc_start_ticks(self.pid),
                    started_at_ms=self.started_at_ms, version=self.options.version, plan_sha256=self.plan_sha256,
                    paths=self.paths, environ=self.environ, cwd=self.options.cwd, log=self._log, wake=self._wake,
                )
            except (BackendUnavailable, LaneFailure, ValueError) as exc:
                # a credential that does not resolve, endpoints the client refuses, a host id that is none
                raise RuntimeRefused(f"cannot join the fleet: {getattr(exc, 'message', None) or exc}") from None
        for lane in self.plan.lanes:
            self.lanes.append(self.make_runner(lane, self.plan_sha256))

    def make_runner(self, lane: Lane, plan_sha256: str) -> LaneRunner:
        """A runner for ``lane`` of the plan whose digest is ``plan_sha256``
        (registered with ``write_plan_file``)."""
        who = self.identity or identity.LaneIdentity()
        plan = self._plans_by_sha[plan_sha256]
        lane_dir = self.paths.lane_dir(lane.family, lane.account_id)
        statefiles.ensure_dir(lane_dir, uid=who.uid, gid=who.gid)
        dir_fd = os.open(lane_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        adopt_old_cursor(self.paths.runtime_dir, lane_dir, lane, who)
        # Its own open file description: a lane moving the offset cannot
        # disturb another lane reading the same plan.
        lane_plan_fd = os.open(_fd_path(self._plan_fds[plan_sha256]), os.O_RDONLY | os.O_CLOEXEC)
        fence_fds = (self.fleet.read_fds[lane.name],) if self.fleet is not None else ()
        runner = LaneRunner(
            lane,
            argv=expand_argv(lane.worker, lane, plan_path=_fd_path(lane_plan_fd), runtime_dir=self.paths.runtime_dir),
            env=lane_environment(
                lane,
                self.environ,
                status_path=os.path.join(_fd_path(dir_fd), "status.json"),
                runtime_dir=self.paths.runtime_dir,
                handler_env=plan.handler.env if plan.handler is not None else (),
                lane_dir=_fd_path(dir_fd),
                plan_sha256=plan_sha256,
                marker=self.lane_marker,
                who=who,
            ),
            pass_fds=(lane_plan_fd, dir_fd, *fence_fds),
            rewind_fd=lane_plan_fd,
            user=who.uid,
            group=who.gid,
            cwd=self.options.cwd,
            policy=plan.restart,
            system=self._lane_system,
            log=LaneLog(
                self.paths.lane_log(lane.family, lane.account_id),
                self.options.log_max_bytes,
                self.options.log_backups,
            ),
            status_path=self.paths.lane_status(lane.family, lane.account_id),
            start_seconds=self.options.start_seconds,
            on_output_fd=self._watch_output,
        )
        runner.plan_sha256 = plan_sha256
        runner.held_fds = (lane_plan_fd, dir_fd)
        if self.fleet is not None:
            from gatewayctl.workers.fence import EX_FENCED

            runner.fenced_exit_code = EX_FENCED
        return runner

    # -- live apply: the primitives runtime/apply.py drives ---------------------

    def write_plan_file(self, plan: LaunchPlan, sha: str) -> None:
        """Make ``plan`` readable for lanes: plans/<sha256>.json and a sealed
        copy lanes inherit (kept while a runner may start from it)."""
        if sha in self._plan_fds:
            return
        data = planfile.dumps(plan)
        path = self.paths.plan_by_digest(sha)
        statefiles.atomic_write_bytes(path, data)
        self._plans_by_sha[sha] = plan
        self._plan_fds[sha] = sealed_plan_fd(data, path)

    def forget_plan_file(self, sha: str) -> None:
        if sha == self.plan_sha256 or any(r.plan_sha256 == sha for r in self.lanes):
            return
        self._plans_by_sha.pop(sha, None)
        fd = self._plan_fds.pop(sha, None)
        if fd is not None:
            os.close(fd)
        statefiles.remove(self.paths.plan_by_digest(sha))

    def discard_runner(self, runner: LaneRunner) -> None:
        """A runner that will never start again: close what it inherited,
        and its log (output still in its pipe reopens it; the pipe's end
        closes it again, see _wait)."""
        runner.log.close()
        for fd in getattr(runner, "held_fds", ()):
            try:
                os.close(fd)
            except OSError:
                pass
        runner.held_fds = ()

    def runner_for(self, family: str) -> LaneRunner:
        return next(r for r in self.lanes if r.lane.family == family)

    def add_runner(self, runner: LaneRunner) -> None:
        self.lanes.append(runner)
        self.lanes.sort(key=lambda r: r.lane.family)
        self._dirty = True

    def swap_runner(self, old: LaneRunner, new: LaneRunner) -> None:
        self.lanes[self.lanes.index(old)] = new
        self._dirty = True

    def remove_runner(self, runner: LaneRunner) -> None:
        self.lanes.remove(runner)
        runner.log.close()
        self.discard_runner(runner)
        self._dirty = True

    def switch_plan(self, plan: LaunchPlan, sha: str, *, keep_runners: bool = True) -> None:
        """The apply succeeded: the owner now runs ``plan``. Lanes whose
        definition did not change keep their process; they now count as
        lanes of the new plan."""
        old_sha = self.plan_sha256
        self.write_plan_file(plan, sha)
        by_family = {lane.family: lane for lane in plan.lanes}
        for runner in self.lanes:
            if runner.lane.family in by_family:
                runner.lane = by_family[runner.lane.family]
            runner.plan_sha256 = sha
            runner.changed = True
        self.plan, self.plan_sha256 = plan, sha
        statefiles.atomic_write_bytes(self.paths.plan, planfile.dumps(plan))
        # Unchanged lanes still read the old file if they restart: it holds
        # the same definitions, so it stays while one of them may need it.
        for stale in [s for s in self._plans_by_sha if s not in (sha, old_sha)]:
            self.forget_plan_file(stale)
        self._dirty = True

    def preflight(self, plan: LaunchPlan, serving: dict) -> list:
        """Probe ``plan``'s lanes in this owner's environment (lanes inherit
        it). A lane with its own worker command is only checked for its
        secrets: its API is the worker's business."""
        from gatewayctl.compile.plan import runs_builtin_worker
        from gatewayctl.workers.base import LaneFailure
        from gatewayctl.workers.preflight import FAILED, OK, ProbeResult, run_preflight
        from gatewayctl.workers.secrets import resolve

        builtin = tuple(lane for lane in plan.lanes if runs_builtin_worker(lane))
        results = []
        if builtin:
            results += run_preflight(
                _replace(plan, lanes=builtin), environ=self.environ, cwd=self.options.cwd,
                timeout_s=min(10.0, self._apply_req.ready_timeout_s if self._apply_req else 10.0), serving=serving,
            )
        for lane in plan.lanes:
            if lane in builtin:
                continue
            try:
                resolve(plan, lane, environ=self.environ, cwd=self.options.cwd)
                results.append(ProbeResult(lane.name, lane.family, OK, "secrets resolve (own worker: not probed)", None))
            except LaneFailure as exc:
                results.append(ProbeResult(lane.name, lane.family, FAILED, exc.message, None))
        return results

    def begin_apply_record(self, request, old_sha: str, new_sha: str) -> dict:
        self.last_apply = apply_record(request.id, request.origin, old_sha, new_sha, self.system.now_ms())
        self._apply_record = self.last_apply
        self._dirty = True
        return self.last_apply

    def request_apply(self, plan: LaunchPlan, *, origin: str, ready_timeout_s: float) -> tuple[bool, int | str]:
        """Queue an apply (any thread). (True, id) or (False, why not)."""
        from gatewayctl.runtime.apply import ApplyRequest

        if self.fleet is not None:
            return False, (
                "live apply is not supported on a fleet host: roll the new plan out host by host "
                "(`gatewayctl gateway stop`, then `gatewayctl gateway run --plan NEW`); its lanes move to the "
                "other hosts meanwhile"
            )
        with self._api_lock:
            if self.phase != RUNNING:
                return False, f"the owner is {self.phase}, not running: an apply needs a running owner"
            if self._pending_apply is not None or self._apply_gen is not None:
                current = self._pending_apply or self._apply_req
                return False, f"an apply is already in progress (id {current.id}); one apply at a time"
            self._apply_seq += 1
            self._pending_apply = ApplyRequest(self._apply_seq, plan, origin, ready_timeout_s)
            apply_id = self._apply_seq
        self._wake()
        return True, apply_id

    def _api_apply(self, body: dict) -> tuple[int, dict]:
        envelope = body.get("plan")
        timeout = body.get("ready_timeout_s", 60.0)
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout <= 3600:
            return 400, {"error": {"code": "bad_request", "message": "ready_timeout_s must be a number of seconds in (0, 3600]"}}
        try:
            plan = planfile.loads(_json_bytes(envelope), source="the apply request")
        except planfile.PlanError as exc:
            return 400, {"error": {"code": f"plan_{exc.kind}", "message": exc.message}}
        ok, answer = self.request_apply(plan, origin="api", ready_timeout_s=float(timeout))
        if not ok:
            return 409, {"error": {"code": "apply_refused", "message": answer}}
        return 202, {"apply_id": answer}

    def _finish_apply(self, result: str, message: str) -> None:
        # The record of this apply, whatever last_apply shows meanwhile.
        record = self._apply_record if self._apply_record is not None else (self.last_apply or {})
        self._apply_record = None
        record.update(result=result, message=message, finished_at_ms=self.system.now_ms())
        self.last_apply = record
        self._log(f"apply {record.get('id')} ({record.get('origin')}) {result}: {message}")
        self._dirty = True

    def _step_apply(self) -> None:
        """Advance the apply in progress by one step (or start a queued one)."""
        from gatewayctl.runtime.apply import ApplyFailed, steps

        if self._apply_gen is None:
            with self._api_lock:
                request, self._pending_apply = self._pending_apply, None
            if request is None:
                return
            self._apply_req = request
            self._apply_gen = steps(self, request)
        try:
            next(self._apply_gen)
            return
        except StopIteration as done:
            result, message = done.value
            self._finish_apply(result, message)
        except ApplyFailed as exc:
            if self._apply_record is None or self._apply_record.get("id") != self._apply_req.id:
                self.begin_apply_record(self._apply_req, self.plan_sha256, planfile.digest(self._apply_req.plan))
            self._finish_apply(exc.result, exc.message)
        with self._api_lock:
            self._apply_gen = None
            self._apply_req = None

    def _on_hup(self) -> None:
        """SIGHUP: recompile what this owner was started from, then apply it."""
        if self.fleet is not None:
            self._refuse_reload("SIGHUP: live apply is not supported on a fleet host: restart it with the new plan")
            return
        if self.options.reload_argv is None:
            self._refuse_reload(
                "SIGHUP: this owner was started from a saved plan, so there is nothing to recompile "
                "(it does not switch to whatever the config says now); use `gatewayctl gateway apply --plan FILE`"
            )
            return
        if self._reloading or self._apply_gen is not None or self._pending_apply is not None:
            self._refuse_reload("SIGHUP: an apply is already in progress; one apply at a time")
            return
        self._reloading = True
        threading.Thread(target=self._reload, name="gatewayctl-reload", daemon=True).start()

    def _refuse_reload(self, message: str) -> None:
        with self._api_lock:
            busy = self._pending_apply is not None or self._apply_gen is not None
        if busy:
            # last_apply describes the apply in progress (`gateway apply --wait`
            # waits for its result there); the refusal goes to the log only.
            self._log(message)
            return
        with self._api_lock:
            self._apply_seq += 1
            apply_id = self._apply_seq
        now = self.system.now_ms()
        self.last_apply = apply_record(
            apply_id, "sighup", self.plan_sha256, None, now, result="refused", message=message, finished_at_ms=now
        )
        self._log(message)
        self._dirty = True
        self._wake()

    def _reload(self) -> None:
        import subprocess

        try:
            done = subprocess.run(
                list(self.options.reload_argv), cwd=self.options.cwd, env=self.environ, capture_output=True,
                timeout=self.options.reload_timeout_s, stdin=subprocess.DEVNULL,
            )
            if done.returncode != 0:
                diagnostics = done.stderr.decode("utf-8", "replace").strip()
                self._refuse_reload(
                    f"SIGHUP: the config does not compile (`gatewayctl plan` exit {done.returncode}); "
                    f"the owner keeps running plan {self.plan_sha256[:12]} untouched; fix the config, then send "
                    f"SIGHUP again:\n{diagnostics}"
                )
                return
            plan = planfile.loads(done.stdout, source="the recompiled plan")
            ok, answer = self.request_apply(plan, origin="sighup", ready_timeout_s=60.0)
            if not ok:
                self._refuse_reload(f"SIGHUP: {answer}")
        except (OSError, subprocess.TimeoutExpired, planfile.PlanError) as exc:
            self._refuse_reload(f"SIGHUP: recompiling failed: {getattr(exc, 'message', None) or exc}")
        finally:
            self._reloading = False

    def _log(self, message: str) -> None:
        try:
            sys.stderr.write(f"{self.label}: {message}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def _start_control(self) -> None:
        token = secrets.token_urlsafe(32)
        statefiles.atomic_write_bytes(self.paths.control_token, (token + "\n").encode("ascii"))
        self._control = ControlServer(
            self.plan.control.port,
            token,
            status_fn=lambda: slot.load_status(self.paths, self.system),
            stop_fn=self._api_stop,
            apply_fn=self._api_apply,
        )
        try:
            port = self._control.start()
        except OSError as exc:
            self._control = None
            statefiles.remove(self.paths.control_token)
            hint = ""
            if exc.errno == errno.EADDRINUSE:
                # Another program (or another runtime directory's owner)
                # listens there: say how to pick another port.
                hint = (
                    "; another program listens there: choose another control port with --port N "
                    "(0 picks a free one; a saved plan fixes its port when it is made), "
                    "GATEWAYCTL_GATEWAY_PORT or control_port in gatewayctl.toml"
                )
            raise OSError(
                exc.errno,
                f"control API cannot bind {LOOPBACK}:{self.plan.control.port} "
                f"(port from {self.plan.control.port_source}): {exc.strerror or exc}{hint}",
            ) from None
        self.bind_address, self.port = LOOPBACK, port
        self.port_source = self.plan.control.port_source
        self.token_path = self.paths.control_token
        self._write_slot()

    def _api_stop(self) -> str:
        with self._api_lock:
            outcome = slot.request_stop(self.paths, self.system)
        self._wake()
        return outcome

    # -- the loop ------------------------------------------------------------

    def _setup_loop(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)

    def _teardown_loop(self) -> None:
        for fd in list(self._fd_lane):
            self._unwatch(fd)
        if self._selector is not None:
            self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        self._wake_r = self._wake_w = None

    def _install_signals(self) -> dict:
        old = {}
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        old["wakeup"] = True
        for signum, reason in ((signal.SIGTERM, "sigterm received"), (signal.SIGINT, "ctrl-c received")):
            old[signum] = signal.signal(signum, self._make_stop_handler(reason))
        old[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, self._on_sigchld)
        old[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_sighup)
        return old

    def _restore_signals(self, old: dict) -> None:
        for signum, handler in old.items():
            if signum == "wakeup":
                signal.set_wakeup_fd(-1)
            else:
                signal.signal(signum, handler)

    def _make_stop_handler(self, reason: str):
        def handler(signum, frame):
            if self._signal_reason is None:
                self._signal_reason = reason
            else:
                # A second Ctrl-C or SIGTERM: do not wait out the grace period.
                self._hurry = True

        return handler

    def _on_sigchld(self, signum, frame) -> None:
        self._child_event = True

    def _on_sighup(self, signum, frame) -> None:
        self._hup = True

    def _wake(self) -> None:
        if self._wake_w is not None:
            try:
                os.write(self._wake_w, b"w")
            except OSError:
                pass  # a full pipe already means "wake up"

    def _watch_output(self, runner: LaneRunner, fd: int) -> None:
        self._fd_lane[fd] = runner
        self._selector.register(fd, selectors.EVENT_READ, runner)

    def _unwatch(self, fd: int) -> None:
        self._fd_lane.pop(fd, None)
        try:
            self._selector.unregister(fd)
        except (KeyError, ValueError):
            pass
        os.close(fd)

    def _wait(self, timeout: float) -> None:
        """Block until output, a signal, or ``timeout``; copy lane output to the logs."""
        for key, _ in self._selector.select(max(0.0, timeout)):
            fd = key.fd
            if fd == self._wake_r:
                try:
                    while os.read(fd, 4096):
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                continue
            if self._template is not None and fd == self._template.fileno():
                # Exit reports of forked lanes: what SIGCHLD is for exec'd ones.
                self._template.drain()
                if self._template.dead:
                    try:
                        self._selector.unregister(fd)
                        self._log("lane template exited; lanes are exec'd one by one from now on")
                    except (KeyError, ValueError):
                        pass
                self._child_event = True
                continue
            runner = self._fd_lane.get(fd)
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                runner.log.write(data)
            else:
                self._unwatch(fd)
                if runner not in self.lanes:
                    runner.log.close()  # a runner an apply replaced or removed: nothing more to write

    def _reap(self) -> None:
        self._child_event = False
        for runner in self.lanes:
            runner.poll()

    def _loop(self) -> None:
        mono = self.system.monotonic
        next_beat = mono() + self.options.heartbeat_s
        next_poll = mono()
        next_sweep = mono() + 1.0
        while True:
            now = mono()
            if self._signal_reason is not None:
                self._shutdown(self._signal_reason)
                return
            if now >= next_poll:
                next_poll = now + self.options.stop_poll_s
                if slot.stop_requested_for(self.paths, self.token):
                    self._shutdown("gateway stop requested")
                    return
            sweep = now >= next_sweep
            if sweep:
                next_sweep = now + 1.0
            if self._child_event or sweep:
                self._reap()
            for runner in self.lanes:
                # A starting lane's readiness comes from its status file, so
                # read it eagerly then; afterwards once a second is plenty.
                if sweep or runner.state == LaneState.STARTING:
                    runner.refresh_worker_status()
                runner.tick()
            fleet_wake: list[float] = []
            if self.fleet is not None:
                fatal = self.fleet.fatal()
                if fatal is not None:
                    self._fail(f"{self.label} failed: {fatal}")
                    self._drain_lanes()
                    return
                fleet_wake = self.fleet.step(self.lanes, now, running=self.phase in (STARTING, RUNNING))
                if self.fleet.status_changed():
                    self._dirty = True
            if self._hup:
                self._hup = False
                self._on_hup()
            if self.phase == RUNNING:
                self._step_apply()
            # A lane an apply is replacing is the apply's to judge (it rolls back).
            failed = next((r for r in self.lanes if r.state == LaneState.FATAL and r not in self.managed), None)
            if failed is not None:
                self._fail(self._failure_message(failed))
                self._drain_lanes()
                return
            settled = (LaneState.RUNNING, LaneState.STANDBY) if self.fleet is not None else (LaneState.RUNNING,)
            if self.phase == STARTING and all(r.state in settled for r in self.lanes):
                # STARTING -> RUNNING: every lane is up
                self._set_phase(RUNNING)
            if now >= next_beat:
                next_beat = now + self.options.heartbeat_s
                self._heartbeat()
            self._flush()
            deadlines = [next_poll, next_beat, next_sweep, *fleet_wake]
            deadlines += [r.next_start_at for r in self.lanes if r.next_start_at is not None]
            if self._apply_gen is not None or self._pending_apply is not None:
                deadlines.append(now + 0.05)  # an apply advances a step per iteration
            if any(r.state == LaneState.STARTING for r in self.lanes):
                deadlines.append(now + 0.05)  # readiness comes from files and uptime, not events
            self._wait(min(deadlines) - mono())

    def _failure_message(self, runner: LaneRunner) -> str:
        lane = runner.lane
        return f"{self.label} failed because {lane.family}(account={lane.account_id}) exited unexpectedly: {runner.last_error}"

    # -- shutdown ------------------------------------------------------------

    def _shutdown(self, reason: str) -> None:
        self.shutdown_reason = f"shutdown requested: {reason}"
        if self._apply_gen is not None:
            self._apply_gen.close()
            self._apply_gen = None
            self._finish_apply("interrupted", f"the owner is stopping ({reason}) while the apply ran")
        # STARTING/RUNNING -> STOPPING
        self._set_phase(STOPPING)
        self._flush()
        self._drain_lanes()
        if self.phase == STOPPING:
            # STOPPING -> STOPPED
            self._set_phase(STOPPED)

    def _fail(self, message: str) -> None:
        self.last_error = message
        self.shutdown_reason = message
        if self.phase in (STARTING, RUNNING):
            # STARTING/RUNNING -> STOPPING: drain the other lanes before failing
            self._set_phase(STOPPING)
        # The failure may be that state cannot be written (a full disk, no
        # descriptor left): then this write fails too, and must not escape.
        self._flush_while_draining()

    def _drain_lanes(self) -> None:
        """Graceful stop to every lane, SIGKILL to whatever outlives the grace period."""
        mono = self.system.monotonic
        for runner in self.lanes:
            runner.stop()
        self._flush_while_draining()
        deadline = mono() + self.plan.stop_grace_s
        while any(r.has_process for r in self.lanes):
            if self._hurry or mono() >= deadline:
                break
            self._reap()
            self._flush_while_draining()
            self._wait(min(0.05, max(0.0, deadline - mono())))
        for runner in self.lanes:
            runner.kill()
        hard_deadline = mono() + 5.0
        while any(r.has_process for r in self.lanes) and mono() < hard_deadline:
            self._reap()
            self._wait(0.02)
        # Grandchildren outlive a leader that exits; their groups get SIGKILL too.
        for runner in self.lanes:
            runner.kill()
        groups = {r.pgid: r.start_ticks or 0 for r in self.lanes if r.pgid is not None}
        while mono() < hard_deadline and self.system.live_groups(groups):
            self._wait(0.02)
        # Read what the lanes wrote last.
        while self._fd_lane and mono() < hard_deadline:
            self._wait(0.02)
        self._flush_while_draining()

    def _flush_while_draining(self) -> None:
        # A full disk (or no free descriptor) must not stop the drain halfway,
        # leaving lanes alive: the status is rewritten at finalize anyway.
        try:
            self._flush()
        except OSError as exc:
            self.last_error = self.last_error or f"{self.label} failed while stopping lanes: {exc}"

    # -- state files ---------------------------------------------------------

    def _write_slot(self) -> None:
        current = statefiles.read_json(self.paths.owner_active)
        if current is not None and current.get("owner_token") == self.token:
            statefiles.atomic_write_json(self.paths.owner_active, self._slot_record())

    def _heartbeat(self) -> None:
        self.last_heartbeat_at = self.system.now_ms()
        self._write_slot()
        self._dirty = True

    def _flush(self) -> None:
        """Publish what changed: the lane groups first (for a later reaper), then status."""
        if any(r.groups_changed for r in self.lanes):
            for r in self.lanes:
                r.groups_changed = False
            groups = [g for g in (r.group_record() for r in self.lanes) if g is not None]
            slot.write_lane_groups(self.paths, self.token, groups, self.lane_marker)
        if self._dirty or any(r.changed for r in self.lanes):
            self._publish()

    def _publish(self) -> None:
        self._dirty = False
        for r in self.lanes:
            r.changed = False
        doc = self.status()
        statefiles.atomic_write_json(self.paths.status, doc)
        if self.on_change is not None:
            self.on_change(slot.public_status(doc, self.paths))

    def _final_status_fallback(self, doc: dict) -> dict:
        """The final status when writing it failed (a full disk, no free descriptor).

        The snapshot on disk may still say the lanes run, which is now false.
        Free what the owner no longer needs (the lanes are gone), remove that
        snapshot (unlinking needs neither space nor a descriptor, and frees
        both), then write a smaller final status without the workers' own
        status objects. If even that fails, no status is left rather than a
        wrong one: readers then see no owner running.
        """
        self._close_held()
        try:
            os.unlink(self.paths.status)
        except OSError:
            pass
        small = dict(doc, lanes=[dict(lane, worker=None) for lane in doc["lanes"]])
        try:
            statefiles.atomic_write_json(self.paths.status, small)
        except OSError:
            pass
        return small

    def _finalize(self) -> None:
        """The contract's order: heartbeat off, final status, stop request, slot, token."""
        if self.fleet is not None:
            # The lanes are gone: give every claim back at once (revoke the
            # lease) instead of making the other hosts wait out the TTL.
            self.fleet.close()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self.phase == STOPPING:
            # STOPPING -> FAILED (a failure while draining) or already final
            self._set_phase(FAILED if self.last_error else STOPPED)
        elif self.phase in (STARTING, RUNNING):
            # STARTING/RUNNING -> FAILED: the loop ended without a shutdown (a bug path)
            self.last_error = self.last_error or f"{self.label} stopped unexpectedly"
            self._set_phase(FAILED)
        self.stopped_at_ms = self.system.now_ms()
        self.last_heartbeat_at = self.stopped_at_ms
        self.bind_address = self.port = self.port_source = self.token_path = None
        for runner in self.lanes:
            runner.log.close()
        doc = self._record(running=False, with_lanes=True)
        try:
            statefiles.atomic_write_json(self.paths.status, doc)
        except OSError:
            doc = self._final_status_fallback(doc)
        if self.on_change is not None:
            self.on_change(slot.public_status(doc, self.paths))
        statefiles.remove(self.paths.stop_request)
        statefiles.remove(self.paths.lane_groups)
        slot.release(self.paths, self.token)
        statefiles.remove(self.paths.control_token)
        self._remove_plan_files()

    def _remove_plan_files(self) -> None:
        """plans/ holds what lanes read while they run; plan.json (what ran
        last) stays for readers."""
        for sha in list(self._plans_by_sha):
            statefiles.remove(self.paths.plan_by_digest(sha))
        try:
            os.rmdir(self.paths.plans_dir)
        except OSError:
            pass  # not empty (a file we did not write) or already gone: left as it is


def apply_record(apply_id: int, origin: str, old_sha: str, new_sha: str | None, started_at_ms: int, *,
                 result: str = "running", message: str | None = None, finished_at_ms: int | None = None) -> dict:
    """status.json's ``last_apply`` (schemas/status.schema.json), in one shape."""
    return {
        "id": apply_id,
        "origin": origin,
        "from": old_sha,
        "to": new_sha,
        "result": result,
        "message": message,
        "started_at_ms": started_at_ms,
        "finished_at_ms": finished_at_ms,
        "lanes": {"added": [], "removed": [], "replaced": [], "unchanged": []},
    }


def _json_bytes(value) -> bytes:
    import json

    return json.dumps(value).encode("utf-8") if value is not None else b""
