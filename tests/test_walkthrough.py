"""docs/gateway.md's walkthroughs, on the shipped files as they are.

"Walkthrough on your machine" runs whole against the built-in fakes: every
command of the section as written, in order, with the shipped
`examples/walkthrough/` files unchanged (issue 13, "What must hold"). The
three-family rollout's steps 1 and 2 run on `examples/` (its step 3 needs the
channels' real credentials): each command's output is what the page shows
(a `...` in the page stands for shortened digests, pids, paths and
left-out lines), and the plan it makes is one `gateway run` can start: a
handler for the built-in lanes and no two lanes on one listen address
(issue 13 item 1).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gatewayctl.cli.main import cli
from tests.support import poll

REPO = Path(__file__).resolve().parents[1]


def _console_blocks(section: str, level: str = "###") -> list[tuple[str, list[str]]]:
    """(command, shown output lines) of the ```console blocks of one section."""
    text = (REPO / "docs" / "gateway.md").read_text(encoding="utf-8")
    body = text.split(f"\n{level} {section}\n", 1)[1].split(f"\n{level} ", 1)[0]
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", body, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
    return out


def _matches(shown: str, actual: str) -> bool:
    """A shown line with `...` (a shortened digest) matches the actual line."""
    pattern = ".*?".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, actual) is not None


def _shown_in_order(shown: list[str], printed: str) -> str | None:
    """None when every shown line appears in the printed text, in order (a
    lone `...` skips lines); else what is missing."""
    actual = printed.splitlines()
    i = 0
    for line in (s for s in shown if s.strip() != "..."):
        while i < len(actual) and not _matches(line, actual[i]):
            i += 1
        if i >= len(actual):
            return f"the page shows {line!r}, the command printed:\n{printed}"
        i += 1
    return None


def test_steps_one_and_two_print_what_the_page_shows(tmp_path, monkeypatch):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    steps = _console_blocks("1. check") + _console_blocks("2. plan")
    assert [cmd for cmd, _ in steps] == [
        "gatewayctl check examples/gateway-rollout.toml",
        "gatewayctl check examples/gatewayctl.toml",
        "gatewayctl plan --file examples/gatewayctl.toml --out plan.json",
        "gatewayctl plan show plan.json",
    ]
    for cmd, shown in steps:
        r = CliRunner().invoke(cli, cmd.split()[1:], env={"GATEWAYCTL_GATEWAY_PORT": None, "NO_COLOR": "1"})
        assert r.exit_code == 0, (cmd, r.output)
        missing = _shown_in_order(shown, r.stdout)
        assert missing is None, f"{cmd}: {missing}"
    plan = json.loads((tmp_path / "plan.json").read_text())["plan"]
    assert plan["handler"] == {"kind": "echo", "exec": [], "url": None, "timeout_s": 10.0, "env": []}
    assert plan["settings"]["path"] == "examples/gatewayctl.toml"


# ---------------------------------------------------------------- on the fakes

FAKES_SECTION = "Walkthrough on your machine, against the built-in fakes"
FAKE_PORTS = (47811, 47812, 47813, 47814)  # the fakes' and the control port, as examples/walkthrough/ names them
JOB = re.compile(r"^kill %(\d+)$")


def _as_an_ordinary_user() -> list[str]:
    """argv prefix that runs a command as an ordinary user. The owner refuses
    to start lanes as root, so under root each command runs in a user
    namespace as uid 1000 (root's files, the interpreter included, appear as
    that user's there: nothing else changes)."""
    if os.geteuid() != 0:
        return []
    prefix = ["unshare", "--user", "--map-user=1000", "--map-group=1000"]
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare(1) (util-linux): cannot follow the walkthrough as an ordinary user")
    probe = subprocess.run([*prefix, "id", "-u"], capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != "1000":
        pytest.skip(f"running as root and user namespaces are not allowed here ({probe.stderr.strip()}): "
                    "cannot follow the walkthrough as an ordinary user")
    return prefix


def _read_lines(proc: subprocess.Popen, n: int, timeout: float) -> list[str]:
    """Up to ``n`` lines of a background command's stdout, within the deadline."""
    got, sel = b"", selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while got.count(b"\n") < n and time.monotonic() < deadline:
        if sel.select(deadline - time.monotonic()):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            got += chunk
    sel.close()
    return got.decode(errors="replace").splitlines()[:n]


@pytest.mark.slow  # a detached owner, three lanes and three fakes, each a process
@pytest.mark.xdist_group("walkthrough-fixed-ports")  # the section's ports are fixed: never two runs at once
def test_the_walkthrough_on_the_fakes_runs_as_written(tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed; the walkthrough sends its message with it")
    prefix = _as_an_ordinary_user()
    for port in FAKE_PORTS:
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"127.0.0.1:{port}, a port of the walkthrough, is taken by another program"
    steps = _console_blocks(FAKES_SECTION, level="##")
    assert [cmd.split()[:3] for cmd, _ in steps] == [
        ["python", "-m", "gatewayctl.fakes"], ["export", "LARK_WORK_APP_ID=cli_fakeapp0001", "LARK_WORK_APP_SECRET=feishu-fake-app-secret-01"],
        ["export", "TELEGRAM_BOT_TOKEN=123456:TEST-fake-token-abcdefghijklmnopqrstu"],
        ["export", "WECOM_ALERTS_BOT_ID=aibFAKEBOT0001", "WECOM_ALERTS_SECRET=wecom-fake-secret-0001"],
        ["gatewayctl", "check", "examples/walkthrough/gatewayctl.toml"], ["gatewayctl", "plan", "--file"],
        ["gatewayctl", "gateway", "run"], ["gatewayctl", "gateway", "status"], ["curl", "-s", "-XPOST"],
        ["curl", "-s", "'127.0.0.1:47812/_fake/sent?wait=1'"], ["gatewayctl", "gateway", "stop"], ["kill", "%1"],
    ], "the section's steps changed: check that this test still follows them"
    box = tmp_path / "checkout"
    box.mkdir()
    shutil.copytree(REPO / "examples", box / "examples")  # the shipped files, byte for byte
    (box / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAYCTL_", "PYTEST_", "FORCE_COLOR", "VIRTUAL_ENV"))}
    # as after `. .venv/bin/activate`: this environment's python and gatewayctl first on PATH
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", HOME=str(box / "home"), NO_COLOR="1")
    env_file = tmp_path / "env"
    jobs: list[subprocess.Popen] = []

    def shell(cmd: str, **kw) -> subprocess.CompletedProcess:
        # one shell per command; what it exports is carried to the next, as in one terminal
        script = f"{cmd}\n__rc=$?\nenv -0 > {shlex.quote(str(env_file))}\nexit $__rc\n"
        done = subprocess.run([*prefix, "bash", "-c", script], cwd=box, env=env, capture_output=True, text=True,
                              timeout=120, **kw)
        if env_file.exists():
            env.clear()
            env.update(dict(item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item))
            env_file.unlink()
        return done

    try:
        for cmd, shown in steps:
            if cmd.endswith(" &"):  # a background job of this shell, numbered from 1
                job = subprocess.Popen([*prefix, "bash", "-c", f"exec {cmd[:-2]}"], cwd=box, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                jobs.append(job)
                printed = "\n".join(_read_lines(job, len(shown), timeout=60))
                missing = _shown_in_order(shown, printed)
                assert missing is None, f"{cmd}: {missing}\nstderr: {job.stderr.read1().decode() if job.poll() is not None else ''}"
                continue
            killed = JOB.match(cmd)
            if killed:  # `kill %N`: SIGTERM to job N, which then ends as the fakes do, cleanly
                job = jobs[int(killed.group(1)) - 1]
                job.send_signal(signal.SIGTERM)
                assert job.wait(timeout=30) == 0, job.stderr.read().decode()
                continue
            if cmd == "gatewayctl gateway status":
                # The page shows the state a moment after --detach (its text
                # says status exits 11 until then): wait for it, as a reader would.
                assert poll(lambda: shell("gatewayctl gateway status >/dev/null").returncode == 0, 30, interval=0.2), \
                    shell("gatewayctl gateway status").stdout
            done = shell(cmd)
            assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout}{done.stderr}"
            assert "Traceback" not in done.stdout + done.stderr
            missing = _shown_in_order(shown, done.stdout)
            assert missing is None, f"{cmd}: {missing}"
        assert [job.returncode for job in jobs] == [0]  # `kill %1` ended the fakes
        assert shell("gatewayctl gateway status").returncode == 3  # stopped: nothing runs
        # The shipped files were used as they are (plan.json records their digests).
        plan = json.loads((box / "plan.json").read_text())["plan"]
        assert plan["config"]["path"] == "examples/walkthrough/gateway-rollout.toml"
        for name in ("gateway-rollout.toml", "gatewayctl.toml"):
            assert (box / "examples" / "walkthrough" / name).read_bytes() == (REPO / "examples" / "walkthrough" / name).read_bytes()
    finally:
        if shell("gatewayctl gateway status >/dev/null").returncode != 3:
            shell("gatewayctl gateway stop --wait --timeout 30")
        for job in jobs:
            if job.poll() is None:
                job.send_signal(signal.SIGTERM)
                try:
                    job.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    job.kill()
                    job.wait()


def test_the_walkthrough_files_are_the_seed_rollout_pointed_at_the_fakes():
    """examples/walkthrough/ is the seed example plus the fakes' addresses and
    a control port of its own, nothing else: the two cannot drift apart."""
    import tomllib

    def load(*parts):
        return tomllib.loads((REPO / "examples").joinpath(*parts).read_text(encoding="utf-8"))

    ours = load("walkthrough", "gateway-rollout.toml")
    assert ours.pop("outbound_http") == {"allow_private_hosts": True}
    added = {
        ("feishu", "work"): {"base_url": "http://127.0.0.1:47811"},
        ("telegram", "bot_123456"): {"base_url": "http://127.0.0.1:47812", "polling_timeout_s": 1},
        ("wecom", "alerts"): {"websocket_url": "ws://127.0.0.1:47813", "reconnect_interval_s": 1},
    }
    for (family, account), keys in added.items():
        account_table = ours[family]["accounts"][account]
        assert {k: account_table.pop(k) for k in keys} == keys
    assert ours == load("gateway-rollout.toml")
    settings = load("walkthrough", "gatewayctl.toml")
    assert settings.pop("control_port") == FAKE_PORTS[-1]
    assert settings == load("gatewayctl.toml")
