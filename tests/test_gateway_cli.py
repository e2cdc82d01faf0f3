"""The gateway commands' edges: saved-plan refusals, usage errors, `run --config`
through the real compiler, and the multi-channel-serve live view on a TTY."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli as gatewayctl_cli
from tests.support import LANES_AS_ROOT
from tests.lane_programs.plans import (
    GATEWAYCTL,
    WORKER,
    env_for,
    finish,
    lane,
    make_plan,
    read_status,
    runtime_dir,
    start_owner,
    wait_running,
)


def invoke(home: Path, *args: str):
    return CliRunner().invoke(gatewayctl_cli, list(args), env={"GATEWAYCTL_HOME": str(home)})


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def _edit_plan(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "breakage, code, words",
    [
        (lambda p, c: _edit_plan(p, lambda d: d["plan"].update(stop_grace_s=99)), exitcodes.PLAN_TAMPERED, "digest mismatch"),
        (lambda p, c: _edit_plan(p, lambda d: d.update(format_version=99)), exitcodes.PLAN_VERSION, "format_version 99"),
        (lambda p, c: c.write_text("# changed\n"), exitcodes.PLAN_STALE, "--allow-stale"),
        (lambda p, c: p.unlink(), exitcodes.PLAN_UNREADABLE, "cannot read plan"),
        (lambda p, c: p.write_text("{not json"), exitcodes.PLAN_UNREADABLE, "not a plan file"),
    ],
    ids=["tampered", "unknown-version", "stale", "missing", "not-a-plan"],
)
def test_saved_plan_refusals_exit_codes_and_write_nothing(tmp_path, home, breakage, code, words):
    plan = make_plan(tmp_path, [lane("telegram")])
    breakage(plan, tmp_path / "config.toml")
    result = invoke(home, "gateway", "run", "--plan", str(plan), "--trust-plan")
    assert result.exit_code == code, result.output
    assert words in result.output
    assert not home.exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (("multi-channel-serve", "--session", "  ", "--plan", "x"), "--session must not be blank"),
        (("multi-channel-serve", "--plan", "x"), "Missing option '--session'"),
        (("gateway", "run", "--session", "", "--plan", "x"), "--session must not be blank"),
        (("gateway", "run"), "no gatewayctl.toml in the current directory"),
        (("gateway", "run", "--config", "a", "--plan", "b"), "give one of --plan FILE, --file FILE (gatewayctl.toml) or --config FILE"),
        (("gateway", "run", "--file", "a", "--plan", "b"), "give one of --plan FILE, --file FILE (gatewayctl.toml) or --config FILE"),
        (("gateway", "run", "--file", "a", "--config", "b"), "not both"),
        (("multi-channel-serve", "--session", "s"), "no gatewayctl.toml in the current directory"),
        (("gateway", "run", "--plan", "p", "--channel-account", "lark=x"), "go with --file or --config"),
        (("gateway", "run", "--config", "/nonexistent.toml"), "does not exist"),
        (("gateway", "stop", "--timeout", "3"), "--timeout goes with --wait"),
    ],
)
def test_usage_errors(home, args, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no gatewayctl.toml here
    result = invoke(home, *args)
    assert result.exit_code == exitcodes.USAGE
    assert words in result.output


def test_status_and_stop_with_no_owner_ever(home):
    result = invoke(home, "gateway", "status", "--json")
    assert result.exit_code == exitcodes.NOT_RUNNING
    doc = json.loads(result.output)
    assert (doc["phase"], doc["running"], doc["stale"], doc["format_version"]) == ("stopped", False, False, 1)
    stop = invoke(home, "gateway", "stop", "--wait")
    assert (stop.exit_code, stop.output) == (0, "gateway is not running\n")


def test_multi_channel_serve_refuses_a_plan_made_for_another_mode(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram")])
    result = invoke(home, "multi-channel-serve", "--session", "ops", "--plan", str(plan), "--trust-plan")
    assert result.exit_code == exitcodes.USAGE
    assert "the plan is for mode gateway_headless" in result.output


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(
        "[gateway]\n"
        'channel_accounts = ["telegram=bot1"]\n'
        "stop_grace_s = 2\n\n"
        "[gateway.worker]\n"
        f"command = {json.dumps([sys.executable, WORKER, 'run'])}\n"
        + ('user = "root"\n' if LANES_AS_ROOT else "")
        + "\n"
        "[telegram]\nenabled = true\ndefault_account = \"bot1\"\n\n"
        "[telegram.accounts.bot1]\n"
        'bot_token = { env = "TELEGRAM_BOT_TOKEN" }\n'
        "allowed_chat_ids = [123]\n"
    )
    return config


def test_run_with_config_errors_starts_nothing(tmp_path, home):
    config = _config(tmp_path)
    result = invoke(home, "gateway", "run", "--config", str(config), "--channel-account", "telegarm=bot1")
    assert result.exit_code == exitcodes.DIAGNOSTICS
    assert "gateway owner not started" in result.output
    assert not home.exists()


@pytest.mark.slow
def test_run_with_config_compiles_in_process_and_passes_only_named_env(tmp_path, home):
    config = _config(tmp_path)
    owner = subprocess.Popen(
        [*GATEWAYCTL, "gateway", "run", "--config", str(config), "--port", "0"],
        env=env_for(home, TELEGRAM_BOT_TOKEN="123:live-token-value", LARK_APP_SECRET="not-for-telegram"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        doc = wait_running(home, owner)
        assert doc["port_source"] == "ephemeral_cli" and doc["config_path"] == str(config)
        (telegram,) = doc["lanes"]
        assert (telegram["family"], telegram["account"]) == ("telegram", "bot1")
        names = telegram["worker"]["env_names"]
        assert "TELEGRAM_BOT_TOKEN" in names and "LARK_APP_SECRET" not in names
        assert "GATEWAYCTL_LANE_STATUS" in names
        saved = json.loads((runtime_dir(home) / "plan.json").read_text())
        assert saved["plan_sha256"] == doc["plan_sha256"]
    finally:
        owner.send_signal(signal.SIGTERM)
        rc, out, err = finish(owner)
    assert rc == 0, err
    for path in runtime_dir(home).rglob("*"):
        if path.is_file():
            assert b"live-token-value" not in path.read_bytes(), path
    assert "live-token-value" not in out + err


@pytest.mark.slow
def test_saved_stale_plan_runs_with_allow_stale(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram")])
    (tmp_path / "config.toml").write_text("# edited after planning\n")
    owner = start_owner(home, plan, "--allow-stale")
    wait_running(home, owner)
    owner.send_signal(signal.SIGTERM)
    rc, _, err = finish(owner)
    assert rc == 0, err


@pytest.mark.slow
def test_multi_channel_serve_redraws_a_lane_table_on_a_tty(tmp_path, home):
    plan = make_plan(tmp_path, [lane("telegram"), lane("wecom", account="alerts")], mode="multi_channel_serve", session="ops")
    master, slave = pty.openpty()
    owner = subprocess.Popen(
        [*GATEWAYCTL, "multi-channel-serve", "--session", "ops", "--plan", str(plan), "--trust-plan"],
        env=env_for(home),
        stdout=slave,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    try:
        wait_running(home, owner)
    finally:
        owner.send_signal(signal.SIGINT)
        rc, _, err = finish(owner)
    chunks = []
    while select.select([master], [], [], 0.2)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert rc == 0, err
    assert "multi-channel-serve  session ops" in screen
    assert "wecom/alerts" in screen and "LAST ERROR" in screen
    assert "\x1b[" in screen  # redrawn in place
    assert "shutdown requested: ctrl-c received" in screen
    assert read_status(home)["mode"] == "multi_channel_serve"
