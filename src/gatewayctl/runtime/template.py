"""The lane template: one process that imported the lanes' libraries once,
from which the owner's built-in lanes are forked (issue 17).

A lane is still its own process, in its own session and process group, with
its own user, descriptors, environment and parent-death signal; what it
shares with its siblings are the template's pages (the interpreter,
asyncio, httpx, ssl and the workers' code), copy-on-write, instead of each
lane importing them again into private memory.

    owner ──exec──▶ template (python -m gatewayctl.runtime.template)
                      └─fork─▶ lane, lane, ... (never exec: they run
                                 `gatewayctl lane serve` in the forked image)

The template is exec'd (not forked from the owner, which runs threads), with
the lanes' marker in its environment: a forked lane never execs, so
/proc/PID/environ shows the template's environment, marker included, and a
later owner can still prove a leftover is one of ours (slot.reap_leftovers).

The owner talks to the template over a socketpair: a spawn request (argv,
environment, working directory, user and group as JSON, the output pipe and
the inherited descriptors as SCM_RIGHTS) is answered with the lane's pid; an
exit is reported as ``{"exit": pid, "status": wait status}``. The owner's
``TemplateProcess.poll()`` reads those reports, so the runner code is the
same for an exec'd and a forked lane. When the owner dies, the template dies
(parent-death signal), and its lanes with it (theirs). When the template
dies, its lanes die, the owner reads end-of-file, reports them exited, and
spawns again by exec.

Only lanes whose command is the built-in worker (``{gatewayctl} lane
serve``) are forked; any other worker command is exec'd as before.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys

_HEADER = struct.Struct("<I")
_MAX_MESSAGE = 4 * 1024 * 1024
_MAX_FDS = 16
FD_BASE = 900  # received descriptors are parked here before being put at their numbers


def builtin_lane(argv) -> bool:
    """``{gatewayctl} lane serve ...`` as expand_argv writes it."""
    return (len(argv) >= 5 and argv[0] == sys.executable and tuple(argv[1:5]) == ("-m", "gatewayctl", "lane", "serve"))


def _send(sock: socket.socket, obj: dict, fds=()) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    msg = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(sock, [msg], list(fds))
    else:
        sock.sendall(msg)


class _Reader:
    """Length-prefixed JSON messages (and any descriptors sent with them)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.fds: list[int] = []
        self.eof = False

    def fill(self) -> None:
        """One receive (the socket decides whether it blocks)."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 65536, _MAX_FDS)
        except (BlockingIOError, InterruptedError):
            return
        except TimeoutError:
            raise
        except OSError:
            data, fds = b"", []
        if not data and not fds:
            self.eof = True
        self.buf += data
        self.fds.extend(fds)

    def take(self) -> dict | None:
        if len(self.buf) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self.buf)
        if size > _MAX_MESSAGE:
            raise OSError("lane template: oversized message")
        if len(self.buf) < _HEADER.size + size:
            return None
        data = self.buf[_HEADER.size : _HEADER.size + size]
        self.buf = self.buf[_HEADER.size + size :]
        return json.loads(data)


# ---------------------------------------------------------------- the owner's side


class TemplateProcess:
    """What LaneRunner needs of a process (``pid``, ``poll()``), for a forked lane."""

    def __init__(self, template: "LaneTemplate", pid: int):
        self.template = template
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.template.drain()
            status = self.template.exits.pop(self.pid, None)
            if status is not None:
                self.returncode = status
        return self.returncode


class LaneTemplate:
    """The owner's handle on its template process."""

    def __init__(self, proc, sock: socket.socket):
        self.proc = proc
        self.sock = sock
        self.reader = _Reader(sock)
        self.exits: dict[int, int] = {}  # pid -> returncode (Popen's convention)
        self.live: set[int] = set()
        self.dead = False

    @classmethod
    def start(cls, env: dict[str, str], system) -> "LaneTemplate | None":
        """Exec the template and wait until it has imported the lanes' modules;
        None when it cannot start (lanes are then exec'd as before)."""
        import subprocess

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = system.spawn(
                [sys.executable, "-m", "gatewayctl.runtime.template", str(theirs.fileno())],
                env, None, 2, pass_fds=(theirs.fileno(),),
            )
        except (OSError, subprocess.SubprocessError):
            ours.close()
            theirs.close()
            return None
        theirs.close()
        template = cls(proc, ours)
        ours.settimeout(60.0)
        try:
            ready = template._wait_message()
        except OSError:
            ready = None
        if not ready or not ready.get("ready"):
            template.close()
            return None
        ours.setblocking(False)
        return template

    def fileno(self) -> int:
        return self.sock.fileno()

    def _next(self, *, block: bool) -> dict | None:
        """The next message that is not an exit report (those are recorded on
        the way). None when the template is gone or, not blocking, when
        nothing more has arrived."""
        while True:
            msg = self.reader.take()
            if msg is not None:
                if "exit" in msg:
                    self._record_exit(msg)
                    continue
                return msg
            if self.reader.eof:
                self._lost()
                return None
            before = len(self.reader.buf)
            self.reader.fill()
            if not block and len(self.reader.buf) == before and not self.reader.eof:
                return None

    def _wait_message(self) -> dict | None:
        """Block (the socket's timeout) for the next message that is not an exit report."""
        return self._next(block=True)

    def _record_exit(self, msg: dict) -> None:
        pid, status = msg.get("exit"), msg.get("status")
        if isinstance(pid, int) and isinstance(status, int):
            self.live.discard(pid)
            self.exits[pid] = os.waitstatus_to_exitcode(status)

    def _lost(self) -> None:
        """The template is gone: its lanes died with it (parent-death signal)."""
        if not self.dead:
            self.dead = True
            for pid in self.live:
                self.exits.setdefault(pid, -signal.SIGKILL)
            self.live.clear()

    def drain(self) -> None:
        """Read whatever exit reports have arrived (never blocks)."""
        if self.dead:
            return
        self.sock.setblocking(False)
        while self._next(block=False) is not None:
            pass  # only exit reports come unasked

    def spawn(self, argv, env, cwd, output_fd, *, pass_fds=(), user=None, group=None):
        """Fork a built-in lane from the template; OSError when the template cannot."""
        if self.dead:
            raise OSError("lane template is not running")
        request = {"argv": list(argv), "env": env, "cwd": cwd, "user": user, "group": group,
                   "fds": [output_fd, *pass_fds]}
        self.sock.setblocking(True)
        self.sock.settimeout(30.0)
        try:
            _send(self.sock, request, [output_fd, *pass_fds])
            answer = self._wait_message()
        except OSError:
            self._lost()
            raise
        finally:
            self.sock.setblocking(False)
        if answer is None:
            raise OSError("lane template exited")
        if "error" in answer:
            raise OSError(answer.get("errno") or 0, str(answer["error"]))
        pid = answer["pid"]
        self.live.add(pid)
        return TemplateProcess(self, pid)

    def close(self) -> None:
        """End the template (its lanes are gone by now: the owner drained them)."""
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a template that does not end on EOF is killed
            self.proc.kill()
            self.proc.wait(timeout=5)


class TemplatedSystem:
    """The owner's System, except that built-in lanes are forked from the
    template while it runs (exec'd otherwise, and every other command)."""

    def __init__(self, system, template: LaneTemplate | None = None):
        self._system = system
        self.template = template

    def __getattr__(self, name):
        return getattr(self._system, name)

    def spawn(self, argv, env, cwd, output_fd, *, pass_fds=(), user=None, group=None):
        template = self.template
        if template is not None and not template.dead and builtin_lane(argv):
            try:
                return template.spawn(argv, env, cwd, output_fd, pass_fds=pass_fds, user=user, group=group)
            except OSError:
                pass  # the template is gone or refused: exec, as without one
        return self._system.spawn(argv, env, cwd, output_fd, pass_fds=pass_fds, user=user, group=group)


# ---------------------------------------------------------------- the template's side


def _serve(sock: socket.socket) -> None:
    import selectors

    from gatewayctl.runtime.system import _PRCTL, PR_SET_PDEATHSIG

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a lane group's SIGTERM is not for the template
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    reader = _Reader(sock)
    sock.setblocking(False)
    while True:
        for key, _ in sel.select(1.0):
            if key.fileobj == wake_r:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
        _reap(sock)
        reader.fill()
        if reader.eof:
            return
        while True:
            msg = reader.take()
            if msg is None:
                break
            n = len(msg.get("fds") or [])
            fds, reader.fds = reader.fds[:n], reader.fds[n:]
            try:
                pid = _fork_lane(msg, fds, sock, wake_r, wake_w, _PRCTL, PR_SET_PDEATHSIG)
                reply = {"pid": pid}
            except OSError as exc:
                reply = {"error": f"cannot fork the lane: {exc.strerror or exc}", "errno": exc.errno}
            finally:
                for fd in fds:
                    os.close(fd)
            sock.setblocking(True)
            _send(sock, reply)
            sock.setblocking(False)


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.setblocking(True)
        try:
            _send(sock, {"exit": pid, "status": status})
        except OSError:
            pass
        sock.setblocking(False)


def _fork_lane(msg: dict, fds: list[int], sock, wake_r, wake_w, prctl, pdeathsig) -> int:
    template_pid = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    # The lane. Whatever happens here, it never returns into the template.
    code = 70
    try:
        code = _become_lane(msg, fds, sock, wake_r, wake_w, prctl, pdeathsig, template_pid)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - the lane's last words, then out
        try:
            os.write(2, f"gatewayctl lane: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)


def _become_lane(msg, fds, sock, wake_r, wake_w, prctl, pdeathsig, template_pid) -> int:
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL if signum != signal.SIGPIPE else signal.SIG_IGN)
    sock.close()
    os.close(wake_r)
    os.close(wake_w)
    os.setsid()
    wanted = [int(n) for n in msg["fds"]]  # [output fd, *pass_fds] at the owner's numbers
    # Park what we received out of the way, then put each at its number.
    parked = [os.dup2(fd, FD_BASE + i) if fd != FD_BASE + i else fd for i, fd in enumerate(fds)]
    for fd in fds:
        if fd not in parked:
            os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(parked[0], 1)
    os.dup2(parked[0], 2)
    keep = {0, 1, 2}
    for src, target in zip(parked[1:], wanted[1:]):
        os.dup2(src, target, inheritable=True)
        keep.add(target)
    for fd in parked:
        if fd not in keep:
            os.close(fd)
    for fd in _open_fds():
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    user, group = msg.get("user"), msg.get("group")
    if user is not None:
        os.setgroups([])
        if group is not None:
            os.setresgid(group, group, group)
        os.setresuid(user, user, user)
    # Set after the credential change (which clears it), as System.spawn does.
    if prctl is not None:
        prctl(pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != template_pid:
        return 70
    os.umask(0o077)
    if msg.get("cwd"):
        os.chdir(msg["cwd"])
    os.environ.clear()
    os.environ.update(msg["env"])
    # Fresh standard streams on the new descriptors (the template's objects
    # may hold state from before the fork).
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
    argv = msg["argv"]
    sys.argv = ["gatewayctl", *argv[3:]]
    # What `python -m gatewayctl` would run after an exec, by name: the
    # runtime does not import the command line (pyproject's contracts);
    # the forked image runs the same program an exec'd lane would.
    import importlib

    importlib.import_module("gatewayctl.cli.main").main(argv[3:])
    return 0


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return []


# What every built-in lane imports: loaded once here, shared by every lane.
PRELOAD = (
    "asyncio",
    "ssl",
    "httpx",
    "gatewayctl.cli.main",
    "gatewayctl.cli.fastlane",
    "gatewayctl.cli.lanerun",
    "gatewayctl.workers.serve",
    "gatewayctl.workers.base",
    "gatewayctl.workers.cursor",
    "gatewayctl.workers.fence",
    "gatewayctl.workers.handlers",
    "gatewayctl.workers.httpclient",
    "gatewayctl.workers.secrets",
    "gatewayctl.workers.status",
    "gatewayctl.workers.telegram",
    "gatewayctl.workers.matrix",
    "gatewayctl.workers.wecom",
    "gatewayctl.workers.qqbot",
    "gatewayctl.workers.whatsapp",
    "gatewayctl.workers.feishu",
    "gatewayctl.workers.feishu_ws",
    "gatewayctl.runtime.fleet.etcd",
    "gatewayctl.compile.planfile",
    "jsonschema",
    # what httpx loads on a client's first request, and the websocket client
    "httpcore",
    "anyio",
    "anyio._backends._asyncio",
    "anyio.streams.tls",
    "certifi",
    "queue",
    "websockets",
    "websockets.asyncio.client",
)


def _warm() -> None:
    """Build what every lane builds the same way before its own work: the
    plan schema's validator (a lane checks its plan against it) and the
    verifying SSL context its HTTP clients share."""
    from gatewayctl.compile import planfile
    from gatewayctl.workers import httpclient

    planfile.schema_problem({})
    httpclient.default_ssl_context()


def main(argv=None) -> int:
    import importlib

    args = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(args[0]))
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # a lane that needs it imports it (and reports) itself
    try:
        _warm()
    except Exception:  # noqa: BLE001 - only a cache: a lane builds it itself
        pass
    # Move every object so far out of the collector's reach: a collection in
    # a lane would otherwise write to each object's header and copy every
    # shared page into the lane (CPython's gc.freeze, made for pre-fork servers).
    import gc

    gc.collect()
    gc.freeze()
    sock.setblocking(True)
    _send(sock, {"ready": True, "pid": os.getpid()})
    _serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
