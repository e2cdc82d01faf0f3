"""Serving rules: what an effectively enabled account of a
gateway-supervised family needs before a lane can start.

GW301 a credential with no reference at all (neither the field, nor its
``*_env`` sibling, nor a built-in default variable name); GW302 an empty
conversation allowlist; GW303 Feishu webhook mode without
verification_token/encrypt_key; GW304 Matrix without user_id while
ignore_self_messages or require_mention is on; GW305 a missing plain
setting (Matrix base_url, WhatsApp phone_number_id). For the
single-account shape the family table is the account. Only presence is
checked here: a malformed reference is the schema's (GW104) or GW210's.

Imports only diagnostics, catalog and the validate model/secrets modules;
never source, compile, runtime, report or cli.
"""

from __future__ import annotations

from collections.abc import Iterator

from gatewayctl.catalog import SUPERVISED_IDS, normalize_account_id
from gatewayctl.diagnostics import Finding
from gatewayctl.validate.rules._common import dotted_field, dotted_table, field_or_account, who
from gatewayctl.validate.secrets import effective_env_pointer, effective_secret, example_env_name

# family -> credentials (secret fields) every served account needs.
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "feishu": ("app_id", "app_secret"),
    "telegram": ("bot_token",),
    "matrix": ("access_token",),
    "wecom": ("bot_id", "secret"),
    "whatsapp": ("access_token", "verify_token", "app_secret"),
    "qqbot": ("app_id", "client_secret"),
}

# family -> the conversation allowlist that must not be empty. WhatsApp has
# none; loong serves qqbot with an empty allowed_peer_ids, so it is not
# required there.
ALLOWLISTS: dict[str, str] = {
    "feishu": "allowed_chat_ids",
    "telegram": "allowed_chat_ids",
    "matrix": "allowed_room_ids",
    "wecom": "allowed_conversation_ids",
}


def check(ctx) -> Iterator[Finding]:
    for fam in ctx.model.families:
        if fam.family not in SUPERVISED_IDS:
            continue
        for acc in fam.accounts:
            if acc.enabled:
                yield from _account(fam, acc)


def _account(fam, acc) -> Iterator[Finding]:
    settings = acc.settings
    for name in CREDENTIALS.get(fam.family, ()):
        if not effective_secret(settings, name, family=fam.family).present:
            yield _missing_credential("GW301", fam, acc, name)

    allow = ALLOWLISTS.get(fam.family)
    if allow is not None:
        yield from allowlist_findings(fam, acc, allow)

    if fam.family == "feishu" and settings.get("mode") == "webhook":
        for name in ("verification_token", "encrypt_key"):
            if not effective_secret(settings, name, family=fam.family).present:
                yield _missing_credential("GW303", fam, acc, name, why=' in mode = "webhook"')

    if fam.family == "matrix":
        yield from _matrix(fam, acc)

    if fam.family == "qqbot":
        # loong serves qqbot without an allowlist, so this is no error; but
        # gatewayctl's worker fails closed (an empty conversation allowlist
        # answers nothing), which would be a silent rollout surprise.
        peers = settings.get("allowed_peer_ids")
        if peers is None or (isinstance(peers, list) and not peers):
            ptr, target = field_or_account(acc, "allowed_peer_ids")
            yield Finding(
                "GW306",
                ptr,
                f"{who(fam, acc)} is enabled but allowed_peer_ids is empty: "
                "gatewayctl's qqbot worker will answer no user or group",
                hint=f"list the user and group openids it may answer in {dotted_field(fam, acc, 'allowed_peer_ids')}",
                target=target,
            )

    if fam.family == "whatsapp":
        value = settings.get("phone_number_id")
        blank = value is None or (isinstance(value, str) and not value.strip())
        if blank and not effective_env_pointer(settings, "phone_number_id", family=fam.family).present:
            ptr, target = field_or_account(acc, "phone_number_id", "phone_number_id_env")
            yield Finding(
                "GW305",
                ptr,
                f"{who(fam, acc)} is enabled but has no phone_number_id",
                hint="set phone_number_id (or phone_number_id_env) to the WhatsApp Cloud API phone number id",
                target=target,
            )


def _matrix(fam, acc) -> Iterator[Finding]:
    settings = acc.settings
    base_url = settings.get("base_url")
    if base_url is None or (isinstance(base_url, str) and not base_url.strip()):
        ptr, target = field_or_account(acc, "base_url")
        yield Finding(
            "GW305",
            ptr,
            f"{who(fam, acc)} is enabled but has no base_url (the homeserver URL; matrix has no default)",
            hint='set base_url = "https://matrix.example.org"',
            target=target,
        )
    ignore_self = settings.get("ignore_self_messages", True)
    mention = settings.get("require_mention", False)
    ignore_self = ignore_self if isinstance(ignore_self, bool) else True
    mention = mention if isinstance(mention, bool) else False
    user_id = settings.get("user_id")
    if (ignore_self or mention) and (user_id is None or (isinstance(user_id, str) and not user_id.strip())):
        reason = "require_mention" if mention else "ignore_self_messages"
        ptr, target = field_or_account(acc, "user_id", reason)
        yield Finding(
            "GW304",
            ptr,
            f"{who(fam, acc)} needs user_id because {reason} is on (it must recognize its own messages)",
            hint='set user_id = "@bot:example.org"' + ("" if mention else ", or set ignore_self_messages = false"),
            target=target,
        )


def _missing_credential(code: str, fam, acc, name: str, why: str = "") -> Finding:
    ptr, target = field_or_account(acc, name, f"{name}_env")
    prefix = fam.pointer.lstrip("/")
    if fam.has_accounts:
        prefix = f"{prefix}_{normalize_account_id(acc.key)}"
    example = example_env_name(prefix, name)
    return Finding(
        code,
        ptr,
        f"{who(fam, acc)} is enabled{why} but has no {name} (neither {name} nor {name}_env is set)",
        hint=f'add {name} = {{ env = "{example}" }} to [{dotted_table(fam, acc)}]',
        target=target,
        missing=(name,),
    )



def allowlist_entries(value) -> list:
    """The entries loong's access policy keeps (channel/access_policy.rs:305):
    strings trimmed, blank ones dropped; numbers (Telegram chat ids) as they
    are. ``*`` counts (a wildcard for Feishu, a literal id elsewhere)."""
    if not isinstance(value, list):
        return []
    return [v.strip() if isinstance(v, str) else v for v in value if not (isinstance(v, str) and not v.strip())]


def allowlist_findings(fam, acc, allow: str, *, why: str = "", wildcard: bool = False) -> Iterator[Finding]:
    """GW302 when the conversation allowlist keeps no entry after loong's
    normalization (validate_*_security_config, channel/dispatch.rs:3139-3270)."""
    value = acc.settings.get(allow)
    if value is not None and not isinstance(value, list):
        return  # a type error the schema reports
    if allowlist_entries(value):
        return
    blank = bool(value)
    ptr, target = field_or_account(acc, allow)
    state = "is enabled" if not why else ("is disabled" if not acc.enabled else "is enabled")
    what = "holds only blank entries" if blank else "is empty"
    yield Finding(
        "GW302",
        ptr,
        f"{who(fam, acc)} {state}{why} but {allow} {what}, so it would accept no conversation; "
        "loong refuses to serve it",
        hint=f"list the conversations it may serve in {dotted_field(fam, acc, allow)}"
        + (' (or "*" for every chat)' if wildcard else ""),
        target=target,
    )


def credential_findings(fam, acc, name: str, *, code: str = "GW301", why: str = "") -> Iterator[Finding]:
    """``code`` when the account has no reference at all for ``name``."""
    if effective_secret(acc.settings, name, family=fam.family).present:
        return
    finding = _missing_credential(code, fam, acc, name, why=why)
    if not acc.enabled:
        finding = Finding(
            finding.code,
            finding.pointer,
            finding.message.replace(" is enabled", " is disabled", 1),
            hint=finding.hint,
            target=finding.target,
        )
    yield finding
