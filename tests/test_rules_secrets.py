"""GW210 env-pointer hygiene and GW211 inline secrets, as rules over config dicts."""

from __future__ import annotations

import pytest

from gatewayctl.diagnostics import CODES
from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules import RuleContext, secrets


def run(data, code=None):
    found = list(secrets.check(RuleContext(data, build_model(data))))
    return [f for f in found if code is None or f.code == code]


@pytest.mark.parametrize(
    "data, pointer",
    [
        ({"telegram": {"bot_token_env": "$TG_TOKEN"}}, "/telegram/bot_token_env"),
        ({"telegram": {"bot_token": {"env": "TG=1"}}}, "/telegram/bot_token/env"),
        ({"feishu": {"accounts": {"work": {"app_secret_env": "%SECRET%"}}}}, "/feishu/accounts/work/app_secret_env"),
        ({"whatsapp": {"phone_number_id_env": "has space"}}, "/whatsapp/phone_number_id_env"),
        ({"slack": {"bot_token": {"env": "Bearer xoxb-1234567890-abcdefghijkl"}}}, "/slack/bot_token/env"),
        ({"providers": {"volc": {"api_key": {"env": "sk-live-abc"}}}}, "/providers/volc/api_key/env"),
        ({"providers": {"volc": {"api_key_env": "ARK_API_KEY=abc"}}}, "/providers/volc/api_key_env"),
    ],
)
def test_env_pointer_hygiene(data, pointer):
    (f,) = run(data)
    assert f.code == "GW210" and f.pointer == pointer and f.target == "value"
    assert CODES["GW210"].severity == "error"


def test_hygiene_message_names_the_field_and_suggests_a_name():
    (f,) = run({"feishu": {"accounts": {"Work": {"app_secret_env": "${LARK_SECRET}"}}}})
    assert f.message.startswith("feishu.accounts.Work.app_secret_env ")
    assert '"LARK_SECRET"' in f.message
    assert "FEISHU_WORK_APP_SECRET" in f.hint


@pytest.mark.parametrize(
    "data",
    [
        {"telegram": {"bot_token_env": "TELEGRAM_BOT_TOKEN"}},
        {"telegram": {"bot_token_env": ""}},
        {"telegram": {"bot_token": {"env": "TELEGRAM_BOT_TOKEN"}}},
        {"telegram": {"bot_token": {"file": "/run/secrets/tg"}}},
        {"telegram": {"bot_token": {"exec": ["pass", "show", "tg"]}}},
        {"telegram": {"bot_token": ""}},
        {"telegram": {"bot_token_env": 5, "bot_token": 7}},  # types are the schema's
        {"whatsapp": {"phone_number_id": "1234567890"}},  # a plain field, not a secret
        {"telegram": {"acp": {"working_directory": "sk-this-is-not-a-secret-field"}}},
        {"memory": {"api_key": "sk-not-a-channel-or-provider"}},
    ],
)
def test_clean_references_pass(data):
    assert run(data) == []


@pytest.mark.parametrize("value", ["$TELEGRAM_BOT_TOKEN", "${TELEGRAM_BOT_TOKEN}", "env:TELEGRAM_BOT_TOKEN", " %TELEGRAM_BOT_TOKEN% "])
def test_string_env_references_are_references_with_a_safe_table_fix(value):
    (f,) = run({"telegram": {"bot_token": value}})
    assert f.code == "GW212" and f.pointer == "/telegram/bot_token"
    assert f.fix.safety == "safe" and f.fix.action == "env-table" and f.fix.arg("env") == "TELEGRAM_BOT_TOKEN"
    # providers keep loong's own "${OPENAI_API_KEY}" examples quiet
    assert run({"providers": {"openai": {"api_key": value}}}) == []


def test_inline_secret_warns_per_location_and_never_shows_the_value():
    value = "S3cr3tInlineValue-0123456789"
    data = {
        "feishu": {
            "app_secret": value,
            "accounts": {"work": {"app_id": value, "app_secret": {"env": "OK"}}, "ops": {}},
        }
    }
    found = run(data)
    assert {(f.code, f.pointer) for f in found} == {("GW211", "/feishu/app_secret"), ("GW211", "/feishu/accounts/work/app_id")}
    for f in found:
        assert CODES[f.code].severity == "warning"
        assert value not in f.message and value not in f.hint
        assert "inline" in f.message and "not shown" in f.message
    work = next(f for f in found if "accounts" in f.pointer)
    assert 'app_id = { env = "FEISHU_WORK_APP_ID" }' in work.hint


@pytest.mark.parametrize(
    "family, field",
    [("telegram", "bot_token"), ("wecom", "secret"), ("matrix", "access_token"), ("email", "smtp_password"), ("line", "channel_secret")],
)
def test_inline_secret_in_any_secret_field(family, field):
    table = "google_chat" if family == "google-chat" else family
    (f,) = run({table: {field: "literal-value"}})
    assert f.code == "GW211" and f.pointer == f"/{table}/{field}"


def test_inline_provider_api_key():
    (f,) = run({"providers": {"openai": {"api_key": "sk-proj-abc"}}})
    assert f.code == "GW211" and f.pointer == "/providers/openai/api_key"
    assert "sk-proj-abc" not in f.message + f.hint


def test_disabled_families_are_still_checked():
    # A secret in the file is a finding whether or not the lane runs.
    assert [f.code for f in run({"telegram": {"enabled": False, "bot_token": "x"}})] == ["GW211"]
