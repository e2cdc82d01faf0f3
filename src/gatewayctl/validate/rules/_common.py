"""Helpers shared by the rule modules: naming accounts in messages and
walking the raw tables where channel settings are written.

Imports only the standard library, diagnostics, catalog and the validate
model; never source, compile, runtime, report or cli.
"""

from __future__ import annotations

import functools

from collections.abc import Iterator, Mapping

from gatewayctl.catalog import BY_TABLE, CATALOG_ONLY, fields
from gatewayctl.diagnostics import pointer_join
from gatewayctl.records import record
from gatewayctl.validate.model import AccountModel, FamilyModel


@record
class Location:
    """One table where channel fields are written: a family's top level or
    one account's own table."""

    family: str  # family id
    tokens: tuple[str, ...]  # pointer tokens of the table
    table: Mapping
    dotted: str  # "telegram" or "telegram.accounts.work", for messages

    def pointer(self, *more) -> str:
        return pointer_join(*self.tokens, *more)


_last: tuple = (None, ())  # (the data, its locations): every rule asks again for the same file


def locations(data) -> Iterator[Location]:
    """Every channel table and account table present in the data, in
    document order. Ill-typed tables are skipped, and so are the tables of
    catalog-only families (zalo, zalo-personal, webchat): loong has no
    config struct for them (crates/app/src/config/runtime.rs:110) and never
    reads them, so nothing in them can be wrong for loong.

    A file's rules (about twenty) all walk the same data, which nothing
    changes while they run: the walk is done once per data object."""
    global _last
    cached = _last  # one read: another thread may replace it meanwhile
    if cached[0] is not data:
        cached = _last = (data, tuple(_walk(data)))
    return iter(cached[1])


def _walk(data) -> Iterator[Location]:
    if not isinstance(data, Mapping):
        return
    for table_name, table in data.items():
        fam = BY_TABLE.get(table_name) if isinstance(table_name, str) else None
        if fam is None or fam.klass == CATALOG_ONLY or not isinstance(table, Mapping):
            continue
        yield Location(fam.id, (table_name,), table, table_name)
        accounts = table.get("accounts")
        if not isinstance(accounts, Mapping):
            continue
        for key, acc in accounts.items():
            if isinstance(key, str) and isinstance(acc, Mapping):
                yield Location(fam.id, (table_name, "accounts", key), acc, f"{table_name}.accounts.{_dotted_key(key)}")


def _dotted_key(key: str) -> str:
    bare = key and all(ch.isalnum() or ch in "_-" for ch in key) and key.isascii()
    return key if bare else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def who(fam: FamilyModel, acc: AccountModel) -> str:
    """How a message names an account: 'telegram account "work"' or, for
    the single-account shape, just the family."""
    if not fam.has_accounts:
        return f"[{_table_of(fam)}]"
    return f'{fam.family} account "{acc.key}"'


def _table_of(fam: FamilyModel) -> str:
    return fam.pointer.lstrip("/")


def dotted_table(fam: FamilyModel, acc: AccountModel) -> str:
    """``telegram.accounts.work`` (or ``telegram`` for the single-account shape)."""
    base = _table_of(fam)
    return f"{base}.accounts.{_dotted_key(acc.key)}" if fam.has_accounts else base


def dotted_field(fam: FamilyModel, acc: AccountModel, name: str) -> str:
    """``telegram.accounts.work.bot_token`` (or ``telegram.bot_token``)."""
    return f"{dotted_table(fam, acc)}.{name}"


def field_or_account(acc: AccountModel, *names: str) -> tuple[str, str]:
    """The most precise existing location for a finding about ``names``:
    the first of those fields written anywhere the account reads from
    (target value), else the account's table (target key)."""
    for name in names:
        ptr = acc.field_pointer(name)
        if ptr is not None:
            return ptr, "value"
    return acc.pointer, "key"


@functools.cache
def secret_fields(family: str) -> frozenset[str]:
    """The family's secret-reference fields (from the config schema)."""
    return frozenset(name for name, spec in fields(family).items() if spec.secret)
