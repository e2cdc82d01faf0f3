"""`gatewayctl plan`, `plan show`, `plan verify` through the command line.

In process with click's CliRunner (fast), plus one real subprocess run that
proves byte-identical output from two different working directories.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli

from tests.test_plan_support import REPO, plan_validator

SEED = REPO / "examples" / "gateway-rollout.toml"
# gatewayctl's settings for the copied seed config: a handler, nothing else
# (the tests give the selectors on the command line).
SETTINGS = 'loong_config = "config.toml"\n\n[handler]\necho = true\n'
FAILURES = REPO / "fixtures" / "plans" / "failure-modes"
SELECTORS = ["--channel-account", "lark=work", "--channel-account", "telegram=bot_123456", "--channel-account", "wecom=alerts"]


def run(args, env=None):
    return CliRunner().invoke(cli, args, env=env or {"GATEWAYCTL_GATEWAY_PORT": None}, catch_exceptions=False)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    shutil.copy(SEED, tmp_path / "config.toml")
    (tmp_path / "gatewayctl.toml").write_text(SETTINGS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def make_plan(workdir, *extra, out="plan.json"):
    r = run(["plan", *SELECTORS, "--out", out, *extra])
    assert r.exit_code == 0, r.output + r.stderr
    plan_validator().validate(json.loads((workdir / out).read_bytes()))
    return workdir / out


# ------------------------------------------------------------------ plan


def test_plan_to_stdout_is_the_canonical_plan(workdir):
    r = run(["plan", *SELECTORS])
    assert r.exit_code == 0, r.stderr
    obj = json.loads(r.stdout)
    plan_validator().validate(obj)
    assert [l["family"] for l in obj["plan"]["lanes"]] == ["feishu", "telegram", "wecom"]
    assert obj["plan"]["config"] == {"path": "config.toml", "sha256": hashlib.sha256(SEED.read_bytes()).hexdigest()}
    # ./gatewayctl.toml was found, and the plan records it too
    assert obj["plan"]["settings"] == {"path": "gatewayctl.toml", "sha256": hashlib.sha256(SETTINGS.encode()).hexdigest()}
    assert r.stderr == ""  # a clean config: nothing to report


def test_plan_out_writes_the_same_bytes_and_a_summary(workdir):
    stdout_plan = run(["plan", *SELECTORS]).stdout_bytes
    r = run(["plan", *SELECTORS, "--out", "plan.json"])
    assert r.exit_code == 0
    assert (workdir / "plan.json").read_bytes() == stdout_plan
    digest = json.loads(stdout_plan)["plan_sha256"]
    assert r.stdout == f"wrote plan.json: 3 lanes (feishu/work, telegram/bot_123456, wecom/alerts), plan_sha256 {digest}\n"
    r = run(["plan", *SELECTORS, "--out", "plan.json", "--format", "json"])
    assert json.loads(r.stdout) == {"plan": "plan.json", "plan_sha256": digest, "lanes": ["feishu/work", "telegram/bot_123456", "wecom/alerts"]}


def test_env_port_is_read_by_the_cli(workdir):
    r = run(["plan"], env={"GATEWAYCTL_GATEWAY_PORT": "31000"})
    assert json.loads(r.stdout)["plan"]["control"] == {"bind": "127.0.0.1", "port": 31000, "port_source": "env"}
    r = run(["plan", "--port", "0"], env={"GATEWAYCTL_GATEWAY_PORT": "31000"})
    assert json.loads(r.stdout)["plan"]["control"]["port_source"] == "ephemeral_cli"
    r = run(["plan"], env={"GATEWAYCTL_GATEWAY_PORT": "nope"})
    assert r.exit_code == exitcodes.DIAGNOSTICS and "error[GW504]" in r.stderr and r.stdout == ""


def test_session_and_modes(workdir):
    r = run(["plan", "--session", "ops"])
    assert json.loads(r.stdout)["plan"]["owner"] == {"mode": "gateway_attached_cli", "session": "ops"}
    r = run(["plan", "--session", "ops", "--mode", "multi_channel_serve"])
    assert json.loads(r.stdout)["plan"]["owner"] == {"mode": "multi_channel_serve", "session": "ops"}
    r = run(["plan", "--mode", "multi_channel_serve"])
    assert r.exit_code == exitcodes.USAGE and "--session" in r.stderr


def test_usage_errors(workdir):
    r = run(["plan", "--config", "missing.toml"])
    assert r.exit_code == exitcodes.USAGE and "does not exist" in r.stderr
    r = run(["plan", "--file", "missing.toml"])
    assert r.exit_code == exitcodes.USAGE and "settings file 'missing.toml' does not exist" in r.stderr
    r = run(["plan", "--file", "gatewayctl.toml", "--config", "config.toml"])
    assert r.exit_code == exitcodes.USAGE and "not both" in r.stderr
    r = run(["plan", "--out", "p.json", "show", "x.json"])
    assert r.exit_code == exitcodes.USAGE
    (workdir / "gatewayctl.toml").unlink()
    r = run(["plan"])
    assert r.exit_code == exitcodes.USAGE and "no gatewayctl.toml in the current directory" in r.stderr


def test_help_says_cli_selectors_replace_and_documents_exit_codes():
    text = re.sub(r"\s+", " ", run(["plan", "--help"]).stdout)
    assert "REPLACE the settings' channel_accounts list; they do not merge" in text
    for line in ("4 tampered", "5 unknown format_version", "6 stale", "7 unreadable"):
        assert line in text
    verify_help = re.sub(r"\s+", " ", run(["plan", "verify", "--help"]).stdout)
    assert "6 stale" in verify_help and "first one that fails" in verify_help


def test_warnings_are_shown_but_the_plan_is_written(tmp_path, monkeypatch):
    shutil.copy(REPO / "fixtures" / "plans" / "default-shapes.toml", tmp_path / "c.toml")
    (tmp_path / "gatewayctl.toml").write_text('loong_config = "c.toml"\n[handler]\necho = true\n')
    monkeypatch.chdir(tmp_path)
    r = run(["plan", "--out", "p.json"])
    assert r.exit_code == 0
    assert "warning[GW203]" in r.stderr and (tmp_path / "p.json").exists()


def test_errors_write_no_plan_and_never_print_the_secret(tmp_path, monkeypatch):
    literal = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
    (tmp_path / "c.toml").write_text(f'[telegram]\nenabled = true\nbot_token = "{literal}"\nallowed_chat_ids = [1]\n')
    (tmp_path / "gatewayctl.toml").write_text('loong_config = "c.toml"\n[handler]\necho = true\n')
    monkeypatch.chdir(tmp_path)
    for fmt in ("text", "json"):
        r = run(["plan", "--out", "p.json", "--format", fmt])
        assert r.exit_code == exitcodes.DIAGNOSTICS
        assert "GW501" in r.stderr and "GW211" in r.stderr
        assert literal not in r.stderr + r.stdout and "AAHdqTcv" not in r.stderr
        assert not (tmp_path / "p.json").exists()
    r = run(["plan", "--allow-inline-secrets"])
    assert r.exit_code == 0 and literal not in r.stdout
    plan_validator().validate(json.loads(r.stdout))
    assert json.loads(r.stdout)["plan"]["lanes"][0]["secrets"] == [{"field": "bot_token", "kind": "inline", "ref": "/telegram/bot_token"}]


# -------------------------------------------------- seed failure modes


def _markers(path: Path) -> set[tuple[str, int]]:
    out = set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.search(r"# expect: (.+)$", line)
        if m:
            out |= {(c.strip(), n) for c in m.group(1).split(",")}
    return out


FAILURE_MESSAGES = {
    "no-equals": "expected `=` followed by an account id after `telegrambot123`",
    "same-family-twice": "channel family feishu is selected twice",
    "outbound-only": "that surface does not belong in this runtime-backed owner model",
    "unknown-account": "no account `oncall` in [wecom]; configured accounts: alerts",
}


@pytest.mark.parametrize("name", sorted(FAILURE_MESSAGES))
def test_seed_failure_modes_are_refused_with_a_clear_message(name, tmp_path, monkeypatch):
    fixture = FAILURES / f"{name}.toml"
    monkeypatch.chdir(REPO)
    rel = str(fixture.relative_to(REPO))
    r = run(["plan", "--config", rel, "--out", str(tmp_path / "plan.json"), "--format", "json"])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert not (tmp_path / "plan.json").exists()
    report = json.loads(r.stderr)  # one JSON object, nothing else
    assert report["valid"] is False
    got = {(d["code"], d["range"]["start"]["line"]) for d in report["diagnostics"]}
    assert got == _markers(fixture)
    text = run(["plan", "--config", rel]).stderr
    assert FAILURE_MESSAGES[name] in re.sub(r"\s+", " ", text)
    assert "no plan written" in text


def test_failure_mode_from_the_command_line_points_at_the_column(workdir):
    r = run(["plan", "--channel-account", "lark=work", "--channel-account", "telegrambot123"])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert "error[GW401]" in r.stderr and "<command line>:2:1" in r.stderr


# --------------------------------------------------------- show / verify


def test_show_summarises_a_plan(workdir):
    path = make_plan(workdir)
    r = run(["plan", "show", str(path)])
    assert r.exit_code == 0
    digest = json.loads(path.read_text())["plan_sha256"]
    assert r.stdout.startswith(f"plan {digest}\n")
    assert "feishu/work  (selected by lark=work)" in r.stdout
    assert "secret    app_secret <- env LARK_WORK_APP_SECRET" in r.stdout
    assert "plan matches its config and settings" in r.stdout
    assert "settings     gatewayctl.toml (sha256 " in r.stdout
    r = run(["plan", "show", "--json", str(path)])
    assert json.loads(r.stdout)["stale"] is False


def test_verify_ok(workdir):
    path = make_plan(workdir)
    r = run(["plan", "verify", str(path)])
    assert r.exit_code == 0 and "ok: plan_sha256" in r.stdout
    assert "config config.toml and settings gatewayctl.toml unchanged" in r.stdout


def _tamper(path: Path) -> None:
    obj = json.loads(path.read_text())
    obj["plan"]["lanes"][0]["worker"] = ["sh", "-c", "echo pwned"]
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _bump_version(path: Path) -> None:
    obj = json.loads(path.read_text())
    obj["format_version"] = 99
    path.write_text(json.dumps(obj))


@pytest.mark.parametrize(
    "spoil, code, message",
    [
        (_tamper, exitcodes.PLAN_TAMPERED, "plan digest mismatch"),
        (_bump_version, exitcodes.PLAN_VERSION, "plan format_version 99 is not supported by this gatewayctl"),
        (lambda p: p.write_text("{not json"), exitcodes.PLAN_UNREADABLE, "not a plan file"),
        (lambda p: p.unlink(), exitcodes.PLAN_UNREADABLE, "cannot read plan"),
        (lambda p: (p.parent / "config.toml").write_text("# edited\n"), exitcodes.PLAN_STALE,
         "saved plan is stale: config.toml changed since the plan was made"),
        # the settings file is an input too: staleness covers both files
        (lambda p: (p.parent / "gatewayctl.toml").write_text(SETTINGS + "# edited\n"), exitcodes.PLAN_STALE,
         "saved plan is stale: gatewayctl.toml changed since the plan was made"),
    ],
    ids=["tampered", "version", "malformed", "missing", "stale", "stale-settings"],
)
def test_refusals_have_their_own_exit_code_and_message(workdir, spoil, code, message):
    path = make_plan(workdir)
    spoil(path)
    r = run(["plan", "verify", str(path)])
    assert r.exit_code == code
    assert message in r.stderr
    assert r.stdout == ""
    if code != exitcodes.PLAN_STALE:
        assert run(["plan", "show", str(path)]).exit_code == code


def test_distinct_exit_codes():
    codes = [exitcodes.PLAN_TAMPERED, exitcodes.PLAN_VERSION, exitcodes.PLAN_STALE, exitcodes.PLAN_UNREADABLE]
    assert len(set(codes)) == 4 and exitcodes.OK not in codes and exitcodes.DIAGNOSTICS not in codes


def test_stale_can_be_allowed_explicitly_and_config_dir_resolves(workdir, tmp_path_factory):
    path = make_plan(workdir)
    other = tmp_path_factory.mktemp("elsewhere")
    # from another directory the relative config path does not resolve...
    r = run(["plan", "verify", str(path), "--config-dir", str(other)])
    assert r.exit_code == exitcodes.PLAN_STALE and "cannot be read" in r.stderr
    # ...unless told where the config lives
    assert run(["plan", "verify", str(path), "--config-dir", str(workdir)]).exit_code == 0
    (workdir / "config.toml").write_text("# edited\n")
    assert run(["plan", "verify", "--allow-stale", str(path)]).exit_code == 0


def test_verify_many_files_reports_each_and_exits_with_the_first_failure(workdir):
    good = make_plan(workdir, out="a.json")
    bad = make_plan(workdir, out="b.json")
    old = make_plan(workdir, out="c.json")
    _tamper(bad)
    _bump_version(old)
    r = run(["plan", "verify", str(good), str(bad), str(old)])
    assert r.exit_code == exitcodes.PLAN_TAMPERED
    assert f"{good}: ok" in r.stdout
    assert f"{bad}: tampered:" in r.stderr and f"{old}: unknown format version:" in r.stderr


# ------------------------------------------------------ byte identity


@pytest.mark.slow
def test_byte_identical_from_two_directories_in_real_processes(tmp_path):
    outs = []
    for name in ("one", "two"):
        d = tmp_path / name / "deeper"
        d.mkdir(parents=True)
        shutil.copy(SEED, d / "config.toml")
        (d / "gatewayctl.toml").write_text(SETTINGS)
        p = subprocess.run(
            [sys.executable, "-m", "gatewayctl", "plan", *SELECTORS, "--out", "plan.json"],
            cwd=d, capture_output=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")},
        )
        assert p.returncode == 0, p.stderr
        outs.append((d / "plan.json").read_bytes())
    assert outs[0] == outs[1]
    assert str(tmp_path).encode() not in outs[0]


def test_unwritable_out_is_an_io_error_not_a_traceback(workdir):
    r = run(["plan", "--out", "no/such/dir/plan.json"])
    assert r.exit_code == exitcodes.IO_ERROR
    assert "cannot write plan no/such/dir/plan.json" in r.stderr
    assert sorted(workdir.iterdir()) == [workdir / "config.toml", workdir / "gatewayctl.toml"]
