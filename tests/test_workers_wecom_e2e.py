"""WeCom end to end through `gatewayctl gateway run --config`: message in,
reply out, allowlist miss, reconnect after the server drops the
connection, then a takeover (disconnected_event) that fails the lane with a
message saying exactly that, and the owner stops with exit code 9."""

from __future__ import annotations

import pytest

from gatewayctl.fakes.wecom import FakeWeCom
from tests.test_rollout_six import GatewayProc, base_env, pid_alive, poll
from tests.support import LANES_AS_ROOT_TOML

pytestmark = pytest.mark.slow


def _config(wc) -> str:
    return f"""
{LANES_AS_ROOT_TOML}[outbound_http]
allow_private_hosts = true

[gateway.handler]
echo = true

[wecom]
enabled = true
default_account = "alerts"

[wecom.accounts.alerts]
bot_id = {{ env = "WECOM_ALERTS_BOT_ID" }}
secret = {{ env = "WECOM_ALERTS_SECRET" }}
websocket_url = "{wc.url}"
ping_interval_s = 30
reconnect_interval_s = 1
allowed_conversation_ids = ["group_alerts"]
allowed_sender_ids = ["zhangsan"]
"""


def test_wecom_through_gateway_run(tmp_path):
    with FakeWeCom() as wc:
        env = base_env(tmp_path) | {"WECOM_ALERTS_BOT_ID": wc.bot_id, "WECOM_ALERTS_SECRET": wc.secret}
        gw = GatewayProc(tmp_path, env, _config(wc), selectors="wecom=alerts")
        gw.start(1)
        try:
            wc.inject("not this group", chatid="group_other", userid="zhangsan")
            wc.inject("not this sender", chatid="group_alerts", userid="mallory")
            wc.inject("first", chatid="group_alerts", userid="zhangsan")
            assert [s["content"] for s in wc.wait_sent(1, 20)] == ["first"]
            worker = poll(lambda: (w := gw.worker("wecom")) and w.get("messages_ignored") == 2 and w)
            assert worker and worker["replies_sent"] == 1

            wc.drop()
            assert wc.wait_connected(2, timeout=20)
            wc.inject("after reconnect", chatid="group_alerts", userid="zhangsan")
            assert [s["content"] for s in wc.wait_sent(2, 20)][1] == "after reconnect"

            lane_pid = next(ln["pid"] for ln in gw.status()["lanes"])
            wc.takeover()
            code, out, err = gw.wait(30)
        except BaseException:
            if gw.proc.poll() is None:
                gw.stop()
            raise
        assert code == 9, err
        st = gw.status()
        lane = st["lanes"][0]
        assert lane["state"] == "fatal" and "wecom(account=alerts)" in st["last_error"]
        # The lane's one-line reason is in its log (the owner keeps the worker
        # status it last folded while the lane ran, so it is not asserted here).
        with open(lane["log_path"], encoding="utf-8") as fh:
            log = fh.read()
        reason = next(line for line in log.splitlines() if line.startswith("gatewayctl lane serve:"))
        assert "WeCom sent disconnected_event: another client subscribed with this bot's credentials" in reason
        assert "took over its long connection" in reason
        assert wc.secret not in log and wc.bot_id not in log
        assert wc.connections == 2  # no reconnect after the takeover
        assert wc.secret not in out + err and wc.secret not in str(st)
        assert poll(lambda: not pid_alive(lane_pid), timeout=10)
