"""`gatewayctl channels`: each family of a config, classified, with its
accounts and default account and why."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli
from gatewayctl.compile.channels import describe_channels
from gatewayctl.validate.model import build_model

from tests.test_plan_support import REPO

SHAPES = REPO / "fixtures" / "plans" / "default-shapes.toml"

MIXED = """
[telegram]
enabled = false
bot_token = { env = "T" }

[line]
enabled = true

[weixin]
enabled = true

[zalo]
enabled = false

[wecom]
enabled = true
default_account = "alerts"

[wecom.accounts.alerts]
enabled = false

[wecom.accounts.ops]
"""


def _rows(text):
    import tomllib

    return {r.family: r for r in describe_channels(build_model(tomllib.loads(text)))}


def test_each_class_is_reported():
    rows = _rows(MIXED)
    assert {f: r.klass for f, r in rows.items()} == {
        "telegram": "gateway-supervised",
        "wecom": "gateway-supervised",
        "line": "native-serve",
        "weixin": "plugin-bridge",
        "zalo": "catalog-only",
    }
    assert rows["line"].class_label == "native-serve (standalone)"
    assert rows["line"].runs_in_gateway is None  # not a gateway family at all
    assert rows["telegram"].runs_in_gateway == "no lane: family disabled"
    assert "default account is disabled" in rows["wecom"].runs_in_gateway
    assert [(a.id, a.enabled) for a in rows["wecom"].accounts] == [("alerts", False), ("ops", True)]
    # catalog order: supervised families first
    assert list(rows) == ["telegram", "wecom", "line", "weixin", "zalo"]


def test_default_reasons():
    rows = _rows(SHAPES.read_text())
    assert (rows["feishu"].default_id, rows["feishu"].default_source) == ("ops-room", "explicit")
    assert rows["feishu"].default_reason == "default_account names it"
    assert rows["telegram"].default_source == "mapped_default"
    assert rows["wecom"].default_reason.startswith("first account id in sort order")
    assert rows["whatsapp"].default_reason == "single-account shape: account_id names it"
    assert rows["matrix"].default_id is None and "derived from credentials" in rows["matrix"].default_reason
    assert rows["slack"].klass == "outbound-only"


def test_channels_cli_text_and_json(monkeypatch):
    monkeypatch.chdir(REPO)
    r = CliRunner().invoke(cli, ["channels", "--config", "fixtures/plans/default-shapes.toml"])
    assert r.exit_code == 0
    assert "feishu [feishu]  gateway-supervised, enabled" in r.stdout
    assert "default     ops-room: default_account names it" in r.stdout
    assert "slack [slack]  outbound-only, enabled" in r.stdout
    r = CliRunner().invoke(cli, ["channels", "--config", "fixtures/plans/default-shapes.toml", "--json"])
    body = json.loads(r.stdout)
    fams = {f["family"]: f for f in body["families"]}
    assert fams["wecom"]["default_account"] == "alpha" and fams["wecom"]["default_source"] == "fallback"
    assert fams["telegram"]["accounts"] == [
        {"id": "default", "label": "Default", "enabled": True},
        {"id": "backup", "label": "backup", "enabled": True},
    ]
    assert fams["slack"]["gateway_lane"] is None and fams["slack"]["class"] == "outbound-only"


def test_channels_cli_errors(tmp_path):
    r = CliRunner().invoke(cli, ["channels", "--config", str(tmp_path / "nope.toml")])
    assert r.exit_code == exitcodes.USAGE
    bad = tmp_path / "bad.toml"
    bad.write_text("[telegram\n")
    r = CliRunner().invoke(cli, ["channels", "--config", str(bad)])
    assert r.exit_code == exitcodes.DIAGNOSTICS and "GW002" in r.stderr
