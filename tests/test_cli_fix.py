"""`gatewayctl fix` end to end in a real subprocess: the commands of
docs/cli.md, their output streams and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECRET = "Qz7kR2mN8pV4sT6wX9yB3cD5"

CONFIG = f"""\
# deploy config
[telegram]
enabled = true
bot_token = "123456789:{SECRET}"  # pasted
bot_tokn_env = "$TG"
allowed_chat_ids = [1]

[matrix]
access_token = "${{MATRIX_TOKEN}}"
"""


def fix(*args, cwd):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "gatewayctl", "fix", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


def test_documented_commands(tmp_path):
    cfg = tmp_path / "config.toml"
    other = tmp_path / "other.yaml"
    cfg.write_text(CONFIG)
    other.write_text("telegram:\n  bot_token: $TELEGRAM_BOT_TOKEN\n")

    # gatewayctl fix --diff config.toml: a diff, nothing written, no secret
    proc = fix("--diff", "config.toml", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # GW101 and GW211 would remain
    assert SECRET not in proc.stdout + proc.stderr
    assert '-access_token = "${MATRIX_TOKEN}"' in proc.stdout
    assert '+access_token = { env = "MATRIX_TOKEN" }' in proc.stdout
    assert cfg.read_text() == CONFIG
    assert "would fix 2 problems in 1 file" in proc.stderr and "--unsafe-fixes" in proc.stderr

    # gatewayctl fix config.toml other.yaml: safe fixes in place
    proc = fix("config.toml", "other.yaml", cwd=tmp_path)
    assert proc.returncode == 1
    assert SECRET not in proc.stdout + proc.stderr
    assert "error[GW101]" in proc.stdout and "warning[GW211]" in proc.stdout
    assert other.read_text() == 'telegram:\n  bot_token: {env: "TELEGRAM_BOT_TOKEN"}\n'
    assert 'bot_tokn_env = "TG"' in cfg.read_text()

    # gatewayctl fix --select GW101,GW212 --unsafe-fixes config.toml
    proc = fix("--select", "GW101,GW212", "--unsafe-fixes", "config.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # nothing of those codes left
    assert "bot_token_env = " in cfg.read_text() and SECRET in cfg.read_text()  # GW211 not selected

    proc = fix("--unsafe-fixes", "config.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr + cfg.read_text()
    assert (tmp_path / "config.secrets" / "telegram.bot_token").read_text() == f"123456789:{SECRET}\n"
    assert "config.secrets/telegram.bot_token (mode 0600)" in proc.stderr

    # idempotent: a second run changes nothing
    before = cfg.read_bytes()
    proc = fix("--unsafe-fixes", "config.toml", cwd=tmp_path)
    assert proc.returncode == 0 and cfg.read_bytes() == before
    assert "fixed 0 problems in 1 file, 0 remaining" in proc.stderr


def test_usage_errors(tmp_path):
    (tmp_path / "c.toml").write_text("[telegram]\n")
    assert fix("--select", "GW999", "c.toml", cwd=tmp_path).returncode == 2
    assert fix(cwd=tmp_path).returncode == 2
    proc = fix("missing.toml", cwd=tmp_path)
    assert proc.returncode == 2 and "GW001" in proc.stdout


def test_a_fifo_is_refused_not_waited_on_and_control_characters_are_escaped(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    proc = fix("config.toml", cwd=tmp_path)
    assert proc.returncode == 1 and "GW001" in proc.stdout and "FIFO" in proc.stdout
    os.unlink(fifo)
    evil = tmp_path / "c.toml"
    # a bidi override in a comment ("Trojan source") reorders what a reader sees
    evil.write_text('[telegram]\nbot_token_env = "$TG"  # \u202egnp.exe\n', encoding="utf-8")
    proc = fix("--diff", "c.toml", cwd=tmp_path)
    assert '+bot_token_env = "TG"' in proc.stdout
    assert "\u202e" not in proc.stdout and "\\u202e" in proc.stdout
