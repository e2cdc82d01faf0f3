"""Issue 12, classes A, H and the owner's part of E, with real processes.

A: the runtime directory is trusted only when it is provably ours; what a
lane (or anyone) writes there is data, never an instruction.
H: lanes and their handlers run as the plan's user, without supplementary
groups, and a root owner refuses to start lanes as root unless told to.
E: out of descriptors or out of disk, the owner exits 9 or 10 and leaves no
status saying a killed lane runs.

The tests that need a second user create one with useradd (and remove it);
they need root, and skip naming what is missing otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.compile import planfile
from gatewayctl.compile.plan import RestartPolicy, RunAs
from tests.support import poll
from tests.lane_programs.plans import (
    WORKER,
    alive,
    cli,
    finish,
    lane,
    lane_pids,
    make_plan,
    read_status,
    runtime_dir,
    start_owner,
    wait_for,
    wait_running,
)

pytestmark = pytest.mark.slow

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="module")
def other_user():
    """A second, unprivileged user made for these tests (removed afterwards)."""
    if not IS_ROOT:
        pytest.skip(f"needs root to create a second user and switch to it (running as uid {os.geteuid()})")
    useradd, userdel = shutil.which("useradd"), shutil.which("userdel")
    if not useradd or not userdel:
        pytest.skip("needs useradd and userdel (the passwd / shadow-utils package) to create a second user")
    name = "gwt" + secrets.token_hex(4)
    argv = [useradd, "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name]
    # Another process may hold the /etc/passwd lock for a moment (exit 10): try again until a deadline.
    made = poll(lambda: subprocess.run(argv, capture_output=True, text=True).returncode == 0, timeout=20, interval=0.2)
    if not made:
        proc = subprocess.run(argv, capture_output=True, text=True)
        pytest.fail(f"useradd {name} failed: {proc.stderr.strip()}")
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run([userdel, name], capture_output=True)


def _refused(home: Path, plan: Path, *needles: str) -> str:
    proc = cli(home, "gateway", "run", "--trust-plan", "--plan", str(plan))
    assert proc.returncode == exitcodes.IO_ERROR, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    return proc.stderr


# ----------------------------------------------------------------------- A


def test_runtime_dir_someone_else_could_replace_is_refused(tmp_path, other_user):
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    # GATEWAYCTL_HOME inside a directory the other user owns: they could
    # rename our home away and put a symlink in its place.
    shared = tmp_path / "theirs"
    shared.mkdir()
    os.chown(shared, other_user.pw_uid, other_user.pw_gid)
    home = shared / "gw"
    _refused(home, plan, f"belongs to {other_user.pw_name}", "GATEWAYCTL_HOME")
    assert not home.exists()  # refused before anything was created

    # A home the other user made in advance (a world-writable sticky /tmp allows that).
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    planted = sticky / "gw"
    planted.mkdir()
    os.chown(planted, other_user.pw_uid, other_user.pw_gid)
    _refused(planted, plan, f"{planted} belongs to {other_user.pw_name}")
    assert list(planted.iterdir()) == []

    # A world-writable parent without the sticky bit.
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    _refused(open_dir / "gw", plan, "writable by other users and not sticky")


def test_symlinked_runtime_dir_is_refused_and_its_target_untouched(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    target = tmp_path / "target"
    target.mkdir()
    target.chmod(0o755)
    home.mkdir(mode=0o700)
    (home / "gateway-runtime").symlink_to(target)
    _refused(home, plan, "gateway-runtime is a symlink")
    assert stat.S_IMODE(target.stat().st_mode) == 0o755 and list(target.iterdir()) == []

    # The home itself as a symlink is refused too.
    other = tmp_path / "home2"
    other.symlink_to(target)
    _refused(other, plan, "is a symlink")


def test_planted_log_symlink_is_replaced_not_written_through(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    logs = runtime_dir(home) / "logs"
    logs.mkdir(parents=True, mode=0o700)
    home.chmod(0o700)
    runtime_dir(home).chmod(0o700)
    (logs / "telegram-a.log").symlink_to(victim)
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        log = logs / "telegram-a.log"
        wait_for(lambda: log.is_file() and not log.is_symlink() and b"worker run" in log.read_bytes(), what="real log")
    finally:
        owner.send_signal(signal.SIGTERM)
        rc, _, err = finish(owner)
    assert rc == 0, err
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("mode", ["status-zero", "status-fifo", "status-huge", "status-hardlink"])
def test_hostile_lane_status_file_neither_hangs_nor_floods_the_owner(tmp_path, home, mode):
    plan = make_plan(tmp_path, [lane("telegram", mode), lane("feishu", "run", account="work")])
    owner = start_owner(home, plan)
    try:
        doc = wait_running(home, owner)
        # The hostile file is in place and the owner still answers every reader.
        lane_dir = runtime_dir(home) / "lanes" / "telegram-a"
        status = lane_dir / "status.json"
        wait_for(lambda: status.is_symlink() or stat.S_ISFIFO(status.lstat().st_mode) or status.stat().st_size > 1 << 20
                 or status.stat().st_nlink > 1, what="hostile status file")
        for _ in range(3):  # several sweeps of the owner (one a second) pass
            beat = read_status(home)["last_heartbeat_at"]
            proc = cli(home, "gateway", "status", "--json", timeout=20)
            assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        tg = next(ln for ln in doc["lanes"] if ln["family"] == "telegram")
        assert tg["state"] == "running" and doc["phase"] == "running"
        assert "leaked" not in json.dumps(doc)  # a hard link is someone else's file, not the lane's status
        # The heartbeat still moves: the owner's loop is not stuck in a read.
        wait_for(lambda: read_status(home)["last_heartbeat_at"] > beat, 15, what="a later heartbeat")
        rss_kib = int(next(line.split()[1] for line in open(f"/proc/{owner.pid}/status") if line.startswith("VmRSS:")))
        assert rss_kib < 200 * 1024, rss_kib  # /dev/zero read to the end would be unbounded
    finally:
        owner.send_signal(signal.SIGTERM)
        rc, _, err = finish(owner, timeout=20)  # a FIFO opened for reading would block here forever
    assert rc == 0, err


def test_forged_lane_groups_record_kills_nothing_it_cannot_prove(tmp_path, home):
    # An unrelated process in its own session, as a victim.
    victim = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(1)"], start_new_session=True)
    try:
        rdir = runtime_dir(home)
        rdir.mkdir(parents=True, mode=0o700)
        home.chmod(0o700)
        forged = {
            "owner_token": "1-1",
            "marker": "0" * 32,
            "groups": [{"family": "telegram", "account": "a", "pgid": victim.pid, "start_ticks": 0}],
        }
        (rdir / "lane-groups.json").write_text(json.dumps(forged))
        plan = make_plan(tmp_path, [lane("telegram", "run")])
        owner = start_owner(home, plan)
        try:
            wait_running(home, owner)
            assert alive(victim.pid), "the forged record got an unrelated process killed"
            record = json.loads((rdir / "lane-groups.json").read_text())
            assert record["owner_token"] != "1-1" and len(record["marker"]) == 32
        finally:
            owner.send_signal(signal.SIGTERM)
            rc, _, err = finish(owner)
        assert rc == 0, err
        assert alive(victim.pid)
    finally:
        victim.kill()
        victim.wait()


def test_lane_reads_a_plan_nobody_can_swap(tmp_path, home):
    trigger = tmp_path / "go"
    plan = make_plan(tmp_path, [lane("telegram", "plan-probe", "{plan}", str(trigger))])
    original = plan.read_bytes()
    owner = start_owner(home, plan)
    try:
        wait_running(home, owner)
        # Swap every plan file on disk for another valid plan before the lane reads.
        other = make_plan(tmp_path, [lane("telegram", "crash", "0")]).read_bytes()
        for path in (runtime_dir(home) / "plan.json", plan):
            path.write_bytes(other)
        trigger.write_text("go")

        def probed():
            worker = read_status(home)["lanes"][0]["worker"] or {}
            return worker if "plan_sha256" in worker else None

        worker = wait_for(probed, what="plan probe")
        assert worker["plan_path"].startswith("/proc/self/fd/")
        assert worker["plan_sha256"] == hashlib.sha256(original).hexdigest()
        assert worker["wrote"] is not True  # the lane cannot change its own plan either
    finally:
        owner.send_signal(signal.SIGTERM)
        rc, _, err = finish(owner)
    assert rc == 0, err


def test_builtin_lane_refuses_a_plan_other_than_the_one_the_owner_runs(tmp_path):
    from gatewayctl.workers import serve

    plan = make_plan(tmp_path, [lane("telegram", "run")])
    outcome = serve.serve(str(plan), "telegram", environ={"GATEWAYCTL_PLAN_SHA256": "ab" * 32})
    assert outcome.kind == "plan" and outcome.plan_error == "tampered"
    assert "is not the abababababab... the gateway owner runs" in outcome.message


# ----------------------------------------------------------------------- H


def _interpreter_for(user) -> tuple[str, dict]:
    """A Python the other user can run, with this checkout importable: (path, env extra).

    The test's own interpreter may live where only root can reach it (a
    pyenv under /root); then the system's python of the same version,
    given this venv's packages, serves as well.
    """
    import sysconfig

    repo = Path(__file__).resolve().parents[1]
    extra = {"PYTHONPATH": os.pathsep.join([str(repo / "src"), sysconfig.get_paths()["purelib"]])}
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys, httpx, gatewayctl; print('%d.%d' % sys.version_info[:2])"],
                user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/", capture_output=True, text=True,
                env={**extra, "PATH": os.environ.get("PATH", "")},
            )
        except OSError:  # not there, or not reachable for that user
            continue
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate, extra
    pytest.skip(f"needs a Python {version} interpreter that user {user.pw_name} can run with this checkout's "
                f"packages ({sys.executable} is not reachable for it, and no /usr/bin/python{version} works)")


def test_lanes_and_their_handlers_run_as_the_plan_user_without_groups(tmp_path, home, other_user):
    import dataclasses

    from gatewayctl.compile.plan import DEFAULT_WORKER, Handler, SecretRef, freeze
    from gatewayctl.fakes.telegram import FakeTelegram
    from tests.lane_programs.plans import env_for
    from tests.lane_programs.plans import lane as runtime_lane

    python, extra_env = _interpreter_for(other_user)
    handler_script = str(Path(WORKER).with_name("env_handler.py"))
    uid, gid = other_user.pw_uid, other_user.pw_gid
    with FakeTelegram() as fake:
        settings = {"base_url": fake.base_url, "polling_timeout_s": 1, "allowed_chat_ids": [42],
                    "allowed_sender_ids": [], "require_mention": False}
        tg = dataclasses.replace(
            runtime_lane("telegram", account="bot_1", env=("TG_TOKEN",)),
            settings=freeze(settings),
            secrets=(SecretRef("bot_token", "env", "TG_TOKEN"),),
            worker=DEFAULT_WORKER,
        )
        feishu_lane = dataclasses.replace(lane("feishu", "run", account="work"), worker=(python, WORKER, "run"))
        path = make_plan(tmp_path, [tg, feishu_lane], run_as=RunAs(other_user.pw_name))
        plan = dataclasses.replace(
            planfile.load(str(path)),
            allow_private_hosts=True,
            handler=Handler("exec", exec=(python, handler_script), timeout_s=10.0),
        )
        planfile.write(plan, str(path))
        owner = subprocess.Popen(
            [python, "-m", "gatewayctl", "gateway", "run", "--trust-plan", "--plan", str(path)],
            env=env_for(home, TG_TOKEN=fake.token, **extra_env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            doc = wait_running(home, owner)
            feishu = next(ln for ln in doc["lanes"] if ln["family"] == "feishu")
            worker = wait_for(lambda: next(ln for ln in read_status(home)["lanes"] if ln["family"] == "feishu")["worker"],
                              what="feishu worker status")
            assert worker["uids"] == [uid] * 3 and worker["gids"] == [gid] * 3
            assert worker["groups"] == []  # root's supplementary groups are gone
            for pid in lane_pids(doc):
                with open(f"/proc/{pid}/status") as fh:
                    fields = dict(line.split(":", 1) for line in fh)
                assert fields["Uid"].split() == [str(uid)] * 4 and fields["Groups"].strip() == ""

            fake.inject(42, 7, "who are you")
            sent = fake.wait_sent(1, timeout=20)
            assert sent, "no reply from the lane"
            ids = json.loads(sent[0]["text"])["ids"]
            assert ids == {"uids": [uid] * 3, "gids": [gid] * 3, "groups": []}

            # The runtime directory stays the owner's; each lane writes only its own directory.
            rdir = runtime_dir(home)
            assert rdir.stat().st_uid == 0 and stat.S_IMODE(rdir.stat().st_mode) == 0o700
            for name in ("plan.json", "status.json", "owner-active.json", "control-token", "lane-groups.json"):
                st = (rdir / name).stat()
                assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600, name
            lanes_dir = rdir / "lanes"
            assert lanes_dir.stat().st_uid == 0 and stat.S_IMODE(lanes_dir.stat().st_mode) == 0o700
            for sub in lanes_dir.iterdir():
                assert (sub.stat().st_uid, sub.stat().st_gid) == (uid, gid) and stat.S_IMODE(sub.stat().st_mode) == 0o700
                assert (sub / "status.json").stat().st_uid == uid
            assert feishu["log_path"].startswith(str(rdir / "logs"))

            # The parent-death signal survives the credential change: lanes die with the owner.
            pids = lane_pids(read_status(home))
            owner.send_signal(signal.SIGKILL)
            owner.wait()
            wait_for(lambda: not any(alive(p) for p in pids), 10, what="lanes to die with the owner")
        finally:
            if owner.poll() is None:
                owner.kill()
                owner.wait()


def test_root_owner_refuses_root_lanes_unless_the_plan_says_so(tmp_path, home):
    if not IS_ROOT:
        pytest.skip(f"needs root: the refusal is about an owner running as root (running as uid {os.geteuid()})")
    plan = make_plan(tmp_path, [lane("telegram", "run")], run_as=None)
    _refused(home, plan, "refusing to start lanes as root", '[worker] user = "root"')
    assert not home.exists()  # refused before anything was written
    plan = make_plan(tmp_path, [lane("telegram", "run")], run_as=RunAs("gw-no-such-user"))
    _refused(home, plan, "'gw-no-such-user' does not exist on this host")
    assert not home.exists()


def test_worker_user_goes_from_config_through_the_plan(tmp_path):
    (tmp_path / "loong.toml").write_text(
        '[telegram]\nenabled = true\ndefault_account = "bot1"\n\n[telegram.accounts.bot1]\n'
        'bot_token = { env = "TELEGRAM_BOT_TOKEN" }\nallowed_chat_ids = [1]\n'
    )
    # gatewayctl's settings file (named by its loong_config key)
    config = tmp_path / "gw.toml"
    config.write_text(
        'loong_config = "loong.toml"\nchannel_accounts = ["telegram=bot1"]\n\n[worker]\nuser = "gwlane"\ngroup = "gwlane"\n\n'
        '[handler]\necho = true\n'
    )
    out = tmp_path / "plan.json"
    proc = cli(tmp_path / "home", "plan", "--file", str(config), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert planfile.load(str(out)).run_as == RunAs("gwlane", "gwlane")
    assert json.loads(out.read_text())["plan"]["run_as"] == {"user": "gwlane", "group": "gwlane"}
    config.write_text(config.read_text().replace('user = "gwlane"\n', 'user = "gw lane; rm"\n'))
    bad = cli(tmp_path / "home", "check", str(config))
    assert bad.returncode == exitcodes.DIAGNOSTICS, bad.stdout
    assert "error[GW1" in bad.stdout and "gw.toml:5:" in bad.stdout and "Traceback" not in bad.stderr


# ----------------------------------------------------------- E (owner side)


def _no_lane_said_running(home: Path) -> dict:
    raw = runtime_dir(home) / "status.json"
    if raw.exists():
        saved = json.loads(raw.read_text())
        assert saved["running"] is False
        assert not [ln for ln in saved["lanes"] if ln["state"] in ("starting", "running", "stopping")], saved["lanes"]
    doc = read_status(home)
    assert doc["running"] is False
    assert not [ln for ln in doc["lanes"] if ln["state"] in ("starting", "running", "stopping")]
    return doc


RESTART_FAST = RestartPolicy(policy="on-failure", max_restarts=50, window_s=60.0, backoff_initial_s=0.2, backoff_max_s=0.2)


def test_owner_out_of_descriptors_exits_9_and_leaves_no_running_lane(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram", "run"), lane("feishu", "run", account="work")], restart=RESTART_FAST)
    owner = start_owner(home, plan, GATEWAYCTL_DEBUG="1")
    try:
        doc = wait_running(home, owner)
        pids = lane_pids(doc)
        open_now = len(os.listdir(f"/proc/{owner.pid}/fd"))
        _, hard = resource.prlimit(owner.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(owner.pid, resource.RLIMIT_NOFILE, (open_now - 3, hard))
        os.kill(pids[0], signal.SIGKILL)  # the restart (and the status write) need new descriptors
        rc, _out, err = finish(owner)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
    assert rc in (exitcodes.OWNER_FAILED, exitcodes.IO_ERROR), (rc, err)
    assert "Traceback" not in err and "internal error" not in err
    assert "Too many open files" in err
    doc = _no_lane_said_running(home)
    assert doc["phase"] == "failed" and "Too many open files" in doc["last_error"]
    assert not any(alive(p) for p in pids)


def test_owner_on_a_full_disk_exits_9_and_leaves_no_running_lane(tmp_path):
    if not IS_ROOT:
        pytest.skip(f"needs root to mount a small tmpfs as a full disk (running as uid {os.geteuid()})")
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"needs the right to mount a tmpfs (mount said: {mounted.stderr.strip()})")
    owner = None
    try:
        home = mnt / "home"
        plan = make_plan(tmp_path, [lane("telegram", "run"), lane("feishu", "run", account="work")],
                         restart=RESTART_FAST)
        owner = start_owner(home, plan)
        doc = wait_running(home, owner)
        pids = lane_pids(doc)
        with open(mnt / "filler", "wb") as fh:
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        os.kill(pids[0], signal.SIGKILL)  # a state change the owner must write down
        rc, _out, err = finish(owner)
        assert rc in (exitcodes.OWNER_FAILED, exitcodes.IO_ERROR), (rc, err)
        assert "Traceback" not in err and "internal error" not in err
        assert "No space left on device" in err
        _no_lane_said_running(home)
        assert not any(alive(p) for p in pids)
    finally:
        if owner is not None and owner.poll() is None:
            owner.kill()
            owner.wait()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_unprivileged_owner_runs_lanes_as_itself_and_refuses_to_switch(tmp_path, other_user):
    import dataclasses
    import tempfile

    python, extra_env = _interpreter_for(other_user)
    uid, gid = other_user.pw_uid, other_user.pw_gid
    base = Path(tempfile.mkdtemp(prefix="gwt-home-"))  # under /tmp, so the other user can reach it
    try:
        os.chown(base, uid, gid)
        home = base / "gw"

        def owner_as_other_user(run_as):
            worker = dataclasses.replace(lane("telegram", "run"), worker=(python, WORKER, "run"))
            plan = make_plan(tmp_path, [worker], run_as=run_as)
            env = {**extra_env, "PATH": os.environ.get("PATH", ""), "GATEWAYCTL_HOME": str(home)}
            # The plan comes on stdin: tmp_path is not reachable for the other user.
            with open(plan, "rb") as plan_in:
                return subprocess.Popen(
                    [python, "-m", "gatewayctl", "gateway", "run", "--plan", "-", "--allow-stale", "--trust-plan"],
                    user=uid, group=gid, extra_groups=[], cwd="/", env=env,
                    stdin=plan_in, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )

        refused = owner_as_other_user(RunAs("root"))
        rc, _out, err = finish(refused)
        assert rc == exitcodes.IO_ERROR, err
        assert "cannot switch users (only root can)" in err and not home.exists()

        owner = owner_as_other_user(RunAs(other_user.pw_name))  # itself: nothing to change
        try:
            doc = wait_running(home, owner)
            worker = wait_for(lambda: read_status(home)["lanes"][0]["worker"], what="worker status")
            assert worker["uids"] == [uid] * 3
            assert runtime_dir(home).stat().st_uid == uid
        finally:
            owner.send_signal(signal.SIGTERM)
            rc, _out, err = finish(owner)
        assert rc == 0, err
        assert doc["running"] is True
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_plan_show_and_plan_diff_name_the_lane_user(tmp_path):
    import dataclasses

    from gatewayctl.cli.plan import describe
    from gatewayctl.compile.plandiff import diff_plans

    base = planfile.load(str(make_plan(tmp_path, [lane("telegram", "run")], run_as=None)))
    dropped = dataclasses.replace(base, run_as=RunAs("gwlane", "gwgroup"))
    assert "lanes run as the owner's user (a root owner refuses: set [worker] user)" in describe(base, "d")
    assert "lanes run as user gwlane, group gwgroup, no supplementary groups" in describe(dropped, "d")
    # Resolved once when the owner starts: a live apply cannot change it.
    diff = diff_plans(base, dropped)
    assert diff.needs_full_restart
    changes = {o.change.field: (o.change.old, o.change.new, o.needs_restart) for o in diff.owner}
    assert changes["run_as.user"] == (None, "gwlane", True) and changes["run_as.group"] == (None, "gwgroup", True)


def test_a_lane_that_breaks_its_own_directory_only_breaks_itself(tmp_path, home):
    # The worker turns its status file into a directory and crashes; the
    # restart must not trip over it and take the owner (and the other lane) down.
    policy = RestartPolicy(policy="on-failure", max_restarts=3, window_s=60.0, backoff_initial_s=0.1, backoff_max_s=0.1)
    plan = make_plan(tmp_path, [lane("telegram", "status-dir"), lane("feishu", "run", account="work")], restart=policy)
    owner = start_owner(home, plan)
    rc, _out, err = finish(owner, timeout=30)
    assert rc == exitcodes.OWNER_FAILED, err
    assert "gave up after 3 restarts" in err and "Traceback" not in err
    doc = read_status(home)
    tg = next(ln for ln in doc["lanes"] if ln["family"] == "telegram")
    assert tg["restarts"] == 3 and tg["state"] == "fatal"


def test_a_live_apply_cannot_change_who_lanes_run_as(tmp_path, home):
    # Resolved (and the root refusal applied) once, when the owner starts: an
    # apply that changes run_as is refused with nothing touched.
    plan = make_plan(tmp_path, [lane("telegram", "run")])
    owner = start_owner(home, plan)
    try:
        doc = wait_running(home, owner)
        pid = lane_pids(doc)[0]
        other = make_plan(tmp_path, [lane("telegram", "run")], run_as=RunAs("nobody"))
        applied = cli(home, "gateway", "apply", "--plan", str(other), "--trust-plan", "--wait")
        assert applied.returncode == 13, (applied.returncode, applied.stdout, applied.stderr)
        assert "run_as" in applied.stdout + applied.stderr and "full restart" in applied.stdout + applied.stderr
        assert lane_pids(read_status(home)) == [pid]  # the lane was not touched
    finally:
        owner.send_signal(signal.SIGTERM)
        rc, _, err = finish(owner)
    assert rc == 0, err
