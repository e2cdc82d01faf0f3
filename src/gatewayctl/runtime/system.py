"""Every system call and clock read the runtime makes, behind one object.

The owner, the lane supervisors and the slot code take a ``System`` and call
nothing else for time, signals, process creation or /proc. Unit tests pass a
fake with a hand-driven clock; the real-process tests use this one.

Standard library only (ctypes for prctl); imports nothing from gatewayctl.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from typing import Protocol, Sequence

PR_SET_PDEATHSIG = 1


class Process(Protocol):
    pid: int

    def poll(self) -> int | None: ...


def _load_prctl():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.prctl
    except (OSError, AttributeError):  # not Linux: no parent-death signal, the reaper still covers it
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    fn.restype = ctypes.c_int
    return fn


# Resolved once in the parent: the code that runs between fork and exec must
# not load libraries or take import locks another thread might hold.
_PRCTL = _load_prctl()


def _child_setup(parent_pid: int):
    prctl = _PRCTL

    def setup() -> None:
        # The kernel sends the parent-death signal when the *thread* that
        # forked exits; the owner spawns lanes only from its main thread,
        # which lives exactly as long as the owner process.
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The owner may have died between fork and prctl; the signal would
        # then never come, so exit now rather than run as an orphan.
        if os.getppid() != parent_pid:
            os._exit(70)
        # Lanes write into the 0700 runtime directory (their status files);
        # what they create there must be 0600 like the owner's own files.
        os.umask(0o077)

    return setup


def read_proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, pgrp, session, start_ticks) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    try:
        return rest[0], int(rest[2]), int(rest[3]), int(rest[19])
    except (IndexError, ValueError):
        return None


class System:
    """The real thing: wall clock, monotonic clock, signals, fork/exec, /proc."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()

    def getpid(self) -> int:
        return os.getpid()

    def proc_start_ticks(self, pid: int) -> int | None:
        """Start time of a live process (clock ticks since boot); None if dead or a zombie."""
        stat = read_proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return None
        return stat[3]

    def pid_alive(self, pid: int, start_ticks: int | None = None) -> bool:
        """Alive, and (when ``start_ticks`` is known) the same process that started then.

        signal 0 says the pid exists; /proc says whether it is a zombie (a
        SIGKILLed owner whose parent has not reaped it yet is dead to us) and
        whether the pid now belongs to a different, later process.
        """
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by someone else
        if not os.path.isdir("/proc/self"):
            return True  # no /proc: signal 0 is all we can know
        ticks = self.proc_start_ticks(pid)
        if ticks is None:
            return False
        return start_ticks is None or ticks == start_ticks

    def spawn(self, argv: Sequence[str], env: dict[str, str], cwd: str | None, output_fd: int) -> Process:
        """Start a lane: own session and process group, parent-death signal, output to ``output_fd``."""
        return subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output_fd,
            stderr=subprocess.STDOUT,
            close_fds=True,
            start_new_session=True,
            preexec_fn=_child_setup(os.getpid()),
        )

    def killpg(self, pgid: int, sig: int) -> bool:
        """Signal a whole process group; False when no process is left in it."""
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        except PermissionError:
            return False
        return True

    def live_groups(self, groups: dict[int, int]) -> set[int]:
        """Which of ``groups`` (pgid -> earliest start ticks) still have a live, non-zombie member.

        One pass over /proc for all groups: with 50 lanes a scan per group
        would read /proc thousands of times at every shutdown.
        """
        found: set[int] = set()
        if not groups:
            return found
        try:
            names = os.listdir("/proc")
        except OSError:
            return found
        for name in names:
            if not name.isdigit():
                continue
            stat = read_proc_stat(int(name))
            if stat is None or stat[0] in ("Z", "X"):
                continue
            since = groups.get(stat[1])
            if since is not None and stat[3] >= since:
                found.add(stat[1])
        return found

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
