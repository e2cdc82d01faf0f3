"""Where the runtime state lives and how each state file is written and read.

Every state file is written atomically: a temp file in the same directory,
fsync, rename over the target, fsync the directory. A reader therefore sees
the old content or the new, never a torn or empty file. The directory is
0700 and every file 0600, because the control token lives here.

Nothing here trusts the directory more than it proves: ``secure_runtime_dir``
refuses a runtime directory (or a directory on the way to it) that another
user could replace, and every read opens with ``O_NOFOLLOW | O_NONBLOCK``,
accepts only a regular file and reads at most a fixed number of bytes, so a
symlink, a FIFO or ``/dev/zero`` planted where a state file belongs is
"absent", never a hang or an endless read.

Standard library only, plus gatewayctl.atomicfile (the one implementation
of atomic replacement).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from dataclasses import dataclass

from gatewayctl import atomicfile

DIR_MODE = 0o700
FILE_MODE = 0o600
# No state file the owner writes comes near this (50 lanes with 64 KiB of
# worker status each is 3.2 MiB); anything larger was not written by us.
MAX_STATE_BYTES = 16 * 1024 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class RuntimeRefused(Exception):
    """The owner will not start: running would trust something it cannot prove (exit 10)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnsafeDirectory(RuntimeRefused):
    """The runtime directory, or a directory on the way to it, is not provably ours."""


def default_home(environ=None) -> str:
    environ = os.environ if environ is None else environ
    home = environ.get("GATEWAYCTL_HOME", "").strip()
    return home if home else os.path.join(os.path.expanduser("~"), ".gatewayctl")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text) or "_"


@dataclass(frozen=True, slots=True)
class RuntimePaths:
    runtime_dir: str

    @classmethod
    def from_env(cls, environ=None) -> "RuntimePaths":
        return cls(os.path.abspath(os.path.join(default_home(environ), "gateway-runtime")))

    @property
    def owner_active(self) -> str:
        return os.path.join(self.runtime_dir, "owner-active.json")

    @property
    def status(self) -> str:
        return os.path.join(self.runtime_dir, "status.json")

    @property
    def stop_request(self) -> str:
        return os.path.join(self.runtime_dir, "stop-request.json")

    @property
    def control_token(self) -> str:
        return os.path.join(self.runtime_dir, "control-token")

    @property
    def lane_groups(self) -> str:
        """Process groups of the current owner's lanes, for a later owner to reap."""
        return os.path.join(self.runtime_dir, "lane-groups.json")

    @property
    def plan(self) -> str:
        return os.path.join(self.runtime_dir, "plan.json")

    @property
    def plans_dir(self) -> str:
        """Plans by digest: the definitions lanes read (old and new side by
        side while a live apply replaces lanes)."""
        return os.path.join(self.runtime_dir, "plans")

    def plan_by_digest(self, sha256: str) -> str:
        return os.path.join(self.plans_dir, f"{sha256}.json")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.runtime_dir, "logs")

    @property
    def lanes_dir(self) -> str:
        return os.path.join(self.runtime_dir, "lanes")

    def lane_log(self, family: str, account: str) -> str:
        return os.path.join(self.logs_dir, f"{_safe_name(family)}-{_safe_name(account)}.log")

    def lane_dir(self, family: str, account: str) -> str:
        """The one directory a lane may write (its status file, its cursors); owned by the lane's user."""
        return os.path.join(self.lanes_dir, f"{_safe_name(family)}-{_safe_name(account)}")

    def lane_status(self, family: str, account: str) -> str:
        return os.path.join(self.lane_dir(family, account), "status.json")

    @property
    def fence_dir(self) -> str:
        """Fleet lanes' deadline files: the owner's (0700 like the runtime
        directory); a lane only gets a read-only descriptor of its own."""
        return os.path.join(self.runtime_dir, "fence")

    def lane_fence(self, family: str, account: str) -> str:
        return os.path.join(self.fence_dir, f"{_safe_name(family)}-{_safe_name(account)}")


def _others_can_replace(st: os.stat_result) -> bool:
    """Group or others may rename entries of this directory (write without the sticky bit)."""
    return bool(st.st_mode & 0o022) and not st.st_mode & stat.S_ISVTX


def _who(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _refuse(runtime_dir: str, why: str, fix: str) -> UnsafeDirectory:
    return UnsafeDirectory(f"refusing the runtime directory {runtime_dir}: {why}; {fix}")


def secure_runtime_dir(runtime_dir: str) -> None:
    """Create the runtime directory (and its parent, the gatewayctl home) and prove both are ours.

    Ours means: a real directory (not a symlink), owned by the effective
    user, that nobody else can write to, under ancestors that only root or
    the effective user can change (a world-writable ancestor must be sticky,
    like /tmp). Anything else means another user could swap what the owner
    reads and writes (a symlink where a log goes, a forged lane-groups.json),
    so the owner refuses with UnsafeDirectory instead of working there. The
    runtime directory is tightened to 0700. Raises OSError when a directory
    cannot be created.
    """
    euid = os.geteuid()
    runtime_dir = os.path.abspath(runtime_dir)
    home = os.path.dirname(runtime_dir)
    fix = "point GATEWAYCTL_HOME at a directory only this user can write to (for example `mkdir -m 700 DIR`)"
    # The ancestors that already exist are judged on their real path: a
    # symlink among them is fine when only root or we could have made it.
    base = os.path.dirname(home)
    while not os.path.lexists(base):
        base = os.path.dirname(base)
    real = os.path.realpath(base)
    probe = os.sep
    for part in [p for p in real.split(os.sep) if p] + [None]:
        st = os.lstat(probe)
        if st.st_uid not in (0, euid):
            raise _refuse(runtime_dir, f"{probe} belongs to {_who(st.st_uid)}, who could replace what lies below it", fix)
        if _others_can_replace(st):
            raise _refuse(runtime_dir, f"{probe} is writable by other users and not sticky", fix)
        if part is None:
            break
        probe = os.path.join(probe, part)
    # Below it, every directory is one we create (or created on an earlier run).
    rest = os.path.relpath(runtime_dir, base).split(os.sep)
    path = real
    for part in rest:
        path = os.path.join(path, part)
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            pass
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
            raise _refuse(runtime_dir, f"{path} is {kind}", fix + ", or remove it")
        if st.st_uid != euid:
            raise _refuse(runtime_dir, f"{path} belongs to {_who(st.st_uid)}, not to {_who(euid)}", fix + ", or remove it")
        if path != os.path.join(real, *rest) and _others_can_replace(st):
            raise _refuse(runtime_dir, f"{path} is writable by other users", fix + " (chmod go-w)")
    ensure_dir(os.path.join(real, *rest))


def ensure_dir(path: str, *, uid: int | None = None, gid: int | None = None) -> None:
    """Create ``path`` (0700) unless it exists; it must be a real directory owned by us (or
    chowned to ``uid``/``gid`` by a root owner, for a lane's own directory); tightens its mode.

    The parent must already be a trusted directory (``secure_runtime_dir``).
    Opened with O_NOFOLLOW, so a symlink planted here is refused, never chmodded
    through. Raises OSError, or UnsafeDirectory for a directory that is not ours.
    """
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeDirectory(f"refusing {path}: it is a symlink or not a directory; remove it") from None
        raise
    try:
        st = os.fstat(fd)
        if uid is None and st.st_uid != os.geteuid():
            raise UnsafeDirectory(f"refusing {path}: it belongs to {_who(st.st_uid)}; remove it")
        # A lane's directory: only the owner creates entries in lanes/, so
        # whoever owns it now got it from an owner; hand it to this run's user.
        if uid is not None and (st.st_uid != uid or (gid is not None and st.st_gid != gid)):
            os.fchown(fd, uid, -1 if gid is None else gid)
        if stat.S_IMODE(st.st_mode) != DIR_MODE:
            os.fchmod(fd, DIR_MODE)
    finally:
        os.close(fd)


# One implementation of atomic replacement for the whole code base.
fsync_dir = atomicfile.fsync_dir


def encode_json(obj) -> bytes:
    return (json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, indent=2) + "\n").encode("utf-8")


def _write_temp(directory: str, data: bytes) -> str:
    return atomicfile.write_temp(directory, data, mode=FILE_MODE)


def atomic_write_bytes(path: str, data: bytes) -> None:
    atomicfile.write_bytes(path, data, mode=FILE_MODE)


def atomic_write_json(path: str, obj) -> None:
    atomic_write_bytes(path, encode_json(obj))


def exclusive_create_json(path: str, obj) -> bool:
    """Create ``path`` with complete content, only if it does not exist.

    O_EXCL on the target itself would expose an empty file between create
    and write; linking a fully written temp file gives the same
    exclusiveness (link fails with EEXIST) with the content already there.
    """
    directory = os.path.dirname(path)
    tmp = _write_temp(directory, encode_json(obj))
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _unlink_quietly(tmp)
    fsync_dir(directory)
    return True


def read_regular(path: str, max_bytes: int = MAX_STATE_BYTES, *, single_link: bool = False) -> bytes | None:
    """The bytes of the regular file at ``path``, or None when it is absent, unreadable,
    a symlink, not a regular file (a FIFO, a device) or larger than ``max_bytes``.

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a
    writer; O_NOFOLLOW refuses a symlink in the last component.
    ``single_link`` (a file another user writes, such as a lane's status):
    also refuse a file with a second name, a hard link to someone else's file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes or (single_link and st.st_nlink != 1):
            return None
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:  # grew past the cap while we read
            return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_json(path: str, max_bytes: int = MAX_STATE_BYTES, *, single_link: bool = False):
    """The parsed JSON object at ``path``, or None when absent, unreadable, not a
    bounded regular file (see ``read_regular``) or not an object."""
    data = read_regular(path, max_bytes, single_link=single_link)
    if data is None:
        return None
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _unlink_quietly(path: str) -> None:
    # Only "already gone" is quiet here: a state file that cannot be removed
    # for another reason (permissions) must surface.
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove(path: str) -> None:
    _unlink_quietly(path)
