"""GW301-GW305: what an effectively enabled gateway-supervised account needs."""

from __future__ import annotations

import copy

import pytest

from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules import RuleContext, serving

GOOD = {
    "feishu": {
        "enabled": True,
        "app_id": {"env": "FEISHU_APP_ID"},
        "app_secret": {"env": "FEISHU_APP_SECRET"},
        "allowed_chat_ids": ["oc_1"],
    },
    "telegram": {"enabled": True, "bot_token": {"env": "TG"}, "allowed_chat_ids": [1]},
    "matrix": {
        "enabled": True,
        "base_url": "https://matrix.example.org",
        "user_id": "@bot:example.org",
        "access_token": {"env": "MX"},
        "allowed_room_ids": ["!room:example.org"],
    },
    "wecom": {"enabled": True, "bot_id_env": "WB", "secret_env": "WS", "allowed_conversation_ids": ["g"]},
    "whatsapp": {"enabled": True},  # every credential has a default env name
    "qqbot": {"enabled": True, "allowed_peer_ids": ["u_alice"]},  # default env names
}


def run(data, code=None):
    found = list(serving.check(RuleContext(data, build_model(data))))
    return [f for f in found if code is None or f.code == code]


def with_(family, **changes):
    data = copy.deepcopy(GOOD)
    for k, v in changes.items():
        if v is None:
            data[family].pop(k, None)
        else:
            data[family][k] = v
    return data


def test_complete_config_serves():
    assert run(GOOD) == []


@pytest.mark.parametrize(
    "family, field",
    [
        ("feishu", "app_id"),
        ("feishu", "app_secret"),
        ("telegram", "bot_token"),
        ("matrix", "access_token"),
        ("wecom", "bot_id_env"),
        ("wecom", "secret_env"),
    ],
)
def test_missing_credential(family, field):
    (f,) = run(with_(family, **{field: None}))
    name = field.removesuffix("_env")
    assert f.code == "GW301"
    assert f.pointer == f"/{family}" and f.target == "key"
    assert f"no {name}" in f.message and f"{name} = {{ env = " in f.hint


@pytest.mark.parametrize("field", ["access_token", "verify_token", "app_secret"])
def test_whatsapp_credential_missing_only_when_env_sibling_blanked(field):
    (f,) = run(with_("whatsapp", **{f"{field}_env": ""}))
    assert f.code == "GW301" and f.pointer == f"/whatsapp/{field}_env"


def test_blank_field_points_at_the_field():
    (f,) = run(with_("telegram", bot_token="  "))
    assert (f.code, f.pointer, f.target) == ("GW301", "/telegram/bot_token", "value")


@pytest.mark.parametrize(
    "value",
    ["123456:inline-literal", {"env": "sk-pasted-secret"}, {"vault": "x"}, {"exec": []}, 42, "$NAME"],
)
def test_any_configured_reference_counts_as_present(value):
    # Inline, malformed or unhygienic references are GW211/GW104/GW210, not GW301.
    assert run(with_("telegram", bot_token=value), "GW301") == []


@pytest.mark.parametrize(
    "family, field",
    [("feishu", "allowed_chat_ids"), ("telegram", "allowed_chat_ids"), ("matrix", "allowed_room_ids"), ("wecom", "allowed_conversation_ids")],
)
def test_empty_allowlist(family, field):
    (absent,) = run(with_(family, **{field: None}))
    assert (absent.code, absent.pointer, absent.target) == ("GW302", f"/{family}", "key")
    (empty,) = run(with_(family, **{field: []}))
    assert (empty.code, empty.pointer, empty.target) == ("GW302", f"/{family}/{field}", "value")
    assert run(with_(family, **{field: "not-a-list"}), "GW302") == []  # a type error, the schema's


def test_qqbot_and_whatsapp_need_no_allowlist():
    # loong serves both without one: no error. qqbot gets a warning because
    # gatewayctl's worker fails closed; whatsapp has no allowlist at all.
    found = run({"qqbot": {"enabled": True, "allowed_peer_ids": []}, "whatsapp": {"enabled": True}})
    assert [(f.code, f.pointer) for f in found] == [("GW306", "/qqbot/allowed_peer_ids")]
    assert run({"qqbot": {"enabled": True, "allowed_peer_ids": ["g_ops"]}, "whatsapp": {"enabled": True}}) == []


def test_qqbot_empty_allowlist_is_a_warning_per_enabled_account():
    from gatewayctl.diagnostics import CODES

    assert CODES["GW306"].severity == "warning"
    found = run({"qqbot": {"enabled": True, "accounts": {"a": {"allowed_peer_ids": ["u"]}, "b": {}, "c": {"enabled": False}}}})
    assert [(f.code, f.pointer) for f in found] == [("GW306", "/qqbot/accounts/b")]


def test_feishu_webhook_mode_needs_token_and_key():
    found = run(with_("feishu", mode="webhook"))
    assert sorted((f.code, f.pointer) for f in found) == [("GW303", "/feishu"), ("GW303", "/feishu")]
    assert {m for f in found for m in ("verification_token", "encrypt_key") if m in f.message} == {"verification_token", "encrypt_key"}
    assert run(with_("feishu", mode="webhook", verification_token_env="VT", encrypt_key={"env": "EK"})) == []
    assert run(with_("feishu", mode="websocket")) == []


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"user_id": None}, ["GW304"]),  # ignore_self_messages defaults to true
        ({"user_id": " "}, ["GW304"]),
        ({"user_id": None, "ignore_self_messages": False}, []),
        ({"user_id": None, "ignore_self_messages": False, "require_mention": True}, ["GW304"]),
        ({"user_id": None, "ignore_self_messages": "no"}, ["GW304"]),  # ill-typed: the default applies
        ({"base_url": None}, ["GW305"]),
        ({"base_url": ""}, ["GW305"]),
    ],
)
def test_matrix_needs(changes, expected):
    assert [f.code for f in run(with_("matrix", **changes))] == expected


def test_matrix_user_id_points_at_the_switch_that_needs_it():
    (f,) = run(with_("matrix", user_id=None, ignore_self_messages=False, require_mention=True))
    assert f.pointer == "/matrix/require_mention" and "require_mention" in f.message


def test_whatsapp_phone_number_id():
    assert run(with_("whatsapp", phone_number_id="123")) == []
    (f,) = run(with_("whatsapp", phone_number_id_env=""))
    assert (f.code, f.pointer) == ("GW305", "/whatsapp/phone_number_id_env")
    (f,) = run(with_("whatsapp", phone_number_id=" ", phone_number_id_env=" "))
    assert (f.code, f.pointer) == ("GW305", "/whatsapp/phone_number_id")
    assert run(with_("whatsapp", phone_number_id=" ", phone_number_id_env="WA_PHONE")) == []


@pytest.mark.parametrize(
    "data",
    [
        {"telegram": {"enabled": False}},
        {"telegram": {"accounts": {"a": {}}}},  # family enabled defaults to false
        {"telegram": {"enabled": True, "accounts": {"a": {"enabled": False}}}},
        {"slack": {"enabled": True}},  # outbound-only: not served by the gateway
        {"line": {"enabled": True}},
    ],
)
def test_only_effectively_enabled_supervised_accounts_are_checked(data):
    assert run(data) == []


def test_accounts_inherit_and_each_account_is_named():
    data = {
        "telegram": {
            "enabled": True,
            "allowed_chat_ids": [],
            "default_account": "a",
            "accounts": {"a": {"bot_token_env": "A"}, "b": {"bot_token_env": "B", "allowed_chat_ids": [5]}, "c": {}},
        }
    }
    found = run(data)
    assert sorted((f.code, f.pointer) for f in found) == [
        ("GW301", "/telegram/accounts/c"),
        ("GW302", "/telegram/allowed_chat_ids"),  # inherited: the most precise place is the family's
        ("GW302", "/telegram/allowed_chat_ids"),
    ]
    assert any('telegram account "a"' in f.message for f in found)
    assert any('telegram account "c"' in f.message and "[telegram.accounts.c]" in f.hint for f in found)


def test_inherited_credential_satisfies_accounts():
    data = {"telegram": {"enabled": True, "bot_token_env": "TG", "accounts": {"a": {"allowed_chat_ids": [1]}}}}
    assert run(data) == []


@pytest.mark.parametrize("field", ["app_id", "client_secret"])
def test_qqbot_credentials_default_to_env_names_unless_blanked(field):
    assert run({"qqbot": {"enabled": True, "allowed_peer_ids": ["u"]}}) == []
    (f,) = run({"qqbot": {"enabled": True, "allowed_peer_ids": ["u"], f"{field}_env": " "}})
    assert (f.code, f.pointer) == ("GW301", f"/qqbot/{field}_env")
