"""Selector rules (GW402-GW407): does each CHANNEL=ACCOUNT name a lane?

Owns ``ResolvedSelector`` and ``check``. Input is what the selectors package
parsed (syntax, GW401, is settled there); output is the selectors that name
a lane the gateway owner can run, plus findings that point at the selector
text (its pointer, and the column of its channel or account part).

Checks, in the order a user meets them: the channel resolves through the
catalog's names and aliases (GW402); it is gateway-supervised (GW403); its
family appears once (GW404); the config has its table (GW407); the account
is configured (GW405); the family and the account are enabled (GW406,
warning).

Only selectors without findings are resolved. A selector for a disabled
family or account (GW406, a warning) is dropped as loong drops it: its
family then counts as not selected (docs/plan-format.md), so an enabled
family falls back to its default account. The warning says which, because
a silent drop is a rollout surprise.

Imports diagnostics, catalog and selectors (for the Selector type); never
source, compile, runtime, report or cli.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence

from gatewayctl import catalog
from gatewayctl.catalog import Family
from gatewayctl.diagnostics import Finding
from gatewayctl.selectors import Selector

__all__ = ["ResolvedSelector", "check"]


@dataclass(frozen=True, slots=True)
class ResolvedSelector:
    family: Family
    typed_channel: str  # as typed (may be an alias, any case)
    # The configured account; None when the family has the single-account
    # shape and its id is derived from credentials (not knowable here).
    account: object | None  # validate.model.AccountModel
    selector: Selector


_CLASS_WHY = {
    catalog.OUTBOUND_ONLY: "it only sends messages; there is no inbound lane to supervise",
    catalog.NATIVE_SERVE: "it is served by its own standalone listener, not by a gateway lane",
    catalog.PLUGIN_BRIDGE: "it runs through a runtime plugin bridge, which owns its own connection",
    catalog.CATALOG_ONLY: "it is listed in the channel catalog but has no runtime",
}


def check(selectors: Sequence[Selector], model) -> tuple[tuple[ResolvedSelector, ...], list[Finding]]:
    """Resolve parsed selectors against the catalog and the config model.

    ``model`` is a ``validate.model.ConfigModel``. Never raises on user input.
    """
    resolved: list[ResolvedSelector] = []
    findings: list[Finding] = []
    first_of: dict[str, Selector] = {}
    for sel in selectors:
        finding, result = _check_one(sel, model, first_of)
        if finding is not None:
            findings.append(finding)
        if result is not None:
            resolved.append(result)
    return tuple(resolved), findings


def _check_one(sel: Selector, model, first_of: dict[str, Selector]):
    family = catalog.resolve(sel.channel)
    if family is None:
        return _unknown_channel(sel), None
    if not family.supervised:
        return _not_supervised(sel, family), None
    first = first_of.get(family.id)
    if first is not None:
        return _duplicate(sel, first, family), None
    first_of[family.id] = sel

    fam = model.family(family.id)
    if fam is None:
        return _absent(sel, family), None

    account = None
    if fam.has_accounts:
        account = fam.account(sel.account)
        if account is None:
            return _unknown_account(sel, family, fam), None
    elif fam.id_known:
        if catalog.normalize_account_id(sel.account) != fam.default_id:
            return _single_account_mismatch(sel, family, fam), None
        account = fam.account(sel.account)
    # else: single-account shape whose id comes from credentials; loong
    # accepts any account id there, and so do we.

    if not fam.enabled:
        return _family_disabled(sel, family), None
    if account is not None and not account.own_enabled:
        return _account_disabled(sel, family, fam, account), None
    return None, ResolvedSelector(family, sel.channel, account, sel)


# ------------------------------------------------------------------ findings


def _at_channel(code: str, sel: Selector, message: str, hint: str) -> Finding:
    return Finding(code, sel.pointer, message, hint=hint, column_offset=sel.channel_offset, length=sel.channel_length)


def _at_account(code: str, sel: Selector, message: str, hint: str) -> Finding:
    return Finding(code, sel.pointer, message, hint=hint, column_offset=sel.account_offset, length=sel.account_length)


def _supervised_list() -> str:
    return ", ".join(catalog.SUPERVISED_IDS)


def _named(sel: Selector, family: Family) -> str:
    """How to refer to the family, making an alias visible: `lark` (feishu)."""
    typed = sel.channel.strip().lower()
    return f"`{sel.channel}`" if typed == family.id else f"`{sel.channel}` ({family.id})"


def _unknown_channel(sel: Selector) -> Finding:
    typed = sel.channel.strip().lower()
    message = f"unknown channel `{sel.channel}` in selector `{sel.text}`; the gateway supervises {_supervised_list()}"
    guess = _closest(typed, catalog.all_names(), cutoff=0.7)
    target = catalog.resolve(guess) if guess is not None else None
    if target is not None:
        if not target.supervised:
            label = catalog.CLASS_LABELS[target.klass]
            message += f"; did you mean `{guess}`? (it is {label}, which the gateway owner does not run)"
        elif guess != target.id:
            message += f"; did you mean `{guess}` (an alias of {target.id})?"
        else:
            message += f"; did you mean `{guess}`?"
    hint = "Use a gateway-supervised channel id or one of its aliases, for example `lark=work`."
    return _at_channel("GW402", sel, message, hint)


def _not_supervised(sel: Selector, family: Family) -> Finding:
    label = catalog.CLASS_LABELS[family.klass]
    article = "an" if label[0] in "aeiou" else "a"
    message = (
        f"{_named(sel, family)} is {article} {label} channel, not gateway-supervised: "
        f"that surface does not belong in this runtime-backed owner model "
        f"(the gateway owner runs only {_supervised_list()})"
    )
    hint = f"Remove `{sel.text}` from the selectors: {_CLASS_WHY[family.klass]}."
    return _at_channel("GW403", sel, message, hint)


def _duplicate(sel: Selector, first: Selector, family: Family) -> Finding:
    if sel.text == first.text:
        repeat = f"`{sel.text}` is given twice"
    else:
        repeat = f"{_named(sel, family)} in `{sel.text}` repeats {_named(first, family)} in `{first.text}`"
    message = (
        f"channel family {family.id} is selected twice: {repeat}; "
        "one channel family can only appear once in the selector list"
    )
    hint = f"Keep one selector for {family.id}: the gateway supervises one account per family."
    return _at_channel("GW404", sel, message, hint)


def _absent(sel: Selector, family: Family) -> Finding:
    message = f"selector `{sel.text}` names {family.id}, but the config has no [{family.table}] table"
    hint = f"Add a [{family.table}] table that configures the account `{sel.account}`, or remove the selector."
    return _at_channel("GW407", sel, message, hint)


def _normalized_note(raw: str, norm: str) -> str:
    return "" if raw == norm else f" (normalized: `{norm}`)"


def _unknown_account(sel: Selector, family: Family, fam) -> Finding:
    norm = catalog.normalize_account_id(sel.account)
    ids = list(fam.account_ids)
    listed = ", ".join(ids) if ids else "none"
    message = (
        f"no account `{sel.account}`{_normalized_note(sel.account, norm)} in [{family.table}]; "
        f"configured accounts: {listed}"
    )
    guess = _closest(norm, ids, cutoff=0.6)
    if guess is not None:
        message += f"; did you mean `{guess}`?"
    example = f"`{sel.channel}={ids[0]}`" if ids else f"`{sel.channel}=<account id>`"
    hint = (
        f"Select a configured account ({example}), or add [{family.table}.accounts.{norm}]; "
        "the account id must exist in the config."
    )
    return _at_account("GW405", sel, message, hint)


def _single_account_mismatch(sel: Selector, family: Family, fam) -> Finding:
    norm = catalog.normalize_account_id(sel.account)
    message = (
        f"no account `{sel.account}`{_normalized_note(sel.account, norm)} in [{family.table}]: "
        f"it has a single account, `{fam.default_id}` (set by its account_id)"
    )
    hint = f"Select `{sel.channel}={fam.default_id}`, or change account_id in [{family.table}]."
    return _at_account("GW405", sel, message, hint)


def _family_disabled(sel: Selector, family: Family) -> Finding:
    message = (
        f"selector `{sel.text}` targets [{family.table}], which is not enabled: that lane will not run"
    )
    hint = f"Set `enabled = true` in [{family.table}], or remove the selector."
    return _at_channel("GW406", sel, message, hint)


def _account_disabled(sel: Selector, family: Family, fam, account) -> Finding:
    fallback = fam.default_account
    if fallback is not None and fallback.enabled and fallback.id is not None:
        instead = f"[{family.table}] runs its default account `{fallback.id}` instead"
    else:
        instead = f"[{family.table}] gets no lane"
    message = (
        f"selector `{sel.text}` targets account `{account.id}` of [{family.table}], which has "
        f"`enabled = false`: that lane will not run; {instead}"
    )
    hint = "Remove `enabled = false` from that account, or select another account of the family."
    return _at_account("GW406", sel, message, hint)


def _closest(word: str, candidates: Iterable[str], *, cutoff: float) -> str | None:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None
