"""`gatewayctl check` end to end, in a real subprocess (what CI and hooks run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "gateway-rollout.toml"
SEED_SELECTORS = ["lark=work", "telegram=bot_123456", "wecom=alerts"]


def run(*args, stdin: bytes | None = None, cwd=None):
    env = dict(os.environ, NO_COLOR="1")
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "gatewayctl", "check", *map(str, args)],
        input=stdin,
        capture_output=True,
        cwd=cwd or REPO,
        env=env,
        timeout=60,
    )


def run_json(*args, **kw):
    proc = run("--format", "json", *args, **kw)
    return proc, json.loads(proc.stdout)


def test_seed_example_checks_clean_with_its_selectors():
    args = [a for s in SEED_SELECTORS for a in ("--channel-account", s)]
    proc, out = run_json(*args, EXAMPLE)
    assert proc.returncode == 0, proc.stdout.decode()
    assert out["valid"] is True and out["error_count"] == 0 and out["warning_count"] == 0
    assert out["diagnostics"] == []


@pytest.mark.parametrize(
    "selectors, code, column",
    [
        (["telegrambot123"], "GW401", None),
        (["lark=work", "feishu=work"], "GW404", None),
        (["slack=team"], "GW403", None),
        (["wecom=oncall"], "GW405", None),
    ],
)
def test_seed_failure_modes_are_caught_from_the_command_line(selectors, code, column):
    args = [a for s in selectors for a in ("--channel-account", s)]
    proc, out = run_json(*args, EXAMPLE)
    assert proc.returncode == 1
    codes = [d["code"] for d in out["diagnostics"]]
    assert code in codes, out
    d = next(d for d in out["diagnostics"] if d["code"] == code)
    assert d["path"] == "<command line>"
    assert d["range"]["start"]["line"] == len(selectors)  # the offending flag's line
    assert "__ANON" not in d["message"]


def test_a_comma_in_channel_account_is_part_of_the_account_as_in_loong():
    # loong: one --channel-account value is one selector (crates/daemon/src/lib.rs:1003).
    proc, out = run_json("--channel-account", "lark=work,wecom=alerts", EXAMPLE)
    assert proc.returncode == 1
    (d,) = out["diagnostics"]
    assert d["code"] == "GW405"
    assert "no account `work,wecom=alerts` (normalized: `work-wecom-alerts`) in [feishu]" in d["message"]
    assert "Repeat the flag instead" in d["hint"]


def test_selectors_option_is_shorthand_for_repeated_flags():
    proc, out = run_json("--selectors", ",".join(SEED_SELECTORS), EXAMPLE)
    assert proc.returncode == 0, out
    assert out["diagnostics"] == []


def test_json_output_is_the_only_thing_on_stdout_and_has_the_contract_shape(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[telegram]\nenabled = false\nbot_tokn = { env = "TELEGRAM_BOT_TOKEN" }\n')
    proc, out = run_json(bad)
    assert proc.returncode == 1
    assert set(out) >= {"format_version", "valid", "error_count", "warning_count", "files", "diagnostics"}
    assert out["format_version"] == 1 and out["valid"] is False
    assert out["files"] == [{"path": str(bad), "valid": False, "loaded": True}]
    d = out["diagnostics"][0]
    assert set(d) == {"code", "severity", "message", "hint", "path", "pointer", "range"}
    assert d["code"] == "GW101" and d["pointer"] == "/telegram/bot_tokn"
    assert d["range"] == {"start": {"line": 3, "column": 1}, "end": {"line": 3, "column": 9}}
    assert "bot_token" in d["message"] + d["hint"]


def test_one_unparseable_file_does_not_stop_the_others(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[telegram\nenabled = true\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("telegram:\n  enabled: false\n  bot_tokn: {env: X}\n")
    proc, out = run_json(broken, EXAMPLE, bad)
    assert proc.returncode == 1
    by_path = {f["path"]: f for f in out["files"]}
    assert by_path[str(broken)] == {"path": str(broken), "valid": False, "loaded": False}
    assert by_path[str(EXAMPLE)]["valid"] is True
    assert by_path[str(bad)]["valid"] is False
    codes = {(d["path"], d["code"]) for d in out["diagnostics"]}
    assert (str(broken), "GW002") in codes and (str(bad), "GW101") in codes


def test_missing_file_is_a_usage_error_but_others_are_still_checked(tmp_path):
    proc, out = run_json(tmp_path / "nope.toml", EXAMPLE)
    assert proc.returncode == 2
    assert any(d["code"] == "GW001" for d in out["diagnostics"])
    assert any(f["path"] == str(EXAMPLE) and f["valid"] for f in out["files"])


def test_no_arguments_and_bad_option_are_usage_errors():
    assert run().returncode == 2
    assert run("--format", "yaml", EXAMPLE).returncode == 2


def test_strict_turns_warnings_into_failure(tmp_path):
    cfg = tmp_path / "warn.toml"
    # two accounts and no default_account: fallback default (warning only)
    cfg.write_text(
        "[telegram]\nenabled = false\n"
        "[telegram.accounts.a]\nbot_token = { env = \"A\" }\n"
        "[telegram.accounts.b]\nbot_token = { env = \"B\" }\n"
    )
    proc, out = run_json(cfg)
    assert proc.returncode == 0 and out["warning_count"] >= 1 and out["error_count"] == 0
    proc, out = run_json("--strict", cfg)
    assert proc.returncode == 1 and out["valid"] is False


def test_stdin_with_a_filename_for_reporting():
    text = EXAMPLE.read_bytes().replace(b"bot_token =", b"bot_tokn =")
    proc, out = run_json("--stdin-filename", "deploy/config.toml", "-", stdin=text)
    assert proc.returncode == 1
    assert out["files"][0]["path"] == "deploy/config.toml"
    assert any(d["code"] == "GW101" and d["path"] == "deploy/config.toml" for d in out["diagnostics"])


def test_yaml_from_stdin_picks_format_from_stdin_filename():
    proc, out = run_json("--stdin-filename", "c.yaml", "-", stdin=b"telegram:\n  enabled: false\n  bot_tokn: x\n")
    assert proc.returncode == 1
    assert any(d["code"] == "GW101" for d in out["diagnostics"])


SECRET = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
URL_PASSWORD = "hunter2-very-secret"


def _secret_config(tmp_path) -> Path:
    cfg = tmp_path / "leaky.toml"
    cfg.write_text(
        "[outbound_http]\nallow_private_hosts = false\n"
        "[telegram]\nenabled = true\n"
        f'bot_token = "{SECRET}"\n'
        "allowed_chat_ids = [1]\n"
        f'base_url = "https://bot:{URL_PASSWORD}@api.telegram.org"\n'
        "[matrix]\nenabled = false\n"
        f'access_token_env = "{SECRET}"\n'
    )
    return cfg


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_inline_secrets_and_url_passwords_never_appear_in_output(tmp_path, fmt):
    cfg = _secret_config(tmp_path)
    proc = run("--format", fmt, cfg)
    out = proc.stdout.decode() + proc.stderr.decode()
    assert proc.returncode == 1
    assert "GW211" in out and "GW311" in out and "GW210" in out
    assert SECRET not in out
    assert SECRET.split(":")[1] not in out
    assert URL_PASSWORD not in out


def test_text_output_has_location_snippet_caret_and_hint(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[telegram]\nenabled = false\nbot_tokn = { env = "TELEGRAM_BOT_TOKEN" }\n')
    proc = run(bad)
    text = proc.stdout.decode()
    assert f"error[GW101]" in text
    assert f"{bad}:3:1" in text
    assert "3 | bot_tokn = {" in text
    assert "| ^^^^^^^^\n" in text
    assert "hint:" in text
    assert "\x1b[" not in text  # not a terminal: no colour


def test_no_traceback_on_garbage(tmp_path):
    for i, blob in enumerate([b"\xff\xfe\x00garbage", b"[[[", b"a = \"\n", b"\x00\x01"]):
        f = tmp_path / f"g{i}.toml"
        f.write_bytes(blob)
        proc = run(f)
        assert proc.returncode == 1, proc.stderr
        assert b"Traceback" not in proc.stderr + proc.stdout


def test_colour_when_asked_or_forced_and_never_in_json(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[telegram]\nenabled = false\nbot_tokn = { env = "X" }\n')
    coloured = run("--color", bad).stdout.decode()
    assert "\x1b[1;31merror[GW101]" in coloured
    env = dict(os.environ, FORCE_COLOR="1")
    env.pop("NO_COLOR", None)
    forced = subprocess.run(
        [sys.executable, "-m", "gatewayctl", "check", str(bad)], capture_output=True, env=env, timeout=60
    ).stdout.decode()
    assert "\x1b[" in forced
    assert "\x1b[" not in run("--color", "--format", "json", bad).stdout.decode()
