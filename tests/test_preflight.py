"""`gatewayctl preflight` against the built-in fakes: for each of the six
families a good account passes, a bad credential fails with the API's own
reason, and an unreachable base URL fails within the timeout. A serving
WeCom lane is never taken over; secrets are never printed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from gatewayctl.compile.plan import freeze
from gatewayctl.fakes.feishu import FakeFeishu
from gatewayctl.fakes.matrix import FakeMatrix
from gatewayctl.fakes.qqbot import FakeQQBot
from gatewayctl.fakes.telegram import FakeTelegram
from gatewayctl.fakes.wecom import FakeWeCom
from gatewayctl.fakes.whatsapp import FakeWhatsAppCloud
from gatewayctl.workers.preflight import run_preflight
from tests.fakes import plans as P


def _closed_port_url(scheme: str = "http") -> str:
    # a port nothing listens on: bind, note, close
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}"


def _blackhole():
    """A listener that accepts and never answers: a host that hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    return srv, f"http://127.0.0.1:{srv.getsockname()[1]}"


def _with(lane, **settings):
    merged = {**{k: lane.settings[k] for k in lane.settings.keys()}, **settings}
    return replace(lane, settings=freeze(merged))


FAMILIES = {
    # family: (fake factory, lane builder, good env, bad env (one credential wrong), API's word for it, url key)
    "telegram": (FakeTelegram, P.telegram_lane, lambda f: {"TG_TOKEN": f.token}, lambda f: {"TG_TOKEN": "123456:wrong"}, "401 Unauthorized", "base_url"),
    "matrix": (FakeMatrix, P.matrix_lane, lambda f: {"MX_TOKEN": f.access_token}, lambda f: {"MX_TOKEN": "syt_wrong"}, "M_UNKNOWN_TOKEN", "base_url"),
    "whatsapp": (FakeWhatsAppCloud, P.whatsapp_lane,
                 lambda f: {"WA_TOKEN": f.access_token, "WA_VERIFY": "v", "WA_APP_SECRET": "s"},
                 lambda f: {"WA_TOKEN": "EAAwrong", "WA_VERIFY": "v", "WA_APP_SECRET": "s"},
                 "Invalid OAuth access token", "api_base_url"),
    "feishu": (FakeFeishu, P.feishu_lane, P.feishu_env, lambda f: {**P.feishu_env(f), "LARK_APP_SECRET": "wrong-secret"},
               "app secret invalid", "base_url"),
    "qqbot": (FakeQQBot, P.qqbot_lane, P.qqbot_env, lambda f: {**P.qqbot_env(f), "QQBOT_CLIENT_SECRET": "wrong-secret"},
              "invalid appid or secret", "token_base_url"),
    "wecom": (FakeWeCom, P.wecom_lane, P.wecom_env, lambda f: {**P.wecom_env(f), "WECOM_SECRET": "wrong-secret"},
              "invalid secret", "websocket_url"),
}


def _run(lane, env, **kw):
    plan = P.plan([lane], None)
    [result] = run_preflight(plan, environ=env, **kw)
    return result


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_good_account_passes(family):
    fake_cls, build, good, _bad, _why, _key = FAMILIES[family]
    with fake_cls() as fake:
        result = _run(build(fake), good(fake), timeout_s=10)
    assert result.result == "ok", result.detail
    assert result.latency_ms is not None and result.latency_ms >= 0


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bad_credential_fails_with_the_apis_reason_and_no_secret(family):
    fake_cls, build, _good, bad, why, _key = FAMILIES[family]
    with fake_cls() as fake:
        env = bad(fake)
        result = _run(build(fake), env, timeout_s=10)
    assert result.result == "failed"
    assert why in result.detail, result.detail
    for value in env.values():
        if len(value) >= 4:
            assert value not in result.detail


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_unreachable_base_url_fails_within_the_timeout(family):
    fake_cls, build, good, _bad, _why, key = FAMILIES[family]
    srv, hanging = _blackhole()
    try:
        with fake_cls() as fake:
            url = hanging.replace("http://", "ws://") if family == "wecom" else hanging
            lane = _with(build(fake), **{key: url})
            started = time.monotonic()
            result = _run(lane, good(fake), timeout_s=1.0)
            elapsed = time.monotonic() - started
    finally:
        srv.close()
    assert result.result == "failed" and "within 1s" in result.detail, result.detail
    assert elapsed < 5, elapsed


def test_refused_connection_is_named():
    with FakeTelegram() as fake:
        result = _run(_with(P.telegram_lane(fake), base_url=_closed_port_url()), {"TG_TOKEN": fake.token}, timeout_s=5)
    assert result.result == "failed" and result.detail == "cannot connect"


def test_missing_secret_names_the_reference():
    with FakeTelegram() as fake:
        result = _run(P.telegram_lane(fake), {}, timeout_s=5)
    assert result.result == "failed" and "TG_TOKEN" in result.detail and result.latency_ms is None


def test_telegram_webhook_set_fails_because_getupdates_would():
    with FakeTelegram() as fake:
        fake.webhook_url = "https://hooks.example.org/tg"
        result = _run(P.telegram_lane(fake), {"TG_TOKEN": fake.token}, timeout_s=5)
    assert result.result == "failed" and "webhook is set" in result.detail and "hooks.example.org" in result.detail


def test_matrix_token_of_another_user_fails():
    with FakeMatrix() as fake:
        lane = _with(P.matrix_lane(fake), user_id="@someone-else:localhost")
        result = _run(lane, {"MX_TOKEN": fake.access_token}, timeout_s=5)
    assert result.result == "failed" and "belongs to @gwbot:localhost" in result.detail


def test_whatsapp_unknown_phone_number_id_fails():
    with FakeWhatsAppCloud() as fake:
        lane = _with(P.whatsapp_lane(fake), phone_number_id="999")
        result = _run(lane, FAMILIES["whatsapp"][2](fake), timeout_s=5)
    assert result.result == "failed" and "does not exist" in result.detail


def test_a_serving_wecom_lane_is_not_taken_over(tmp_path):
    with FakeWeCom() as fake:
        env = P.wecom_env(fake)
        lane = P.wecom_lane(fake)
        plan = P.plan([lane], P.Handler(kind="echo"))
        with P.LaneThread(plan, "wecom", env, status_path=str(tmp_path / "status.json")):
            assert fake.wait_connected(1)
            view = {"state": "running", "worker": {"connected": True}}
            [result] = run_preflight(plan, environ=env, timeout_s=5, serving={lane.name: view})
            assert result.result == "skipped" and result.detail.startswith("serving:")
            assert fake.takeovers == 0
            # what the skip prevents: a probe of the same bot takes it over
            [probed] = run_preflight(plan, environ=env, timeout_s=5, serving={})
            assert probed.result == "ok"
            assert fake.wait_until(lambda: fake.takeovers >= 1, 5)


@pytest.mark.slow
def test_cli_preflight_and_gateway_run_preflight(tmp_path):
    """The commands, as a user runs them: one line per lane, exit 1 on a
    failure, JSON on request, and `gateway run --preflight` refuses to claim
    the slot when a lane fails."""
    with FakeTelegram() as tg, FakeMatrix() as mx:
        plan = P.plan([P.telegram_lane(tg), P.matrix_lane(mx)], None)
        path = P.write(plan, str(tmp_path / "plan.json"))
        base = {**{k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")},
                "PATH": "/usr/bin:/bin", "GATEWAYCTL_HOME": str(tmp_path / "home"), "TG_TOKEN": tg.token,
                "MX_TOKEN": mx.access_token}
        cmd = [sys.executable, "-m", "gatewayctl"]
        # Plans built here come from no config: nothing to recompile them from.
        ok = subprocess.run(cmd + ["preflight", "--plan", path, "--trust-plan"],
                            env=base, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        # the plan's config stand-in does not exist: a saved plan is verified first
        assert ok.returncode == 6, ok.stdout + ok.stderr
        (tmp_path / "gateway.toml").write_text("")
        plan = P.plan([P.telegram_lane(tg), P.matrix_lane(mx)], None, config_path=str(tmp_path / "gateway.toml"))
        import hashlib
        plan = replace(plan, config_sha256=hashlib.sha256(b"").hexdigest())
        path = P.write(plan, str(tmp_path / "plan.json"))
        ok = subprocess.run(cmd + ["preflight", "--plan", path, "--trust-plan"], env=base, capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        lines = ok.stdout.splitlines()
        assert lines[0].startswith("ok ") and "telegram/bot_123456" in lines[0] and "getMe: @gw_fake_bot" in lines[0]
        assert lines[1].startswith("ok ") and "matrix/ops" in lines[1] and "whoami: @gwbot:localhost" in lines[1]
        assert lines[-1] == "preflight: 2 ok, 0 failed, 0 skipped"

        bad = {**base, "MX_TOKEN": "syt_not-the-token-9999"}
        failed = subprocess.run(cmd + ["preflight", "--plan", path, "--trust-plan", "--json"], env=bad, capture_output=True, text=True,
                                timeout=60)
        assert failed.returncode == 1
        doc = json.loads(failed.stdout)
        assert doc["ok"] is False and doc["format_version"] == 1
        assert {ln["lane"]: ln["result"] for ln in doc["lanes"]} == {"matrix/ops": "failed", "telegram/bot_123456": "ok"}
        assert "syt_not-the-token-9999" not in failed.stdout + failed.stderr

        run = subprocess.run(cmd + ["gateway", "run", "--plan", path, "--trust-plan", "--preflight", "--preflight-timeout", "5"],
                             env=bad, capture_output=True, text=True, timeout=60)
        assert run.returncode == 1, run.stderr
        assert "a lane failed its preflight" in run.stderr and "M_UNKNOWN_TOKEN" in run.stderr
        assert not (tmp_path / "home" / "gateway-runtime" / "owner-active.json").exists()


def test_selectors_shorthand_is_read_as_for_plan(tmp_path, monkeypatch):
    """`--selectors a=b,c=d` means two selectors for preflight exactly as for
    plan and gateway run (one settings filler for all of them)."""
    from click.testing import CliRunner

    from gatewayctl.cli.main import cli

    dead = _closed_port_url()
    (tmp_path / "loong.toml").write_text(
        f"""
[outbound_http]
allow_private_hosts = true

[telegram]
enabled = true
default_account = "alpha"
base_url = "{dead}"
allowed_chat_ids = [1]
[telegram.accounts.alpha]
bot_token = {{ env = "TG_ALPHA" }}
[telegram.accounts.beta]
bot_token = {{ env = "TG_BETA" }}

[matrix]
enabled = true
base_url = "{dead}"
user_id = "@bot:example.org"
access_token = {{ env = "MX_TOKEN" }}
allowed_room_ids = ["!r:example.org"]
""",
        encoding="utf-8",
    )
    (tmp_path / "gatewayctl.toml").write_text(
        'loong_config = "loong.toml"\n[handler]\necho = true\n[worker]\nuser = "root"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    for name in ("TG_ALPHA", "TG_BETA", "MX_TOKEN"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    monkeypatch.setenv("GATEWAYCTL_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["preflight", "--selectors", "telegram=beta,matrix=default", "--timeout", "5"])
    assert "GW405" not in result.output, result.output
    assert "telegram/beta" in result.stdout and "matrix/default" in result.stdout


def test_an_endless_answer_fails_at_the_body_cap_not_the_memory_limit():
    from tests.fakes.hostile import Endless, HostileServer

    with HostileServer(lambda req: Endless()) as srv, FakeTelegram() as fake:
        lane = _with(P.telegram_lane(fake), base_url=srv.base_url)
        result = _run(lane, {"TG_TOKEN": fake.token}, timeout_s=10)
    assert result.result == "failed" and "byte limit" in result.detail, result.detail


def test_the_lines_escape_control_characters_from_the_plan():
    from gatewayctl.cli.preflight import render
    from gatewayctl.workers.preflight import ProbeResult

    out = render([ProbeResult("telegram/a", "telegram", "failed", "cannot read file /tmp/\x1b]0;x\x07s", None)])
    assert "\x1b" not in out and "\x07" not in out and "/tmp/\\x1b]0;x\\x07s" in out
