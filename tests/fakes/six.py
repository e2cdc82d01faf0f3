"""A six-lane owner against the built-in loopback fakes, with spare
accounts to re-point lanes to (tests/test_apply_rollout.py,
bench/bench_apply.py).

The config has two Lark accounts (``work`` on one fake, ``home`` on a
second) and three Telegram accounts (``bot_123456``; ``bot_654321`` on a
second fake; ``bot_777`` on that second fake with a token it refuses), so
an apply can re-point a lane by changing a selector only. The owner is
``gatewayctl gateway run --config gw.toml --selectors ... --port 0``, its
output in files (a pipe nobody reads would block a long-running owner).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gatewayctl.fakes import FakeMatrix, FakeTelegram, FakeWhatsAppCloud
from gatewayctl.fakes.feishu import FakeFeishu
from gatewayctl.fakes.qqbot import FakeQQBot
from gatewayctl.fakes.wecom import FakeWeCom
from tests.fakes import flow
from tests.support import LANES_AS_ROOT_TOML, poll

WA_SECRET = "rollout-wa-app-secret"
SELECTORS = "lark=work,telegram=bot_123456,wecom=alerts"


class Fakes:
    def __init__(self):
        self.tg = FakeTelegram(token="123456:ROLLOUT-fake-token-abcdefghijklmnop").start()
        self.tg2 = FakeTelegram(token="654321:SECOND-fake-token-abcdefghijklmnop", bot_id=654321,
                                username="gw_second_bot").start()
        self.fs = FakeFeishu().start()
        self.fs2 = FakeFeishu(app_id="cli_fakehome0002", app_secret="feishu-fake-home-secret-02",
                              bot_open_id="ou_bot_home").start()
        self.wc, self.mx, self.wa, self.qq = FakeWeCom().start(), FakeMatrix().start(), \
            FakeWhatsAppCloud().start(), FakeQQBot().start()

    def all(self):
        return (self.tg, self.tg2, self.fs, self.fs2, self.wc, self.mx, self.wa, self.qq)

    def stop(self):
        for fake in self.all():
            fake.stop()

    def env(self) -> dict:
        return dict(
            LARK_WORK_APP_ID=self.fs.app_id, LARK_WORK_APP_SECRET=self.fs.app_secret,
            LARK_HOME_APP_ID=self.fs2.app_id, LARK_HOME_APP_SECRET=self.fs2.app_secret,
            TELEGRAM_BOT_TOKEN=self.tg.token, TELEGRAM_SECOND_TOKEN=self.tg2.token,
            TELEGRAM_REVOKED_TOKEN="654321:REVOKED-token-the-fake-refuses-0000",
            WECOM_ALERTS_BOT_ID=self.wc.bot_id, WECOM_ALERTS_SECRET=self.wc.secret,
            MATRIX_ACCESS_TOKEN=self.mx.access_token,
            WA_TOKEN=self.wa.access_token, WA_VERIFY="rollout-verify", WA_APP_SECRET=WA_SECRET,
            QQBOT_APP_ID=self.qq.app_id, QQBOT_CLIENT_SECRET=self.qq.client_secret,
        )

    def secrets(self) -> list[str]:
        e = self.env()
        return [e[k] for k in ("LARK_WORK_APP_SECRET", "LARK_HOME_APP_SECRET", "TELEGRAM_BOT_TOKEN",
                               "TELEGRAM_SECOND_TOKEN", "TELEGRAM_REVOKED_TOKEN", "WECOM_ALERTS_SECRET",
                               "MATRIX_ACCESS_TOKEN", "WA_TOKEN", "WA_APP_SECRET", "QQBOT_CLIENT_SECRET")]

    def config(self, *, chat_ids=(123456789,), disabled=()) -> str:
        text = self._config(chat_ids)
        for family in disabled:
            text = text.replace(f"[{family}]\nenabled = true", f"[{family}]\nenabled = false")
        return text

    def _config(self, chat_ids) -> str:
        fs, fs2, tg, tg2, wc, mx, wa, qq = self.fs, self.fs2, self.tg, self.tg2, self.wc, self.mx, self.wa, self.qq
        chats = ", ".join(str(c) for c in chat_ids)
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

[feishu.accounts.home]
domain = "lark"
base_url = "{fs2.base_url}"
app_id = {{ env = "LARK_HOME_APP_ID" }}
app_secret = {{ env = "LARK_HOME_APP_SECRET" }}
allowed_chat_ids = ["oc_ops_room"]

[telegram]
enabled = true
default_account = "bot_123456"
polling_timeout_s = 1

[telegram.accounts.bot_123456]
base_url = "{tg.base_url}"
bot_token = {{ env = "TELEGRAM_BOT_TOKEN" }}
allowed_chat_ids = [{chats}]

[telegram.accounts.bot_654321]
base_url = "{tg2.base_url}"
bot_token = {{ env = "TELEGRAM_SECOND_TOKEN" }}
allowed_chat_ids = [{chats}]

[telegram.accounts.bot_777]
base_url = "{tg2.base_url}"
bot_token = {{ env = "TELEGRAM_REVOKED_TOKEN" }}
allowed_chat_ids = [{chats}]

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
allowed_room_ids = ["{flow.ROOM}"]
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


def base_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(GATEWAYCTL_HOME=str(home), NO_COLOR="1")
    return env


class Owner:
    """One `gatewayctl gateway run --config gw.toml` owner in ``workdir``."""

    def __init__(self, workdir: Path, fakes: Fakes, *, selectors: str = SELECTORS, detach: bool = False,
                 disabled=()):
        self.dir = workdir
        self.fakes = fakes
        self.env = base_env(workdir / "home")
        self.env.update(fakes.env())
        self.cmd = [sys.executable, "-m", "gatewayctl"]
        self.config = workdir / "gw.toml"
        self.config.write_text(fakes.config(disabled=disabled))
        self.selectors = selectors
        self.detach = detach
        self.proc: subprocess.Popen | None = None
        self.out = workdir / "owner.out"
        self.err = workdir / "owner.err"

    def gatewayctl(self, *args, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd + list(args), cwd=self.dir, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def run_args(self) -> list[str]:
        return ["gateway", "run", "--config", "gw.toml", "--selectors", self.selectors, "--port", "0"]

    def start(self, lanes: int = 6, timeout: float = 60) -> dict:
        args = self.run_args() + (["--detach"] if self.detach else [])
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(self.cmd + args, cwd=self.dir, env=self.env, stdout=out, stderr=err)
        status = poll(lambda: self.connected(lanes), timeout, interval=0.1)
        if status is None:
            raise AssertionError(f"lanes never connected: {json.dumps(self.status(), indent=1)[:4000]}\n"
                                 f"{self.log()[-4000:]}")
        return status

    def status(self) -> dict:
        done = self.gatewayctl("gateway", "status", "--json", timeout=30)
        try:
            return json.loads(done.stdout)
        except ValueError:
            return {}

    def connected(self, n: int, accounts: dict | None = None):
        st = self.status()
        lanes = st.get("lanes") or []
        if not st.get("running") or len(lanes) != n:
            return None
        if not all((ln.get("worker") or {}).get("connected") for ln in lanes):
            return None
        if accounts and any(self.lane(st, f)["account"] != a for f, a in accounts.items()):
            return None
        return st

    @staticmethod
    def lane(status: dict, family: str) -> dict:
        return next(ln for ln in status.get("lanes") or () if ln["family"] == family)

    @staticmethod
    def pids(status: dict) -> dict:
        return {ln["family"]: ln["pid"] for ln in status.get("lanes") or ()}

    def apply(self, *args, timeout: float = 30) -> subprocess.CompletedProcess:
        return self.gatewayctl("gateway", "apply", *args, "--wait", "--timeout", str(timeout))

    def apply_selectors(self, selectors: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return self.apply("--config", "gw.toml", "--selectors", selectors, "--port", "0", timeout=timeout)

    def log(self) -> str:
        texts = []
        for path in (self.err, self.out, self.dir / "home" / "gateway-runtime" / "owner.log"):
            try:
                texts.append(path.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(texts)

    def stop(self) -> int | None:
        self.gatewayctl("gateway", "stop", "--wait", "--timeout", "30", timeout=60)
        if self.proc is not None:
            return self.proc.wait(30)
        return None

    def channels(self, status: dict, families) -> list[flow.Channel]:
        f = self.fakes
        make = {
            "telegram": lambda: flow.telegram(f.tg),
            "feishu": lambda: flow.feishu(f.fs),
            "wecom": lambda: flow.wecom(f.wc),
            "matrix": lambda: flow.matrix(f.mx),
            "whatsapp": lambda: flow.whatsapp(f.wa, self.lane(status, "whatsapp")["worker"]["webhook_url"], WA_SECRET),
            "qqbot": lambda: flow.qqbot(f.qq),
        }
        return [make[family]() for family in families]
