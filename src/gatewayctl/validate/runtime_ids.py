"""Runtime account ids: the id loong runs an account under.

Not the config key: loong's ``resolved_account_identity`` takes the
account's ``account_id`` (inherited from the family table when the account
does not set one), else an id derived from a credential or an endpoint,
else ``default``. Two accounts of one family that end up with the same
runtime id collide: loong refuses the config at load for qqbot, weixin,
onebot and whatsapp-personal (crates/app/src/config/channels_validation.rs:386,
crates/app/src/config/channels_bridge.rs:818), and the gateway refuses to
start a second ingress runtime under an id already running
(crates/app/src/channel/runtime/serve.rs:122).

A derived id may come from a value gatewayctl cannot see (an environment
variable, a file, a program). Such an id is *symbolic*: two accounts that
read the same reference get the same id whatever it holds, so they
collide; two different references may or may not, and are not reported.

Standard library plus gatewayctl.catalog and the secrets module; never
source, compile, runtime, report or cli.
"""

from __future__ import annotations

from collections.abc import Mapping

from gatewayctl.catalog import normalize_account_id
from gatewayctl.records import record
from gatewayctl.validate.secrets import ENV, EXEC, FILE, INLINE, classify

__all__ = ["RuntimeId", "runtime_id"]

# family -> (kind, field, id prefix, default env pointer at the family level)
# kind: "secret" (a secret reference with a *_env sibling), "string" (a
# plain string with a *_env sibling), "url" (a URL string whose authority
# names the account).
_DERIVED: dict[str, tuple[str, str, str, str | None]] = {
    "qqbot": ("secret", "app_id", "qqbot_", "QQBOT_APP_ID"),
    "feishu": ("secret", "app_id", "", None),  # prefixed with the domain
    "wecom": ("secret", "bot_id", "wecom_", None),
    "whatsapp": ("string", "phone_number_id", "whatsapp_", "WHATSAPP_PHONE_NUMBER_ID"),
    "onebot": ("url", "websocket_url", "onebot_", "ONEBOT_WEBSOCKET_URL"),
    "whatsapp-personal": ("url", "bridge_url", "whatsapp_personal_", "WHATSAPP_PERSONAL_BRIDGE_URL"),
}
# Account tables whose *_env fields have their own serde default, so the
# family's pointer is never inherited (crates/app/src/config/channels.rs:1277).
_ACCOUNT_ENV_DEFAULTS = {("whatsapp", "phone_number_id"): "WHATSAPP_PHONE_NUMBER_ID"}


@record
class RuntimeId:
    """``token`` compares equal exactly when two accounts are known to get
    the same runtime id. ``id`` is the id when it is known (None for a
    symbolic one); ``why`` says where it comes from, for messages, without
    any secret value."""

    token: tuple
    id: str | None
    why: str


def _merged(family: Mapping, account: Mapping | None, key: str):
    # loong: account_override.and_then(|a| a.<key>.clone()).or_else(|| self.<key>.clone())
    if account is not None and account.get(key) is not None:
        return account.get(key)
    return family.get(key)


def _configured_identity(raw) -> str | None:
    # crates/app/src/config/channels_account_resolution.rs:24
    if not isinstance(raw, str) or not raw.strip():
        return None
    label = raw.strip()
    if not any(ch.isascii() and ch.isalnum() for ch in label):
        return None
    return normalize_account_id(label)


def runtime_id(family_id: str, family: Mapping, account: Mapping | None) -> RuntimeId:
    """The runtime id loong gives one account (``account`` None: the
    single-account shape, the family table is the account)."""
    configured = _configured_identity(_merged(family, account, "account_id"))
    if configured is not None:
        return RuntimeId(("id", configured), configured, f'account_id "{configured}"')
    if family_id == "matrix":
        user = _configured_identity(_merged(family, account, "user_id"))
        if user is not None:
            return RuntimeId(("id", user), user, f'user_id "{user}"')
    spec = _DERIVED.get(family_id)
    if spec is None:
        return _default()
    kind, field, prefix, family_default_env = spec
    if family_id == "feishu":
        domain = _merged(family, account, "domain")
        prefix = f"{domain if domain in ('feishu', 'lark') else 'feishu'}_"
    value = _merged(family, account, field)
    env_key = f"{field}_env"
    if account is not None and (family_id, field) in _ACCOUNT_ENV_DEFAULTS:
        env_name = account.get(env_key, _ACCOUNT_ENV_DEFAULTS[(family_id, field)])
    else:
        env_name = _merged(family, account, env_key)
        if env_name is None and env_key not in family:
            env_name = family_default_env
    if kind == "secret":
        info = classify(value)
        if info.kind == INLINE:
            derived = prefix + normalize_account_id(value.strip())
            return RuntimeId(("id", derived), derived, f"{field} (an inline value, not shown)")
        if info.kind == ENV:
            return _symbolic(prefix, ENV, info.ref, field)
        if info.kind in (FILE, EXEC):
            return _symbolic(prefix, info.kind, info.ref, field)
        if info.kind != "absent":
            return RuntimeId(("unknown", id(value)), None, f"{field}")
    elif isinstance(value, str) and value.strip():
        if kind == "string":
            derived = prefix + normalize_account_id(value.strip())
            return RuntimeId(("id", derived), derived, f'{field} "{value.strip()}"')
        authority = _authority(value.strip())
        if authority is None:
            return _default()
        derived = prefix + normalize_account_id(authority)
        return RuntimeId(("id", derived), derived, f"the host of {field} ({authority})")
    if isinstance(env_name, str) and env_name.strip():
        return _symbolic(prefix, ENV, env_name.strip(), env_key)
    return _default()


def _default() -> RuntimeId:
    return RuntimeId(("id", "default"), "default", "no account_id and nothing to derive one from")


def _symbolic(prefix: str, kind: str, ref, field: str) -> RuntimeId:
    if kind == ENV:
        shown = f"environment variable {ref}"
    elif kind == FILE:
        shown = f"file {ref}"
    else:
        shown = "the same exec command"
    return RuntimeId(("ref", prefix, kind, ref), None, f"{field} read from {shown}")


def _authority(url: str) -> str | None:
    from urllib.parse import urlsplit  # imported when a URL is checked: most configs have none

    # crates/app/src/config/channels_bridge.rs:935 (host, [v6], :port)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or not parts.hostname.strip():
        return None
    host = parts.hostname.strip()
    label = f"[{host}]" if ":" in host else host
    default_ports = {"http": 80, "https": 443, "ws": 80, "wss": 443}
    if port is not None and default_ports.get(parts.scheme.lower()) != port:
        return f"{label}:{port}"
    return label
