"""Gateway ingress rules, computed the way loong mounts its HTTP ingress
(crates/app/src/channel/gateway_ingress.rs:50): GW320 two mounted accounts
on one path, GW321 two mounted accounts of one family under one runtime
id, and the security checks loong runs on every mounted account that the
serving rules (which see enabled accounts) do not cover.

loong mounts, in this order, feishu, line, whatsapp and webhook. A family
takes part when it is enabled and its *default* account is enabled (for
feishu: and in webhook mode; gateway_ingress_is_enabled, channel/sdk.rs:1094).
Then *every* configured account of that family is mounted, disabled ones
and (feishu) websocket-mode ones included, all on one router:

- feishu: its ``webhook_path`` (default ``/feishu/events``);
- whatsapp: its ``webhook_path`` (blank or missing: ``/webhook``);
- line: ``/ingress/line/<account id>``;
- webhook: the path of ``public_base_url`` when it has one, else
  ``/ingress/webhook/<account id>``.

Paths are compared after trimming and adding a missing leading ``/``
(normalize_http_path, gateway_ingress.rs:369). A second path is refused
(gateway_ingress.rs:377); a second runtime under an id already running is
refused (channel/runtime/serve.rs:122).

Imports only diagnostics, catalog and the validate model/rules helpers;
never source, compile, runtime, report or cli.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from gatewayctl.catalog import normalize_account_id
from gatewayctl.diagnostics import Finding
from gatewayctl.validate.rules._common import dotted_field, who
from gatewayctl.validate.rules.accounts import runtime_id_collisions
from gatewayctl.validate.runtime_ids import runtime_id

INGRESS_FAMILIES = ("feishu", "line", "whatsapp", "webhook")
DEFAULT_PATHS = {"feishu": "/feishu/events", "whatsapp": "/webhook"}


def _table(data, fam) -> Mapping:
    table = data.get(fam.pointer.lstrip("/")) if isinstance(data, Mapping) else None
    return table if isinstance(table, Mapping) else {}


def ingress_active(fam) -> bool:
    """loong's gateway_ingress_is_enabled: the family and its default
    account are enabled (feishu: and the default account is not in
    websocket mode)."""
    if fam.family not in INGRESS_FAMILIES or not fam.enabled:
        return False
    default = fam.default_account
    if default is None or not default.enabled:
        return False
    if fam.family == "feishu":
        return default.settings.get("mode", "websocket") != "websocket"
    return True


def mounted_accounts(fam) -> list:
    """Every configured account, in loong's order (sorted ids)."""
    if not fam.has_accounts:
        return list(fam.accounts)
    return sorted((a for a in fam.accounts if a.id is not None), key=lambda a: a.id)


def _configured_id(fam, table, acc) -> str:
    if fam.has_accounts:
        return acc.id
    return runtime_id(fam.family, table, None).id or "default"


def normalize_http_path(raw: str) -> str:
    trimmed = raw.strip()
    return trimmed if trimmed.startswith("/") else "/" + trimmed


def ingress_path(fam, table, acc) -> str | None:
    """The path loong mounts an account on, or None when it cannot tell
    (an ill-typed value: the schema reports it)."""
    settings = acc.settings
    if fam.family == "feishu":
        raw = settings.get("webhook_path", DEFAULT_PATHS["feishu"])
        return normalize_http_path(raw) if isinstance(raw, str) else None
    if fam.family == "whatsapp":
        raw = settings.get("webhook_path")
        if raw is not None and not isinstance(raw, str):
            return None
        raw = raw.strip() if isinstance(raw, str) and raw.strip() else DEFAULT_PATHS["whatsapp"]
        return normalize_http_path(raw)
    ident = normalize_account_id(_configured_id(fam, table, acc))
    if fam.family == "line":
        return f"/ingress/line/{ident}"
    public = settings.get("public_base_url")
    if isinstance(public, str) and public.strip():
        from urllib.parse import urlsplit  # imported when a URL is checked: most configs have none

        try:
            path = urlsplit(public.strip()).path
        except ValueError:
            return None  # loong refuses the URL; GW314 reports it
        if path.strip() and path != "/":
            return normalize_http_path(path)
    return f"/ingress/webhook/{ident}"


def served_paths(model, data=None) -> Iterator[tuple[object, object, str]]:
    """(family, account, path) for every account loong's gateway mounts."""
    by_id = {f.family: f for f in model.families}
    for family_id in INGRESS_FAMILIES:
        fam = by_id.get(family_id)
        if fam is None or not ingress_active(fam):
            continue
        table = _table(data, fam)
        for acc in mounted_accounts(fam):
            path = ingress_path(fam, table, acc)
            if path is not None:
                yield fam, acc, path


def check(ctx) -> Iterator[Finding]:
    seen: dict[str, tuple[object, object]] = {}
    for fam, acc, path in served_paths(ctx.model, ctx.data):
        first = seen.get(path)
        if first is None:
            seen[path] = (fam, acc)
            continue
        first_fam, first_acc = first
        own = acc.field_pointer("webhook_path") if fam.family in DEFAULT_PATHS else None
        if own is not None and own.startswith(acc.pointer + "/"):
            ptr, target = own, "value"
        else:
            ptr, target = acc.pointer, "key"
        hint = (
            f"give each mounted account its own path: set {dotted_field(fam, acc, 'webhook_path')}"
            if fam.family in DEFAULT_PATHS
            else f"give the account its own path: set {dotted_field(fam, acc, 'public_base_url')} to a URL with a distinct path"
        )
        yield Finding(
            "GW320",
            ptr,
            f'{who(fam, acc)} mounts webhook path "{path}", already mounted by {who(first_fam, first_acc)}: '
            "the gateway refuses to start",
            hint=hint,
            target=target,
        )

    for fam in ctx.model.families:
        if not ingress_active(fam):
            continue
        table = _table(ctx.data, fam)
        mounted = mounted_accounts(fam)
        if fam.has_accounts:
            yield from runtime_id_collisions(fam, table, "GW321", mounted, phase="gateway")
        for acc in mounted:
            yield from _mounted_security(fam, acc)


def _mounted_security(fam, acc) -> Iterator[Finding]:
    """What loong checks on a mounted account that the serving rules,
    which look at enabled accounts of gateway-supervised families, do not."""
    from gatewayctl.validate.rules import serving

    if fam.family in ("feishu", "whatsapp") and acc.enabled:
        return  # serving.py checks it
    why = " and is mounted by the gateway (its family's default account serves webhooks)"
    if fam.family == "feishu":
        # validate_feishu_security_config, channel/dispatch.rs:3156, on every mounted account.
        yield from serving.allowlist_findings(fam, acc, "allowed_chat_ids", why=why, wildcard=True)
        if acc.settings.get("mode", "websocket") == "webhook":
            for name in ("verification_token", "encrypt_key"):
                yield from serving.credential_findings(fam, acc, name, code="GW303", why=why)
    elif fam.family == "whatsapp":
        # WhatsappWebhookState::new (channel/whatsapp/webhook.rs:143) and
        # validate_whatsapp_security_config (channel/whatsapp/mod.rs:286).
        for name in ("access_token", "verify_token", "app_secret"):
            yield from serving.credential_findings(fam, acc, name, why=why)
        yield from _whatsapp_phone_number_id(fam, acc, why)
    elif fam.family == "line":
        # LineServeState::new, channel/line.rs:80.
        yield from serving.credential_findings(fam, acc, "channel_secret", why=why)
    elif fam.family == "webhook":
        # WebhookServeState::new, channel/webhook.rs:87.
        yield from serving.credential_findings(fam, acc, "signing_secret", why=why)


def _whatsapp_phone_number_id(fam, acc, why: str) -> Iterator[Finding]:
    """WhatsappWebhookState::new needs a phone_number_id (channel/whatsapp/webhook.rs:146)."""
    from gatewayctl.validate.rules._common import field_or_account
    from gatewayctl.validate.secrets import effective_env_pointer

    value = acc.settings.get("phone_number_id")
    if isinstance(value, str) and value.strip():
        return
    if value is not None and not isinstance(value, str):
        return  # the schema reports the type
    if effective_env_pointer(acc.settings, "phone_number_id", family=fam.family).present:
        return
    ptr, target = field_or_account(acc, "phone_number_id", "phone_number_id_env")
    state = "is enabled" if acc.enabled else "is disabled"
    yield Finding(
        "GW305",
        ptr,
        f"{who(fam, acc)} {state}{why} but has no phone_number_id",
        hint="set phone_number_id (or phone_number_id_env) to the WhatsApp Cloud API phone number id",
        target=target,
    )
