"""Survives loong's rewrite, for real: `gateway run` (./gatewayctl.toml) on a
loong config that loong then rewrites its way (tests/loong_rewrite.py:
only its known keys, no comments, its own order) runs the same lanes with
the same handler, and a message still gets its reply. Real processes, the
Telegram loopback fake, polls with deadlines."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gatewayctl.fakes import FakeTelegram
from tests.loong_rewrite import loong_rewrite
from tests.support import LANES_AS_ROOT_SETTINGS, poll

pytestmark = pytest.mark.slow

SETTINGS = """\
# gatewayctl's settings: loong never writes this file
loong_config = "config.toml"
channel_accounts = ["telegram=bot"]

[handler]
echo = true
timeout_s = 10
"""


def _config(tg) -> str:
    return f"""\
# loong's config: comments and all, until loong saves it
[outbound_http]
allow_private_hosts = true   # the fake is on 127.0.0.1

[telegram]
enabled = true
base_url = "{tg.base_url}"
polling_timeout_s = 1
default_account = "bot"

[telegram.accounts.bot]
bot_token = {{ env = "TG_TOKEN" }}
allowed_chat_ids = [42]

[telegram.accounts.spare]
bot_token = {{ env = "TG_SPARE" }}
allowed_chat_ids = [43]
"""


def _status(cmd, tmp_path, env):
    done = subprocess.run(cmd + ["gateway", "status", "--json"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=30)
    try:
        return json.loads(done.stdout)
    except ValueError:
        return None


def _run_once(cmd, tmp_path, env, tg, text) -> tuple[list, str]:
    proc = subprocess.Popen(cmd + ["gateway", "run", "--port", "0"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def connected():
            st = _status(cmd, tmp_path, env)
            lanes = (st or {}).get("lanes") or []
            if st and st.get("running") and lanes and all((ln.get("worker") or {}).get("connected") for ln in lanes):
                return st
            return None

        status = poll(connected, 60, interval=0.1)
        assert status is not None, f"lanes never connected: {_status(cmd, tmp_path, env)}"
        already = len(tg.snapshot_sent())
        tg.inject(42, 7, text)
        sent = tg.wait_sent(already + 1, 30)
        assert sent, "no reply"
        lanes = [(ln["family"], ln["account"]) for ln in status["lanes"]]
        return lanes, sent[-1]["text"]
    finally:
        subprocess.run(cmd + ["gateway", "stop", "--wait", "--timeout", "30"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


def test_run_and_rollout_are_unchanged_after_loong_rewrites_its_config(tmp_path):
    tg = FakeTelegram().start()
    try:
        (tmp_path / "config.toml").write_text(_config(tg))
        (tmp_path / "gatewayctl.toml").write_text(SETTINGS + LANES_AS_ROOT_SETTINGS)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
        env.update(TG_TOKEN=tg.token, TG_SPARE="unused", GATEWAYCTL_HOME=str(tmp_path / "home"), NO_COLOR="1")
        cmd = [sys.executable, "-m", "gatewayctl"]

        before = _run_once(cmd, tmp_path, env, tg, "before the rewrite")
        rewritten = loong_rewrite((tmp_path / "config.toml").read_text())
        assert "#" not in rewritten
        (tmp_path / "config.toml").write_text(rewritten)
        after = _run_once(cmd, tmp_path, env, tg, "after the rewrite")

        assert before == ([("telegram", "bot")], "before the rewrite")  # selected lane, echo handler
        assert after == ([("telegram", "bot")], "after the rewrite")
    finally:
        tg.stop()
