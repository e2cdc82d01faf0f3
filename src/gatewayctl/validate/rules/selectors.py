"""Selector rules (GW402-GW409): does each CHANNEL=ACCOUNT name a lane,
and does loong run it?

Owns ``ResolvedSelector``, ``check`` and ``comma_entry``. Input is what the
selectors package parsed (syntax, GW401, is settled there); output is the
selectors loong would accept, each marked with whether loong runs a lane
for it, plus findings that point at the selector text.

The order is loong's (crates/daemon/src/lib.rs:1003 parses each flag,
crates/daemon/src/supervisor.rs:73 refuses a family selected twice,
supervisor.rs:94 asks each family ``background_surface_is_enabled``,
crates/app/src/channel/sdk.rs:1008):

- the channel resolves through the catalog's ids and aliases (GW402) and
  has a background runtime, i.e. is gateway-supervised (GW403): loong
  refuses the flag otherwise;
- its family is selected once (GW404);
- a family with no table, or a disabled family, is skipped before any
  account is looked at: no lane, no error (GW407 / GW406, warnings);
- the account is looked up by its normalized key
  (config/channels_account_resolution.rs:305); feishu also by the
  account's runtime id (feishu-integration,
  channel/feishu/api/runtime.rs:85). Not found: loong refuses at gateway
  start (GW405). A family without an ``accounts`` table accepts any
  account id and runs its one account (GW408 warns when the selector names
  another id than that account's);
- a selected account that is disabled is skipped: the family runs no lane
  at all, the default account does not stand in (GW406, warning).

A skipped selector still counts as selecting its family
(``ResolvedSelector.runs`` is False), so ``plan`` gives that family no lane,
as loong does.

Imports diagnostics, catalog, selectors and the validate secrets helpers;
never source, compile, runtime, report or cli.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gatewayctl import catalog
from gatewayctl.catalog import Family
from gatewayctl.diagnostics import SAFE, Finding, Fix
from gatewayctl.records import record
from gatewayctl.selectors import Selector, show

__all__ = ["ResolvedSelector", "check", "comma_entry"]


@record
class ResolvedSelector:
    family: Family
    typed_channel: str  # as typed (may be an alias, any case)
    # The configured account; None when the family has the single-account
    # shape and its id is derived from credentials (not knowable here), or
    # when loong skips the selector before looking at accounts.
    account: object | None  # validate.model.AccountModel
    selector: Selector
    runs: bool = True  # False: loong accepts the selector but runs no lane for the family


_CLASS_WHY = {
    catalog.OUTBOUND_ONLY: "it only sends messages; there is no inbound lane to supervise",
    catalog.NATIVE_SERVE: "it is served by its own standalone listener, not by a gateway lane",
    catalog.PLUGIN_BRIDGE: "it runs through a runtime plugin bridge, which owns its own connection",
    catalog.CATALOG_ONLY: "it is listed in the channel catalog but has no runtime",
}


def check(
    selectors: Sequence[Selector], model, *, flags: bool = False, data=None
) -> tuple[tuple[ResolvedSelector, ...], list[Finding]]:
    """Resolve parsed selectors against the catalog and the config model.

    ``model`` is a ``validate.model.ConfigModel``; ``data`` the loaded
    document (for runtime ids an account inherits from its family table).
    ``flags``: the selectors came from --channel-account values, so a comma
    in an account id gets the "repeat the flag" hint. Never raises on user
    input.
    """
    resolved: list[ResolvedSelector] = []
    findings: list[Finding] = []
    first_of: dict[str, Selector] = {}
    for sel in selectors:
        finding, result = _check_one(sel, model, first_of, data)
        if finding is not None:
            findings.append(_with_comma_note(finding, sel) if flags and "," in sel.account else finding)
        if result is not None:
            resolved.append(result)
    return tuple(resolved), findings


def comma_entry(pointer: str, text: str, parsed: Sequence[Selector]) -> Finding:
    """GW409 for a config list entry that holds a comma (deprecated reading)."""
    mine = [s for s in parsed if s.pointer == pointer]
    head, _, rest = text.strip().partition("=")
    as_loong = f"`{show(head.strip())}` with account `{show(rest.strip())}`" if rest.strip() else "one selector"
    listed = ", ".join(f'"{show(s.text)}"' for s in mine) or '"lark=work", "wecom=alerts"'
    message = (
        f"this entry holds a comma: gatewayctl still reads it as {len(mine)} selector"
        f"{'' if len(mine) == 1 else 's'} for this release (deprecated), but loong reads one value as one "
        f"selector, so as a --channel-account value it would mean {as_loong}"
    )
    hint = f"Write one list entry per selector: channel_accounts = [{listed}]."
    fix = None
    if mine and len(mine) == len(text.split(",")):
        # Safe: gatewayctl reads the same selectors, and loong now reads
        # them too. Offered only when every comma segment parsed, so no
        # entry is lost.
        items = tuple(("item", text[s.offset : s.offset + s.length]) for s in mine)
        fix = Fix("split-list-entry", SAFE, "write one list entry per selector", items)
    return Finding("GW409", pointer, message, hint=hint, column_offset=0, length=len(text), fix=fix)


def _with_comma_note(f: Finding, sel: Selector) -> Finding:
    """A --channel-account value holding a comma: say that the comma is part
    of the account id and spell out the repeated flags that were meant."""
    from gatewayctl.records import replace

    first, *rest = [part.strip() for part in sel.account.split(",")]
    flags = " ".join(
        [f"--channel-account {show(sel.channel)}={show(first)}"]
        + [f"--channel-account {show(part)}" for part in rest if part]
    )
    note = (
        "A comma does not separate selectors: loong reads everything after the first `=` as one "
        f"account id (`{show(sel.account)}`). Repeat the flag instead: {flags}"
    )
    if f.code == "GW405":
        return replace(f, hint=note)
    return replace(f, hint=f"{f.hint} {note}".strip())


def _check_one(sel: Selector, model, first_of: dict[str, Selector], data):
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
        return _absent(sel, family), ResolvedSelector(family, sel.channel, None, sel, runs=False)
    if not fam.enabled:
        return _family_disabled(sel, family, fam), ResolvedSelector(family, sel.channel, None, sel, runs=False)

    finding = None
    if fam.has_accounts:
        account = fam.account(sel.account)
        if account is None and family.id == "feishu":
            account, ambiguous = _feishu_runtime_match(sel, fam, data)
            if ambiguous:
                return _ambiguous_runtime_id(sel, family, ambiguous), None
        if account is None:
            return _unknown_account(sel, family, fam, data), None
    else:
        account = fam.accounts[0] if fam.accounts else None
        if fam.id_known and catalog.normalize_account_id(sel.account) != fam.default_id:
            finding = _single_account_other_id(sel, family, fam)

    if account is not None and not account.own_enabled:
        return _account_disabled(sel, family, fam, account), ResolvedSelector(family, sel.channel, account, sel, runs=False)
    if account is not None and account.id is None:
        account = None  # single-account shape with a credential-derived id
    return finding, ResolvedSelector(family, sel.channel, account, sel)


def runtime_id(family: Family, account, data) -> str | None:
    """The runtime account id loong gives ``account`` when it is knowable
    without reading secrets: its ``account_id`` (its own when written, even
    blank, else the family's; only when it holds an ASCII letter or digit), else, for feishu, the id
    derived from an inline ``app_id`` (``{domain}_{app_id}``); None otherwise."""
    from gatewayctl.validate.secrets import classify

    settings = account.settings
    configured = account.account_id_override  # the model inherits the family's
    if configured is not None:
        return configured
    if family.id != "feishu":
        return None
    app_id = settings.get("app_id")
    if isinstance(app_id, str) and classify(app_id).kind == "inline" and app_id.strip():
        domain = settings.get("domain") if settings.get("domain") in ("feishu", "lark") else "feishu"
        return f"{domain}_{catalog.normalize_account_id(app_id)}"
    # An app_id from the environment, a file or a program: unknowable here.
    return None


def _feishu_runtime_match(sel: Selector, fam, data):
    """feishu-integration's fallback: an account whose runtime id equals the
    requested id (trimmed, not normalized). (account, None) when exactly one
    matches, (None, [accounts]) when several do, (None, None) when none."""
    family = catalog.BY_ID["feishu"]
    matched = [acc for acc in fam.accounts if runtime_id(family, acc, data) == sel.account]
    if len(matched) == 1:
        return matched[0], None
    return None, (matched or None)


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
    message = f"unknown channel `{sel.channel}` in selector `{show(sel.text)}`; the gateway supervises {_supervised_list()}"
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
    hint = f"Remove `{show(sel.text)}` from the selectors: {_CLASS_WHY[family.klass]}."
    return _at_channel("GW403", sel, message, hint)


def _duplicate(sel: Selector, first: Selector, family: Family) -> Finding:
    if sel.text == first.text:
        repeat = f"`{show(sel.text)}` is given twice"
    else:
        repeat = f"{_named(sel, family)} in `{show(sel.text)}` repeats {_named(first, family)} in `{show(first.text)}`"
    message = (
        f"channel family {family.id} is selected twice: {repeat}; "
        "one channel family can only appear once in the selector list"
    )
    hint = f"Keep one selector for {family.id}: the gateway supervises one account per family."
    return _at_channel("GW404", sel, message, hint)


def _absent(sel: Selector, family: Family) -> Finding:
    message = (
        f"selector `{show(sel.text)}` names {family.id}, but the config has no [{family.table}] table: "
        f"loong treats a missing table as a disabled family and skips the selector, so no {family.id} lane runs"
    )
    hint = f"Add a [{family.table}] table with `enabled = true` that configures the account `{show(sel.account)}`, or remove the selector."
    return _at_channel("GW407", sel, message, hint)


def _ambiguous_runtime_id(sel: Selector, family: Family, accounts) -> Finding:
    keys = ", ".join(f"`{show(a.key)}`" for a in accounts)
    message = (
        f"selector `{show(sel.text)}`: no {family.id} account has the key `{show(sel.account)}`, and several have it "
        f"as their runtime id ({keys}); loong refuses an ambiguous runtime account at gateway start"
    )
    hint = f"Select the account by its key, for example `{sel.channel}={accounts[0].id}`."
    return _at_account("GW405", sel, message, hint)


def _normalized_note(raw: str, norm: str) -> str:
    return "" if raw == norm else f" (normalized: `{norm}`)"


def _unknown_account(sel: Selector, family: Family, fam, data) -> Finding:
    norm = catalog.normalize_account_id(sel.account)
    ids = list(fam.account_ids)
    listed = ", ".join(ids) if ids else "none"
    message = (
        f"no account `{show(sel.account)}`{_normalized_note(sel.account, norm)} in [{family.table}]; "
        f"configured accounts: {listed}; loong refuses the selector at gateway start"
    )
    by_runtime = [a for a in fam.accounts if runtime_id(family, a, data) == norm]
    if by_runtime and family.id != "feishu":
        acc = by_runtime[0]
        message += (
            f"; `{norm}` is the runtime id (account_id) of [{family.table}.accounts.{show(acc.key)}], but loong "
            f"selects {family.id} accounts by key"
        )
        example = f"`{sel.channel}={acc.id}`"
    else:
        guess = _closest(norm, ids, cutoff=0.6)
        if guess is not None:
            message += f"; did you mean `{guess}`?"
        example = f"`{sel.channel}={ids[0]}`" if ids else f"`{sel.channel}=<account id>`"
    hint = (
        f"Select a configured account ({example}), or add [{family.table}.accounts.{norm}]; "
        "the account id must exist in the config."
    )
    return _at_account("GW405", sel, message, hint)


def _single_account_other_id(sel: Selector, family: Family, fam) -> Finding:
    norm = catalog.normalize_account_id(sel.account)
    message = (
        f"[{family.table}] has no accounts table, so loong accepts any account id here and runs its one "
        f"account, `{fam.default_id}` (its account_id); the selector names `{show(sel.account)}`"
        f"{_normalized_note(sel.account, norm)}"
    )
    hint = f"Select `{sel.channel}={fam.default_id}` so the selector says what runs, or change account_id in [{family.table}]."
    return _at_account("GW408", sel, message, hint)


def _family_disabled(sel: Selector, family: Family, fam) -> Finding:
    message = (
        f"selector `{show(sel.text)}` targets [{family.table}], which is not enabled: loong skips it "
        f"before looking at accounts, so no {family.id} lane runs"
    )
    if fam.has_accounts and fam.account(sel.account) is None:
        message += f" (and [{family.table}] has no account `{show(sel.account)}`: enabling the family would make this an error)"
    hint = f"Set `enabled = true` in [{family.table}], or remove the selector."
    return _at_channel("GW406", sel, message, hint)


def _account_disabled(sel: Selector, family: Family, fam, account) -> Finding:
    message = (
        f"selector `{show(sel.text)}` targets account `{account.id}` of [{family.table}], which has "
        f"`enabled = false`: loong skips it and runs no {family.id} lane at all (the default account "
        "does not stand in for a selected one)"
    )
    hint = "Remove `enabled = false` from that account, select another account of the family, or remove the selector."
    return _at_account("GW406", sel, message, hint)


def _closest(word: str, candidates: Iterable[str], *, cutoff: float) -> str | None:
    import difflib  # only a selector that names nothing known pays for it

    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return matches[0] if matches else None
