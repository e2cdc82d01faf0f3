"""Build plans for lanes pointed at the fakes (tests, benchmark), with
compile/plan.py objects and planfile.write, the same shape the compiler
emits (settings keys = the family fields of the config model): one
``*_lane()`` builder per family and, where the family has several secrets,
an ``*_env()`` giving the environment those secret references read."""

from __future__ import annotations

import os
import sys
import asyncio
import threading

from gatewayctl.compile import planfile
from gatewayctl.compile.plan import DEFAULT_WORKER, Control, Handler, Lane, LaunchPlan, SecretRef, freeze
from gatewayctl.fakes.feishu import ENCRYPT_KEY, VERIFY_TOKEN, FakeFeishu
from gatewayctl.fakes.qqbot import FakeQQBot
from gatewayctl.fakes.wecom import FakeWeCom

HANDLER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "handler_script.py")


def exec_handler(timeout_s: float = 10.0) -> Handler:
    return Handler(kind="exec", exec=(sys.executable, HANDLER_SCRIPT), timeout_s=timeout_s)


def lane(family: str, account: str, settings: dict, secrets: list[SecretRef]) -> Lane:
    return Lane(
        family=family,
        alias=None,
        account_id=account,
        account_label=account,
        account_source="explicit_default",
        settings=freeze(settings),
        secrets=tuple(secrets),
        worker=DEFAULT_WORKER,
        env=tuple(sorted(str(s.ref) for s in secrets if s.kind == "env")),
    )


def plan(lanes: list[Lane], handler: Handler | None, *, config_path: str = "gateway.toml",
         stop_grace_s: float = 5.0) -> LaunchPlan:
    return LaunchPlan(
        config_path=config_path,
        config_sha256="0" * 64,
        mode="gateway_headless",
        session=None,
        control=Control(),
        lanes=tuple(lanes),
        stop_grace_s=stop_grace_s,
        handler=handler,
        allow_private_hosts=True,
    )


def telegram_lane(fake, *, account="bot_123456", allowed_chat_ids=(42,), allowed_sender_ids=(), env_name="TG_TOKEN",
                  **extra) -> Lane:
    settings = {"base_url": fake.base_url, "polling_timeout_s": 1, "allowed_chat_ids": list(allowed_chat_ids),
                "allowed_sender_ids": list(allowed_sender_ids), "require_mention": False, **extra}
    return lane("telegram", account, settings, [SecretRef("bot_token", "env", env_name)])


def matrix_lane(fake, *, account="ops", allowed_room_ids=("!room:localhost",), env_name="MX_TOKEN", **extra) -> Lane:
    settings = {"base_url": fake.base_url, "user_id": fake.user_id, "sync_timeout_s": 1,
                "allowed_room_ids": list(allowed_room_ids), "allowed_sender_ids": [],
                "require_mention": False, "ignore_self_messages": True, **extra}
    return lane("matrix", account, settings, [SecretRef("access_token", "env", env_name)])


def whatsapp_lane(fake, *, account=None, bind="127.0.0.1:0", path="/webhook", **extra) -> Lane:
    settings = {"api_base_url": fake.api_base_url, "phone_number_id": fake.phone_number_id,
                "webhook_bind": bind, "webhook_path": path, **extra}
    return lane("whatsapp", account or f"whatsapp_{fake.phone_number_id}", settings, [
        SecretRef("access_token", "env", "WA_TOKEN"),
        SecretRef("verify_token", "env", "WA_VERIFY"),
        SecretRef("app_secret", "env", "WA_APP_SECRET"),
    ])


def write(p: LaunchPlan, path: str) -> str:
    planfile.write(p, path)
    return path


class LaneThread:
    """Runs one lane with the built-in worker in a background event loop,
    in this process; ``stop()`` is the in-process equivalent of SIGTERM."""

    def __init__(self, p: LaunchPlan, lane_key: str, environ: dict, *, state_dir: str | None = None,
                 status_path: str | None = None):
        from gatewayctl.workers.serve import serve_async

        self.outcome = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        the_lane = p.lane(lane_key)
        assert the_lane is not None, lane_key

        async def main():
            self._stop = asyncio.Event()
            self._ready.set()
            return await serve_async(p, the_lane, environ=environ, status_path=status_path, state_dir=state_dir,
                                     stop=self._stop)

        def target():
            asyncio.set_event_loop(self._loop)
            try:
                self.outcome = self._loop.run_until_complete(main())
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=target, daemon=True)

    def start(self) -> "LaneThread":
        self._thread.start()
        self._ready.wait(5)
        return self

    def stop(self, timeout: float = 10.0):
        if self._thread.is_alive() and self._stop is not None:
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the lane ended by itself meanwhile
                pass
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "lane did not stop"
        return self.outcome

    def join(self, timeout: float = 10.0):
        self._thread.join(timeout)
        return self.outcome

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wecom_lane(fake: FakeWeCom, *, account: str = "alerts", allowed_conversation_ids=("group_alerts",),
               allowed_sender_ids=(), ping_interval_s: int = 30, reconnect_interval_s: int = 1, **extra):
    """A plan lane pointed at the fake (secrets from WECOM_BOT_ID / WECOM_SECRET)."""
    settings = {"websocket_url": fake.url, "ping_interval_s": ping_interval_s,
                "reconnect_interval_s": reconnect_interval_s,
                "allowed_conversation_ids": list(allowed_conversation_ids),
                "allowed_sender_ids": list(allowed_sender_ids), **extra}
    return lane("wecom", account, settings, [SecretRef("bot_id", "env", "WECOM_BOT_ID"),
                                             SecretRef("secret", "env", "WECOM_SECRET")])


def wecom_env(fake: FakeWeCom) -> dict:
    return {"WECOM_BOT_ID": fake.bot_id, "WECOM_SECRET": fake.secret}


def qqbot_lane(fake: FakeQQBot, *, account: str = "default", allowed_peer_ids=("u_alice", "g_ops"), **extra):
    settings = {"token_base_url": fake.base_url, "api_base_url": fake.base_url,
                "allowed_peer_ids": list(allowed_peer_ids), **extra}
    return lane("qqbot", account, settings, [SecretRef("app_id", "env", "QQBOT_APP_ID"),
                                             SecretRef("client_secret", "env", "QQBOT_CLIENT_SECRET")])


def qqbot_env(fake: FakeQQBot) -> dict:
    return {"QQBOT_APP_ID": fake.app_id, "QQBOT_CLIENT_SECRET": fake.client_secret}


FEISHU_ENV = {"app_id": "LARK_APP_ID", "app_secret": "LARK_APP_SECRET",
              "verification_token": "LARK_VERIFY_TOKEN", "encrypt_key": "LARK_ENCRYPT_KEY"}


def feishu_lane(fake: FakeFeishu, *, account: str = "work", mode: str = "websocket",
                allowed_chat_ids=("oc_ops_room",), allowed_sender_ids=(), **extra):
    settings = {"domain": "lark", "base_url": fake.base_url, "mode": mode, "receive_id_type": "chat_id",
                "webhook_bind": "127.0.0.1:0", "webhook_path": "/feishu/events",
                "allowed_chat_ids": list(allowed_chat_ids), "allowed_sender_ids": list(allowed_sender_ids),
                "ack_reactions": True, "ignore_bot_messages": True, "require_mention": False, **extra}
    fields = ["app_id", "app_secret"] + (["verification_token", "encrypt_key"] if mode == "webhook" else [])
    return lane("feishu", account, settings, [SecretRef(f, "env", FEISHU_ENV[f]) for f in fields])


def feishu_env(fake: FakeFeishu) -> dict:
    return {"LARK_APP_ID": fake.app_id, "LARK_APP_SECRET": fake.app_secret,
            "LARK_VERIFY_TOKEN": VERIFY_TOKEN, "LARK_ENCRYPT_KEY": ENCRYPT_KEY}
