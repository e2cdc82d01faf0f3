"""One lane: a supervised worker process, its restart policy and its state.

``LaneRunner._transition`` is the only writer of a lane's state; every call
names the transition it makes. Time, process creation and signals go
through the injected ``System``, so the policy (backoff, cap within a
window, exit 0 counted as a failure) is unit-tested with a fake clock and
fake processes, and then again with real ones.

Imports the plan (``gatewayctl.compile.plan``) and the runtime's own
modules; never the config pipeline.
"""

from __future__ import annotations

import collections
import errno
import os
import random
import signal
import subprocess
from typing import Callable

from gatewayctl.compile.plan import Lane, RestartPolicy
from gatewayctl.runtime import statefiles
from gatewayctl.runtime.logs import LaneLog
from gatewayctl.runtime.states import LANE_HAS_PROCESS, LaneState, check_lane_transition
from gatewayctl.runtime.system import System

# A lane that has not said it is ready counts as running once it has stayed
# up this long (supervisord's startsecs).
DEFAULT_START_SECONDS = 1.0
WORKER_STATUS_MAX_BYTES = 64 * 1024
WORKER_ERROR_MAX_CHARS = 500
READY_STATES = frozenset({"ready", "running", "connected", "serving"})


def describe_exit(returncode: int) -> tuple[dict, str]:
    """(last_exit JSON, human text) for a Popen returncode."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return {"code": None, "signal": name}, f"killed by {name}"
    return {"code": returncode, "signal": None}, f"exit code {returncode}"


# spawn() errors that no restart can fix: the program is missing, is not
# executable, or is not a program at all.
_NOT_TRANSIENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.EISDIR})

class LaneRunner:
    def __init__(
        self,
        lane: Lane,
        *,
        argv: tuple[str, ...],
        env: dict[str, str],
        cwd: str | None,
        policy: RestartPolicy,
        system: System,
        log: LaneLog,
        status_path: str,
        start_seconds: float = DEFAULT_START_SECONDS,
        on_output_fd: Callable[["LaneRunner", int], None] | None = None,
        rand: Callable[[], float] = random.random,
        pass_fds: tuple[int, ...] = (),
        rewind_fd: int | None = None,
        user: int | None = None,
        group: int | None = None,
    ):
        self.lane = lane
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.policy = policy
        self.system = system
        self.log = log
        self.status_path = status_path
        self.start_seconds = start_seconds
        self.on_output_fd = on_output_fd
        self.rand = rand  # restart jitter; tests inject a fixed one
        self.pass_fds = pass_fds  # inherited by the worker (its plan, its directory)
        self.rewind_fd = rewind_fd  # the plan: each start reads it from the beginning
        self.user = user  # None: the owner's own credentials
        self.group = group

        self.state = LaneState.STOPPED
        self.proc = None
        self.pid: int | None = None
        self.pgid: int | None = None
        self.start_ticks: int | None = None
        self.restarts = 0
        self.started_at_ms: int | None = None
        self._started_mono: float | None = None
        self.last_exit: dict | None = None
        self.last_error: str | None = None
        self.next_start_at: float | None = None
        self.worker: dict | None = None
        self._worker_mtime: int | None = None
        self._failures: collections.deque[float] = collections.deque()
        self.plan_sha256: str | None = None  # the plan this lane's definition came from
        self.held_fds: tuple[int, ...] = ()  # descriptors the owner opened for this lane to inherit
        self.changed = True  # something a status reader would see has changed
        self.groups_changed = False  # a new process group must be recorded for reaping
        # A fleet lane (its owner set this): exit 75 means it fenced itself
        # (the host's lease could not be renewed in time), a hand-over.
        self.fenced_exit_code: int | None = None
        self.stop_reason: str | None = None  # why a fleet lane is being stopped (it then stands by)
        self.fleet: dict | None = None  # where the fleet has this lane (holder, since, why not here)

    # -- the one writer of self.state ---------------------------------------

    def _transition(self, new: str, note: str) -> None:
        check_lane_transition(self.state, new)
        self.state = new
        self.changed = True
        self.log.note(f"{self.lane.name}: {note}")

    # -- commands -----------------------------------------------------------

    def start(self) -> None:
        """Spawn the worker (first start, or a restart due from backoff)."""
        try:
            statefiles.remove(self.status_path)
        except OSError:
            # The lane's own directory is the lane's to break (a directory
            # named status.json): it loses its status, the owner carries on.
            pass
        self.worker = None
        self._worker_mtime = None
        read_fd, write_fd = os.pipe()
        extra: dict = {}
        if self.pass_fds:
            extra["pass_fds"] = self.pass_fds
        if self.user is not None:
            extra.update(user=self.user, group=self.group)
        try:
            if self.rewind_fd is not None:
                os.lseek(self.rewind_fd, 0, os.SEEK_SET)
            proc = self.system.spawn(self.argv, self.env, self.cwd, write_fd, **extra)
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(read_fd)
            os.close(write_fd)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if isinstance(exc, OSError) and exc.filename and exc.filename != self.argv[0]:
                reason += f" ({exc.filename})"  # the working directory, which a lane's user may not reach
            as_user = f" as uid {self.user}" if self.user is not None else ""
            permanent = isinstance(exc, OSError) and exc.errno in _NOT_TRANSIENT
            self._spawned_nothing(f"cannot start worker {self.argv[0]!r}{as_user}: {reason}", permanent=permanent)
            return
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.proc = proc
        self.pid = proc.pid
        self.pgid = proc.pid  # start_new_session: the worker leads its own group
        self.start_ticks = self.system.proc_start_ticks(proc.pid) or 0
        self.started_at_ms = self.system.now_ms()
        self._started_mono = self.system.monotonic()
        self.groups_changed = True
        if self.on_output_fd is not None:
            self.on_output_fd(self, read_fd)
        else:
            os.close(read_fd)
        # STOPPED -> STARTING (first start) or BACKOFF -> STARTING (restart)
        self._transition(LaneState.STARTING, f"started pid={proc.pid}")

    def _spawned_nothing(self, error: str, permanent: bool = False) -> None:
        # A worker that cannot be executed for a passing reason (no memory,
        # too many processes) fails like one that crashed at once: the same
        # policy and cap apply. A program that is not there, or not
        # executable, will not be there on the next try either: fatal at
        # once, whatever the restart policy.
        self.last_exit = None
        self.last_error = error
        # STOPPED/BACKOFF -> STARTING: the attempt happened, then failed
        self._transition(LaneState.STARTING, "start attempted")
        if permanent:
            # STARTING -> FATAL (nothing a restart could fix)
            self._fatal(f"{error}; not restarted: fix the worker command in the plan")
            return
        self._after_failure(error)

    def stop(self, reason: str | None = None) -> None:
        """Ask the lane to stop: SIGTERM to its whole process group."""
        if self.state == LaneState.BACKOFF:
            # BACKOFF -> STOPPED: nothing runs, just cancel the restart
            self.next_start_at = None
            self._transition(LaneState.STOPPED, "restart cancelled by shutdown")
        elif self.state == LaneState.STANDBY:
            # STANDBY -> STOPPED: the owner is stopping; nothing runs here
            self._transition(LaneState.STOPPED, "standby ended by shutdown")
        elif self.state in (LaneState.STARTING, LaneState.RUNNING):
            self.system.killpg(self.pgid, signal.SIGTERM)
            why = f" ({reason})" if reason else ""
            # STARTING/RUNNING -> STOPPING
            self._transition(LaneState.STOPPING, f"stop requested{why}: SIGTERM to process group {self.pgid}")
            self.stop_reason = reason

    def to_standby(self, note: str) -> None:
        """A fleet lane this host does not hold (any more): no process, no restart."""
        if self.state == LaneState.BACKOFF:
            self.next_start_at = None
        # STOPPED/BACKOFF -> STANDBY
        self._transition(LaneState.STANDBY, f"standby: {note}")

    def kill(self) -> None:
        """SIGKILL the whole process group (grace period over, or cleanup after an exit)."""
        if self.pgid is not None:
            if self.system.killpg(self.pgid, signal.SIGKILL) and self.state == LaneState.STOPPING:
                self.log.note(f"{self.lane.name}: grace period over: SIGKILL to process group {self.pgid}")

    # -- events -------------------------------------------------------------

    def poll(self) -> bool:
        """Reap the worker if it exited; True when it did."""
        if self.proc is None:
            return False
        code = self.proc.poll()
        if code is None:
            return False
        self._on_exit(code)
        return True

    def _on_exit(self, returncode: int) -> None:
        self.proc = None
        self.pid = None
        self.last_exit, text = describe_exit(returncode)
        # Whatever the leader did, nothing it started may outlive it.
        self.system.killpg(self.pgid, signal.SIGKILL)
        # The worker's last words (state "failed" and why) are usually written
        # just before it exits, after the owner's last periodic read.
        self.refresh_worker_status(force=True)
        if self.state == LaneState.STOPPING:
            if self.stop_reason is not None:
                # STOPPING -> STANDBY: a fleet hand-over, not the owner stopping
                self.stop_reason = None
                self._transition(LaneState.STANDBY, f"stopped for the fleet ({text})")
                return
            # STOPPING -> STOPPED
            self._transition(LaneState.STOPPED, f"stopped ({text})")
            return
        if self.fenced_exit_code is not None and returncode == self.fenced_exit_code:
            # STARTING/RUNNING -> STANDBY: it fenced itself (see workers/fence.py)
            self.last_error = "stopped by its fence: this host's lease was not renewed in time"
            self._transition(LaneState.STANDBY, self.last_error)
            return
        error = self._exit_error(returncode, text)
        self.last_error = error
        self._after_failure(error)

    def _exit_error(self, returncode: int, text: str) -> str:
        """Why the lane failed, in the worker's words when it gave them.

        A worker that declared itself ``failed`` names the cause; one that
        died some other way may still carry an older ``last_error`` (a
        handler timeout, a lost connection) that is a clue, not the cause,
        so it is appended to the exit text. The exit code or signal stays in
        ``last_exit`` either way.
        """
        base = "exited with code 0 without a stop request" if returncode == 0 else text
        worker = self.worker or {}
        reported = worker.get("last_error")
        if not isinstance(reported, str) or not reported.strip():
            return base
        # One line and bounded: it goes into one-line status views and the
        # owner's failure message. Workers redact secret values before
        # writing; nothing else is added here.
        reported = " ".join(reported.split())
        if len(reported) > WORKER_ERROR_MAX_CHARS:
            reported = reported[: WORKER_ERROR_MAX_CHARS - 3] + "..."
        if worker.get("state") == "failed" and returncode != 0:
            return reported
        return f"{base} (worker's last error: {reported})"

    def _after_failure(self, error: str) -> None:
        now = self.system.monotonic()
        policy = self.policy
        if policy.policy != "on-failure":
            # STARTING/RUNNING -> FATAL (restart = "never": fail closed)
            self._fatal(f"{error}; restart policy is never")
            return
        while self._failures and now - self._failures[0] > policy.window_s:
            self._failures.popleft()
        if len(self._failures) >= policy.max_restarts:
            # STARTING/RUNNING -> FATAL (cap reached)
            self.last_error = (
                f"{error} (gave up after {len(self._failures)} restarts within {policy.window_s:g} s)"
            )
            self._fatal(self.last_error)
            return
        delay = min(policy.backoff_initial_s * (2 ** len(self._failures)), policy.backoff_max_s)
        # Jitter (up to half the step off): lanes that failed together, say
        # when their chat API went down, do not all restart in lockstep.
        delay = round(delay * (1.0 - 0.5 * self.rand()), 3)
        self._failures.append(now)
        self.next_start_at = now + delay
        # STARTING/RUNNING -> BACKOFF
        self._transition(LaneState.BACKOFF, f"{error}; restarting in {delay:g} s")

    def _fatal(self, note: str) -> None:
        self._transition(LaneState.FATAL, note)

    def tick(self) -> None:
        """Time-driven steps: a due restart, and STARTING -> RUNNING."""
        now = self.system.monotonic()
        if self.state == LaneState.BACKOFF and self.next_start_at is not None and now >= self.next_start_at:
            self.next_start_at = None
            self.restarts += 1
            self.start()
            return
        if self.state == LaneState.STARTING:
            if self.worker_ready() or (self._started_mono is not None and now - self._started_mono >= self.start_seconds):
                # STARTING -> RUNNING
                self._transition(LaneState.RUNNING, "running")

    @property
    def started_mono(self) -> float | None:
        """When the current process started (monotonic), None before one did."""
        return self._started_mono

    def worker_ready(self) -> bool:
        worker = self.worker or {}
        return worker.get("ready") is True or worker.get("connected") is True or worker.get("state") in READY_STATES

    def refresh_worker_status(self, *, force: bool = False) -> None:
        """Fold the worker's own status file in, when it changed.

        ``force`` skips the mtime shortcut: after an exit the file is read
        once more whatever its timestamp says (two writes within the
        filesystem's timestamp granularity look unchanged).
        """
        try:
            st = os.lstat(self.status_path)
        except OSError:
            return
        if st.st_size > WORKER_STATUS_MAX_BYTES or (st.st_mtime_ns == self._worker_mtime and not force):
            return
        self._worker_mtime = st.st_mtime_ns
        # The lane writes this file: a symlink, a FIFO or a device there is
        # no status (read_json opens with O_NOFOLLOW|O_NONBLOCK, regular files
        # with one name only, at most the cap), never a hang or an endless read.
        data = statefiles.read_json(self.status_path, WORKER_STATUS_MAX_BYTES, single_link=True)
        if isinstance(data, dict) and data != self.worker:
            self.worker = data
            self.changed = True

    # -- views --------------------------------------------------------------

    @property
    def has_process(self) -> bool:
        return self.state in LANE_HAS_PROCESS and self.proc is not None

    def group_record(self) -> dict | None:
        if self.pgid is None:
            return None
        return {
            "family": self.lane.family,
            "account": self.lane.account_id,
            "pgid": self.pgid,
            "start_ticks": self.start_ticks or 0,
        }

    def snapshot(self) -> dict:
        return {
            "family": self.lane.family,
            "account": self.lane.account_id,
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "started_at_ms": self.started_at_ms,
            "last_exit": self.last_exit,
            "last_error": self.last_error,
            "log_path": self.log.path,
            "worker": self.worker,
            "plan_sha256": self.plan_sha256,
            **({"fleet": self.fleet} if self.fleet is not None else {}),
        }
