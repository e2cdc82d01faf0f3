"""GW201 default_account naming no account, GW202 id collisions, GW203 fallback default."""

from __future__ import annotations

import pytest

from gatewayctl.diagnostics import CODES
from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules import RuleContext, accounts


def run(data, code=None):
    found = list(accounts.check(RuleContext(data, build_model(data))))
    return [f for f in found if code is None or f.code == code]


def test_default_account_missing_lists_configured_ids():
    data = {"wecom": {"default_account": "oncall", "accounts": {"Alerts": {}, "ops team": {}}}}
    (f,) = run(data)
    assert f.code == "GW201" and f.pointer == "/wecom/default_account" and f.target == "value"
    assert '"oncall"' in f.message and "alerts, ops-team" in f.message
    assert "alerts, ops-team" in f.hint


@pytest.mark.parametrize("default", ["Alerts", " alerts ", "ALERTS", "", "   ", 3, None])
def test_default_account_that_resolves_or_is_unset_is_fine(default):
    table = {"accounts": {"alerts": {}}}
    if default is not None:
        table["default_account"] = default
    assert run({"wecom": table}, "GW201") == []


def test_default_account_without_accounts_is_not_checked():
    # loong ignores default_account in the single-account shape.
    assert run({"telegram": {"default_account": "x", "bot_token_env": "T"}}) == []


def test_collision_names_both_keys_and_points_at_the_second():
    data = {"feishu": {"default_account": "work", "accounts": {"Work": {}, "work": {}, "WORK!": {}}}}
    found = run(data, "GW202")
    assert [f.pointer for f in found] == ["/feishu/accounts/work", "/feishu/accounts/WORK!"]
    assert all(f.target == "key" for f in found)
    assert '"Work" and "work"' in found[0].message and '"work"' in found[0].message
    assert '"Work" and "WORK!"' in found[1].message


def test_no_collision_for_distinct_ids():
    assert run({"feishu": {"default_account": "a", "accounts": {"a": {}, "a-b": {}, "a_b": {}}}}, "GW202") == []


def test_fallback_default_with_two_accounts_warns():
    (f,) = run({"telegram": {"enabled": True, "accounts": {"zeta": {}, "Alpha": {}}}})
    assert f.code == "GW203" and CODES[f.code].severity == "warning"
    assert f.pointer == "/telegram" and f.target == "key"
    assert '"alpha"' in f.message and 'default_account = "alpha"' in f.hint


@pytest.mark.parametrize(
    "table",
    [
        {"accounts": {"only": {}}},  # one account: nothing depends on order
        {"accounts": {"a": {}, "default": {}}},  # mapped default
        {"accounts": {"a": {}, "b": {}}, "default_account": "b"},  # explicit
        {"accounts": {"A": {}, "a": {}}},  # one id after normalization (GW202 instead)
    ],
)
def test_no_fallback_warning(table):
    assert run({"telegram": table}, "GW203") == []


def test_missing_default_does_not_also_warn_fallback():
    found = run({"telegram": {"default_account": "c", "accounts": {"a": {}, "b": {}}}})
    assert [f.code for f in found] == ["GW201"]


@pytest.mark.parametrize("data", [{"telegram": {"accounts": "x"}}, {"telegram": {"default_account": ["x"], "accounts": {"a": {}, "b": {}}}}])
def test_ill_typed_values_are_tolerated(data):
    codes = [f.code for f in run(data)]
    assert "GW201" not in codes
