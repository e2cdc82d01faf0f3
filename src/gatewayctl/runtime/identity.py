"""Who a lane runs as: the plan's ``run_as`` resolved on this host, or a refusal.

The owner often runs as root (a system service); its lanes, and the exec
handlers they start, parse text from strangers and need no privilege. So a
root owner starts lanes only as the plan's ``run_as`` user ([gateway.worker]
user/group), dropping every supplementary group first, and refuses to start
them as root unless the plan says ``user = "root"``. A non-root owner cannot
change users: it runs lanes as itself, and refuses a ``run_as`` naming
someone else rather than pretend.

Standard library only (pwd, grp); imports only ``gatewayctl.compile.plan``
and the runtime's own modules.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass

from gatewayctl.compile.plan import RunAs
from gatewayctl.runtime.statefiles import RuntimeRefused

SETTING = "[worker] user"


@dataclass(frozen=True, slots=True)
class LaneIdentity:
    """The credentials a lane gets; ``uid`` None: the owner's own (no change)."""

    uid: int | None = None
    gid: int | None = None
    user: str | None = None  # the user's name, for HOME/USER/LOGNAME and messages
    home: str | None = None

    @property
    def changes(self) -> bool:
        return self.uid is not None


def _lookup_user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, OverflowError):
        return None


def _lookup_group(name: str) -> int | None:
    try:
        return grp.getgrgid(int(name)).gr_gid if name.isdigit() else grp.getgrnam(name).gr_gid
    except (KeyError, OverflowError):
        return None


def resolve(run_as: RunAs | None, *, euid: int | None = None, egid: int | None = None) -> LaneIdentity:
    """The identity lanes get under an owner with ``euid``; raises RuntimeRefused."""
    euid = os.geteuid() if euid is None else euid
    egid = os.getegid() if egid is None else egid
    if run_as is None:
        if euid == 0:
            raise RuntimeRefused(
                "refusing to start lanes as root: the owner runs as root and the plan names no user for its "
                f'lanes; set {SETTING} = "<an unprivileged user>" in gatewayctl.toml (lanes and their handlers then '
                f'run as that user, without supplementary groups), or {SETTING} = "root" to run them as root '
                "on purpose, and make the plan again"
            )
        return LaneIdentity()
    entry = _lookup_user(run_as.user)
    if entry is None:
        raise RuntimeRefused(
            f"refusing to start lanes: the plan's {SETTING} {run_as.user!r} does not exist on this host; "
            "create that user (for example `useradd --system --no-create-home NAME`) or name another"
        )
    gid = entry.pw_gid
    if run_as.group is not None:
        found = _lookup_group(run_as.group)
        if found is None:
            raise RuntimeRefused(
                f"refusing to start lanes: the plan's [gateway.worker] group {run_as.group!r} does not exist "
                "on this host; create it or name another"
            )
        gid = found
    if euid != 0:
        if entry.pw_uid == euid and (run_as.group is None or gid == egid):
            return LaneIdentity()  # already that user: nothing to change
        raise RuntimeRefused(
            f"refusing to start lanes: the plan runs them as {run_as.user!r} (uid {entry.pw_uid}, gid {gid}) "
            f"but the owner runs as uid {euid} and cannot switch users (only root can); run the owner as "
            f"that user or as root, or remove {SETTING} and make the plan again"
        )
    if entry.pw_uid == 0 and run_as.group is None:
        return LaneIdentity()  # user = "root": the operator asked for it explicitly
    return LaneIdentity(uid=entry.pw_uid, gid=gid, user=entry.pw_name, home=entry.pw_dir)
