"""Value rule GW330: channel values loong refuses when it loads the config.

loong's ``LoongConfig::validate`` runs every channel's ``validate()``
(crates/app/src/channel/sdk.rs:724), disabled channels included, and a
config that fails it fails every ``loong`` command. Besides env pointers
(GW210) and account ids (GW2xx), two outbound-only families check values:

- email ``smtp_host`` and ``from_address``, at the family level and in each
  account (crates/app/src/config/channels.rs:4136, :4148, :4219, :4238);
- irc ``server`` and ``nickname``, at the family level and in each account
  (crates/app/src/config/channels_irc_impl.rs:52, irc.rs:50, :154).

loong's load also checks numeric ranges outside the channel tables; the
ones that concern channels and their memory are checked here and reported
as GW105 (a value out of range): ``[feishu_integration]``
(crates/app/src/config/feishu_integration.rs:164) and ``[memory]
sliding_window`` (crates/app/src/config/memory.rs:408).

Only values written in the config are checked; a value loong would read
from an environment variable (``server_env``, ``nickname_env``) is not
known at lint time. Messages never repeat the value (an irc URL may carry a
password).

Imports only the standard library, diagnostics, and the rule helpers;
never source, compile, runtime, report or cli.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from gatewayctl.diagnostics import Finding
from gatewayctl.validate.rules._common import Location, locations

SMTP_FIX = "configure a bare relay host like `smtp.example.com` or a full `smtp://` or `smtps://` URL"
MAILBOX_FIX = "use a valid RFC 5322 mailbox like `ops@example.com` or `Loong <ops@example.com>`"
IRC_SERVER_FIX = "use a bare host or an explicit `irc://host[:port]` / `ircs://host[:port]` endpoint"
IRC_NICK_FIX = "use a single-token IRC nickname (for example: `loong_bot`)"

_OPAQUE_HOST_FORBIDDEN = set(" #/<>?@[\\]^|\t\n\r")


def check(ctx) -> Iterator[Finding]:
    for loc in locations(ctx.data):
        if loc.family == "email":
            yield from _email(loc)
        elif loc.family == "irc":
            yield from _irc(loc)
    yield from _ranges(ctx.data)


# section -> (key, min, max, default); a min of None is the section's
# effective retry_initial_backoff_ms (feishu_integration.rs:190).
RANGES: dict[str, tuple[tuple[str, int | None, int, int], ...]] = {
    "feishu_integration": (
        ("oauth_state_ttl_s", 60, 86_400, 600),
        ("request_timeout_s", 3, 120, 20),
        ("retry_max_attempts", 1, 8, 4),
        ("retry_initial_backoff_ms", 0, 30_000, 200),
        ("retry_max_backoff_ms", None, 60_000, 2_000),
    ),
    "memory": (("sliding_window", 1, 128, 12),),
}


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ranges(data) -> Iterator[Finding]:
    if not isinstance(data, dict):
        return
    for section, specs in RANGES.items():
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        for key, low, high, _default in specs:
            value = _int(table.get(key))
            if value is None:
                continue
            if low is None:
                initial = _int(table.get("retry_initial_backoff_ms"))
                low = 200 if initial is None else initial
                bound = f"retry_initial_backoff_ms ({low})"
            else:
                bound = str(low)
            if low <= value <= high:
                continue
            yield Finding(
                "GW105",
                f"/{section}/{key}",
                f"`{key}` in [{section}] must be between {bound} and {high}, got {value}: "
                "loong refuses the whole config when it loads it",
                hint=f"set {key} to a value from {bound} to {high}",
            )


def _literal(loc: Location, key: str) -> str | None:
    value = loc.table.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _finding(loc: Location, key: str, reason: str, fix: str) -> Finding:
    return Finding(
        "GW330",
        loc.pointer(key),
        f"{loc.dotted}.{key}: {reason}; loong refuses the whole config when it loads it (even with the channel disabled)",
        hint=fix,
    )


# ------------------------------------------------------------------ email


def _email(loc: Location) -> Iterator[Finding]:
    host = _literal(loc, "smtp_host")
    if host is not None and (reason := smtp_endpoint_problem(host)) is not None:
        yield _finding(loc, "smtp_host", reason, SMTP_FIX)
    sender = _literal(loc, "from_address")
    if sender is not None and not is_mailbox(sender):
        yield _finding(loc, "from_address", "is not a mailbox (mailbox parse failed)", MAILBOX_FIX)


def smtp_endpoint_problem(raw: str) -> str | None:
    """loong's parse_email_smtp_endpoint (crates/app/src/config/channels_email_support.rs:14)."""
    text = raw.strip()
    if not text:
        return "is empty"
    if "://" in text:
        parts = _parse_url(text)
        if parts is None:
            return "is not a valid URL"
        scheme, host, _port, _rest = parts
        if scheme not in ("smtp", "smtps"):
            return f"is a URL that must use smtp:// or smtps://, not {_scheme_label(scheme)}"
        if not host.strip():
            return "is a URL without a host"
        return None
    if any(ch.isspace() for ch in text):
        return "must not contain whitespace"
    if any(ch in text for ch in "/?#"):
        return "must be a bare host or a full smtp:// or smtps:// URL"
    if ":" in text:
        return "gives a port on a bare host; a port needs a full smtp:// or smtps:// URL"
    return None


# lettre's mailbox grammar (RFC 5322 name-addr / addr-spec), approximated:
# an optional display name before <addr>, or a bare addr; addr is a
# dot-atom or quoted local part, '@', and a domain of labels or [literal].
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\-\u0080-\U0010ffff]*[A-Za-z0-9\u0080-\U0010ffff])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[^\[\]\\\s]+\])"
_ADDR = re.compile(rf"(?:{_DOT_ATOM}|{_QUOTED})@{_DOMAIN}\Z")
_NAME = re.compile(rf"(?:{_QUOTED}|[^<>\"@\r\n]*)\Z")


def is_mailbox(raw: str) -> bool:
    text = raw.strip()
    if text.endswith(">") and "<" in text:
        name, _, rest = text.rpartition("<")
        return bool(_NAME.match(name.strip())) and bool(_ADDR.match(rest[:-1].strip()))
    return bool(_ADDR.match(text))


# ------------------------------------------------------------------ irc


def _irc(loc: Location) -> Iterator[Finding]:
    server = _literal(loc, "server")
    if server is not None and (reason := irc_server_problem(server)) is not None:
        yield _finding(loc, "server", reason, IRC_SERVER_FIX)
    nickname = _literal(loc, "nickname")
    if nickname is not None:
        if any(ch.isspace() for ch in nickname):
            yield _finding(loc, "nickname", "must not contain whitespace", IRC_NICK_FIX)
        elif "\0" in nickname:
            yield _finding(loc, "nickname", "contains forbidden control characters", IRC_NICK_FIX)


def irc_server_problem(raw: str) -> str | None:
    """loong's parse_irc_server_endpoint (crates/app/src/config/irc.rs:50)."""
    text = raw.strip()
    if not text:
        return "is empty"
    if "://" in text:
        parts = _parse_url(text)
        if parts is None:
            return "is not a valid URL"
        scheme, host, port, rest = parts
        if scheme not in ("irc", "ircs"):
            return f"uses the unsupported scheme {_scheme_label(scheme)}; expected irc:// or ircs://"
        if rest["userinfo"]:
            return "is a URL that must not include credentials"
        if rest["query"]:
            return "is a URL that must not include a query"
        if rest["fragment"]:
            return "is a URL that must not include a fragment"
        if rest["path"] not in ("", "/"):
            return "is a URL that must not include a path"
        if not host.strip():
            return "is a URL without a host"
        if port == 0:
            return "has port 0; the port must be between 1 and 65535"
        return None
    if ":" in text:
        return "is a bare `host:port`, which is not supported; use `irc://host:port` or `ircs://host:port`"
    if any(ch.isspace() for ch in text):
        return "must not contain whitespace"
    if any(ch in text for ch in "/?#"):
        return "must be a hostname only; use `irc://` or `ircs://` for URL-style values"
    return None


def _scheme_label(scheme: str) -> str:
    return f"{scheme}://" if re.fullmatch(r"[a-z][a-z0-9+.\-]*", scheme) else "an invalid scheme"


def _parse_url(text: str):
    """(scheme, host, port, parts) as a WHATWG parser reads a URL of a
    non-special scheme, or None when it cannot be parsed."""
    scheme, sep, _ = text.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", scheme):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    netloc = parts.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    host = parts.hostname or ""
    if hostport.startswith("["):
        if "]" not in hostport:
            return None
    elif any(ch in _OPAQUE_HOST_FORBIDDEN for ch in hostport.rsplit(":", 1)[0]):
        return None
    return (
        parts.scheme.lower(),
        host,
        port,
        {"userinfo": userinfo, "query": parts.query or ("?" in text), "fragment": parts.fragment or ("#" in text), "path": parts.path},
    )
