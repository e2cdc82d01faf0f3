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

    def spawn(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        cwd: str | None,
        output_fd: int,
        *,
        pass_fds: Sequence[int] = (),
        user: int | None = None,
        group: int | None = None,
    ) -> Process:
        """Start a lane: own session and process group, parent-death signal, output to ``output_fd``.

        ``user``/``group`` (a root owner's lanes): the child drops every
        supplementary group, then sets its real, effective and saved gid and
        uid before exec. CPython applies them before ``preexec_fn`` runs, so
        the parent-death signal (which the kernel clears on a credential
        change) is set afterwards and stays.
        """
        creds = {}
        if user is not None:
            creds = {"user": user, "group": group, "extra_groups": []}
        return subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output_fd,
            stderr=subprocess.STDOUT,
            close_fds=True,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            preexec_fn=_child_setup(os.getpid()),
            **creds,
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

    def marked_processes(self, groups: dict[int, int], marker: str) -> list[int]:
        """Live processes of ``groups`` (pgid -> earliest start ticks) that carry ``marker``.

        The record naming the groups is a file; a process is only ours when
        it is in the group's session, started no earlier than the group's
        leader, and its environment holds ``GATEWAYCTL_LANE_MARK=<marker>``,
        the random value this owner's predecessor gave its lanes. Nobody can
        put that into another user's process, so a forged record can at
        most name processes its writer could have killed itself.
        """
        found: list[int] = []
        if not groups or not marker:
            return found
        try:
            names = os.listdir("/proc")
        except OSError:
            return found
        for name in names:
            if name.isdigit() and self._is_marked(int(name), groups, marker):
                found.append(int(name))
        return found

    def _is_marked(self, pid: int, groups: dict[int, int], marker: str) -> bool:
        stat = read_proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        since = groups.get(stat[1])
        if since is None or stat[2] != stat[1] or stat[3] < since:
            return False
        needle = f"GATEWAYCTL_LANE_MARK={marker}".encode()
        environ = _read_bounded(f"/proc/{pid}/environ", ENVIRON_MAX_BYTES)
        return environ is not None and needle in environ.split(b"\0")

    def kill_marked(self, pid: int, groups: dict[int, int], marker: str) -> bool:
        """SIGKILL ``pid`` only if it is (still) a marked lane process; True when signalled.

        A pidfd pins the process first, so the checks and the signal are
        about the same process even if the pid is reused in between.
        """
        try:
            pidfd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            return False
        try:
            if not self._is_marked(pid, groups, marker):
                return False
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            return True
        except OSError:
            return False
        finally:
            os.close(pidfd)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# Linux caps an exec's environment well below this (ARG_MAX is 2 MiB by default).
ENVIRON_MAX_BYTES = 4 * 1024 * 1024


def _read_bounded(path: str, limit: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
