"""Account rules: GW201 default_account naming no account, GW202 two
account keys normalizing to one id, GW203 a fallback default among several
accounts.

Imports only diagnostics, catalog and the validate model; never source,
compile, runtime, report or cli.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gatewayctl.catalog import normalize_account_id
from gatewayctl.diagnostics import Finding, pointer_join
from gatewayctl.validate.model import SOURCE_FALLBACK


def check(ctx) -> Iterator[Finding]:
    data = ctx.data if isinstance(ctx.data, Mapping) else {}
    for fam in ctx.model.families:
        if not fam.has_accounts:
            continue
        table_name = fam.pointer.lstrip("/")
        table = data.get(table_name)
        table = table if isinstance(table, Mapping) else {}
        yield from _collisions(fam)
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
