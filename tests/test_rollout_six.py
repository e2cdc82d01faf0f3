"""A seed-shaped rollout, end to end: six lanes under one `gatewayctl
gateway run` owner (lark=work, telegram=bot_123456, wecom=alerts, plus
matrix, whatsapp and qqbot), each against its loopback fake; a message in
and a reply out on every lane; then `gateway stop`, and no process left.

Also home of ``GatewayProc``, the owner-process helper the per-family
end-to-end tests (test_workers_*_e2e.py) share."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gatewayctl.fakes import FakeMatrix, FakeTelegram, FakeWhatsAppCloud, post_webhook, webhook_payload
from gatewayctl.fakes.feishu import FakeFeishu, message_event
from gatewayctl.fakes.qqbot import FakeQQBot
from gatewayctl.fakes.wecom import FakeWeCom
from tests.support import LANES_AS_ROOT_TOML
from tests.support import poll as _support_poll

pytestmark = pytest.mark.slow

ROOM = "!room:localhost"
WA_SECRET = "rollout-wa-app-secret"


def poll(predicate, timeout=30.0):
    return _support_poll(predicate, timeout, interval=0.05)


def pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is gone for every practical purpose.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class GatewayProc:
    """One `gatewayctl gateway run --config gw.toml` owner in a temp dir."""

    def __init__(self, tmp_path, env: dict, config: str, selectors: str | None = None):
        self.tmp = tmp_path
        self.env = env
        self.cmd = [sys.executable, "-m", "gatewayctl"]
        (tmp_path / "gw.toml").write_text(config)
        self.args = ["gateway", "run", "--config", "gw.toml", "--port", "0"]
        if selectors:
            self.args += ["--selectors", selectors]
        self.proc: subprocess.Popen | None = None
        self.seen_pids: set[int] = set()

    def start(self, lanes: int) -> dict:
        self.proc = subprocess.Popen(self.cmd + self.args, cwd=self.tmp, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        status = poll(lambda: self._all_connected(lanes))
        if status is None:
            st = self.status()
            self.stop()
            pytest.fail(f"lanes never connected: {json.dumps(st, indent=1)[:4000]}")
        return status

    def status(self) -> dict | None:
        done = subprocess.run(self.cmd + ["gateway", "status", "--json"], cwd=self.tmp, env=self.env,
                              capture_output=True, text=True, timeout=30)
        try:
            st = json.loads(done.stdout)
        except ValueError:
            return None
        for pid in [st.get("pid")] + [ln.get("pid") for ln in st.get("lanes") or ()] + \
                [(ln.get("worker") or {}).get("pid") for ln in st.get("lanes") or ()]:
            if isinstance(pid, int):
                self.seen_pids.add(pid)
        return st

    def _all_connected(self, n: int):
        st = self.status()
        if not st or not st.get("running"):
            return None
        lanes = st.get("lanes") or []
        if len(lanes) == n and all((ln.get("worker") or {}).get("connected") for ln in lanes):
            return st
        return None

    def worker(self, family: str) -> dict:
        st = self.status() or {}
        return next(((ln.get("worker") or {}) for ln in st.get("lanes") or () if ln["family"] == family), {})

    def stop(self):
        subprocess.run(self.cmd + ["gateway", "stop", "--wait", "--timeout", "30"], cwd=self.tmp, env=self.env,
                       capture_output=True, text=True, timeout=60)
        return self.wait()

    def wait(self, timeout: float = 30):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def base_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(GATEWAYCTL_HOME=str(tmp_path / "home"), NO_COLOR="1")
    return env


def six_config(fs, tg, wc, mx, wa, qq) -> str:
    return f"""
{LANES_AS_ROOT_TOML}[outbound_http]
allow_private_hosts = true

[gateway.handler]
echo = true
timeout_s = 10

[feishu]
enabled = true
mode = "websocket"
default_account = "work"

[feishu.accounts.work]
domain = "lark"
base_url = "{fs.base_url}"
app_id = {{ env = "LARK_WORK_APP_ID" }}
app_secret = {{ env = "LARK_WORK_APP_SECRET" }}
allowed_chat_ids = ["oc_ops_room"]

[telegram]
enabled = true
default_account = "bot_123456"
base_url = "{tg.base_url}"
polling_timeout_s = 1

[telegram.accounts.bot_123456]
bot_token = {{ env = "TELEGRAM_BOT_TOKEN" }}
allowed_chat_ids = [123456789]

[wecom]
enabled = true
default_account = "alerts"

[wecom.accounts.alerts]
bot_id = {{ env = "WECOM_ALERTS_BOT_ID" }}
secret = {{ env = "WECOM_ALERTS_SECRET" }}
websocket_url = "{wc.url}"
reconnect_interval_s = 1
allowed_conversation_ids = ["group_alerts"]

[matrix]
enabled = true
base_url = "{mx.base_url}"
user_id = "{mx.user_id}"
access_token = {{ env = "MATRIX_ACCESS_TOKEN" }}
allowed_room_ids = ["{ROOM}"]
sync_timeout_s = 1

[whatsapp]
enabled = true
api_base_url = "{wa.api_base_url}"
phone_number_id = "{wa.phone_number_id}"
access_token = {{ env = "WA_TOKEN" }}
verify_token = {{ env = "WA_VERIFY" }}
app_secret = {{ env = "WA_APP_SECRET" }}
webhook_bind = "127.0.0.1:0"

[qqbot]
enabled = true
app_id = {{ env = "QQBOT_APP_ID" }}
client_secret = {{ env = "QQBOT_CLIENT_SECRET" }}
token_base_url = "{qq.base_url}"
api_base_url = "{qq.base_url}"
allowed_peer_ids = ["u_alice"]
"""


def test_six_lanes_under_one_owner_message_in_reply_out_then_stop(tmp_path):
    tg = FakeTelegram(token="123456:ROLLOUT-fake-token-abcdefghijklmnop").start()
    fs, wc, mx, wa, qq = FakeFeishu().start(), FakeWeCom().start(), FakeMatrix().start(), \
        FakeWhatsAppCloud().start(), FakeQQBot().start()
    try:
        env = base_env(tmp_path)
        env.update(LARK_WORK_APP_ID=fs.app_id, LARK_WORK_APP_SECRET=fs.app_secret, TELEGRAM_BOT_TOKEN=tg.token,
                   WECOM_ALERTS_BOT_ID=wc.bot_id, WECOM_ALERTS_SECRET=wc.secret, MATRIX_ACCESS_TOKEN=mx.access_token,
                   WA_TOKEN=wa.access_token, WA_VERIFY="rollout-verify", WA_APP_SECRET=WA_SECRET,
                   QQBOT_APP_ID=qq.app_id, QQBOT_CLIENT_SECRET=qq.client_secret)
        gw = GatewayProc(tmp_path, env, six_config(fs, tg, wc, mx, wa, qq),
                         selectors="lark=work,telegram=bot_123456,wecom=alerts")
        status = gw.start(6)
        lanes = {ln["family"]: ln for ln in status["lanes"]}
        assert sorted(lanes) == ["feishu", "matrix", "qqbot", "telegram", "wecom", "whatsapp"]
        assert lanes["feishu"]["account"] == "work" and lanes["telegram"]["account"] == "bot_123456"
        assert lanes["wecom"]["account"] == "alerts"
        assert len({status["pid"]}) == 1  # one owner

        fs.push_event(message_event("feishu hello", message_id="om_roll"))
        tg.inject(123456789, 7, "telegram hello")
        wc.inject("wecom hello", chatid="group_alerts")
        mx.inject(ROOM, "@alice:localhost", "matrix hello")
        webhook = lanes["whatsapp"]["worker"]["webhook_url"]
        assert post_webhook(webhook, webhook_payload(wa.phone_number_id, "1555", "whatsapp hello", "wamid.R1"),
                            WA_SECRET)[0] == 200
        qq.inject_c2c("u_alice", "qq hello")

        assert [s["text"] for s in fs.wait_sent(1, 20)] == ["feishu hello"]
        assert [s["text"] for s in tg.wait_sent(1, 20)] == ["telegram hello"]
        assert [s["content"] for s in wc.wait_sent(1, 20)] == ["wecom hello"]
        assert [s["content"]["body"] for s in mx.wait_sent(1, 20)] == ["matrix hello"]
        assert [s["text"] for s in wa.wait_sent(1, 20)] == ["whatsapp hello"]
        assert [s["content"] for s in qq.wait_sent(1, 20)] == ["qq hello"]
        st = poll(lambda: (s := gw.status()) and all((ln.get("worker") or {}).get("replies_sent") == 1
                                                     for ln in s["lanes"]) and s)
        assert st, gw.status()

        code, out, err = gw.stop()
        assert code == 0, err
        final = gw.status()
        assert final["running"] is False and final["phase"] == "stopped"
        secrets = [fs.app_secret, tg.token, wc.secret, mx.access_token, wa.access_token, WA_SECRET, qq.client_secret]
        for value in secrets:
            assert value not in out + err
        # The owner and all six lane workers are gone.
        assert len(gw.seen_pids) >= 7
        assert poll(lambda: not any(pid_alive(p) for p in gw.seen_pids), timeout=10), \
            [p for p in gw.seen_pids if pid_alive(p)]
    finally:
        for fake in (tg, fs, wc, mx, wa, qq):
            fake.stop()
