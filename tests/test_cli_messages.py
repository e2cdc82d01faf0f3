"""Commands that said the wrong thing or failed as documented (issue 13, items 3, 6 and 9).

Each test fails on the behaviour the issue reports: Ctrl-C exiting 1 with
"Aborted!", the fake's inject endpoint dying with a traceback on `curl -d`,
`plan verify --allow-stale` saying "config unchanged", file names said
twice, the parent's exit codes under a subcommand's --help, "run
`gatewayctl plan` again" after `gateway run --config`, unnamed YAML on
stdin read as TOML without a word, two diagnostics for one typo, a busy
control port without a hint, a missing worker program retried, and
--session dropped silently with a saved plan.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli
from tests.lane_programs.plans import cli as cli_proc, lane, make_plan, start_owner
from tests.support import poll

REPO = Path(__file__).resolve().parents[1]
GOOD = """\
[telegram]
enabled = true
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]
"""
GATEWAYCTL = [sys.executable, "-m", "gatewayctl"]


def run(args, env=None, input=None):
    return CliRunner().invoke(cli, args, env=env or {"GATEWAYCTL_GATEWAY_PORT": None}, input=input)


# ---------------------------------------------------------------- Ctrl-C (item 3)

_READ_SYSCALL = {"x86_64": "0", "aarch64": "63"}


@pytest.mark.skipif(
    platform.machine() not in _READ_SYSCALL or not os.path.exists("/proc/self/syscall"),
    reason="needs /proc/PID/syscall and a known read() syscall number (x86_64 or aarch64) to see the process wait on stdin",
)
def test_ctrl_c_ends_a_command_with_130_and_no_aborted():
    proc = subprocess.Popen([*GATEWAYCTL, "check", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:

        def reading_stdin():
            try:
                with open(f"/proc/{proc.pid}/syscall") as fh:
                    fields = fh.read().split()
            except OSError:
                return False
            return fields[:2] == [_READ_SYSCALL[platform.machine()], "0x0"]

        assert poll(reading_stdin, 30), "gatewayctl check - never waited on stdin"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == exitcodes.INTERRUPTED == 130
    assert b"Aborted" not in err and b"Traceback" not in err


def test_keyboard_interrupt_inside_any_command_is_130(monkeypatch, capsys):
    from gatewayctl.cli import main as main_module

    class Interrupted:
        @property
        def buffer(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", Interrupted())
    with pytest.raises(SystemExit) as exc:
        main_module.main(["check", "-"])
    assert exc.value.code == 130
    assert "Aborted" not in capsys.readouterr().err


# ----------------------------------------------- the fake's inject endpoint (item 3)


def _post(url: str, body: bytes, ctype: str):
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_fake_inject_takes_curl_d_as_written_and_answers_400_to_non_json():
    from gatewayctl.fakes.telegram import FakeTelegram

    with FakeTelegram() as fake:
        url = f"{fake.base_url}/_fake/inject"
        # docs/workers.md: curl -d sends application/x-www-form-urlencoded
        status, body = _post(url, b'{"chat_id": 42, "sender_id": 7, "text": "hi"}', "application/x-www-form-urlencoded")
        assert status == 200 and isinstance(body["update_id"], int)
        status, body = _post(url, b"chat_id=42&text=hi", "application/x-www-form-urlencoded")
        assert status == 400 and "not JSON" in body["error"]
        status, body = _post(url, b'{"chat_id": 42}', "application/json")
        assert status == 400 and "'text'" in body["error"]
        status, body = _post(url, b'{"chat_id": "x", "text": "hi"}', "application/json")
        assert status == 400 and "integers" in body["error"]


def test_fake_matrix_inject_answers_400_to_a_bad_body():
    from gatewayctl.fakes.matrix import FakeMatrix

    with FakeMatrix() as fake:
        status, body = _post(f"{fake.base_url}/_fake/inject", b"[1, 2]", "application/json")
        assert status == 400 and "JSON object" in body["error"]


# ------------------------------------------------------ plan verify (items 6, 9)


SETTINGS = 'loong_config = "config.toml"\n\n[handler]\necho = true\n'


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text(GOOD)
    (tmp_path / "gatewayctl.toml").write_text(SETTINGS)
    monkeypatch.chdir(tmp_path)
    r = run(["plan", "--out", "plan.json"])
    assert r.exit_code == 0, r.output
    return tmp_path


def test_verify_allow_stale_says_the_config_changed(workdir):
    (workdir / "config.toml").write_text(GOOD + "# edited\n")
    r = run(["plan", "verify", "--allow-stale", "plan.json"])
    assert r.exit_code == 0
    assert "unchanged" not in r.stdout
    assert "config config.toml changed since (--allow-stale)" in r.stdout
    (workdir / "config.toml").write_text(GOOD)
    (workdir / "gatewayctl.toml").write_text(SETTINGS + "# edited\n")
    r = run(["plan", "verify", "--allow-stale", "plan.json"])
    assert r.exit_code == 0 and "settings gatewayctl.toml changed since (--allow-stale)" in r.stdout


def test_verify_names_each_file_once(workdir):
    text = (workdir / "plan.json").read_text()
    (workdir / "tampered.json").write_text(text.replace('"port": 26306', '"port": 26307'))
    r = run(["plan", "verify", "tampered.json", "missing.json"])
    assert r.exit_code == exitcodes.PLAN_TAMPERED
    lines = r.stderr.splitlines()
    assert lines[0].startswith("tampered.json: tampered: plan digest mismatch"), lines
    assert lines[1].startswith("missing.json: unreadable: cannot read plan: ")
    assert all(line.count(".json") == 1 for line in lines), lines


def test_subcommand_help_lists_its_own_exit_codes():
    show = run(["plan", "show", "--help"]).stdout
    verify = run(["plan", "verify", "--help"]).stdout
    assert "plan written" not in show and "plan written" not in verify
    assert "6  stale" not in show  # show never exits 6
    assert "6  stale" in verify and "4  tampered" in show


# --------------------------------------------------- gateway run --config (item 9)


def test_gateway_run_config_errors_say_what_to_run_again(tmp_path):
    (tmp_path / "bad.toml").write_text(GOOD.replace("allowed_chat_ids = [123456789]\n", "allowed_chat_idz = [1]\n"))
    r = run(["gateway", "run", "--config", str(tmp_path / "bad.toml")], env={"GATEWAYCTL_HOME": str(tmp_path / "home")})
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert "gatewayctl plan` again" not in r.stderr
    assert "gateway owner not started: fix the errors above and run `gatewayctl gateway run` again" in r.stderr
    m = run(
        ["multi-channel-serve", "--session", "ops", "--config", str(tmp_path / "bad.toml")],
        env={"GATEWAYCTL_HOME": str(tmp_path / "home")},
    )
    assert "run `gatewayctl multi-channel-serve` again" in m.stderr


# --------------------------------------------------------- stdin format (item 9)


def test_unnamed_yaml_on_stdin_gets_a_hint_to_name_it():
    yaml = "telegram:\n  enabled: true\n"
    r = run(["check", "-"], input=yaml)
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert "error[GW002]" in r.stdout and "--stdin-filename config.yaml" in r.stdout
    named = run(["check", "--stdin-filename", "c.toml", "-"], input="[telegram\n")
    assert "--stdin-filename config.yaml" not in named.stdout  # the user named it TOML


# ------------------------------------------------------ one mistake (item 9)


def test_a_misspelled_required_key_is_one_diagnostic_with_the_right_fix(tmp_path):
    (tmp_path / "c.toml").write_text(GOOD.replace("bot_token =", "bot_tokn ="))
    r = run(["check", "--format", "json", str(tmp_path / "c.toml")])
    codes = [d["code"] for d in json.loads(r.stdout)["diagnostics"]]
    assert codes == ["GW101"], codes
    (tmp_path / "d.toml").write_text(GOOD.replace('bot_token = { env = "TELEGRAM_BOT_TOKEN" }\n', ""))
    missing = run(["check", "--format", "json", str(tmp_path / "d.toml")])
    assert [d["code"] for d in json.loads(missing.stdout)["diagnostics"]] == ["GW301"]  # truly missing: still said


# --------------------------------------------------- runtime messages (item 9)


@pytest.mark.slow
def test_busy_control_port_says_how_to_choose_another(tmp_path):
    # Under root the owner refuses to start lanes as root unless told to.
    as_root = '[worker]\nuser = "root"\n' if os.geteuid() == 0 else ""
    (tmp_path / "config.toml").write_text(GOOD)
    (tmp_path / "gatewayctl.toml").write_text(SETTINGS + as_root)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = cli_proc(tmp_path / "home", "gateway", "run", "--file", str(tmp_path / "gatewayctl.toml"),
                     "--port", str(port), TELEGRAM_BOT_TOKEN="1:x")
    assert r.returncode == exitcodes.OWNER_FAILED, r.stderr
    assert f"control API cannot bind 127.0.0.1:{port}" in r.stderr
    assert "--port N" in r.stderr and "0 picks a free one" in r.stderr


def test_a_missing_worker_program_is_not_retried(tmp_path):
    from gatewayctl.compile.plan import RestartPolicy
    from gatewayctl.runtime.lanes import LaneRunner
    from gatewayctl.runtime.logs import LaneLog
    from gatewayctl.runtime.states import LaneState
    from gatewayctl.runtime.system import System

    def runner(argv):
        return LaneRunner(
            lane("telegram"),
            argv=argv,
            env={"PATH": os.environ.get("PATH", "")},
            cwd=str(tmp_path),
            policy=RestartPolicy("on-failure", max_restarts=5, window_s=60, backoff_initial_s=0.01, backoff_max_s=0.02),
            system=System(),
            log=LaneLog(str(tmp_path / "lane.log")),
            status_path=str(tmp_path / "lane-status.json"),
        )

    missing = runner((str(tmp_path / "no-such-worker"),))
    missing.start()
    assert missing.state == LaneState.FATAL  # not BACKOFF: a restart would find nothing either
    assert "No such file or directory" in missing.last_error
    assert "not restarted" in (tmp_path / "lane.log").read_text()
    not_exec = tmp_path / "not-executable"
    not_exec.write_text("#!/bin/sh\n")
    denied = runner((str(not_exec),))
    denied.start()
    assert denied.state == LaneState.FATAL and "Permission denied" in denied.last_error


@pytest.mark.slow
def test_session_given_with_a_saved_plan_must_match_it(tmp_path):
    plan = make_plan(tmp_path, [lane("telegram", "run")], mode="multi_channel_serve", session="ops")
    owner = start_owner(tmp_path / "home", plan, command=("multi-channel-serve", "--session", "other"))
    out, err = owner.communicate(timeout=60)
    assert owner.returncode == exitcodes.USAGE, err
    assert "the plan was made for session 'ops', not --session 'other'" in err
    assert not (tmp_path / "home" / "gateway-runtime" / "owner-active.json").exists()


# ------------------------------------------ load errors: snippet, position (item 9)


def test_a_file_that_does_not_parse_shows_its_line_masked(tmp_path):
    secret = "123456:AAsecretsecretsecret"
    (tmp_path / "c.toml").write_text(f'[telegram]\nenabled = true\nbot_token = "{secret}\nallowed_chat_ids = [1]\n')
    r = run(["check", str(tmp_path / "c.toml")])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert f"{tmp_path / 'c.toml'}:3:" in r.stdout
    assert "3 | bot_token = " in r.stdout and "^" in r.stdout  # a snippet with a caret
    assert secret not in r.stdout and "AAsecret" not in r.stdout
    (tmp_path / "d.toml").write_text('[telegram]\nname = "ops team"\nport = 12a\n')
    shown = run(["check", str(tmp_path / "d.toml")]).stdout
    assert '3 | port = 12a' in shown  # structure stays visible; strings are masked
    assert "ops team" not in shown


def test_channels_reports_a_load_error_with_line_and_column(tmp_path):
    (tmp_path / "c.toml").write_text("[telegram\nenabled = true\n")
    r = run(["channels", "--config", str(tmp_path / "c.toml")])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert f"{tmp_path / 'c.toml'}:1:" in r.stderr and "error[GW002]" in r.stderr
    assert "1 | [telegram" in r.stderr
