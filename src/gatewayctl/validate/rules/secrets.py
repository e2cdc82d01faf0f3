"""Secret rules: GW210 env-pointer hygiene (``*_env`` values and
``{ env = ... }`` tables that do not hold a plain variable name), GW211
inline literal secrets (a warning whose message never contains the value)
GW212 environment references in string form (``"$NAME"``), and GW213 a
family-level ``*_env`` that loong does not pass on to an account (WhatsApp
and Signal accounts have their own default pointers).

Fixes are declared here, next to the findings (see diagnostics.Fix):
GW210 `$NAME`/`%NAME%` -> `NAME` (safe: loong refuses the pointer and its
message names that one value), GW211 secret -> 0600 file (unsafe: the
secret changes place and the file must ship with the config), GW212
`"$NAME"` -> `{ env = "NAME" }` (safe: loong's SecretRef deserializer reads
both as the same Env reference, crates/contracts/src/secret_ref.rs:128-135 via classify_string_secret_ref at :191).

Covers every channel table and account table, and the ``api_key`` of
``[providers.*]`` tables (loong reads it as a secret reference too).

Imports only diagnostics, catalog and the validate secrets module; never
source, compile, runtime, report or cli.
"""

from __future__ import annotations


from collections.abc import Iterator, Mapping

from gatewayctl.catalog import normalize_account_id
from gatewayctl.diagnostics import SAFE, UNSAFE, Finding, Fix, pointer_join
from gatewayctl.validate.rules._common import Location, locations, secret_fields
from gatewayctl.validate.secrets import (
    ENV,
    INLINE,
    classify,
    env_name_problem,
    example_env_name,
    pointer_name_fix,
    table_env_name,
)

# The fields loong's provider check reads (crates/app/src/config/provider.rs:1223):
# two env pointers and the env of two secret references. Other keys of a
# provider table (headers, ...) are not env pointers and are left alone.
_PROVIDER_SECRETS = frozenset({"api_key", "oauth_access_token"})
_PROVIDER_FIELDS = _PROVIDER_SECRETS | {"api_key_env", "oauth_access_token_env"}


# Account tables whose *_env pointers have their own serde default, so the
# family's pointer never reaches them: field -> the account's default
# (crates/app/src/config/channels.rs:1277 WhatsappAccountConfig,
# :1231 SignalAccountConfig; merged as account.or(family), :6331).
ACCOUNT_ENV_DEFAULTS: dict[str, dict[str, str]] = {
    "whatsapp": {
        "access_token": "WHATSAPP_ACCESS_TOKEN",
        "phone_number_id": "WHATSAPP_PHONE_NUMBER_ID",
        "verify_token": "WHATSAPP_VERIFY_TOKEN",
        "app_secret": "WHATSAPP_APP_SECRET",
    },
    "signal": {"account": "SIGNAL_ACCOUNT", "service_url": "SIGNAL_SERVICE_URL"},
}


def check(ctx) -> Iterator[Finding]:
    yield from _shadowed_family_pointers(ctx.model)
    for loc in locations(ctx.data):
        # loong checks the Telegram token shape only in Telegram's own
        # pointers (detect_telegram_token_shape, config/channels_validation.rs:23).
        yield from _check_table(
            loc, secret_fields(loc.family), _example_prefix(loc), telegram=loc.family == "telegram", string_refs=True
        )
    yield from _providers(ctx.data)


def _example_prefix(loc: Location) -> str:
    parts = [loc.tokens[0]]
    if len(loc.tokens) == 3:
        parts.append(normalize_account_id(loc.tokens[2]))
    return "_".join(parts)


def _providers(data) -> Iterator[Finding]:
    """loong's provider check at load: every ``[providers.<id>]`` profile
    (crates/app/src/config/runtime.rs:1603) and the legacy ``[provider]``
    table whenever it is written: alone it becomes the active profile
    (runtime.rs:1590), beside profiles it is checked on its own
    (runtime.rs:2079). Same pointer rules as the channels, without the
    Telegram token shape (provider.rs:1238)."""
    if not isinstance(data, Mapping):
        return
    legacy = data.get("provider")
    if isinstance(legacy, Mapping):
        yield from _check_table(_provider_location(("provider",), legacy, "provider"), _PROVIDER_SECRETS, "provider")
    providers = data.get("providers")
    if not isinstance(providers, Mapping):
        return
    for pid, table in providers.items():
        if isinstance(pid, str) and isinstance(table, Mapping):
            yield from _check_table(
                _provider_location(("providers", pid), table, f"providers.{pid}"), _PROVIDER_SECRETS, pid
            )


def _provider_location(tokens: tuple, table: Mapping, dotted: str) -> Location:
    fields = {k: v for k, v in table.items() if k in _PROVIDER_FIELDS}
    return Location("", tokens, fields, dotted)


def _name_fix(value: str) -> Fix | None:
    name = pointer_name_fix(value)
    if name is None:
        return None
    return Fix("replace-string", SAFE, f'write just the variable name "{name}"', (("value", name),))


def _check_table(
    loc: Location, secret_fields: set[str], prefix: str, *, telegram: bool = False, string_refs: bool = False
) -> Iterator[Finding]:
    for key, value in loc.table.items():
        if not isinstance(key, str) or key in ("accounts", "acp"):
            continue
        base = key[:-4] if key.endswith("_env") else key
        # The suggested variable name only matters for a message; a clean
        # field (nearly all of them) never builds it.
        if key.endswith("_env") and isinstance(value, str):
            if env_name_problem(value, telegram=telegram) is None:
                continue
            example = example_env_name(prefix, base)
            problem = env_name_problem(value, example=example, inline_field=f"{loc.dotted}.{base}", telegram=telegram)
            if problem:
                yield Finding(
                    "GW210",
                    loc.pointer(key),
                    f"{loc.dotted}.{key} {problem}",
                    hint=f'{key} takes the name of an environment variable, e.g. {key} = "{example}"',
                    fix=_name_fix(value),
                )
        elif isinstance(value, Mapping) and (env := table_env_name(value)) is not None:
            # A blank file or env beside it is dropped, as loong's SecretRef does.
            if env_name_problem(env, telegram=telegram) is None:
                continue
            example = example_env_name(prefix, base)
            problem = env_name_problem(env, example=example, inline_field=f"{loc.dotted}.{key}", telegram=telegram)
            if problem:
                yield Finding(
                    "GW210",
                    pointer_join(*loc.tokens, key, "env"),
                    f"{loc.dotted}.{key}.env {problem}",
                    hint=f'env takes the name of an environment variable, e.g. {key} = {{ env = "{example}" }}',
                    fix=_name_fix(env),
                )
        elif key in secret_fields and isinstance(value, str):
            info = classify(value)
            if info.kind == INLINE:
                example = example_env_name(prefix, base)
                yield Finding(
                    "GW211",
                    loc.pointer(key),
                    f"{loc.dotted}.{key} holds a secret written inline in the config (value not shown)",
                    hint=(
                        f'keep secrets out of config files: export it as {example} and write '
                        f'{key} = {{ env = "{example}" }} (or use {{ file = ... }} / {{ exec = [...] }})'
                    ),
                    fix=Fix("secret-to-file", UNSAFE, f"move {loc.dotted}.{key} to a new 0600 file and reference it"),
                )
            elif info.kind == ENV and string_refs:
                yield Finding(
                    "GW212",
                    loc.pointer(key),
                    f'{loc.dotted}.{key} names its environment variable in string form; write {key} = {{ env = "{info.ref}" }}',
                    hint=(
                        f'loong reads "$NAME", "${{NAME}}", "env:NAME" and "%NAME%" as the environment variable NAME '
                        f'for compatibility; the table form says so explicitly: {key} = {{ env = "{info.ref}" }}'
                    ),
                    fix=Fix("env-table", SAFE, f'write {key} = {{ env = "{info.ref}" }}', (("env", str(info.ref)),)),
                )


def _shadowed_family_pointers(model) -> Iterator[Finding]:
    """GW213: a family-level ``<field>_env`` that an account without its own
    pointer would read, if loong passed it on; it does not."""
    for fam in model.families:
        defaults = ACCOUNT_ENV_DEFAULTS.get(fam.family)
        if not defaults or not fam.has_accounts:
            continue
        table_name = fam.pointer.lstrip("/")
        for field, default in defaults.items():
            env_key = f"{field}_env"
            for acc in fam.accounts:
                if env_key not in acc.settings or env_key in acc.own_keys:
                    continue  # no family pointer, or the account names its own
                family_env = acc.settings[env_key]
                if not isinstance(family_env, str) or not family_env.strip() or family_env.strip() == default:
                    continue
                value = acc.settings.get(field)
                if isinstance(value, (str, Mapping)) and classify(value).kind != "absent":
                    continue  # the field itself is set: no pointer is read
                yield Finding(
                    "GW213",
                    acc.pointer,
                    f'[{table_name}] {env_key} = "{family_env.strip()}" does not reach {fam.family} account '
                    f'"{acc.key}": loong gives each {fam.family} account its own default {env_key} '
                    f'("{default}"), so this account reads {default}',
                    hint=f'set {env_key} = "{family_env.strip()}" in [{table_name}.accounts.{acc.key}], or write '
                    f'{field} = {{ env = "{family_env.strip()}" }} in [{table_name}] (a reference is passed on)',
                    target="key",
                )
