"""What `gatewayctl channels` shows: each family of a config, classified.

Pure: a ConfigModel in, frozen rows out (the CLI renders them). Owns the
wording of why an account is a family's default. May import catalog and
the validate model; never source, report, runtime or cli.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatewayctl.catalog import BY_ID, CLASS_LABELS, FAMILIES

_REASON = {
    "explicit": "default_account names it",
    "mapped_default": "an account key normalizes to `default`",
    "fallback": "first account id in sort order (no default_account, no `default` key)",
}


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: str | None  # normalized id; None when derived from credentials
    label: str  # the key as written
    enabled: bool  # effective: family enabled and account not disabled

    def to_json(self) -> dict:
        return {"id": self.id, "label": self.label, "enabled": self.enabled}


@dataclass(frozen=True, slots=True)
class ChannelRow:
    family: str
    table: str
    klass: str  # catalog class id, e.g. "gateway-supervised"
    class_label: str
    enabled: bool
    shape: str  # "accounts" | "single_account"
    accounts: tuple[AccountRow, ...]  # empty for the single-account shape
    default_id: str | None
    default_source: str  # explicit | mapped_default | fallback | single_account
    default_reason: str
    runs_in_gateway: str | None  # for supervised families: whether `gateway run` would start a lane

    def to_json(self) -> dict:
        return {
            "family": self.family,
            "table": self.table,
            "class": self.klass,
            "enabled": self.enabled,
            "shape": self.shape,
            "accounts": [a.to_json() for a in self.accounts],
            "default_account": self.default_id,
            "default_source": self.default_source,
            "default_reason": self.default_reason,
            "gateway_lane": self.runs_in_gateway,
        }


def describe_channels(model) -> tuple[ChannelRow, ...]:
    """Rows in catalog order (supervised families first)."""
    order = {f.id: i for i, f in enumerate(FAMILIES)}
    rows = []
    for fam in sorted(model.families, key=lambda f: order.get(f.family, len(order))):
        cat = BY_ID[fam.family]
        if fam.has_accounts:
            accounts = tuple(AccountRow(a.id, a.key, a.enabled) for a in fam.accounts)
            reason = _REASON.get(fam.default_source, fam.default_source)
            if fam.default_id is None:
                reason = "no usable account"
            shape = "accounts"
        else:
            accounts = ()
            implicit = fam.accounts[0] if fam.accounts else None
            if implicit is not None and implicit.id is not None:
                reason = "single-account shape: account_id names it"
            else:
                reason = "single-account shape: id derived from credentials at run time, else `default`"
            shape = "single_account"
        rows.append(
            ChannelRow(
                family=fam.family,
                table=cat.table,
                klass=cat.klass,
                class_label=CLASS_LABELS[cat.klass],
                enabled=fam.enabled,
                shape=shape,
                accounts=accounts,
                default_id=fam.default_id,
                default_source=fam.default_source,
                default_reason=reason,
                runs_in_gateway=_gateway_note(fam, cat),
            )
        )
    return tuple(rows)


def _gateway_note(fam, cat) -> str | None:
    if not cat.supervised:
        return None
    if not fam.enabled:
        return "no lane: family disabled"
    default = fam.default_account
    if default is None:
        return "no lane: no usable default account"
    if not default.enabled:
        return "no default lane: the default account is disabled (a selector may pick another)"
    return f"default lane {fam.family}/{default.id or 'default'} unless a selector picks another account"
