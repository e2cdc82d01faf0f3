"""GW310-GW314: URL scheme, embedded credentials, base-URL query, private hosts, parse errors."""

from __future__ import annotations

import pytest

from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules import RuleContext, urls
from gatewayctl.validate.rules.urls import private_host_kind


def run(data, code=None):
    found = list(urls.check(RuleContext(data, build_model(data))))
    return [f for f in found if code is None or f.code == code]


def codes(table, key, value, **extra):
    data = {table: {key: value}, **extra}
    return [f.code for f in run(data)]


@pytest.mark.parametrize(
    "table, key, value",
    [
        ("telegram", "base_url", "https://api.telegram.org"),
        ("telegram", "base_url", "  https://api.telegram.org/  "),
        ("feishu", "base_url", "https://open.larksuite.com"),
        ("matrix", "base_url", "https://matrix.example.org:8448/prefix"),
        ("wecom", "websocket_url", "wss://openws.work.weixin.qq.com"),
        ("whatsapp", "api_base_url", "https://graph.facebook.com/v25.0"),
        ("webhook", "public_base_url", "https://hooks.example.com/base"),
        ("mattermost", "server_url", "https://chat.example.com/?team=a"),  # not a *base_url*
        ("telegram", "base_url", "https://[2606:4700::1111]/"),
        ("telegram", "base_url", ""),
        # Families whose clients do not apply loong's outbound policy: a private
        # host is what loong uses (a local Bot API server, a LAN homeserver,
        # a bridge sidecar, an inbound public URL).
        ("onebot", "websocket_url", "ws://127.0.0.1:3001"),
        ("weixin", "bridge_url", "http://localhost:8788"),
        ("telegram", "base_url", "http://127.0.0.1:8081"),
        ("matrix", "base_url", "http://192.168.1.10:8008"),
        ("feishu", "base_url", "http://10.0.0.8"),
        ("wecom", "websocket_url", "ws://10.0.0.9/ws"),
        ("webhook", "public_base_url", "http://127.0.0.1:8080/hooks"),
        ("tlon", "url", "ship.example.com"),  # loong adds https://
        ("telegram", "base_url", "https://bücher.example/"),
    ],
)
def test_good_urls(table, key, value):
    assert codes(table, key, value) == []


@pytest.mark.parametrize(
    "table, key, value",
    [
        ("telegram", "base_url", "ftp://api.telegram.org"),
        ("telegram", "base_url", "ws://api.telegram.org"),
        ("wecom", "websocket_url", "https://openws.work.weixin.qq.com"),
        ("telegram", "base_url", "api.telegram.org"),
        ("telegram", "base_url", "localhost:8080"),
    ],
)
def test_scheme(table, key, value):
    assert codes(table, key, value) == ["GW310"]


def test_scheme_finding_narrows_to_the_scheme():
    (f,) = run({"telegram": {"base_url": "  ftp://api.telegram.org"}})
    assert (f.column_offset, f.length) == (2, 3)
    assert f.pointer == "/telegram/base_url" and "ftp" in f.message and "https://" in f.message


@pytest.mark.parametrize("value", ["https://bot:hunter2@api.telegram.org", "https://token@api.telegram.org", "https://:pw@api.telegram.org"])
def test_credentials_in_url_are_flagged_and_never_echoed(value):
    (f,) = run({"telegram": {"base_url": value}})
    assert f.code == "GW311"
    for secret in ("hunter2", "bot:", "token@", ":pw"):
        assert secret not in f.message + f.hint
    userinfo = value.split("//", 1)[1].rsplit("@", 1)[0]
    assert value[f.column_offset : f.column_offset + f.length] == userinfo + "@"


@pytest.mark.parametrize(
    "value",
    ["https://api.telegram.org/?token=abc", "https://api.telegram.org/#frag", "https://api.telegram.org/?", "https://api.telegram.org#"],
)
def test_query_or_fragment_on_base_url(value):
    found = run({"telegram": {"base_url": value}})
    assert [f.code for f in found] == ["GW312"]
    assert "token=abc" not in found[0].message


@pytest.mark.parametrize(
    "host, kind",
    [
        ("localhost", "loopback"),
        ("LOCALHOST.", "loopback"),
        ("api.localhost", "loopback"),
        ("printer.local", "private (local-only name)"),
        ("metadata.google.internal", "private (local-only name)"),
        ("127.0.0.1", "loopback"),
        ("127.1", "loopback"),
        ("2130706433", "loopback"),
        ("0x7f.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "special-use"),
        ("fe80::1", "special-use"),
        ("0.0.0.0", "special-use"),
        ("100.64.0.1", "special-use"),
        ("224.0.0.1", "special-use"),
        ("240.0.0.1", "special-use"),
    ],
)
def test_private_host_kinds(host, kind):
    assert private_host_kind(host) == kind


@pytest.mark.parametrize("host", ["api.telegram.org", "8.8.8.8", "2606:4700::1111", "cafe.be", "deadbeef", "local", "internal.example.com"])
def test_public_hosts(host):
    assert private_host_kind(host) is None


def test_private_host_finding_and_the_opt_in():
    (f,) = run({"whatsapp": {"api_base_url": "http://192.168.1.10:8008"}})
    assert f.code == "GW313" and '"192.168.1.10"' in f.message and "allow_private_hosts" in f.hint
    assert "http://192.168.1.10:8008"[f.column_offset : f.column_offset + f.length] == "192.168.1.10"
    assert codes("whatsapp", "api_base_url", "http://192.168.1.10:8008", outbound_http={"allow_private_hosts": True}) == []


@pytest.mark.parametrize(
    "table, key, value",
    [
        ("imessage", "bridge_url", "http://192.168.1.5:1234"),
        ("signal", "service_url", "http://127.0.0.1:8080"),
        ("discord", "api_base_url", "http://localhost:9000"),
        ("mattermost", "server_url", "http://10.1.2.3"),
        ("twitch", "oauth_base_url", "http://[::1]/"),
    ],
)
def test_private_host_where_loongs_client_applies_the_policy(table, key, value):
    # crates/app/src/channel/core/http.rs:31 with the config's policy.
    assert codes(table, key, value) == ["GW313"]


def test_tlon_url_without_scheme_is_https_and_columns_stay_true():
    (f,) = run({"tlon": {"url": "  localhost:8080"}})
    assert f.code == "GW313"
    assert "  localhost:8080"[f.column_offset : f.column_offset + f.length] == "localhost"


def test_several_problems_on_one_url():
    found = run({"slack": {"api_base_url": "http://u:p@localhost/?q"}})
    assert sorted(f.code for f in found) == ["GW311", "GW312", "GW313"]


@pytest.mark.parametrize(
    "value",
    ["https://[::1/", "https://api.telegram.org:99999/", "https://api.telegram.org:port/", "https:///path", "https://exa mple.com/", "https://[zz::1]/"],
)
def test_unparseable(value):
    assert codes("telegram", "base_url", value) == ["GW314"]


def test_accounts_and_non_url_fields():
    data = {
        "telegram": {
            "accounts": {"a": {"base_url": "https://bad host"}},
            "webhook_bind": "127.0.0.1:8080",  # a bind address, not a URL
            "acp": {"working_directory": "http://localhost"},
        },
        # A secret field: only the host is checked (dingtalk.rs:68 applies the policy).
        "dingtalk": {"webhook_url": "http://localhost/?access_token=abc"},
        "nostr": {"relay_urls": ["ws://localhost"]},
        "providers": {"ollama": {"base_url": "http://localhost:11434"}},
    }
    found = run(data)
    assert [(f.code, f.pointer) for f in found] == [("GW314", "/telegram/accounts/a/base_url"), ("GW313", "/dingtalk/webhook_url")]


def test_ill_typed_urls_are_tolerated():
    assert run({"telegram": {"base_url": 5}, "matrix": {"base_url": ["https://x"]}}) == []
