"""What loong's `config::write` does to its config.toml, for the tests.

loong re-serializes the whole file from its own structs
(crates/app/src/config/runtime.rs:2168 `write` -> `encode_toml_config` ->
`toml::to_string_pretty`): only the fields of `LoongConfig`
(runtime.rs:111-197) survive, in the struct's order; `provider` is
`skip_serializing`; `[gateway]` is `GatewayConfig { port }` only
(runtime.rs:200) and left out when the port is the default 26306
(`skip_serializing_if = "GatewayConfig::is_default"`); no comment survives;
plain keys come before sub-tables. Channel tables are kept as read (their
structs know the fields the examples use). A test helper, not a model of
loong: it only has to lose what loong loses.
"""

from __future__ import annotations

import tomllib

from gatewayctl.pipeline.migrate import render_toml

# LoongConfig's serialized fields, in declaration order (runtime.rs:111-197).
LOONG_FIELDS = (
    "providers", "active_provider", "last_provider", "cli", "telegram", "feishu", "matrix", "wecom", "weixin",
    "qqbot", "onebot", "whatsapp_personal", "discord", "line", "dingtalk", "webhook", "slack", "google_chat",
    "mattermost", "nextcloud_talk", "synology_chat", "irc", "signal", "twitch", "teams", "tlon", "imessage",
    "nostr", "whatsapp", "email", "feishu_integration", "conversation", "outbound_http", "tools", "skills",
    "runtime_plugins", "mcp", "memory", "audit", "gateway", "control_plane", "acp",
)
DEFAULT_GATEWAY_PORT = 26306  # runtime.rs `default_gateway_port`


def loong_rewrite(text: str) -> str:
    data = tomllib.loads(text)
    out: dict = {}
    for key in LOONG_FIELDS:
        if key not in data:
            continue
        value = data[key]
        if key == "gateway":
            port = value.get("port", DEFAULT_GATEWAY_PORT) if isinstance(value, dict) else DEFAULT_GATEWAY_PORT
            if port == DEFAULT_GATEWAY_PORT:
                continue
            value = {"port": port}
        out[key] = value
    return render_toml(out)
