"""GW320: webhook path collisions between webhook-served accounts."""

from __future__ import annotations

import pytest

from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules import RuleContext, webhooks


def run(data, codes=("GW320",)):
    return [f for f in webhooks.check(RuleContext(data, build_model(data))) if f.code in codes]


def feishu(accounts, **top):
    return {"enabled": True, "mode": "webhook", "default_account": next(iter(accounts)), "accounts": accounts, **top}


def test_two_feishu_webhook_accounts_on_the_default_path():
    (f,) = run({"feishu": feishu({"a": {}, "b": {}})})
    assert (f.code, f.pointer, f.target) == ("GW320", "/feishu/accounts/b", "key")
    assert '"/feishu/events"' in f.message and 'feishu account "a"' in f.message and 'feishu account "b"' in f.message
    assert "feishu.accounts.b.webhook_path" in f.hint


def test_own_path_is_pointed_at():
    (f,) = run({"feishu": feishu({"a": {"webhook_path": "/x"}, "b": {"webhook_path": " /x "}})})
    assert (f.pointer, f.target) == ("/feishu/accounts/b/webhook_path", "value")


def test_inherited_path_points_at_the_account():
    (f,) = run({"feishu": feishu({"a": {}, "b": {}}, webhook_path="/shared")})
    assert (f.pointer, f.target) == ("/feishu/accounts/b", "key")


@pytest.mark.parametrize(
    "data",
    [
        {"feishu": feishu({"a": {"webhook_path": "/a"}, "b": {"webhook_path": "/b"}})},
        {"feishu": feishu({"a": {"mode": "websocket"}, "b": {}})},  # the default account is in websocket mode
        {"feishu": feishu({"a": {"enabled": False}, "b": {}})},  # the default account is disabled
        {"feishu": {**feishu({"a": {}, "b": {}}), "mode": "websocket"}},
        {"feishu": {**feishu({"a": {}, "b": {}}), "enabled": False}},
        {"feishu": {"enabled": True, "accounts": {"a": {}, "b": {}}}},  # websocket is the default mode
        {"feishu": feishu({"a": {}, "b": {"webhook_path": 5}})},  # ill-typed: the schema's
        {"feishu": {"enabled": True, "mode": "webhook"}, "whatsapp": {"enabled": True}},  # different defaults
        {"telegram": {"enabled": True, "accounts": {"a": {"webhook_path": "/x"}, "b": {"webhook_path": "/x"}}}},
    ],
)
def test_no_collision(data):
    assert run(data) == []


def test_collision_across_families_on_the_shared_port():
    (f,) = run({"feishu": {"enabled": True, "mode": "webhook", "webhook_path": "/webhook"}, "whatsapp": {"enabled": True}})
    assert (f.pointer, f.target) == ("/whatsapp", "key")
    assert "[feishu]" in f.message and "[whatsapp]" in f.message


def test_paths_compare_after_trimming_and_a_leading_slash():
    (f,) = run({"whatsapp": {"enabled": True, "accounts": {"a": {"webhook_path": "hook"}, "b": {"webhook_path": "/hook"}}, "default_account": "a"}})
    assert f.pointer == "/whatsapp/accounts/b/webhook_path"


@pytest.mark.parametrize("other", [{"mode": "websocket"}, {"enabled": False}])
def test_a_webhook_default_drags_every_account_onto_the_router(other):
    # loong mounts every configured account once the default serves webhooks
    # (channel/gateway_ingress.rs:132), disabled and websocket-mode ones too.
    (f,) = run({"feishu": feishu({"a": {}, "b": other})})
    assert (f.code, f.pointer) == ("GW320", "/feishu/accounts/b")


def test_mounted_disabled_account_gets_loongs_security_checks():
    found = run({"feishu": feishu({"a": {"allowed_chat_ids": ["oc_a"]}, "b": {"enabled": False, "webhook_path": "/b"}})}, codes=("GW302", "GW303"))
    assert sorted((f.code, f.pointer) for f in found) == [
        ("GW302", "/feishu/accounts/b"),
        ("GW303", "/feishu/accounts/b"),
        ("GW303", "/feishu/accounts/b"),
    ]
    assert all("is disabled" in f.message and "mounted" in f.message for f in found)


def test_allowlist_with_only_blank_entries_counts_as_empty():
    found = run({"feishu": feishu({"a": {"allowed_chat_ids": ["oc_a"]}, "b": {"enabled": False, "mode": "websocket", "allowed_chat_ids": [" ", ""], "webhook_path": "/b"}})}, codes=("GW302",))
    assert [f.pointer for f in found] == ["/feishu/accounts/b/allowed_chat_ids"]
    assert "only blank entries" in found[0].message


def test_same_runtime_id_on_the_router_is_refused():
    (f,) = run({"feishu": feishu({"a": {"webhook_path": "/a"}, "b": {"webhook_path": "/b"}}, app_id={"env": "FEISHU_APP_ID"})}, codes=("GW321",))
    assert f.pointer == "/feishu/accounts/b" and "FEISHU_APP_ID" in f.message
    assert run({"feishu": feishu({"a": {"webhook_path": "/a"}, "b": {"webhook_path": "/b", "account_id": "b"}})}, codes=("GW321",)) == []


def test_line_and_webhook_paths_share_the_router():
    data = {
        "line": {"enabled": True, "channel_secret": {"env": "LINE_SECRET"}},
        "webhook": {"enabled": True, "public_base_url": "https://hooks.example.com/ingress/line/default"},
    }
    (f,) = run(data)
    assert (f.code, f.pointer) == ("GW320", "/webhook")
    assert '"/ingress/line/default"' in f.message


def test_three_accounts_on_one_path_give_two_findings():
    found = run({"whatsapp": {"enabled": True, "default_account": "a", "accounts": {"a": {}, "b": {}, "c": {}}}})
    assert [f.pointer for f in found] == ["/whatsapp/accounts/b", "/whatsapp/accounts/c"]
