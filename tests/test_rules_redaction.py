"""No finding of any rule repeats an inline secret or a URL password, and
run_all runs every rule module."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules import RULE_MODULES, RuleContext, run_all
from tests.support import examples

# A marker no message template contains, followed by random material, so a
# leak of any 8+ character run of the secret is unambiguous.
SECRETS = st.text(alphabet="abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=12, max_size=30).map(lambda s: "Qz7" + s)


def _config(secret: str) -> dict:
    return {
        "outbound_http": {"allow_private_hosts": False},
        "providers": {"p": {"api_key": secret, "api_key_env": f"KEY={secret}"}},
        "telegram": {
            "enabled": True,
            "bot_token": f"123456789:{secret}",
            "base_url": f"http://bot:{secret}@127.0.0.1/?t={secret}#{secret}",
            "accounts": {
                "a": {"bot_token_env": f"sk-{secret}"},
                "b": {"bot_token": {"env": f"${{sk-{secret}}}"}, "base_url": f"ftp://{secret}:{secret}@[::1]/"},
                "c": {"bot_token": {"env": f"%sk-{secret}%"}, "base_url": f"https://{secret}@x.local:99999/"},
            },
        },
        "feishu": {
            "enabled": True,
            "mode": "webhook",
            "app_id": secret,
            "app_secret_env": f"export APP={secret}",
            "verification_token": {"env": f"{secret}/{secret}+{secret}"},
            "encrypt_key": f"  {secret}  ",
            "base_url": f"https://{secret}:{secret}@open.feishu.cn?{secret}",
        },
        "matrix": {"enabled": True, "access_token": secret, "base_url": f"http://user:{secret}@10.0.0.1:8008"},
        "wecom": {"enabled": True, "bot_id": secret, "secret": {"env": f"Bearer {secret}"}, "websocket_url": f"https://{secret}@h"},
        "whatsapp": {"enabled": True, "access_token": secret, "app_secret_env": f"WA_SECRET={secret}", "api_base_url": f"gopher://:{secret}@x"},
        "email": {"smtp_password": secret},
        "slack": {"api_base_url": f"https://x:{secret}@127.0.0.1"},
        "dingtalk": {"webhook_url": f"http://10.0.0.2/robot/send?access_token={secret}"},
    }


def _leaks(text: str, secret: str) -> bool:
    core = secret[3:]
    return any(core[i : i + 8] in text for i in range(len(core) - 7))


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SECRETS)
def test_no_message_or_hint_contains_an_inline_secret_or_url_password(secret):
    data = _config(secret)
    findings = run_all(RuleContext(data, build_model(data)))
    codes = {f.code for f in findings}
    # The config really exercises the secret-bearing rules.
    assert {"GW210", "GW211", "GW310", "GW311", "GW312", "GW313", "GW314"} <= codes
    for f in findings:
        assert not _leaks(f.message, secret), f
        assert not _leaks(f.hint, secret), f


def test_run_all_runs_every_module_in_order():
    data = {
        "telegram": {"enabled": True, "accounts": {"b": {"bot_token_env": "$X"}, "a": {"base_url": "ftp://x"}}},
        "whatsapp": {"enabled": True, "accounts": {"x": {}, "y": {}}, "default_account": "x"},
    }
    found = run_all(RuleContext(data, build_model(data)))
    order = [f.code for f in found]
    assert set(order) == {"GW203", "GW210", "GW301", "GW302", "GW310", "GW320", "GW321"}
    # accounts, secrets, serving, urls, webhooks
    assert order.index("GW203") < order.index("GW210") < order.index("GW301") < order.index("GW310") < order.index("GW320")
    assert RULE_MODULES == ("accounts", "secrets", "serving", "urls", "webhooks", "values")


def test_clean_seed_example_has_no_findings():
    import tomllib
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "examples" / "gateway-rollout.toml").read_text()
    data = tomllib.loads(text)
    assert run_all(RuleContext(data, build_model(data))) == []


def test_rules_accept_any_top_level_value():
    for data in (None, [], "text", 3, {"telegram": None}, {"providers": ["x"]}, {"providers": {"p": "x"}}):
        assert run_all(RuleContext(data, build_model(data))) == []
