"""The registry of stable diagnostic codes.

A code, once published, keeps its meaning forever; a retired code is never
reused. Every code here has a section in docs/rules.md (a test enforces it).

Ranges:
  GW0xx  loading: the file could not be read or parsed
  GW1xx  schema: shape, types, enums, unknown keys
  GW2xx  accounts and secrets
  GW3xx  serving requirements, URLs, webhook ingress
  GW4xx  channel-account selectors
  GW5xx  launch plans
  GW6xx  gatewayctl's runtime: its settings file and whether its owner can
         run what a plan names (never part of loong's verdict)
  GW7xx  suppression comments

GW0xx..GW4xx answer "would loong accept this config?"; GW5xx and GW6xx
answer "can gatewayctl plan and run it?" (docs/rules.md tells them apart).
"""

from __future__ import annotations

from gatewayctl.records import record


@record
class CodeInfo:
    code: str
    severity: str  # "error" | "warning"
    title: str
    summary: str


_TABLE = [
    # -- loading
    ("GW001", "error", "unreadable-file", "The file could not be read (missing, a directory, no permission, not UTF-8)."),
    ("GW002", "error", "toml-syntax", "The file is not valid TOML."),
    ("GW003", "error", "yaml-syntax", "The file is not valid YAML."),
    ("GW004", "error", "duplicate-key", "A key is defined twice in the same table or mapping."),
    ("GW005", "error", "json-syntax", "The file is not valid JSON."),
    ("GW006", "error", "root-not-table", "The top level of a config must be a table (mapping)."),
    ("GW007", "error", "unsupported-value", "A value has a type the config model cannot hold (YAML tags, TOML dates where text is expected, non-string keys, integers beyond 64 bits, lone surrogates)."),
    ("GW008", "warning", "too-many-diagnostics", "A file has more diagnostics than are reported per file; the rest are counted, not shown."),
    # -- schema
    ("GW101", "error", "unknown-key", "A key nothing reads where a known key was likely meant: a near-miss of a field loong reads, a family-level key in an account table, or any unknown key in gatewayctl's own [gateway.*] tables."),
    ("GW102", "error", "wrong-type", "A value has the wrong type (for example a quoted Telegram chat id)."),
    ("GW103", "error", "invalid-enum", "A value is not one of the allowed choices."),
    ("GW104", "error", "invalid-secret-ref", "A secret reference is malformed: not a string or exactly one of env, file, exec."),
    ("GW105", "error", "schema-violation", "A value breaks a constraint of the config schema (range, length, pattern)."),
    ("GW111", "warning", "ignored-key", "A key in a channel table that loong's config structs do not define and that resembles none of them, or a whole table loong never reads (zalo, zalo_personal, webchat, external_skills): loong ignores it."),
    ("GW110", "warning", "misspelled-channel-table", "A top-level table looks like a channel family but is not one; loong silently ignores it."),
    # -- accounts and secrets
    ("GW201", "error", "default-account-missing", "default_account names no configured account."),
    ("GW202", "error", "account-id-collision", "Two account keys normalize to the same account id."),
    ("GW203", "warning", "fallback-default-account", "Several accounts and no explicit default: the lane depends on sort order."),
    ("GW204", "error", "runtime-account-id-collision", "Two accounts of qqbot, weixin, onebot or whatsapp-personal run under the same runtime account id; loong refuses the config at load."),
    ("GW210", "error", "env-pointer-hygiene", "An environment variable reference does not hold a plain variable name."),
    ("GW211", "warning", "inline-secret", "A secret is written inline in the config instead of as a reference."),
    ("GW213", "warning", "account-env-not-inherited", "A family-level *_env pointer that loong does not pass on to an account (WhatsApp and Signal accounts have their own default)."),
    ("GW214", "warning", "unknown-active-provider", "active_provider names none of the [providers.*] profiles: loong warns and runs another profile."),
    ("GW212", "warning", "env-reference-string", "A secret field names its variable in string form ($NAME, ${NAME}, env:NAME, %NAME%) instead of { env = NAME }."),
    # -- serving, URLs, ingress
    ("GW301", "error", "missing-credential", "An enabled gateway-supervised account lacks a credential it needs to serve."),
    ("GW302", "error", "empty-allowlist", "An enabled gateway-supervised account has an empty conversation allowlist."),
    ("GW303", "error", "webhook-mode-secret-missing", "Feishu webhook mode needs verification_token and encrypt_key."),
    ("GW304", "error", "matrix-user-id-required", "Matrix needs user_id when ignore_self_messages or require_mention is on."),
    ("GW305", "error", "missing-setting", "An enabled gateway-supervised account lacks a plain setting it needs to serve."),
    ("GW306", "warning", "qqbot-empty-allowlist", "An enabled QQ Bot account lists no allowed peers: loong serves it, but the built-in worker answers no one."),
    ("GW310", "error", "url-scheme", "A URL has a scheme the field does not accept."),
    ("GW311", "error", "url-credentials", "A URL embeds a user name or password."),
    ("GW312", "error", "base-url-query", "A base URL carries a query string or fragment."),
    ("GW313", "error", "private-host", "A URL points at a private, loopback or special-use host without [outbound_http] allow_private_hosts."),
    ("GW314", "error", "invalid-url", "A URL cannot be parsed."),
    ("GW320", "error", "webhook-path-collision", "Two webhook-served accounts mount the same path."),
    ("GW321", "error", "ingress-runtime-id-collision", "Two accounts the gateway mounts for one family run under the same runtime account id; the gateway refuses to start the second."),
    ("GW330", "error", "invalid-channel-value", "A channel value loong refuses when it loads the config (email smtp_host/from_address, irc server/nickname)."),
    # -- selectors
    ("GW401", "error", "selector-syntax", "A channel-account selector is not CHANNEL=ACCOUNT."),
    ("GW402", "error", "selector-unknown-channel", "A selector names no known channel."),
    ("GW403", "error", "selector-not-supervised", "A selector names a channel that the gateway owner cannot run."),
    ("GW404", "error", "selector-duplicate-family", "Two selectors target the same channel family."),
    ("GW405", "error", "selector-unknown-account", "A selector names an account the family does not configure."),
    ("GW406", "warning", "selector-lane-disabled", "A selector targets a disabled family or account: loong skips it and runs no lane for that family."),
    ("GW407", "warning", "selector-family-absent", "A selector names a family that has no table in the config: loong skips it (no lane)."),
    ("GW408", "warning", "selector-single-account-other-id", "A selector names another id than the one account of a family without an accounts table: loong runs that account anyway."),
    ("GW409", "warning", "selector-comma-in-entry", "A config selector list entry holds a comma: read as several selectors for one deprecation period, while loong reads one value as one selector."),
    # -- plans
    ("GW501", "error", "inline-secret-refused", "A plan cannot carry an inline secret unless --allow-inline-secrets is given."),
    ("GW502", "error", "no-lanes", "Nothing to run: no enabled gateway-supervised family and no selector."),
    ("GW503", "error", "invalid-worker-template", "The [gateway.worker] command template is malformed."),
    ("GW504", "error", "invalid-control-port", "GATEWAYCTL_GATEWAY_PORT does not hold a port number (0-65535)."),
    ("GW505", "warning", "ingress-owned-family", "loong's gateway run serves this family through its HTTP ingress (every configured account), not as the one lane the plan runs."),
    # -- gatewayctl runtime and its settings file
    ("GW601", "warning", "settings-in-loong-config", "gatewayctl settings in loong's [gateway] table: loong drops them the next time it saves its config."),
    ("GW602", "warning", "settings-shadowed", "gatewayctl settings left in loong's [gateway] table are ignored: a gatewayctl.toml is in use."),
    ("GW603", "error", "loong-config-unreadable", "The loong config that gatewayctl.toml names cannot be found or read."),
    ("GW610", "error", "handler-missing", "A lane runs the built-in worker but no handler answers its messages."),
    ("GW611", "error", "listen-address-conflict", "Two lanes would listen on the same address."),
    ("GW612", "warning", "program-not-found", "A worker or handler program does not exist on this host."),
    ("GW613", "error", "fleet-missing-key", "The [fleet] table lacks a key a fleet needs (backend, endpoints, prefix, lease_ttl_s)."),
    ("GW614", "error", "fleet-backend", "[fleet] backend names no supported coordination backend."),
    ("GW615", "error", "fleet-endpoint", "A [fleet] endpoint is not an http(s)://host:port URL (a path, query, fragment, missing port or another scheme)."),
    ("GW616", "error", "fleet-endpoint-credentials", "A [fleet] endpoint embeds user:password@; credentials go in [fleet] username and password as references."),
    ("GW617", "error", "fleet-endpoints-list", "[fleet] endpoints is empty or lists one endpoint twice."),
    ("GW618", "error", "fleet-prefix", "[fleet] prefix is not a key namespace of the form /segment/segment (characters, slashes, length)."),
    ("GW619", "error", "fleet-seconds-range", "[fleet] lease_ttl_s or settle_s is outside its range."),
    ("GW620", "error", "fleet-host-id", "[fleet] host_id is not a host name of letters, digits, '.', '_' and '-' (at most 64)."),
    ("GW621", "error", "fleet-credential-ref", "[fleet] username or password is not an env or file reference, or only one of the two is set."),
    ("GW622", "error", "fleet-inline-credential", "[fleet] username or password is written inline instead of as a reference."),
    ("GW623", "error", "fleet-budget-infeasible", "[fleet] lease_ttl_s leaves no room for stop_grace_s: a lane could be fenced by one missed renewal."),
    ("GW624", "error", "fleet-in-loong-config", "A [fleet] table sits in loong's [gateway] table; it is read only from gatewayctl.toml."),
    # -- suppression comments
    ("GW701", "warning", "unused-suppression", "A `# gatewayctl: ignore[...]` comment suppresses nothing."),
    ("GW702", "warning", "invalid-suppression", "A `# gatewayctl:` comment is malformed or names a code it cannot suppress."),
]

CODES: dict[str, CodeInfo] = {c: CodeInfo(c, s, t, m) for (c, s, t, m) in _TABLE}


def code_info(code: str) -> CodeInfo:
    return CODES[code]
