"""QQ Bot end to end through `gatewayctl gateway run --config`: C2C and
group messages in, passive replies out, an allowlist miss, and a resumed
session (op 6) after the gateway drops the connection, with the event sent
meanwhile replayed and answered."""

from __future__ import annotations

import pytest

from gatewayctl.fakes.qqbot import FakeQQBot
from tests.test_rollout_six import GatewayProc, base_env, poll
from tests.support import LANES_AS_ROOT_TOML

pytestmark = pytest.mark.slow


def _config(qq) -> str:
    return f"""
{LANES_AS_ROOT_TOML}[outbound_http]
allow_private_hosts = true

[gateway.handler]
echo = true

[qqbot]
enabled = true
app_id = {{ env = "QQBOT_APP_ID" }}
client_secret = {{ env = "QQBOT_CLIENT_SECRET" }}
token_base_url = "{qq.base_url}"
api_base_url = "{qq.base_url}"
allowed_peer_ids = ["u_alice", "g_ops"]
"""


def test_qqbot_through_gateway_run(tmp_path):
    with FakeQQBot() as qq:
        env = base_env(tmp_path) | {"QQBOT_APP_ID": qq.app_id, "QQBOT_CLIENT_SECRET": qq.client_secret}
        gw = GatewayProc(tmp_path, env, _config(qq))
        gw.start(1)
        try:
            qq.inject_c2c("u_stranger", "not allowed")
            c2c = qq.inject_c2c("u_alice", "hello")
            grp = qq.inject_group("g_ops", "m_bob", "group hello")
            sent = qq.wait_sent(2, 20)
            assert {(s["peer"], s["content"], s["msg_id"]) for s in sent} == {
                ("u_alice", "hello", c2c), ("g_ops", "group hello", grp)}
            assert poll(lambda: gw.worker("qqbot").get("messages_ignored") == 1)

            qq.drop()
            missed = qq.inject_c2c("u_alice", "sent while dropped")
            assert qq.wait_ready(2, timeout=20)
            assert [s["msg_id"] for s in qq.wait_sent(3, 20)][2] == missed
            assert len(qq.resumes) == 1 and len(qq.identifies) == 1
            assert qq.resumes[0]["session_id"] == qq.session_id
            worker = poll(lambda: (w := gw.worker("qqbot")) and w.get("replies_sent") == 3 and w)
            assert worker and worker["connected"] is True
        finally:
            code, out, err = gw.stop()
        assert code == 0, err
        assert qq.rejected == []
        assert qq.client_secret not in out + err
