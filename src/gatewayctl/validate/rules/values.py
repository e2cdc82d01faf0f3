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
sliding_window`` (crates/app/src/config/memory.rs:408) and ``[tools]`` (crates/app/src/config/tools.rs:707).
``[runtime_plugins]`` (crates/app/src/config/tools.rs:1124): enabled without a
non-blank root (GW105), or a bridge label loong does not know (GW103).

Only values written in the config are checked; a value loong would read
from an environment variable (``server_env``, ``nickname_env``) is not
known at lint time. Messages never repeat the value (an irc URL may carry a
password).

Imports only the standard library, diagnostics, and the rule helpers;
never source, compile, runtime, report or cli.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from gatewayctl.diagnostics import Finding
from gatewayctl.lazyre import LOWER_ALNUM, CharsetName
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
    yield from _runtime_plugins(ctx.data)
    yield from _active_provider(ctx.data)


_MIB = 1024 * 1024
_RETRY_MIN = ("feishu_integration", "retry_initial_backoff_ms", 200)
# path -> (min, max): max None is unbounded; a min that is a tuple is
# another setting's effective value (section, key, default). From
# feishu_integration.rs:164, memory.rs:408 and tools.rs:707 (constants at
# tools.rs:23-38, :345-348).
LOAD_RANGES: tuple[tuple[tuple[str, ...], object, int | None], ...] = (
    (("feishu_integration", "oauth_state_ttl_s"), 60, 86_400),
    (("feishu_integration", "request_timeout_s"), 3, 120),
    (("feishu_integration", "retry_max_attempts"), 1, 8),
    (("feishu_integration", "retry_initial_backoff_ms"), 0, 30_000),
    (("feishu_integration", "retry_max_backoff_ms"), _RETRY_MIN, 60_000),
    (("memory", "sliding_window"), 1, 128),
    (("tools", "runtime_self", "max_source_chars"), 256, 100_000),
    (("tools", "runtime_self", "max_total_chars"), 1_024, 500_000),
    (("tools", "browser", "max_sessions"), 1, 32),
    (("tools", "browser", "max_links"), 1, 200),
    (("tools", "browser", "max_text_chars"), 256, 20_000),
    (("tools", "web", "max_bytes"), 1_024, 5 * _MIB),
    (("tools", "web", "timeout_seconds"), 1, 120),
    (("tools", "web", "max_redirects"), 0, 10),
    (("tools", "tool_execution", "default_timeout_seconds"), 1, None),
    (("tools", "delegate", "child_runtime", "browser", "max_sessions"), 1, 32),
    (("tools", "delegate", "child_runtime", "browser", "max_links"), 1, 200),
    (("tools", "delegate", "child_runtime", "browser", "max_text_chars"), 256, 20_000),
    (("tools", "delegate", "child_runtime", "web", "max_bytes"), 1_024, 5 * _MIB),
    (("tools", "delegate", "child_runtime", "web", "timeout_seconds"), 1, 120),
    (("tools", "delegate", "child_runtime", "web", "max_redirects"), 0, 10),
    (("tools", "delegate", "max_frozen_bytes"), 1, None),
    (("tools", "delegate", "announce_max_batch"), 1, None),
    (("tools", "web_search", "timeout_seconds"), 1, 60),
    (("tools", "web_search", "max_results"), 1, 10),
)
# loong's normalize_web_search_provider (tools.rs:946).
WEB_SEARCH_PROVIDERS = {
    "duckduckgo", "ddg", "brave", "tavily", "perplexity", "perplexity_search",
    "exa", "firecrawl", "jina", "jinaai", "jina-ai",
}


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _at(data, path):
    node = data
    for token in path:
        if not isinstance(node, dict):
            return None
        node = node.get(token)
    return node


def _range_finding(path, value, low_text, high) -> Finding:
    section, key = "[" + ".".join(path[:-1]) + "]", path[-1]
    limit = f"at least {low_text}" if high is None else f"between {low_text} and {high}"
    return Finding(
        "GW105",
        "/" + "/".join(path),
        f"`{key}` in {section} must be {limit}, got {value}: loong refuses the whole config when it loads it",
        hint=f"set {key} to a value {'of at least ' + low_text if high is None else f'from {low_text} to {high}'}",
    )


def _ranges(data) -> Iterator[Finding]:
    if not isinstance(data, dict):
        return
    for path, low, high in LOAD_RANGES:
        value = _int(_at(data, path))
        if value is None:
            continue
        if isinstance(low, tuple):
            section, key, default = low
            other = _int(_at(data, (section, key)))
            low_value, low_text = (default if other is None else other), f"{key} ({default if other is None else other})"
        else:
            low_value, low_text = low, str(low)
        if value < low_value or (high is not None and value > high):
            yield _range_finding(path, value, low_text, high)
    per_tool = _at(data, ("tools", "tool_execution", "per_tool_timeout"))
    if isinstance(per_tool, dict):
        for name, value in per_tool.items():
            if _int(value) is not None and value < 1:
                yield _range_finding(("tools", "tool_execution", "per_tool_timeout", str(name)), value, "1", None)
    search = _at(data, ("tools", "web_search"))
    if isinstance(search, dict) and search.get("enabled", True) is True:
        provider = search.get("default_provider")
        if isinstance(provider, str) and provider.strip().lower() not in WEB_SEARCH_PROVIDERS:
            yield Finding(
                "GW103",
                "/tools/web_search/default_provider",
                "`default_provider` in [tools.web_search] is not a web search provider loong knows "
                "(duckduckgo, brave, tavily, perplexity, exa, firecrawl, jina): loong refuses the whole config when it loads it",
                hint='use one of duckduckgo, brave, tavily, perplexity, exa, firecrawl, jina (or set enabled = false)',
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
# Compiled on first use: the ranges up to U+10FFFF make these two the most
# expensive patterns to compile in gatewayctl (most of a cold `check`'s
# time in this module), and only a config with an email channel needs them.


@functools.cache
def _mailbox_patterns() -> tuple[re.Pattern, re.Pattern]:
    import re

    addr = re.compile(rf"(?:{_DOT_ATOM}|{_QUOTED})@{_DOMAIN}\Z")
    name = re.compile(rf"(?:{_QUOTED}|[^<>\"@\r\n]*)\Z")
    return name, addr


def is_mailbox(raw: str) -> bool:
    name_re, addr_re = _mailbox_patterns()
    text = raw.strip()
    if text.endswith(">") and "<" in text:
        name, _, rest = text.rpartition("<")
        return bool(name_re.match(name.strip())) and bool(addr_re.match(rest[:-1].strip()))
    return bool(addr_re.match(text))


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
    import re

    return f"{scheme}://" if re.fullmatch(r"[a-z][a-z0-9+.\-]*", scheme) else "an invalid scheme"


def _parse_url(text: str):
    """(scheme, host, port, parts) as a WHATWG parser reads a URL of a
    non-special scheme, or None when it cannot be parsed."""
    import re
    from urllib.parse import urlsplit  # imported when a URL is checked: most configs have none

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


# Bridge labels loong's plugin IR parses (crates/kernel/src/plugin_ir.rs:1521),
# after trim and ASCII lowercase; "unknown" parses but is refused too
# (crates/app/src/config/tools.rs:1189).
RUNTIME_PLUGIN_BRIDGES = ("http_json", "process_stdio", "native_ffi", "wasm_component", "mcp_server", "acp_bridge", "acp_runtime")
_BRIDGE_ALIASES = frozenset(RUNTIME_PLUGIN_BRIDGES) | {"http", "stdio", "ffi", "wasm", "mcp", "acp", "acpx"}


def _runtime_plugins(data) -> Iterator[Finding]:
    """``[runtime_plugins]`` as loong checks it at load (tools.rs:1124)."""
    table = _at(data, ("runtime_plugins",))
    if not isinstance(table, dict):
        return
    roots = table.get("roots")
    has_root = isinstance(roots, list) and any(isinstance(r, str) and r.strip() for r in roots)
    if table.get("enabled") is True and not has_root:
        yield Finding(
            "GW105",
            "/runtime_plugins/roots" if "roots" in table else "/runtime_plugins/enabled",
            "[runtime_plugins] is enabled without a plugin root (`roots` has no non-blank entry): "
            "loong refuses the whole config when it loads it",
            hint='set roots to one or more plugin discovery directories, e.g. roots = ["~/.loong/plugins"], '
            "or set enabled = false",
        )
    bridges = table.get("supported_bridges")
    if not isinstance(bridges, list):
        return
    for i, label in enumerate(bridges):
        if not isinstance(label, str) or not label.strip():
            continue  # blank labels are skipped by loong; types are serde's
        if label.strip().lower() not in _BRIDGE_ALIASES:
            yield Finding(
                "GW103",
                f"/runtime_plugins/supported_bridges/{i}",
                "this entry of `supported_bridges` in [runtime_plugins] is not a bridge label loong knows: "
                "loong refuses the whole config when it loads it",
                hint="use only: " + ", ".join(RUNTIME_PLUGIN_BRIDGES),
            )


_PROFILE_ID = CharsetName(LOWER_ALNUM, LOWER_ALNUM + "_-")  # [a-z0-9][a-z0-9_-]*\Z


def _profile_id(raw: str) -> str | None:
    """loong's normalize_provider_profile_id (crates/app/src/config/runtime.rs:1530):
    trimmed, ASCII-lowercased, a letter or digit first, then letters, digits, `-`, `_`."""
    text = raw.strip()
    if not text.isascii():
        return None
    text = text.lower()
    return text if _PROFILE_ID.match(text) else None


def _active_provider(data) -> Iterator[Finding]:
    """GW214: ``active_provider`` names none of the ``[providers.*]``
    profiles. loong loads the config, warns (UnknownActiveProvider,
    crates/app/src/config/runtime.rs:751) and runs another profile: the
    legacy ``[provider]`` table when written, else the first profile in
    sorted order (runtime.rs:1866-1892). A profile key that does not
    normalize takes its kind's id, which gatewayctl does not model: then
    nothing is reported."""
    if not isinstance(data, dict) or "active_provider" not in data:
        return
    providers, requested = data.get("providers"), data.get("active_provider")
    if not isinstance(providers, dict) or not providers or not isinstance(requested, str):
        return
    ids = [_profile_id(k) if isinstance(k, str) else None for k in providers]
    if None in ids:
        return
    wanted = _profile_id(requested)
    if wanted is not None and wanted in ids:
        return
    instead = (
        "the legacy [provider] table" if isinstance(data.get("provider"), dict) else f"the profile `{sorted(ids)[0]}`"
    )
    shown = ", ".join(f"`{i}`" for i in sorted(set(ids)))
    yield Finding(
        "GW214",
        "/active_provider",
        f"active_provider names no [providers.*] profile (profiles: {shown}): loong warns and runs {instead} instead",
        hint=f"set active_provider to one of {shown} (matched trimmed and in any case)",
    )
