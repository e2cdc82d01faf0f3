"""The [fleet] table of gatewayctl's settings file (GW613-GW622, GW624).

A fleet runs one plan on several hosts and claims each lane fleet-wide
under an etcd lease (docs/fleet.md). The table's shape is in
schemas/settings.schema.json (editors read it there); this module says what
is wrong with a value and how to fix it, one stable code per problem, and
owns every schema finding under /fleet except unknown keys (GW101) and
wrong types (GW102), which the schema stage explains well already.

The timing budget (GW623: the lease must leave room for stop_grace_s) needs
compile.plan.fleet_budget, so the compiler checks it, not this module.

Bounds are read from the settings schema (one source for every range).
Messages never repeat a credential: an endpoint's user:password@ is named,
never shown, and a credential written inline is described by its shape.

Imports only diagnostics, catalog and the validate secrets module; never
source, compile, runtime, report or cli.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from gatewayctl.catalog import is_host_id
from gatewayctl.diagnostics import TARGET_KEY, Finding, pointer_join
from gatewayctl.lazyre import lazy
from gatewayctl.validate.secrets import env_name_problem

__all__ = ["check_settings", "gateway_fleet", "owns_schema_finding", "fleet_sensitive_pointers", "bounds", "key_of"]

FLEET = "fleet"
CREDENTIALS = ("username", "password")
_CRED_ENV = {"username": "ETCD_USERNAME", "password": "ETCD_PASSWORD"}
_PREFIX_CHARS = lazy(r"[A-Za-z0-9/_.-]")


@functools.lru_cache(maxsize=1)
def _schema() -> dict:
    from gatewayctl.catalog import load_schema

    return load_schema("settings")["properties"][FLEET]


def bounds(key: str) -> tuple[float, float]:
    """(minimum, maximum) of a [fleet] number in the settings schema."""
    spec = _schema()["properties"][key]
    return spec["minimum"], spec["maximum"]


def _prefix_max() -> int:
    return _schema()["properties"]["prefix"]["maxLength"]


def owns_schema_finding(f: Finding) -> bool:
    """A schema finding this module explains with its own code instead."""
    if any(f.pointer == p or f.pointer.startswith(p + "/") for p in (pointer_join(FLEET, k) for k in CREDENTIALS)):
        return True  # every credential problem is GW621/GW622 (and never quotes the value)
    under = f.pointer == "/" + FLEET or f.pointer.startswith("/" + FLEET + "/")
    return under and f.code not in ("GW101", "GW102")


def key_of(pointer: str) -> str | None:
    """The [fleet] key a pointer is under (None: the table itself)."""
    tokens = pointer.split("/")
    return tokens[2] if len(tokens) > 2 else None


def check_settings(data) -> list[Finding]:
    """Findings for the [fleet] table of a settings file's root ``data``."""
    table = data.get(FLEET) if isinstance(data, Mapping) else None
    if not isinstance(table, Mapping):
        return []  # absent: the local slot; not a table: the schema's GW102
    out: list[Finding] = []
    missing = [k for k in _schema()["required"] if k not in table]
    if missing:
        out.append(
            Finding(
                "GW613",
                pointer_join(FLEET),
                f"[fleet] is missing {', '.join(f'`{k}`' for k in missing)}",
                hint='a fleet needs backend = "etcd", endpoints = ["http://HOST:2379"], prefix = "/gatewayctl/NAME" '
                "and lease_ttl_s = SECONDS; remove [fleet] to run this host alone",
                target=TARGET_KEY,
                missing=tuple(missing),
            )
        )
    out.extend(_backend(table))
    out.extend(_endpoints(table))
    out.extend(_prefix(table))
    out.extend(_seconds(table))
    out.extend(_host_id(table))
    out.extend(_credentials(table))
    return out


def _backend(table: Mapping) -> list[Finding]:
    value = table.get("backend")
    choices = _schema()["properties"]["backend"]["enum"]
    if not isinstance(value, str) or value in choices:
        return []
    listed = ", ".join(f'"{c}"' for c in choices)
    return [
        Finding(
            "GW614",
            pointer_join(FLEET, "backend"),
            f"[fleet] backend must be one of {listed}, not {_shown(value)}",
            hint='use backend = "etcd"; without a [fleet] table this host runs alone under its local slot',
        )
    ]


def _shown(text: str) -> str:
    """A short, printable rendering of a user value that holds no secret."""
    clipped = text if len(text) <= 40 else text[:37] + "..."
    return '"' + "".join(c if c.isprintable() else "?" for c in clipped) + '"'


def _endpoints(table: Mapping) -> list[Finding]:
    value = table.get("endpoints")
    if not isinstance(value, list):
        return []
    where = pointer_join(FLEET, "endpoints")
    if not value:
        return [
            Finding(
                "GW617",
                where,
                "[fleet] endpoints is empty: a fleet needs at least one etcd endpoint",
                hint='list the etcd client URLs, e.g. endpoints = ["http://10.0.0.5:2379", "http://10.0.0.6:2379"]',
            )
        ]
    out: list[Finding] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        if not isinstance(item, str):
            continue  # the schema's GW102
        problem = _endpoint_finding(item, pointer_join(FLEET, "endpoints", i))
        if problem is not None:
            out.append(problem)
            continue
        key = _endpoint_key(item)
        if key in seen:
            out.append(
                Finding(
                    "GW617",
                    pointer_join(FLEET, "endpoints", i),
                    f"[fleet] endpoints[{i}] repeats endpoints[{seen[key]}]",
                    hint="list each etcd endpoint once",
                )
            )
        else:
            seen[key] = i
    return out


def _endpoint_key(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port}"


def _endpoint_finding(url: str, where: str) -> Finding | None:
    from urllib.parse import urlsplit

    example = "http://10.0.0.5:2379"

    def bad(message: str, hint: str = f"write the endpoint as scheme://host:port, e.g. {example}") -> Finding:
        return Finding("GW615", where, message, hint=hint)

    if "@" in url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
        # user:password@ in the authority: never repeat it
        return Finding(
            "GW616",
            where,
            "[fleet] endpoint embeds credentials (user:password@ in the URL); the plan would carry them in clear",
            hint="remove the user:password@ part and set [fleet] username = { env = \"ETCD_USERNAME\" } and "
            'password = { env = "ETCD_PASSWORD" } (or { file = "/path" })',
        )
    if any(c.isspace() or not c.isprintable() for c in url):
        return bad("[fleet] endpoint holds whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return bad(f"[fleet] endpoint {_shown(url)} is not a URL with a valid port (1-65535)")
    if not url.startswith(("http://", "https://")):  # urlsplit would lower-case the scheme; the schema does not
        return bad(
            f"[fleet] endpoint {_shown(url)} must start with http:// or https:// (etcd's v3 JSON gateway)",
        )
    if not parts.hostname:
        return bad(f"[fleet] endpoint {_shown(url)} names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        what = "a path" if parts.path not in ("", "/") else "a query" if parts.query or url.endswith("?") else "a fragment"
        return bad(
            f"[fleet] endpoint {_shown(url)} has {what}: an etcd endpoint is scheme, host and port only",
            hint=f"remove everything after the port, e.g. {parts.scheme}://{parts.netloc}",
        )
    if parts.path == "/":
        return bad(
            f"[fleet] endpoint {_shown(url)} ends with a slash: an etcd endpoint is scheme, host and port only",
            hint=f"remove the trailing slash: {parts.scheme}://{parts.netloc}",
        )
    if port is None or port == 0:
        return bad(
            f"[fleet] endpoint {_shown(url)} names no port" if port is None else f"[fleet] endpoint {_shown(url)} has port 0",
            hint=f"add etcd's client port, e.g. {parts.scheme}://{parts.netloc.rsplit(':', 1)[0] if port == 0 else parts.netloc}:2379",
        )
    return None


def _prefix(table: Mapping) -> list[Finding]:
    value = table.get("prefix")
    if not isinstance(value, str):
        return []
    where = pointer_join(FLEET, "prefix")
    hint = 'use a path of letters, digits, "_", "." and "-" segments, e.g. prefix = "/gatewayctl/prod"'
    limit = _prefix_max()

    def bad(message: str, offset: int | None = None, length: int | None = None) -> list[Finding]:
        return [Finding("GW618", where, message, hint=hint, column_offset=offset, length=length)]

    if not value.startswith("/"):
        return bad('[fleet] prefix must start with "/"', 0, 1 if value else None)
    for i, ch in enumerate(value):
        if not _PREFIX_CHARS.match(ch):
            return bad(f"[fleet] prefix holds {_char(ch)} at position {i + 1}: only letters, digits, / _ . - are allowed", i, 1)
    if value == "/" or value.endswith("/"):
        return bad('[fleet] prefix must not end with "/" (the fleet\'s keys go under prefix + "/...")', len(value) - 1, 1)
    double = value.find("//")
    if double >= 0:
        return bad('[fleet] prefix holds an empty segment ("//")', double, 2)
    if len(value) > limit:
        return bad(f"[fleet] prefix is {len(value)} characters long (at most {limit})", limit, len(value) - limit)
    return []


def _char(ch: str) -> str:
    return f"{ch!r}" if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"


def _seconds(table: Mapping) -> list[Finding]:
    out = []
    for key, what in (("lease_ttl_s", "the lease TTL"), ("settle_s", "the settle delay")):
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue  # absent, or the schema's GW102
        low, high = bounds(key)
        if value == value and low <= value <= high:  # NaN fails every comparison
            continue
        out.append(
            Finding(
                "GW619",
                pointer_join(FLEET, key),
                f"[fleet] {key} ({what}) must be a number of seconds from {low:g} to {high:g}, not {value!r}",
                hint=f"use a value from {low:g} to {high:g}"
                + (" (a shorter TTL fails over sooner, a longer one tolerates slower etcd answers)" if key == "lease_ttl_s" else ""),
            )
        )
    return out


def _host_id(table: Mapping) -> list[Finding]:
    value = table.get("host_id")
    if not isinstance(value, str) or is_host_id(value):
        return []
    if not value:
        why = "is empty"
    elif len(value) > 64:
        why = f"is {len(value)} characters long (at most 64)"
    elif not (value[0].isascii() and value[0].isalnum()):
        why = "must start with a letter or digit"
    else:
        why = "may hold only letters, digits, '.', '_' and '-'"
    return [
        Finding(
            "GW620",
            pointer_join(FLEET, "host_id"),
            f"[fleet] host_id {why}",
            hint='use a name like "gw-01" (letters, digits, then also . _ -; at most 64), or leave host_id out to '
            "use the host name",
        )
    ]


def _credentials(table: Mapping) -> list[Finding]:
    out: list[Finding] = []
    for key in CREDENTIALS:
        if key not in table:
            continue
        where = pointer_join(FLEET, key)
        value = table[key]
        example = f'{key} = {{ env = "{_CRED_ENV[key]}" }}'
        if isinstance(value, str):
            out.append(
                Finding(
                    "GW622",
                    where,
                    f"[fleet] {key} is written inline; a plan carries only references to secrets",
                    hint=f'put it in the environment and write {example} (or {{ file = "/path" }})',
                )
            )
            continue
        problem = _credential_problem(value)
        if problem is not None:
            out.append(Finding("GW621", where, f"[fleet] {key} {problem}", hint=f'write {example} or {key} = {{ file = "/path" }}'))
    given = [k for k in CREDENTIALS if k in table]
    if len(given) == 1:
        other = "password" if given[0] == "username" else "username"
        out.append(
            Finding(
                "GW621",
                pointer_join(FLEET, given[0]),
                f"[fleet] {given[0]} is set without {other}: etcd authenticates with both",
                hint=f'add {other} = {{ env = "{_CRED_ENV[other]}" }}, or remove {given[0]}',
                target=TARGET_KEY,
            )
        )
    return out


def _credential_problem(value) -> str | None:
    """Why a credential is not an env or file reference (never quoting it)."""
    if not isinstance(value, Mapping):
        return "must be a reference table { env = \"NAME\" } or { file = \"/path\" }"
    keys = set(value)
    if "exec" in keys:
        return "cannot be an exec reference here: the owner and its lanes read etcd credentials from env or file"
    unknown = sorted(str(k) for k in keys - {"env", "file"})
    if unknown:
        return "has an unknown key; a reference has exactly one of env, file"
    if len(keys) != 1:
        return "needs exactly one of env, file"
    (kind,) = keys
    ref = value[kind]
    if not isinstance(ref, str) or not ref.strip():
        return f"has a {'blank' if isinstance(ref, str) else 'non-string'} {kind}: give " + (
            "the environment variable name" if kind == "env" else "the file path"
        )
    if kind == "env":
        problem = env_name_problem(ref, example="ETCD_PASSWORD")
        if problem is not None or ref != ref.strip():
            return f"env {problem or 'has surrounding whitespace'}"
    return None


def fleet_sensitive_pointers(data) -> list[str]:
    """Values under [fleet] that must never be shown: a credential written
    inline (username included: it is half of the login), a malformed
    credential reference's values, an env "name" that is a pasted secret,
    and an endpoint with user:password@ in it."""
    table = data.get(FLEET) if isinstance(data, Mapping) else None
    if not isinstance(table, Mapping):
        return []
    out: list[str] = []
    for key in CREDENTIALS:
        value = table.get(key)
        if value is None:
            continue
        if isinstance(value, Mapping) and _credential_problem(value) is None:
            continue
        _all_scalars(value, (FLEET, key), out)
    endpoints = table.get("endpoints")
    if isinstance(endpoints, list):
        for i, item in enumerate(endpoints):
            if isinstance(item, str) and "@" in item:
                out.append(pointer_join(FLEET, "endpoints", i))
    return out


def _all_scalars(value, ptr: tuple, out: list[str]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _all_scalars(v, ptr + (k,), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _all_scalars(v, ptr + (i,), out)
    elif value is not None and not isinstance(value, bool):
        out.append(pointer_join(*ptr))


def gateway_fleet(data) -> list[Finding]:
    """GW624: a [fleet] table in loong's [gateway] table, the deprecated
    place of gatewayctl's settings. Fleet settings were never read from
    there (and loong drops them on its next save): a plan made from this
    config alone would run without fleet-wide leases."""
    gateway = data.get("gateway") if isinstance(data, Mapping) else None
    if not isinstance(gateway, Mapping) or FLEET not in gateway:
        return []
    return [
        Finding(
            "GW624",
            pointer_join("gateway", FLEET),
            "[gateway.fleet] is in loong's config: fleet settings are read only from gatewayctl's own settings "
            "file, so this plan would run without fleet-wide leases (and loong drops the table the next time it "
            "saves this file)",
            hint="move it to gatewayctl.toml as [fleet] (`gatewayctl migrate` moves the other settings; "
            "`gatewayctl check gatewayctl.toml` checks the table there)",
            target=TARGET_KEY,
        )
    ]
