"""Where the runtime state lives and how each state file is written and read.

Every state file is written atomically: a temp file in the same directory,
fsync, rename over the target, fsync the directory. A reader therefore sees
the old content or the new, never a torn or empty file. The directory is
0700 and every file 0600, because the control token lives here.

Standard library only, plus gatewayctl.atomicfile (the one implementation
of atomic replacement).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from gatewayctl import atomicfile

DIR_MODE = 0o700
FILE_MODE = 0o600


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
    def logs_dir(self) -> str:
        return os.path.join(self.runtime_dir, "logs")

    @property
    def lanes_dir(self) -> str:
        return os.path.join(self.runtime_dir, "lanes")

    def lane_log(self, family: str, account: str) -> str:
        return os.path.join(self.logs_dir, f"{_safe_name(family)}-{_safe_name(account)}.log")

    def lane_status(self, family: str, account: str) -> str:
        return os.path.join(self.lanes_dir, f"{_safe_name(family)}-{_safe_name(account)}.json")


def ensure_dir(path: str) -> None:
    """Create ``path`` (and parents) with 0700, and tighten it if it already exists."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    if (os.stat(path).st_mode & 0o777) != DIR_MODE:
        os.chmod(path, DIR_MODE)


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


def read_json(path: str):
    """The parsed JSON object at ``path``, or None when absent, unreadable or not an object."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
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
