"""GW320: webhook path collisions between webhook-served accounts."""

from __future__ import annotations

import pytest

from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules import RuleContext, webhooks


def run(data):
    return list(webhooks.check(RuleContext(data, build_model(data))))


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
        {"feishu": feishu({"a": {}, "b": {"mode": "websocket"}})},
        {"feishu": feishu({"a": {}, "b": {"enabled": False}})},
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


def test_three_accounts_on_one_path_give_two_findings():
    found = run({"whatsapp": {"enabled": True, "default_account": "a", "accounts": {"a": {}, "b": {}, "c": {}}}})
    assert [f.pointer for f in found] == ["/whatsapp/accounts/b", "/whatsapp/accounts/c"]
