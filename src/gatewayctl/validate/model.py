"""The config model: channel families, their accounts and default lanes.

Owns the reading of a loaded config tree into frozen families and accounts
(effective settings with family-level inheritance, effective ``enabled``,
account-id normalization, default-lane resolution) as
/work/shared/spec/config-model.md describes it. ``build_model`` never
raises on ill-typed data: the schema stage reports types, the model skips
what it cannot use.

Imports only the standard library, gatewayctl.diagnostics and
gatewayctl.catalog; must not import source, selectors, compile, runtime,
report or cli.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gatewayctl.catalog import BY_TABLE, normalize_account_id
from gatewayctl.diagnostics import escape_pointer_token, pointer_join
from gatewayctl.records import field, record

__all__ = [
    "SOURCE_EXPLICIT",
    "SOURCE_FALLBACK",
    "SOURCE_MAPPED_DEFAULT",
    "SOURCE_SINGLE_ACCOUNT",
    "AccountModel",
    "ConfigModel",
    "FamilyModel",
    "build_model",
]

SOURCE_EXPLICIT = "explicit"
SOURCE_MAPPED_DEFAULT = "mapped_default"
SOURCE_FALLBACK = "fallback"
SOURCE_SINGLE_ACCOUNT = "single_account"

# Keys that shape the family rather than configure a channel: they are never
# inherited by accounts and never appear in an account's settings.
_STRUCTURAL = frozenset({"enabled", "default_account", "accounts"})
_EMPTY: Mapping = MappingProxyType({})


@record
class AccountModel:
    """One account (lane candidate) of a family.

    ``key``: the account key as written, or for the single-account shape the
    ``account_id`` as written ("" when unset). ``id``: the normalized id;
    ``None`` when it is unknown (single-account shape without an
    ``account_id`` holding an ASCII letter or digit: loong derives it from
    secret values). ``enabled``:
    effective (family enabled and account not ``enabled = false``);
    ``own_enabled``: the account's own switch (default true). ``pointer``:
    the account's table (the family table for the single-account shape).
    ``settings``: read-only merged raw values, family defaults overridden by
    the account (``acp`` is replaced whole; ``account_id``, the runtime
    identity override, is inherited like any other value). ``own_keys``: the keys the
    account table sets itself; every other key of ``settings`` is inherited
    from ``family_pointer``. Pointers are derived on demand (field_pointer):
    only a rule that reports something needs one.
    """

    key: str
    id: str | None
    enabled: bool
    own_enabled: bool
    pointer: str
    # Not in repr: settings may hold inline secrets, and a repr ends up in
    # logs and assertion messages. Not hashed: mapping views are unhashable.
    settings: Mapping[str, object] = field(repr=False, hash=False)
    own_keys: frozenset = frozenset()
    family_pointer: str = ""

    @property
    def account_id_override(self) -> str | None:
        """The runtime identity loong reads from ``account_id`` (own, else
        the family's; crates/app/src/config/channels_account_resolution.rs:24):
        normalized, or None when unset or without an ASCII letter or digit
        (loong then derives the id from a credential, else ``default``)."""
        raw = self.settings.get("account_id")
        if not isinstance(raw, str) or not _has_alnum(raw):
            return None
        return normalize_account_id(raw)

    def field_pointer(self, name: str) -> str | None:
        """Where the effective value of ``name`` is written, if anywhere."""
        if name not in self.settings:
            return None
        base = self.pointer if name in self.own_keys else self.family_pointer
        return base + "/" + escape_pointer_token(name)


@record
class FamilyModel:
    """A channel family table present in the config.

    ``has_accounts``: the family uses the ``accounts`` shape (a non-empty
    table). ``accounts``: in document order; for the single-account shape,
    exactly one implicit account. ``id_known``: the default lane's id is
    known without resolving secrets. ``default_id``: the default lane's
    normalized id (``None`` when unknown). ``default_source``: one of
    ``explicit``, ``mapped_default``, ``fallback``, ``single_account``.
    """

    family: str
    pointer: str
    enabled: bool
    has_accounts: bool
    accounts: tuple[AccountModel, ...]
    id_known: bool
    default_id: str | None
    default_source: str

    def account(self, raw_id: str) -> AccountModel | None:
        """The account whose normalized id equals ``raw_id`` normalized."""
        if not isinstance(raw_id, str):
            return None
        wanted = normalize_account_id(raw_id)
        for acc in self.accounts:
            if acc.id is not None and acc.id == wanted:
                return acc
        return None

    @property
    def account_ids(self) -> tuple[str, ...]:
        """Distinct known account ids, sorted (loong's configured ids)."""
        return tuple(sorted({a.id for a in self.accounts if a.id is not None}))

    @property
    def default_account(self) -> AccountModel | None:
        if self.default_id is None:
            return self.accounts[0] if not self.has_accounts and self.accounts else None
        return self.account(self.default_id)


@record
class ConfigModel:
    families: tuple[FamilyModel, ...]
    allow_private_hosts: bool
    gateway: Mapping[str, object] = field(repr=False, hash=False)

    def family(self, family_id: str) -> FamilyModel | None:
        for fam in self.families:
            if fam.family == family_id:
                return fam
        return None


def _flag(value, default: bool) -> bool:
    # Ill-typed switches keep their default; the schema reports the type.
    return value if isinstance(value, bool) else default


def _has_alnum(text: str) -> bool:
    return any(c.isascii() and c.isalnum() for c in text)


def _nonblank(value) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def build_model(data) -> ConfigModel:
    """Read the channel families of a loaded config. Never raises."""
    if not isinstance(data, Mapping):
        return ConfigModel((), False, _EMPTY)
    families: list[FamilyModel] = []
    for table_name, table in data.items():
        fam = BY_TABLE.get(table_name) if isinstance(table_name, str) else None
        if fam is None or not isinstance(table, Mapping):
            continue
        families.append(_build_family(fam.id, table_name, table))

    outbound = data.get("outbound_http")
    allow_private = isinstance(outbound, Mapping) and outbound.get("allow_private_hosts") is True
    gateway = data.get("gateway")
    gateway_view = MappingProxyType(dict(gateway)) if isinstance(gateway, Mapping) else _EMPTY
    return ConfigModel(tuple(families), allow_private, gateway_view)


def _build_family(family_id: str, table_name: str, table: Mapping) -> FamilyModel:
    pointer = pointer_join(table_name)
    enabled = _flag(table.get("enabled"), False)
    defaults = {k: v for k, v in table.items() if isinstance(k, str) and k not in _STRUCTURAL}
    raw_accounts = table.get("accounts")

    if isinstance(raw_accounts, Mapping) and raw_accounts:
        accounts = []
        for key, acc_table in raw_accounts.items():
            # loong skips blank labels; a non-table account is a schema error.
            if not isinstance(key, str) or not key.strip() or not isinstance(acc_table, Mapping):
                continue
            accounts.append(_build_account(table_name, pointer, key, acc_table, enabled, defaults))
        default_id, source = _resolve_default(table.get("default_account"), [a.id for a in accounts])
        return FamilyModel(
            family=family_id,
            pointer=pointer,
            enabled=enabled,
            has_accounts=True,
            accounts=tuple(accounts),
            id_known=True,
            default_id=default_id,
            default_source=source,
        )

    # Single-account shape: the family table is the account.
    raw_id = _nonblank(table.get("account_id"))
    # loong reads an account_id without an ASCII letter or digit as no
    # configured identity and derives one (channels_account_resolution.rs:24).
    acc_id = normalize_account_id(raw_id) if raw_id is not None and _has_alnum(raw_id) else None
    settings = dict(defaults)
    implicit = AccountModel(
        key=raw_id or "",
        id=acc_id,
        enabled=enabled,
        own_enabled=True,
        pointer=pointer,
        settings=MappingProxyType(settings),
        own_keys=frozenset(),
        family_pointer=pointer,
    )
    return FamilyModel(
        family=family_id,
        pointer=pointer,
        enabled=enabled,
        has_accounts=False,
        accounts=(implicit,),
        id_known=acc_id is not None,
        default_id=acc_id,
        default_source=SOURCE_SINGLE_ACCOUNT,
    )


def _build_account(
    table_name: str,
    family_pointer: str,
    key: str,
    acc_table: Mapping,
    family_enabled: bool,
    defaults: Mapping,
) -> AccountModel:
    acc_pointer = pointer_join(table_name, "accounts", key)
    own_enabled = _flag(acc_table.get("enabled"), True)
    # Every family-level value is inherited, ``account_id`` included: loong
    # merges ``account.account_id.or(family.account_id)``
    # (crates/app/src/config/channels.rs:1964, channels_bridge.rs:343), so
    # an account without its own runs under the family's runtime identity.
    # An account that writes one, even blank, keeps its own (a blank one
    # then derives the id from credentials, as in loong). Selection is by
    # key, never by this value (channels_account_resolution.rs:305).
    settings = dict(defaults)
    own = []
    for k, v in acc_table.items():
        if not isinstance(k, str) or k in _STRUCTURAL:
            continue
        settings[k] = v
        own.append(k)
    return AccountModel(
        key=key,
        id=normalize_account_id(key),
        enabled=family_enabled and own_enabled,
        own_enabled=own_enabled,
        pointer=acc_pointer,
        settings=MappingProxyType(settings),
        own_keys=frozenset(own),
        family_pointer=family_pointer,
    )


def _resolve_default(raw_default, ids: list[str | None]) -> tuple[str | None, str]:
    """loong's default-lane choice among configured account ids."""
    known = sorted({i for i in ids if i is not None})
    if not known:
        # Every account key was unusable; there is no lane to default to.
        return None, SOURCE_FALLBACK
    preferred = _nonblank(raw_default)
    if preferred is not None:
        wanted = normalize_account_id(preferred)
        if wanted in known:
            return wanted, SOURCE_EXPLICIT
    if "default" in known:
        return "default", SOURCE_MAPPED_DEFAULT
    return known[0], SOURCE_FALLBACK
