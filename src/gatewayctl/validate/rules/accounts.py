"""Account rules: GW201 default_account naming no account, GW202 two
account keys normalizing to one id, GW203 a fallback default among several
accounts, GW204 two accounts of qqbot, weixin, onebot or whatsapp-personal
that loong runs under one runtime account id (refused at load).

Imports only diagnostics, catalog and the validate model; never source,
compile, runtime, report or cli.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gatewayctl.catalog import BY_ID, CATALOG_ONLY, normalize_account_id
from gatewayctl.diagnostics import Finding, pointer_join
from gatewayctl.validate.model import SOURCE_FALLBACK
from gatewayctl.validate.runtime_ids import runtime_id

# Families whose duplicate runtime account ids loong refuses at load:
# crates/app/src/config/channels_validation.rs:386 (qqbot) and
# crates/app/src/config/channels_bridge.rs:818, :838, :858.
LOAD_CHECKED_RUNTIME_IDS = ("qqbot", "weixin", "onebot", "whatsapp-personal")


def check(ctx) -> Iterator[Finding]:
    data = ctx.data if isinstance(ctx.data, Mapping) else {}
    for fam in ctx.model.families:
        # loong has no struct for catalog-only families and ignores their tables.
        if not fam.has_accounts or BY_ID[fam.family].klass == CATALOG_ONLY:
            continue
        table_name = fam.pointer.lstrip("/")
        table = data.get(table_name)
        table = table if isinstance(table, Mapping) else {}
        yield from _collisions(fam)
        if fam.family in LOAD_CHECKED_RUNTIME_IDS:
            yield from runtime_id_collisions(fam, table, "GW204")
        ids = fam.account_ids
        if not ids:
            continue
        raw_default = table.get("default_account")
        if isinstance(raw_default, str) and raw_default.strip():
            wanted = normalize_account_id(raw_default)
            if wanted not in ids:
                configured = ", ".join(ids)
                yield Finding(
                    "GW201",
                    pointer_join(table_name, "default_account"),
                    f'{table_name}.default_account is "{raw_default.strip()}" (account id "{wanted}"), '
                    f"but the configured accounts are: {configured}",
                    hint=f'set default_account to one of: {configured}',
                )
                # loong then falls back; GW203 below would repeat the same
                # problem with less precision.
                continue
        if fam.default_source == SOURCE_FALLBACK and len(ids) >= 2:
            yield Finding(
                "GW203",
                fam.pointer,
                f"[{table_name}] has {len(ids)} accounts and no default_account or \"default\" account; "
                f'the default lane falls back to "{fam.default_id}", the first id in sorted order',
                hint=f'set default_account = "{fam.default_id}" (or another account) in [{table_name}]',
                target="key",
            )


def _collisions(fam) -> Iterator[Finding]:
    first_by_id: dict[str, object] = {}
    for acc in fam.accounts:
        if acc.id is None:
            continue
        first = first_by_id.get(acc.id)
        if first is None:
            first_by_id[acc.id] = acc
            continue
        yield Finding(
            "GW202",
            acc.pointer,
            f'{fam.family} account keys "{first.key}" and "{acc.key}" both normalize to account id "{acc.id}"',
            hint="rename one of the account keys so each normalized id is unique",
            target="key",
        )


def runtime_id_collisions(fam, table: Mapping, code: str, accounts=None, *, phase: str = "load") -> Iterator[Finding]:
    """Accounts of one family that loong runs under the same runtime id,
    in loong's order (configured ids sorted); the later one is reported."""
    raw_accounts = table.get("accounts")
    raw_accounts = raw_accounts if isinstance(raw_accounts, Mapping) else {}
    chosen = fam.accounts if accounts is None else accounts
    ordered = sorted((a for a in chosen if a.id is not None), key=lambda a: a.id)
    first_by_token: dict[tuple, tuple] = {}
    for acc in ordered:
        own = raw_accounts.get(acc.key) if fam.has_accounts else None
        rid = runtime_id(fam.family, table, own if isinstance(own, Mapping) else ({} if fam.has_accounts else None))
        if rid.token[0] == "unknown":
            continue
        first = first_by_token.get(rid.token)
        if first is None:
            first_by_token[rid.token] = (acc, rid)
            continue
        first_acc, first_rid = first
        same = f'the runtime account id "{rid.id}"' if rid.id is not None else "one runtime account id"
        when = (
            "loong refuses the config when it loads it"
            if phase == "load"
            else "the gateway refuses to start the second one under an id that is already running"
        )
        why = f"both: {rid.why}" if rid.why == first_rid.why else f"{first_rid.why}; {rid.why}"
        yield Finding(
            code,
            acc.pointer,
            f'{fam.family} accounts "{first_acc.key}" and "{acc.key}" both run under {same} ({why}): {when}',
            hint=f'give each account its own runtime id: set account_id = "{acc.id}" in '
            f"[{table_label(fam, acc)}] (or give it its own credential or endpoint)",
            target="key",
        )


def table_label(fam, acc) -> str:
    from gatewayctl.validate.rules._common import dotted_table

    return dotted_table(fam, acc)
