"""URL rules for channel settings (every ``*_url`` field that is not a
secret reference): GW310 scheme (http/https; ws/wss for websocket URLs),
GW311 user name or password in the URL, GW312 query or fragment on a base
URL, GW313 private/loopback/special-use host without ``[outbound_http]
allow_private_hosts = true``, GW314 unparseable URL.

The private-host rule follows loong's outbound HTTP policy
(``[outbound_http] allow_private_hosts``, crates/app/src/channel/core/http.rs:31),
which only the HTTP clients of some families apply, each to its own
fields: the ``PRIVATE_HOST_POLICY`` table below. Every other URL (Telegram's
local Bot API server, a Matrix homeserver on the LAN, Feishu, WeCom, the
plugin bridges, webhook's inbound ``public_base_url``) is used without that
policy, so a private host there is no error. Like loong (which resolves no
DNS when it validates: web_http.rs:68), a name is private only when it is
``localhost``, a ``*.localhost`` / ``*.local`` / ``*.internal`` /
``*.home.arpa`` name that can only resolve privately (loong's resolver
refuses it when it connects), or an IP literal loong classifies as private
or special-use.

Messages never echo a URL: it may carry a password, a token in its path or
in its query. They name the field, and at most the scheme or the host.

Imports only the standard library, diagnostics, catalog and the validate
model; never source, compile, runtime, report or cli.
"""

from __future__ import annotations

from collections.abc import Iterator

from gatewayctl.diagnostics import Finding
from gatewayctl.lazyre import lazy
from gatewayctl.validate.rules._common import Location, locations, secret_fields
from gatewayctl.validate.secrets import INLINE, classify

HTTP_SCHEMES = ("http", "https")
WS_SCHEMES = ("ws", "wss")
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")
_LEGACY_IPV4 = lazy(r"[0-9a-fx.]+")
_HOST_CHARS = lazy(r"[A-Za-z0-9._\-]+")
# family -> the URL fields whose host loong checks against the outbound
# policy, with the source line of the check.
PRIVATE_HOST_POLICY: dict[str, frozenset[str]] = {
    "discord": frozenset({"api_base_url"}),  # channel/discord.rs:43
    "slack": frozenset({"api_base_url"}),  # channel/slack.rs:43
    "line": frozenset({"api_base_url"}),  # channel/line.rs:123
    "dingtalk": frozenset({"webhook_url"}),  # channel/dingtalk.rs:68
    "whatsapp": frozenset({"api_base_url"}),  # channel/whatsapp/mod.rs:65
    "webhook": frozenset({"endpoint_url"}),  # channel/webhook.rs:150
    "google-chat": frozenset({"webhook_url"}),  # channel/google_chat.rs:27
    "signal": frozenset({"service_url"}),  # channel/signal.rs:45
    "teams": frozenset({"webhook_url"}),  # channel/teams.rs:81
    "mattermost": frozenset({"server_url"}),  # channel/mattermost.rs:39
    "nextcloud-talk": frozenset({"server_url"}),  # channel/nextcloud_talk.rs:96
    "synology-chat": frozenset({"incoming_url"}),  # channel/synology_chat.rs:35
    "imessage": frozenset({"bridge_url"}),  # channel/imessage.rs:79
    "twitch": frozenset({"api_base_url", "oauth_base_url"}),  # channel/twitch.rs:342
    "tlon": frozenset({"url"}),  # channel/tlon.rs:57
}
# Fields loong reads without a scheme, adding https:// (channel/tlon.rs:277).
_SCHEMELESS_HTTPS = frozenset({("tlon", "url")})


def check(ctx) -> Iterator[Finding]:
    allow_private = ctx.model.allow_private_hosts
    for loc in locations(ctx.data):
        secret = secret_fields(loc.family)
        for key, value in loc.table.items():
            if not isinstance(key, str) or not isinstance(value, str):
                continue
            if key in secret:
                # A webhook URL that carries its token is a secret field; written
                # inline, loong still sends to it under the outbound policy.
                if key in PRIVATE_HOST_POLICY.get(loc.family, ()) and not allow_private and classify(value).kind == INLINE:
                    yield from (f for f in check_url(loc, key, value, allow_private=False) if f.code == "GW313")
                continue
            if key.endswith("_url") or (loc.family, key) in _SCHEMELESS_HTTPS:
                enforced = key in PRIVATE_HOST_POLICY.get(loc.family, ())
                shift = 0
                if (loc.family, key) in _SCHEMELESS_HTTPS and value.strip() and "://" not in value:
                    # loong reads it as https://<value>; findings keep columns of the value as written.
                    lead = len(value) - len(value.lstrip())
                    value, shift = value[:lead] + "https://" + value[lead:], len("https://")
                for f in check_url(loc, key, value, allow_private=allow_private or not enforced):
                    yield _unshift(f, shift) if shift else f


def _unshift(f: Finding, shift: int) -> Finding:
    if f.column_offset is None:
        return f
    offset = f.column_offset - shift
    if offset < 0:
        return Finding(f.code, f.pointer, f.message, hint=f.hint, target=f.target)
    return Finding(f.code, f.pointer, f.message, hint=f.hint, target=f.target, column_offset=offset, length=f.length)


def schemes_for(key: str) -> tuple[str, ...]:
    return WS_SCHEMES if key == "websocket_url" or key.endswith("_ws_url") else HTTP_SCHEMES


def is_base_url(key: str) -> bool:
    return key.endswith("base_url")


def check_url(loc: Location, key: str, raw: str, *, allow_private: bool) -> Iterator[Finding]:
    from urllib.parse import urlsplit  # imported when a URL is checked: most configs have none

    text = raw.strip()
    if not text:
        return
    lead = len(raw) - len(raw.lstrip())
    ptr = loc.pointer(key)
    name = f"{loc.dotted}.{key}"
    allowed = schemes_for(key)
    allowed_text = " or ".join(f"{s}://" for s in allowed)

    if "://" not in text:
        yield Finding(
            "GW310",
            ptr,
            f"{name} has no scheme; it must start with {allowed_text}",
            hint=f"write the full URL, e.g. {allowed[-1]}://host/",
        )
        return
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
        host = parts.hostname
    except ValueError:
        yield Finding("GW314", ptr, f"{name} is not a valid URL", hint="check brackets, the port and stray characters")
        return

    scheme = parts.scheme.lower()
    if scheme not in allowed:
        import re

        shown = scheme if re.fullmatch(r"[a-z][a-z0-9+.\-]*", scheme) else "an invalid scheme"
        yield Finding(
            "GW310",
            ptr,
            f"{name} uses {shown}; it must use {allowed_text}",
            hint=f"use {allowed[-1]}:// (or {allowed[0]}:// only where plain text is acceptable)",
            column_offset=lead,
            length=len(parts.scheme),
        )
    if not host or not _valid_host(host):
        yield Finding("GW314", ptr, f"{name} is not a valid URL: it has no usable host", hint="write scheme://host[:port]/path")
        return

    netloc_at = text.find(parts.netloc)
    if parts.username is not None or parts.password is not None:
        userinfo = parts.netloc.rpartition("@")[0]
        yield Finding(
            "GW311",
            ptr,
            f"{name} embeds credentials (user name or password) in the URL; they are not shown here",
            hint="remove user:password@ from the URL and give the credential through its own secret field",
            column_offset=lead + netloc_at if netloc_at >= 0 else None,
            length=len(userinfo) + 1 if netloc_at >= 0 else None,
        )
    if is_base_url(key) and (parts.query or parts.fragment or "?" in text or "#" in text):
        yield Finding(
            "GW312",
            ptr,
            f"{name} is a base URL but carries a query string or fragment (not shown)",
            hint="a base URL ends at its path; remove everything from ? or #",
        )
    if not allow_private:
        kind = private_host_kind(host)
        if kind is not None:
            offset = text.lower().find(host, netloc_at if netloc_at >= 0 else 0)
            yield Finding(
                "GW313",
                ptr,
                f'{name} points at "{host}", a {kind} host',
                hint="use a public host, or set [outbound_http] allow_private_hosts = true if this is intended",
                column_offset=lead + offset if offset >= 0 else None,
                length=len(host) if offset >= 0 else None,
            )


def _valid_host(host: str) -> bool:
    if ":" in host:  # an IPv6 literal; urlsplit has checked the brackets
        import ipaddress  # with urllib.parse: only a config with URLs pays for it

        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    # Internationalized names are fine; ASCII names must be plain labels.
    return not host.isascii() or bool(_HOST_CHARS.fullmatch(host))


def private_host_kind(host: str) -> str | None:
    """"loopback", "private", "special-use" or None for a public host."""
    h = host.lower().rstrip(".")
    if h == "localhost" or h.endswith(".localhost"):
        return "loopback"
    if h.endswith(_PRIVATE_SUFFIXES):
        return "private (local-only name)"
    ip = _ip_of(h)
    if ip is None:
        return None
    import ipaddress

    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_private and not ip.is_unspecified and not ip.is_reserved and not ip.is_link_local:
        return "private"
    if ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "special-use"
    return None


def _ip_of(host: str):
    import ipaddress

    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    # URL parsers (WHATWG, reqwest) also read 2130706433, 0x7f.1 and 127.1
    # as IPv4 addresses.
    if _LEGACY_IPV4.fullmatch(host) and any(ch.isdigit() for ch in host):
        try:
            import socket  # only for legacy IPv4 spellings (0x7f.1): rare

            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None
