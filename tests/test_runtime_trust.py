"""Issue 12 A and H without processes: who lanes run as, which runtime
directories and state files the owner accepts. Runs as any user (the
process tests in test_runtime_hardening.py need root for a second user)."""

from __future__ import annotations

import json
import os
import pwd
import stat

import pytest

from gatewayctl.compile.plan import RunAs
from gatewayctl.runtime import identity, statefiles
from gatewayctl.runtime.statefiles import RuntimeRefused, UnsafeDirectory

NOBODY = next((p for p in pwd.getpwall() if p.pw_name == "nobody"), None)
needs_nobody = pytest.mark.skipif(NOBODY is None, reason="needs a `nobody` user in the passwd database")


# ---------------------------------------------------------------- identity


def test_root_owner_without_a_user_is_refused():
    with pytest.raises(RuntimeRefused) as refused:
        identity.resolve(None, euid=0, egid=0)
    assert '[worker] user = "root"' in refused.value.message


def test_non_root_owner_without_a_user_runs_lanes_as_itself():
    assert identity.resolve(None, euid=1000, egid=1000) == identity.LaneIdentity()


def test_user_root_is_the_explicit_way_to_run_lanes_as_root():
    assert not identity.resolve(RunAs("root"), euid=0, egid=0).changes
    assert not identity.resolve(RunAs("0"), euid=0, egid=0).changes


@needs_nobody
def test_root_owner_drops_to_the_named_user_and_group():
    who = identity.resolve(RunAs("nobody"), euid=0, egid=0)
    assert (who.uid, who.gid, who.user) == (NOBODY.pw_uid, NOBODY.pw_gid, "nobody") and who.changes
    by_number = identity.resolve(RunAs(str(NOBODY.pw_uid), group="0"), euid=0, egid=0)
    assert (by_number.uid, by_number.gid) == (NOBODY.pw_uid, 0)


@needs_nobody
def test_unknown_user_or_group_and_switching_without_root_are_refused():
    with pytest.raises(RuntimeRefused, match="'gw-no-such-user' does not exist"):
        identity.resolve(RunAs("gw-no-such-user"), euid=0, egid=0)
    with pytest.raises(RuntimeRefused, match="group 'gw-no-such-group' does not exist"):
        identity.resolve(RunAs("nobody", group="gw-no-such-group"), euid=0, egid=0)
    with pytest.raises(RuntimeRefused, match="cannot switch users"):
        identity.resolve(RunAs("nobody"), euid=NOBODY.pw_uid + 1, egid=NOBODY.pw_gid + 1)
    # Already that user: nothing to change.
    assert not identity.resolve(RunAs("nobody"), euid=NOBODY.pw_uid, egid=NOBODY.pw_gid).changes


# -------------------------------------------------------- runtime directory


def test_runtime_dir_is_created_0700_and_a_loose_one_tightened(tmp_path):
    tmp_path.chmod(0o700)
    runtime = tmp_path / "home" / "gateway-runtime"
    statefiles.secure_runtime_dir(str(runtime))
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    runtime.chmod(0o755)
    statefiles.secure_runtime_dir(str(runtime))
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700


def test_symlinks_and_shared_directories_on_the_way_are_refused(tmp_path):
    tmp_path.chmod(0o700)
    target = tmp_path / "target"
    target.mkdir(mode=0o755)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "gateway-runtime").symlink_to(target)
    with pytest.raises(UnsafeDirectory, match="gateway-runtime is a symlink"):
        statefiles.secure_runtime_dir(str(home / "gateway-runtime"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o755

    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    with pytest.raises(UnsafeDirectory, match="writable by other users and not sticky"):
        statefiles.secure_runtime_dir(str(loose / "gw" / "gateway-runtime"))
    assert not (loose / "gw").exists()

    group_home = tmp_path / "group-home"
    group_home.mkdir()
    group_home.chmod(0o770)
    with pytest.raises(UnsafeDirectory, match="writable by other users"):
        statefiles.secure_runtime_dir(str(group_home / "gateway-runtime"))

    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    statefiles.secure_runtime_dir(str(sticky / "gw" / "gateway-runtime"))  # like /tmp: fine


def test_a_subdirectory_that_is_a_symlink_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "logs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeDirectory, match="symlink or not a directory"):
        statefiles.ensure_dir(str(tmp_path / "logs"))


# ------------------------------------------------------------- state files


def test_state_reads_take_only_bounded_regular_files(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"a": 1}))
    assert statefiles.read_json(str(good)) == {"a": 1}

    link = tmp_path / "link.json"
    link.symlink_to(good)
    assert statefiles.read_json(str(link)) is None

    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    assert statefiles.read_json(str(zero)) is None

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert statefiles.read_json(str(fifo)) is None  # returns at once: no writer is waited for

    big = tmp_path / "big.json"
    big.write_text(json.dumps({"x": "y" * 100}))
    assert statefiles.read_json(str(big), max_bytes=50) is None

    second = tmp_path / "second-name.json"
    os.link(good, second)
    assert statefiles.read_json(str(second)) == {"a": 1}
    assert statefiles.read_json(str(second), single_link=True) is None


def test_lane_log_replaces_a_planted_symlink_and_truncates_only_itself(tmp_path):
    from gatewayctl.runtime.logs import LaneLog

    victim = tmp_path / "victim"
    victim.write_bytes(b"v" * 4000)
    path = tmp_path / "lane.log"
    path.symlink_to(victim)
    log = LaneLog(str(path), max_bytes=1024, backups=0)
    log.write(b"x" * 3000)  # fills the 1 KiB cap twice over: truncated in place (no backups)
    log.close()
    assert victim.read_bytes() == b"v" * 4000
    assert not path.is_symlink() and 0 < path.stat().st_size <= 1024
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
