"""`gatewayctl demo`: the example rollout end to end against the built-in
fakes, offline; and a failing step ends the demo with everything stopped."""

from __future__ import annotations

import inspect
import os
import re
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from gatewayctl.cli import demo as demo_mod
from gatewayctl.fakes import FakeFeishu, FakeTelegram, FakeWeCom
from tests.support import poll


def _poll(predicate, timeout=10.0):
    return poll(predicate, timeout, interval=0.05)


def _default(cls, name: str) -> str:
    return inspect.signature(cls.__init__).parameters[name].default


FAKE_CREDENTIALS = {
    "feishu app_id": _default(FakeFeishu, "app_id"),
    "feishu app_secret": _default(FakeFeishu, "app_secret"),
    "telegram token": _default(FakeTelegram, "token"),
    "wecom bot_id": _default(FakeWeCom, "bot_id"),
    "wecom secret": _default(FakeWeCom, "secret"),
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _processes_with_env(needle: bytes) -> list[int]:
    """Live processes whose environment holds ``needle`` (the demo's runtime home)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read() and _pid_alive(int(entry)):
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_demo_runs_the_rollout_offline_and_leaves_nothing_behind():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAYCTL_")}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "gatewayctl", "demo"], capture_output=True, text=True,
                          env=env, timeout=240)
    elapsed = time.monotonic() - started
    out = done.stdout + done.stderr
    assert done.returncode == 0, out

    # Every step a user would type, each with its real output.
    for command in ("$ gatewayctl check gatewayctl.toml",
                    "$ gatewayctl plan --port 0 --out plan.json",
                    "$ gatewayctl plan show plan.json",
                    "$ gatewayctl gateway run --plan plan.json",
                    "$ gatewayctl gateway status",
                    "$ gatewayctl gateway stop --wait"):
        assert command in out, command
    assert "checked 2 files: no problems found" in out
    assert "lanes        3 of 3 running" in out
    for family in ("feishu", "telegram", "wecom"):
        assert re.search(rf"<- {family}\s+reply: hello from {family}$", out, re.M), family
    assert "gateway owner stopped: shutdown requested" in out
    assert out.rstrip().splitlines()[-1].startswith("demo ok: ")

    for label, value in FAKE_CREDENTIALS.items():
        assert value not in out, f"{label} leaked into the demo's output"

    # The owner and lane pids the demo printed are gone, and no process
    # still carries the demo's runtime home.
    pids = {int(p) for p in re.findall(r"\bpid (\d+)", out)}
    assert len(pids) >= 4, out  # the owner and three lane workers
    assert _poll(lambda: not [p for p in pids if _pid_alive(p)]), [p for p in pids if _pid_alive(p)]
    workdir = re.search(r"All commands below run in (\S+) with", out).group(1)
    assert _poll(lambda: not _processes_with_env(f"GATEWAYCTL_HOME={workdir}".encode())), \
        _processes_with_env(f"GATEWAYCTL_HOME={workdir}".encode())
    assert not os.path.exists(workdir)  # removed without --keep
    print(f"demo took {elapsed:.1f} s")


def _refuses(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except OSError:
        return True
    return False


def test_a_failing_step_reports_it_exits_1_and_stops_the_fakes(monkeypatch, tmp_path):
    # With an empty Feishu allowlist `check` fails (loong refuses to serve it,
    # GW302): the demo must stop at that step, say so, and start no owner.
    # (Loopback URLs would not do: loong's Feishu, Telegram and WeCom clients
    # apply no private-host policy, so check accepts the fakes' URLs.)
    broken = demo_mod.CONFIG_TEMPLATE.replace('allowed_chat_ids = ["{feishu_chat}"]', "allowed_chat_ids = []")
    assert broken != demo_mod.CONFIG_TEMPLATE
    monkeypatch.setattr(demo_mod, "CONFIG_TEMPLATE", broken)
    monkeypatch.setattr(demo_mod.tempfile, "tempdir", str(tmp_path))
    seen = []

    class Recording(demo_mod.Demo):
        def __init__(self, workdir):
            super().__init__(workdir)
            seen.append(self)

    monkeypatch.setattr(demo_mod, "Demo", Recording)
    result = CliRunner().invoke(demo_mod.demo, ["--keep"])
    assert result.exit_code == 1, result.output
    assert "demo FAILED: `gatewayctl check gatewayctl.toml` exited 1" in result.output
    assert "$ gatewayctl plan" not in result.output and "gateway run" not in result.output
    (d,) = seen
    assert d.owner is None
    fakes = d.fakes
    assert all(_refuses(u) for u in (fakes.feishu.base_url, fakes.telegram.base_url, fakes.wecom.url))
    assert os.path.isfile(os.path.join(d.workdir, "gateway-rollout.toml"))  # --keep kept it
    for value in FAKE_CREDENTIALS.values():
        assert value not in result.output


def test_the_demo_runs_the_shipped_settings_and_config():
    """The demo's gatewayctl.toml is examples/gatewayctl.toml, and its loong
    config is examples/gateway-rollout.toml with only the fakes' addresses
    (and the loopback permission they need) added."""
    import tomllib

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(repo, "examples", "gatewayctl.toml"), "rb") as fh:
        shipped = tomllib.load(fh)
    assert tomllib.loads(demo_mod.SETTINGS_TEXT) == shipped
    with open(os.path.join(repo, "examples", "gateway-rollout.toml"), "rb") as fh:
        config = tomllib.load(fh)
    demo = tomllib.loads(demo_mod.CONFIG_TEMPLATE.format(
        feishu_base_url="http://127.0.0.1:1", feishu_chat=demo_mod.FEISHU_CHAT_ID,
        telegram_base_url="http://127.0.0.1:2", telegram_chat=demo_mod.TELEGRAM_CHAT_ID,
        wecom_url="ws://127.0.0.1:3", wecom_chat=demo_mod.WECOM_CHAT_ID,
    ))
    assert demo.pop("outbound_http") == {"allow_private_hosts": True}
    for family, key in (("feishu", "work"), ("telegram", "bot_123456"), ("wecom", "alerts")):
        account = demo[family]["accounts"][key]
        for added in ("base_url", "websocket_url", "polling_timeout_s", "reconnect_interval_s"):
            account.pop(added, None)
    assert demo == config


def test_nothing_but_the_demo_imports_the_fakes():
    """The fakes stand in for the outside world: the pipeline, the runtime
    and the workers must never reach them (pyproject's import-linter
    contracts do not cover gatewayctl.fakes yet, so this test does)."""
    import ast
    import pathlib

    import gatewayctl

    root = pathlib.Path(gatewayctl.__file__).parent
    allowed = {root / "cli" / "demo.py"}
    offenders = []
    for path in root.rglob("*.py"):
        if path.is_relative_to(root / "fakes") or path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "gatewayctl.fakes" or n.startswith("gatewayctl.fakes.") for n in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


@pytest.mark.parametrize("family", ["telegram", "matrix", "whatsapp", "wecom", "feishu", "qqbot"])
def test_python_m_gatewayctl_fakes_runs_each_family_on_loopback(family):
    import json
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "gatewayctl.fakes", family], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["family"] == family
        urls = [v for k, v in info.items() if k.endswith("_url")]
        assert urls and all(urlsplit(u).hostname == "127.0.0.1" for u in urls), info
        assert all(not _refuses(u) for u in urls)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def test_python_m_gatewayctl_fakes_runs_several_families_in_one_process():
    """The walkthrough's form: FAMILY:PORT arguments, one JSON line each."""
    import json
    import signal
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free a moment ago; the fake binds it again
    proc = subprocess.Popen([sys.executable, "-m", "gatewayctl.fakes", f"telegram:{port}", "matrix"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        telegram, matrix = json.loads(proc.stdout.readline()), json.loads(proc.stdout.readline())
        assert telegram["family"] == "telegram" and telegram["base_url"] == f"http://127.0.0.1:{port}"
        assert matrix["family"] == "matrix" and not _refuses(matrix["base_url"])
        # /_fake/sent?wait=N waits for the Nth reply (here: one that never
        # comes, so it answers with what there is once the timeout passes)
        with urllib.request.urlopen(f"{telegram['base_url']}/_fake/sent?wait=1&timeout=0.2", timeout=30) as resp:
            assert json.loads(resp.read()) == {"sent": []}
        try:
            urllib.request.urlopen(f"{telegram['base_url']}/_fake/sent?wait=x", timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400 and b"wait must be an integer" in exc.read()
        else:
            raise AssertionError("?wait=x was accepted")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


@pytest.mark.parametrize("argv, needle", [
    (["nope"], "unknown family 'nope'"), (["telegram:x"], "must be a number"),
    (["telegram", "matrix", "--port", "1"], "--port goes with a single FAMILY"),
    (["telegram", "telegram"], "each family at most once"),
])
def test_python_m_gatewayctl_fakes_says_what_to_give_instead(argv, needle, capsys):
    from gatewayctl.fakes.__main__ import main

    with pytest.raises(SystemExit) as exited:  # argparse's usage error, before any fake starts
        main(argv)
    assert exited.value.code == 2 and needle in capsys.readouterr().err


@pytest.mark.slow
def test_a_failure_while_the_owner_runs_still_stops_owner_lanes_and_fakes(monkeypatch, tmp_path):
    # Telegram's allowlist no longer holds the chat the demo writes from: no
    # reply comes, the demo fails at that step and must still tear down.
    template = demo_mod.CONFIG_TEMPLATE.replace("allowed_chat_ids = [{telegram_chat}]", "allowed_chat_ids = [1]")
    assert template != demo_mod.CONFIG_TEMPLATE
    monkeypatch.setattr(demo_mod, "CONFIG_TEMPLATE", template)
    monkeypatch.setattr(demo_mod, "REPLY_TIMEOUT_S", 3.0)
    monkeypatch.setattr(demo_mod.tempfile, "tempdir", str(tmp_path))
    seen = []

    class Recording(demo_mod.Demo):
        def __init__(self, workdir):
            super().__init__(workdir)
            seen.append(self)

    monkeypatch.setattr(demo_mod, "Demo", Recording)
    result = CliRunner().invoke(demo_mod.demo, [])
    assert result.exit_code == 1, result.output
    assert "demo FAILED: no reply reached the telegram fake within 3 s" in result.output
    (d,) = seen
    assert d.owner is not None and d.owner.returncode is not None  # started, then stopped
    assert len(d.seen_pids) >= 4  # the owner and three lane workers were seen
    assert not [p for p in d.seen_pids if _pid_alive(p)]
    assert not _processes_with_env(f"GATEWAYCTL_HOME={d.workdir}".encode())
    assert all(_refuses(u) for u in (d.fakes.feishu.base_url, d.fakes.telegram.base_url, d.fakes.wecom.url))
    assert not os.path.exists(d.workdir)
