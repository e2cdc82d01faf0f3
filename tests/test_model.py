"""The config model: families, accounts, inheritance and default lanes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from gatewayctl.catalog import BY_TABLE
from gatewayctl.validate.model import (
    SOURCE_EXPLICIT,
    SOURCE_FALLBACK,
    SOURCE_MAPPED_DEFAULT,
    SOURCE_SINGLE_ACCOUNT,
    build_model,
)
from gatewayctl.validate.rules import RuleContext, run_all
from tests.support import examples

REPO = Path(__file__).resolve().parents[1]


def test_seed_example_model():
    data = tomllib.loads((REPO / "examples" / "gateway-rollout.toml").read_text())
    model = build_model(data)
    assert [f.family for f in model.families] == ["feishu", "telegram", "wecom"]
    feishu = model.family("feishu")
    assert feishu.enabled and feishu.has_accounts and feishu.id_known
    assert (feishu.default_id, feishu.default_source) == ("work", SOURCE_EXPLICIT)
    work = feishu.account("Work")
    assert work is feishu.default_account
    assert work.enabled and work.own_enabled
    assert work.settings["mode"] == "websocket"  # inherited from [feishu]
    assert work.field_pointer("mode") == "/feishu/mode"
    assert work.field_pointer("domain") == "/feishu/accounts/work/domain"
    assert model.family("matrix") is None
    # gatewayctl's settings are in examples/gatewayctl.toml, not in loong's config
    assert dict(model.gateway) == {}
    assert not model.allow_private_hosts


def test_only_present_tables_become_families_and_table_names_have_no_aliases():
    model = build_model({"lark": {"enabled": True}, "whatsapp_personal": {}, "google_chat": {}, "memory": {}})
    assert [f.family for f in model.families] == ["whatsapp-personal", "google-chat"]
    assert model.family("whatsapp-personal").pointer == "/whatsapp_personal"


def test_inheritance_and_acp_replacement():
    data = {
        "telegram": {
            "enabled": True,
            "account_id": "family-identity",
            "bot_token_env": "BASE",
            "polling_timeout_s": 25,
            "allowed_chat_ids": [1001],
            "acp": {"bootstrap_mcp_servers": ["filesystem"], "working_directory": "/base"},
            "default_account": "Work Bot",
            "accounts": {
                "Work Bot": {
                    "bot_token_env": "WORK",
                    "allowed_chat_ids": [2002],
                    "acp": {"bootstrap_mcp_servers": ["search"]},
                },
                "Personal": {"enabled": False},
            },
        }
    }
    fam = build_model(data).family("telegram")
    work = fam.account("work-bot")
    assert work.key == "Work Bot" and work.id == "work-bot"
    assert dict(work.settings) == {
        "account_id": "family-identity",  # inherited: loong merges account.or(family), channels.rs:1964
        "bot_token_env": "WORK",
        "polling_timeout_s": 25,
        "allowed_chat_ids": [2002],
        "acp": {"bootstrap_mcp_servers": ["search"]},  # replaced whole, no working_directory
    }
    # The runtime identity is inherited; the key still names (and selects) the account.
    assert work.account_id_override == "family-identity" and work.field_pointer("account_id") == "/telegram/account_id"
    assert fam.account("family-identity") is None
    personal = fam.account("PERSONAL")
    assert personal.settings["allowed_chat_ids"] == [1001]
    assert personal.settings["acp"] == {"bootstrap_mcp_servers": ["filesystem"], "working_directory": "/base"}
    assert personal.own_enabled is False and personal.enabled is False
    assert work.enabled is True
    for acc in fam.accounts:
        assert not {"enabled", "accounts", "default_account"} & set(acc.settings)
    assert fam.account_ids == ("personal", "work-bot")
    assert (fam.default_id, fam.default_source) == ("work-bot", SOURCE_EXPLICIT)


def test_settings_are_read_only_and_data_untouched():
    data = {"telegram": {"enabled": True, "accounts": {"a": {"bot_token_env": "A"}}}}
    acc = build_model(data).family("telegram").accounts[0]
    with pytest.raises(TypeError):
        acc.settings["x"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        acc.id = "b"  # type: ignore[misc]
    assert data == {"telegram": {"enabled": True, "accounts": {"a": {"bot_token_env": "A"}}}}


def test_account_repr_never_shows_settings():
    data = {"telegram": {"enabled": True, "bot_token": "123456:S3cr3tInlineValue"}}
    model = build_model(data)
    assert "S3cr3tInlineValue" not in repr(model)
    hash(model)  # frozen models stay hashable


@pytest.mark.parametrize(
    "family_enabled, account_enabled, expected",
    [(True, None, True), (True, True, True), (True, False, False), (False, True, False), (None, None, False), ("yes", True, False)],
)
def test_effective_enabled(family_enabled, account_enabled, expected):
    fam_table = {"accounts": {"a": {}}}
    if family_enabled is not None:
        fam_table["enabled"] = family_enabled
    if account_enabled is not None:
        fam_table["accounts"]["a"]["enabled"] = account_enabled
    acc = build_model({"wecom": fam_table}).family("wecom").accounts[0]
    assert acc.enabled is expected


@pytest.mark.parametrize(
    "accounts, default_account, expected",
    [
        (["work", "ops"], "Work", ("work", SOURCE_EXPLICIT)),
        (["work", "ops"], "  ", ("ops", SOURCE_FALLBACK)),
        (["work", "Default"], None, ("default", SOURCE_MAPPED_DEFAULT)),
        (["work", "DEFAULT "], "missing", ("default", SOURCE_MAPPED_DEFAULT)),
        (["zeta", "alpha", "Mid"], None, ("alpha", SOURCE_FALLBACK)),
        (["only"], None, ("only", SOURCE_FALLBACK)),
        (["Lark Prod"], "lark prod", ("lark-prod", SOURCE_EXPLICIT)),
        (["work", "ops"], 7, ("ops", SOURCE_FALLBACK)),  # ill-typed default is ignored
    ],
)
def test_default_lane_resolution(accounts, default_account, expected):
    table = {"enabled": True, "accounts": {k: {} for k in accounts}}
    if default_account is not None:
        table["default_account"] = default_account
    fam = build_model({"feishu": table}).family("feishu")
    assert (fam.default_id, fam.default_source) == expected
    assert fam.id_known


def test_single_account_shape_with_and_without_account_id():
    fam = build_model({"telegram": {"enabled": True, "bot_token_env": "TG"}}).family("telegram")
    assert not fam.has_accounts
    assert (fam.id_known, fam.default_id, fam.default_source) == (False, None, SOURCE_SINGLE_ACCOUNT)
    (acc,) = fam.accounts
    assert acc.id is None and acc.key == "" and acc.pointer == "/telegram" and acc.enabled
    assert fam.account("anything") is None
    assert fam.default_account is acc

    fam = build_model({"telegram": {"account_id": " Ops Bot ", "accounts": {}}}).family("telegram")
    assert not fam.has_accounts  # an empty accounts table is the single-account shape
    assert (fam.id_known, fam.default_id, fam.default_source) == (True, "ops-bot", SOURCE_SINGLE_ACCOUNT)
    assert fam.accounts[0].key == "Ops Bot"
    assert fam.account("OPS BOT") is fam.accounts[0]
    assert not fam.enabled and not fam.accounts[0].enabled


def test_colliding_keys_are_both_kept_and_lookup_returns_the_first():
    fam = build_model({"feishu": {"accounts": {"Work": {"x": 1}, "work": {"x": 2}}}}).family("feishu")
    assert [a.key for a in fam.accounts] == ["Work", "work"]
    assert fam.account("WORK").settings["x"] == 1
    assert fam.account_ids == ("work",)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "text",
        {"telegram": "not a table"},
        {"telegram": {"accounts": ["a", "b"]}},
        {"telegram": {"accounts": {"a": "not a table", "": {}, "  ": {}}}},
        {"telegram": {"enabled": "true", "accounts": {"a": {"enabled": "no"}}}},
        {"outbound_http": {"allow_private_hosts": "true"}, "gateway": []},
        {1: {"enabled": True}},
    ],
)
def test_ill_typed_data_never_raises(data):
    model = build_model(data)
    assert not model.allow_private_hosts
    for fam in model.families:
        for acc in fam.accounts:
            assert isinstance(acc.enabled, bool)


def test_unusable_account_keys_are_skipped():
    fam = build_model({"telegram": {"accounts": {"a": "x", "": {}, "b": {}}}}).family("telegram")
    assert [a.key for a in fam.accounts] == ["b"]


def test_allow_private_hosts_only_when_true():
    assert build_model({"outbound_http": {"allow_private_hosts": True}}).allow_private_hosts
    assert not build_model({"outbound_http": {"allow_private_hosts": 1}}).allow_private_hosts


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    [
        "enabled", "account_id", "default_account", "accounts", "bot_token", "bot_token_env", "app_id",
        "app_secret", "mode", "webhook_path", "base_url", "api_base_url", "websocket_url", "allowed_chat_ids",
        "allowed_room_ids", "user_id", "ignore_self_messages", "require_mention", "phone_number_id",
        "phone_number_id_env", "access_token", "access_token_env", "verify_token", "acp", "bridge_url",
    ]
)  # fmt: skip
TABLE = st.dictionaries(FIELD_NAMES, JSONISH, max_size=6)
ACCOUNT_TABLE = st.dictionaries(st.text(max_size=6), TABLE | JSONISH, max_size=3)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(sorted(BY_TABLE) + ["outbound_http", "providers", "gateway", "lark"]),
        st.one_of(TABLE, JSONISH, TABLE.flatmap(lambda t: ACCOUNT_TABLE.map(lambda a: {**t, "accounts": a}))),
        max_size=4,
    )
)
def test_model_and_rules_never_raise_on_arbitrary_data(data):
    model = build_model(data)
    findings = run_all(RuleContext(data, model))
    for f in findings:
        assert f.code.startswith(("GW2", "GW3")) and f.pointer.startswith("/")


def test_an_account_own_account_id_even_blank_replaces_the_familys():
    """loong: ``account.account_id.clone().or_else(|| family.account_id)``: an
    account that writes one keeps it; a blank or symbol-only one then gives
    no configured identity (crates/app/src/config/channels_account_resolution.rs:24)."""
    data = {
        "qqbot": {
            "account_id": "Shared Bot",
            "accounts": {"a": {"account_id": "Own"}, "b": {"account_id": " "}, "c": {"account_id": "--"}, "d": {}},
        }
    }
    fam = build_model(data).family("qqbot")
    got = {a.key: a.account_id_override for a in fam.accounts}
    assert got == {"a": "own", "b": None, "c": None, "d": "shared-bot"}
    assert fam.account("d").field_pointer("account_id") == "/qqbot/account_id"
    assert fam.account("a").field_pointer("account_id") == "/qqbot/accounts/a/account_id"
