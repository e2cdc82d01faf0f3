"""gatewayctl's own settings file (gatewayctl.toml) and the two verdicts.

`check` of a loong config answers only "would loong accept it"; `check` of a
settings file answers that and "can gatewayctl plan and run it", exactly
what `plan` accepts. What `gateway run` used to fail on at start (no
handler, two lanes on one address, a missing program) is refused at lint
time there. In process (CliRunner), with real files in a temp directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest
from click.testing import CliRunner

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli
from gatewayctl.pipeline import find_settings, is_settings_file, lint_and_compile, lint_file, loong_config_path

from tests.test_plan_support import REPO, plan_validator

TELEGRAM = """
[telegram]
enabled = true
default_account = "bot"

[telegram.accounts.bot]
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]
"""

# loong accepts this: it mounts both webhook paths on its one gateway port.
# gatewayctl's built-in workers each listen on their own webhook_bind, and
# both default to 127.0.0.1:8080.
WEBHOOKS = """
[feishu]
enabled = true
mode = "webhook"
app_id = { env = "FEISHU_APP_ID" }
app_secret = { env = "FEISHU_APP_SECRET" }
verification_token = { env = "FEISHU_VERIFICATION_TOKEN" }
encrypt_key = { env = "FEISHU_ENCRYPT_KEY" }
allowed_chat_ids = ["oc_ops"]

[whatsapp]
enabled = true
phone_number_id = "1234567890"
access_token = { env = "WHATSAPP_ACCESS_TOKEN" }
verify_token = { env = "WHATSAPP_VERIFY_TOKEN" }
app_secret = { env = "WHATSAPP_APP_SECRET" }
"""

ECHO = 'loong_config = "config.toml"\n\n[handler]\necho = true\n'


def run(args, env=None):
    return CliRunner().invoke(cli, args, env=env or {"GATEWAYCTL_GATEWAY_PORT": None}, catch_exceptions=False)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(directory, name, text):
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def codes(result) -> list[str]:
    return sorted(d.code for d in result.diagnostics)


def json_codes(stdout: str) -> set[tuple[str, str]]:
    return {(d["path"], d["code"]) for d in json.loads(stdout)["diagnostics"]}


# -------------------------------------------------------- two verdicts


def test_a_loong_config_gets_loongs_verdict_only(here):
    """No handler and two webhook lanes on one bind: loong runs this, so
    `check` of the loong config says nothing about gatewayctl's runtime."""
    write(here, "config.toml", WEBHOOKS)
    r = run(["check", "config.toml"])
    assert r.exit_code == 0, r.stdout
    assert "checked 1 file: no problems found" in r.stdout


def test_a_settings_file_gets_both_verdicts_and_the_runtime_problems_move_to_lint_time(here):
    write(here, "config.toml", WEBHOOKS)
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\n')
    r = run(["check", "--format", "json", "gatewayctl.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    got = json_codes(r.stdout)
    assert ("gatewayctl.toml", "GW610") in got  # no handler for the built-in lanes
    assert ("config.toml", "GW611") in got  # whatsapp on feishu's default bind
    body = json.loads(r.stdout)
    assert {f["path"] for f in body["files"]} == {"gatewayctl.toml", "config.toml"}
    # plan refuses exactly what check refused: whatever plan accepts, run can start
    p = run(["plan", "--out", "plan.json", "--format", "json"])
    assert p.exit_code == exitcodes.DIAGNOSTICS and not (here / "plan.json").exists()
    assert json_codes(p.stderr) == got


def test_plan_refuses_a_built_in_lane_without_handler_even_from_a_loong_config_alone(here):
    """Issue 13 item 1: `plan` wrote a plan `gateway run` then could not
    start (exit 9, "nothing to answer with"). Also in the deprecated path."""
    write(here, "config.toml", TELEGRAM)
    assert run(["check", "config.toml"]).exit_code == 0  # loong would run it
    r = run(["plan", "--config", "config.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert "error[GW610]" in r.stderr and "telegram/bot" in r.stderr
    assert "add [gateway.handler]" in r.stderr  # the deprecated place names its own table


def test_a_custom_worker_needs_no_handler(here):
    write(here, "config.toml", TELEGRAM)
    worker = json.dumps([sys.executable, "-c", "pass", "{family}"])
    write(here, "gatewayctl.toml", f'loong_config = "config.toml"\n\n[worker]\ncommand = {worker}\n')
    r = run(["check", "gatewayctl.toml"])
    assert r.exit_code == 0, r.stdout


def test_two_lanes_on_distinct_binds_or_port_zero_do_not_conflict(here):
    split = WEBHOOKS.replace('phone_number_id = "1234567890"', 'phone_number_id = "1234567890"\nwebhook_bind = "127.0.0.1:8081"')
    write(here, "config.toml", split)
    write(here, "gatewayctl.toml", ECHO)
    assert run(["check", "gatewayctl.toml"]).exit_code == 0
    wildcard = WEBHOOKS.replace('phone_number_id = "1234567890"', 'phone_number_id = "1234567890"\nwebhook_bind = "0.0.0.0:8080"')
    write(here, "config.toml", wildcard)
    r = run(["check", "gatewayctl.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS and "GW611" in r.stdout
    ephemeral = WEBHOOKS.replace('mode = "webhook"', 'mode = "webhook"\nwebhook_bind = "127.0.0.1:0"').replace(
        'phone_number_id = "1234567890"', 'phone_number_id = "1234567890"\nwebhook_bind = "127.0.0.1:0"'
    )
    write(here, "config.toml", ephemeral)
    assert run(["check", "gatewayctl.toml"]).exit_code == 0


def test_a_missing_program_is_a_warning_and_an_existing_one_is_not(here):
    write(here, "config.toml", TELEGRAM)
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\n[handler]\nexec = ["/nonexistent/bot", "x"]\n')
    r = run(["check", "gatewayctl.toml"])
    assert r.exit_code == 0 and "warning[GW612]" in r.stdout and "`/nonexistent/bot`" in r.stdout
    assert run(["check", "--strict", "gatewayctl.toml"]).exit_code == exitcodes.DIAGNOSTICS
    write(here, "gatewayctl.toml", f'loong_config = "config.toml"\n[handler]\nexec = ["{sys.executable}", "bot.py"]\n')
    r = run(["check", "gatewayctl.toml"])
    assert r.exit_code == 0 and "GW612" not in r.stdout


# -------------------------------------------------------- the file


def test_which_file_is_which(tmp_path):
    assert is_settings_file("ops/gatewayctl.toml") and is_settings_file("gatewayctl.yaml")
    assert is_settings_file("gatewayctl.yml") and is_settings_file("gatewayctl.json")
    assert is_settings_file("prod.toml", {"loong_config": "c.toml"})
    assert not is_settings_file("config.toml", {"telegram": {}})
    assert not is_settings_file("gatewayctl.toml.bak", {})
    assert find_settings(str(tmp_path)) is None
    (tmp_path / "gatewayctl.yaml").write_text("loong_config: c.toml\n")
    assert find_settings(str(tmp_path)) == str(tmp_path / "gatewayctl.yaml")
    (tmp_path / "gatewayctl.toml").write_text('loong_config = "c.toml"\n')
    assert find_settings(str(tmp_path)) == str(tmp_path / "gatewayctl.toml")  # TOML first


def test_loong_config_is_relative_to_the_settings_file_and_expands_home(tmp_path, monkeypatch):
    assert loong_config_path("ops/gatewayctl.toml", {"loong_config": "config.toml"}) == "ops/config.toml"
    assert loong_config_path("gatewayctl.toml", {"loong_config": "./config.toml"}) == "config.toml"
    assert loong_config_path("ops/gatewayctl.toml", {"loong_config": "/etc/loong.toml"}) == "/etc/loong.toml"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert loong_config_path("x/gatewayctl.toml", {"loong_config": "~/.loong/config.toml"}) == str(
        tmp_path / ".loong" / "config.toml"
    )
    assert loong_config_path("gatewayctl.toml", {"loong_config": 3}) is None


def test_checked_from_another_directory_the_settings_file_finds_its_config(here):
    write(here, "ops/config.toml", TELEGRAM)
    write(here, "ops/gatewayctl.toml", ECHO)
    r = run(["check", "ops/gatewayctl.toml"])
    assert r.exit_code == 0, r.stdout
    assert "checked 2 files: no problems found" in r.stdout
    r = run(["plan", "--file", "ops/gatewayctl.toml"])
    assert r.exit_code == 0, r.stderr
    plan = json.loads(r.stdout)["plan"]
    assert plan["config"]["path"] == "ops/config.toml" and plan["settings"]["path"] == "ops/gatewayctl.toml"


def test_a_settings_file_that_names_no_existing_config_is_gw603(here):
    write(here, "gatewayctl.toml", 'loong_config = "nope.toml"\n[handler]\necho = true\n')
    r = run(["check", "gatewayctl.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert "error[GW603]" in r.stdout and "nope.toml does not exist" in r.stdout
    assert "gatewayctl.toml:1:" in r.stdout


def test_the_settings_file_read_from_stdin_is_told_apart_by_name_or_key(here):
    write(here, "config.toml", TELEGRAM)
    data = b'loong_config = "config.toml"\n'
    r = CliRunner().invoke(cli, ["check", "--stdin-filename", "gatewayctl.toml", "-"], input=data)
    assert r.exit_code == exitcodes.DIAGNOSTICS and "GW610" in r.stdout
    r = CliRunner().invoke(cli, ["check", "-"], input=data)  # no name: the key decides
    assert r.exit_code == exitcodes.DIAGNOSTICS and "GW610" in r.stdout


def test_typos_in_the_settings_file_are_errors_with_a_did_you_mean(here):
    """Issue 13 item 4: `channel_acounts` silently ignored ran every default lane."""
    write(here, "config.toml", TELEGRAM)
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\nchannel_acounts = ["telegram=bot"]\n[handler]\necho = true\n')
    r = run(["check", "gatewayctl.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert "unknown key `channel_acounts` in the top level: did you mean `channel_accounts`?" in r.stdout
    assert run(["plan"]).exit_code == exitcodes.DIAGNOSTICS


def test_settings_yaml_and_json_work_like_toml(here):
    write(here, "config.toml", TELEGRAM)
    write(here, "gatewayctl.yaml", "loong_config: config.toml\nchannel_accounts: [telegram=bot]\nhandler:\n  echo: true\n")
    r = run(["plan"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["plan"]["settings"]["path"] == "gatewayctl.yaml"
    os.unlink("gatewayctl.yaml")
    write(here, "gatewayctl.json", json.dumps({"loong_config": "config.toml", "handler": {"echo": True}}))
    assert run(["plan"]).exit_code == 0


# -------------------------------------------------------- settings applied


def test_command_line_selectors_replace_the_settings_list(here):
    write(here, "config.toml", TELEGRAM + '\n[telegram.accounts.spare]\nbot_token = { env = "T2" }\nallowed_chat_ids = [1]\n')
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\nchannel_accounts = ["telegram=spare"]\n[handler]\necho = true\n')
    lanes = json.loads(run(["plan"]).stdout)["plan"]["lanes"]
    assert [(ln["account_id"], ln["account_source"]) for ln in lanes] == [("spare", "selector")]
    lanes = json.loads(run(["plan", "--channel-account", "telegram=bot"]).stdout)["plan"]["lanes"]
    assert [(ln["account_id"], ln["account_source"]) for ln in lanes] == [("bot", "selector")]
    # a bad selector in the settings file is reported there, checked against the config it names
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\nchannel_accounts = ["telegram=nope"]\n[handler]\necho = true\n')
    r = run(["check", "gatewayctl.toml"])
    assert "gatewayctl.toml:2:" in r.stdout and "GW405" in r.stdout and "(checked against config.toml)" in r.stdout


def test_control_port_precedence(here):
    write(here, "config.toml", "[gateway]\nport = 27001\n" + TELEGRAM)
    write(here, "gatewayctl.toml", ECHO)
    control = lambda *a, env=None: json.loads(run(["plan", *a], env=env).stdout)["plan"]["control"]  # noqa: E731
    assert control() == {"bind": "127.0.0.1", "port": 27001, "port_source": "config"}  # loong's port
    write(here, "gatewayctl.toml", "control_port = 27002\n" + ECHO)
    assert control() == {"bind": "127.0.0.1", "port": 27002, "port_source": "settings"}
    assert control(env={"GATEWAYCTL_GATEWAY_PORT": "27003"})["port"] == 27003
    assert control("--port", "27004", env={"GATEWAYCTL_GATEWAY_PORT": "27003"})["port"] == 27004


def test_every_setting_reaches_the_plan(here):
    write(here, "config.toml", TELEGRAM)
    write(
        here,
        "gatewayctl.toml",
        'loong_config = "config.toml"\nstop_grace_s = 3\n'
        '[handler]\nurl = "http://127.0.0.1:9000/turn"\ntimeout_s = 7\nenv = ["OPENAI_API_KEY"]\n'
        '[restart]\npolicy = "on-failure"\nmax_restarts = 2\nwindow_s = 30\nbackoff_initial_s = 0.5\nbackoff_max_s = 4\n',
    )
    r = run(["plan"])
    assert r.exit_code == 0, r.stderr
    plan = json.loads(r.stdout)
    plan_validator().validate(plan)
    body = plan["plan"]
    assert body["stop_grace_s"] == 3.0
    assert body["handler"] == {"kind": "url", "url": "http://127.0.0.1:9000/turn", "timeout_s": 7.0, "exec": [], "env": ["OPENAI_API_KEY"]}
    assert body["restart"] == {"policy": "on-failure", "max_restarts": 2, "window_s": 30.0, "backoff_initial_s": 0.5, "backoff_max_s": 4.0}
    assert body["settings"]["sha256"] == hashlib.sha256((here / "gatewayctl.toml").read_bytes()).hexdigest()


def test_a_credential_in_the_settings_file_is_never_printed(here):
    write(here, "config.toml", TELEGRAM)
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\ntypo = 1\n[handler]\nurl = "http://bot:hunter2secret@127.0.0.1:9/turn"\n')
    r = run(["check", "gatewayctl.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS and "GW101" in r.stdout
    assert "hunter2secret" not in r.stdout


# -------------------------------------------------------- deprecated place


LEGACY = '[gateway]\nport = 26306\nchannel_accounts = ["telegram=bot"]\n\n[gateway.handler]\necho = true\n' + TELEGRAM


def test_the_deprecated_place_is_still_read_with_a_warning_that_names_the_loss_and_the_fix(here):
    write(here, "config.toml", LEGACY)
    r = run(["plan", "--config", "config.toml"])
    assert r.exit_code == 0, r.stderr
    body = json.loads(r.stdout)["plan"]
    assert body["handler"]["kind"] == "echo" and body["settings"] is None
    assert [ln["account_source"] for ln in body["lanes"]] == ["selector"]
    assert r.stderr.count("warning[GW601]") == 2
    text = " ".join(r.stderr.split())
    assert "loong drops it (and every comment) the next time it saves this file" in text
    assert "gatewayctl migrate" in text
    # check of the loong config warns too; loong's own port is not a gatewayctl setting
    c = run(["check", "config.toml"])
    assert c.exit_code == 0 and c.stdout.count("warning[GW601]") == 2 and "`port`" not in c.stdout


def test_a_settings_file_wins_over_leftovers_in_loongs_config(here):
    write(here, "config.toml", LEGACY.replace('channel_accounts = ["telegram=bot"]', 'channel_accounts = ["telegram=nope"]'))
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\n[handler]\nurl = "http://127.0.0.1:9/t"\n')
    r = run(["plan"])
    assert r.exit_code == 0, r.stderr  # the leftover selector is not read, so its error is not either
    assert json.loads(r.stdout)["plan"]["handler"]["kind"] == "url"
    assert r.stderr.count("warning[GW602]") == 2 and "GW405" not in r.stderr


def test_the_pipeline_returns_the_plan_check_and_plan_agree_on(here):
    write(here, "config.toml", TELEGRAM)
    write(here, "gatewayctl.toml", ECHO)
    from gatewayctl.compile.compiler import CompileOptions

    checked = lint_file("gatewayctl.toml")
    result, plan = lint_and_compile("gatewayctl.toml", CompileOptions())
    assert codes(checked) == codes(result) == []
    assert checked.plan == plan and plan.settings_path == "gatewayctl.toml"
    assert [p for p, _ in checked.inputs] == ["gatewayctl.toml", "config.toml"]


def test_schema_command_prints_the_settings_schema(repo_root=REPO):
    r = run(["schema", "settings"])
    assert r.exit_code == 0
    assert r.stdout_bytes == (REPO / "schemas" / "settings.schema.json").read_bytes()


def test_run_preflight_and_multi_channel_serve_find_gatewayctl_toml_or_say_so(here):
    env = {"GATEWAYCTL_GATEWAY_PORT": None, "GATEWAYCTL_HOME": str(here / "home")}
    for args in (["gateway", "run"], ["preflight"], ["multi-channel-serve", "--session", "ops"]):
        r = run(args, env=env)
        assert r.exit_code == exitcodes.USAGE and "no gatewayctl.toml in the current directory" in r.stderr, args
    # found: compiled exactly as `plan` does, so what plan refuses never starts
    write(here, "config.toml", TELEGRAM)
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\n')
    for args in (["gateway", "run"], ["preflight"], ["multi-channel-serve", "--session", "ops"]):
        r = run(args, env=env)
        assert r.exit_code == exitcodes.DIAGNOSTICS and "error[GW610]" in r.stderr, (args, r.stderr)
    assert not (here / "home").exists()  # nothing was started


def test_fix_edits_the_settings_file_it_is_given_and_never_the_config_it_names(here):
    write(here, "config.toml", TELEGRAM)
    write(here, "gatewayctl.toml", 'loong_config = "config.toml"\nchannel_acounts = ["telegram=bot"]\n[handler]\necho = true\n')
    r = run(["fix", "--unsafe-fixes", "gatewayctl.toml"])
    assert r.exit_code == 0, r.output
    assert (here / "gatewayctl.toml").read_text() == 'loong_config = "config.toml"\nchannel_accounts = ["telegram=bot"]\n[handler]\necho = true\n'
    assert (here / "config.toml").read_text() == TELEGRAM
    assert run(["check", "gatewayctl.toml"]).exit_code == 0


def test_channels_of_a_settings_file_describe_the_config_it_names(here):
    write(here, "config.toml", TELEGRAM)
    write(here, "gatewayctl.toml", ECHO)
    r = run(["channels", "--config", "gatewayctl.toml", "--json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert body["config"] == "config.toml" and [f["family"] for f in body["families"]] == ["telegram"]
