"""GW330 values loong refuses at load, GW105 load-time ranges, and the
runtime ids GW204/GW321 compare (unit level; fixtures/loong/cases/ has the
loong file:line of each behaviour)."""

from __future__ import annotations

import pytest

from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules import RuleContext, values
from gatewayctl.validate.rules.values import irc_server_problem, is_mailbox, smtp_endpoint_problem
from gatewayctl.validate.runtime_ids import runtime_id


def run(data):
    return list(values.check(RuleContext(data, build_model(data))))


@pytest.mark.parametrize("host", ["smtp.example.com", "smtp://smtp.example.com:25", "SMTPS://mail.example.com", "smtp://[::1]:25", "localhost"])
def test_smtp_hosts_loong_accepts(host):
    assert smtp_endpoint_problem(host) is None


@pytest.mark.parametrize(
    "host, fragment",
    [
        ("smtp.example.com:587", "port"),
        ("[::1]", "port"),  # any ":" in a bare host
        ("https://smtp.example.com", "https://"),
        ("smtp example.com", "whitespace"),
        ("smtp.example.com/x", "bare host"),
        ("smtp://", "without a host"),
        ("smtp://smtp.example.com:99999", "not a valid URL"),
    ],
)
def test_smtp_hosts_loong_refuses(host, fragment):
    assert fragment in smtp_endpoint_problem(host)


@pytest.mark.parametrize("value", ["ops@example.com", "Loong <ops@example.com>", '"Ops Team" <ops@example.com>', "o.p+s@sub.example.co"])
def test_mailboxes(value):
    assert is_mailbox(value)


@pytest.mark.parametrize("value", ["ops at example.com", "ops@", "@example.com", "Loong <ops@example.com", "a b@example.com", "ops@exa mple.com"])
def test_not_mailboxes(value):
    assert not is_mailbox(value)


@pytest.mark.parametrize("server", ["irc.libera.chat", "ircs://irc.libera.chat:6697", "irc://irc.libera.chat/", "IRCS://irc.libera.chat"])
def test_irc_servers_loong_accepts(server):
    assert irc_server_problem(server) is None


@pytest.mark.parametrize(
    "server, fragment",
    [
        ("irc.libera.chat:6697", "host:port"),
        ("ircs://u:p@irc.libera.chat", "credentials"),
        ("ircs://irc.libera.chat/?x", "query"),
        ("ircs://irc.libera.chat/#c", "fragment"),
        ("ircs://irc.libera.chat/chan", "path"),
        ("irc://irc.libera.chat:0", "port 0"),
        ("http://irc.libera.chat", "unsupported scheme"),
    ],
)
def test_irc_servers_loong_refuses(server, fragment):
    assert fragment in irc_server_problem(server)


def test_messages_never_repeat_the_value():
    (f,) = run({"irc": {"server": "ircs://bot:Hunter2Secret@irc.libera.chat"}})
    assert "Hunter2Secret" not in f.message + f.hint and f.pointer == "/irc/server"


def test_values_are_checked_in_disabled_families_and_accounts():
    found = run({"email": {"enabled": False, "accounts": {"a": {"enabled": False, "from_address": "nobody"}}}})
    assert [(f.code, f.pointer) for f in found] == [("GW330", "/email/accounts/a/from_address")]


def test_load_time_ranges():
    found = run({"memory": {"sliding_window": 129}, "feishu_integration": {"retry_initial_backoff_ms": 500, "retry_max_backoff_ms": 400}})
    assert sorted((f.code, f.pointer) for f in found) == [
        ("GW105", "/feishu_integration/retry_max_backoff_ms"),
        ("GW105", "/memory/sliding_window"),
    ]
    assert run({"memory": {"sliding_window": True}}) == []  # ill-typed: the schema's


@pytest.mark.parametrize(
    "family, table, account, expected",
    [
        ("onebot", {"websocket_url": "ws://10.0.0.5:80/x"}, {}, "onebot_10-0-0-5"),  # default port dropped
        ("onebot", {"websocket_url": "ws://[::1]:5700"}, {}, "onebot_1-5700"),
        ("whatsapp-personal", {}, {"bridge_url": "http://Bridge.Local:39731"}, "whatsapp_personal_bridge-local-39731"),
        ("qqbot", {"app_id": "1020304"}, {}, "qqbot_1020304"),
        ("feishu", {"app_id": "cli_A1", "domain": "lark"}, {}, "lark_cli_a1"),
        ("weixin", {"account_id": "WX Main"}, {}, "wx-main"),
        ("weixin", {"account_id": "WX Main"}, {"account_id": ""}, "default"),  # a blank own id blocks the family's
        ("line", {}, {"account_id": "---"}, "default"),  # no letter or digit: not an id
        ("matrix", {"user_id": "@bot:example.org"}, {}, "bot-example-org"),
    ],
)
def test_runtime_ids(family, table, account, expected):
    assert runtime_id(family, table, account).id == expected


def test_symbolic_runtime_ids_compare_by_reference():
    a = runtime_id("qqbot", {"app_id": {"env": "QQ_APP"}}, {})
    b = runtime_id("qqbot", {}, {"app_id_env": "QQ_APP"})
    c = runtime_id("qqbot", {}, {"app_id": {"file": "/run/qq"}})
    assert a.id is None and a.token == b.token != c.token
