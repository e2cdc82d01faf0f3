"""End to end: `gatewayctl gateway run` on ./gatewayctl.toml (the handler)
naming a loong config whose accounts point at the loopback fakes; messages injected at the fakes, replies seen
at the fakes, through the echo, exec and url handlers; status, stop, and a
restart mid-stream that loses and repeats nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from gatewayctl.fakes import FakeMatrix, FakeTelegram, FakeWhatsAppCloud, post_webhook, webhook_payload
from tests.fakes.handler_http import UrlHandlerServer
from tests.fakes.plans import HANDLER_SCRIPT
from tests.support import LANES_AS_ROOT_SETTINGS, poll

pytestmark = pytest.mark.slow

ROOM = "!room:localhost"
SECRET = "e2e-app-secret"


def _poll(predicate, timeout=30.0):
    return poll(predicate, timeout, interval=0.05)


def _settings(handler_toml: str) -> str:
    return f"""
loong_config = "gw.toml"

[handler]
{handler_toml}
timeout_s = 10
{LANES_AS_ROOT_SETTINGS}"""


def _config(tg, mx, wa) -> str:
    return f"""
[outbound_http]
allow_private_hosts = true

[telegram]
enabled = true
base_url = "{tg.base_url}"
polling_timeout_s = 1

[telegram.accounts.bot_123456]
bot_token = {{ env = "TG_TOKEN" }}
allowed_chat_ids = [42]

[matrix]
enabled = true
base_url = "{mx.base_url}"
user_id = "{mx.user_id}"
access_token = {{ env = "MX_TOKEN" }}
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
"""


class Gateway:
    def __init__(self, tmp_path, env):
        self.tmp = tmp_path
        self.env = env
        self.cmd = [sys.executable, "-m", "gatewayctl"]
        self.proc = None

    def run(self):
        self.proc = subprocess.Popen(self.cmd + ["gateway", "run", "--port", "0"],  # ./gatewayctl.toml
                                     cwd=self.tmp, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        status = _poll(self._all_connected)
        if status is None:
            self.stop()
            pytest.fail(f"lanes never connected: {self.status()}")
        return status

    def status(self):
        done = subprocess.run(self.cmd + ["gateway", "status", "--json"], cwd=self.tmp, env=self.env,
                              capture_output=True, text=True, timeout=30)
        try:
            return json.loads(done.stdout)
        except ValueError:
            return None

    def _all_connected(self):
        st = self.status()
        if not st or not st.get("running"):
            return None
        lanes = st.get("lanes") or []
        if len(lanes) == 3 and all((ln.get("worker") or {}).get("connected") for ln in lanes):
            return st
        return None

    def worker(self, family):
        st = self.status() or {}
        return next(((ln.get("worker") or {}) for ln in st.get("lanes") or () if ln["family"] == family), {})

    def stop(self):
        subprocess.run(self.cmd + ["gateway", "stop", "--wait", "--timeout", "30"], cwd=self.tmp, env=self.env,
                       capture_output=True, text=True, timeout=60)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


@pytest.fixture
def fakes():
    tg, mx, wa = FakeTelegram().start(), FakeMatrix().start(), FakeWhatsAppCloud().start()
    yield tg, mx, wa
    for fake in (tg, mx, wa):
        fake.stop()


def _env(tmp_path, tg, mx, wa):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(TG_TOKEN=tg.token, MX_TOKEN=mx.access_token, WA_TOKEN=wa.access_token, WA_VERIFY="verify-e2e",
               WA_APP_SECRET=SECRET, GATEWAYCTL_HOME=str(tmp_path / "home"), NO_COLOR="1")
    return env


@pytest.mark.parametrize("kind", ["echo", "exec", "url"])
def test_gateway_run_answers_on_all_three_families(tmp_path, fakes, kind):
    tg, mx, wa = fakes
    url_server = UrlHandlerServer().start() if kind == "url" else None
    try:
        handler_toml = {
            "echo": "echo = true",
            "exec": f"exec = {json.dumps([sys.executable, HANDLER_SCRIPT])}",
            "url": f'url = "{url_server.url if url_server else ""}"',
        }[kind]
        (tmp_path / "gw.toml").write_text(_config(tg, mx, wa))
        (tmp_path / "gatewayctl.toml").write_text(_settings(handler_toml))
        gw = Gateway(tmp_path, _env(tmp_path, tg, mx, wa))
        status = gw.run()
        webhook = next(ln["worker"]["webhook_url"] for ln in status["lanes"] if ln["family"] == "whatsapp")
        expect = {"echo": "{}", "exec": "handled: {}", "url": "url: {}"}[kind]

        tg.inject(99, 7, "not an allowed chat")
        tg.inject(42, 7, "tg hello")
        mx.inject(ROOM, "@alice:localhost", "mx hello")
        forged = webhook_payload(wa.phone_number_id, "1555", "forged", "wamid.F")
        assert post_webhook(webhook, forged, "wrong-secret")[0] == 401
        assert post_webhook(webhook, webhook_payload(wa.phone_number_id, "1555", "wa hello", "wamid.1"), SECRET)[0] == 200

        assert [s["text"] for s in tg.wait_sent(1, 20)] == [expect.format("tg hello")]
        assert [s["content"]["body"] for s in mx.wait_sent(1, 20)] == [expect.format("mx hello")]
        assert [s["text"] for s in wa.wait_sent(1, 20)] == [expect.format("wa hello")]

        worker = _poll(lambda: (w := gw.worker("telegram")) and w.get("replies_sent") == 1
                       and w.get("messages_ignored") == 1 and w)
        assert worker["messages_received"] == 2 and worker["handler_errors"] == 0
        assert worker["last_inbound_at_ms"] and worker["connected"] is True
        human = subprocess.run(gw.cmd + ["gateway", "status"], cwd=tmp_path, env=gw.env, capture_output=True,
                               text=True, timeout=30)
        assert "running" in human.stdout

        code, out, err = gw.stop()
        assert code == 0, err
        for value in (tg.token, mx.access_token, wa.access_token, SECRET):
            assert value not in out + err
        assert [s["text"] for s in tg.snapshot_sent()] == [expect.format("tg hello")]
    finally:
        if url_server:
            url_server.stop()


def test_gateway_restart_mid_stream_loses_and_repeats_nothing(tmp_path, fakes):
    tg, mx, wa = fakes
    (tmp_path / "gw.toml").write_text(_config(tg, mx, wa))
    (tmp_path / "gatewayctl.toml").write_text(_settings(f"exec = {json.dumps([sys.executable, HANDLER_SCRIPT])}"))
    gw = Gateway(tmp_path, _env(tmp_path, tg, mx, wa))
    gw.run()
    texts = [f"m{i}" for i in range(10)]
    for t in texts[:5]:
        tg.inject(42, 7, t)
        mx.inject(ROOM, "@alice:localhost", t)
    assert tg.wait_sent(2, 20) and mx.wait_sent(2, 20)
    assert gw.stop()[0] == 0
    for t in texts[5:]:  # arrive while nothing runs
        tg.inject(42, 7, t)
        mx.inject(ROOM, "@alice:localhost", t)
    gw.run()
    assert tg.wait_sent(10, 30) and mx.wait_sent(10, 30)
    # Both lanes have polled past the last message, so any repeat would have been sent by now.
    assert _poll(lambda: tg.max_offset_seen >= 1010)
    assert _poll(lambda: any(int(c.get("since", "s0")[1:]) >= mx.pos for c in list(mx.sync_calls)))
    assert gw.stop()[0] == 0
    expected = sorted(f"handled: {t}" for t in texts)
    assert sorted(s["text"] for s in tg.snapshot_sent()) == expected
    assert sorted(s["content"]["body"] for s in mx.snapshot_sent()) == expected
    assert mx.send_attempts == 10
