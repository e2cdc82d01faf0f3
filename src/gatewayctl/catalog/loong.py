"""Which loong the rules follow, and the keys loong's config structs define.

Owns the loong commit gatewayctl's rules were read from (shown by
``gatewayctl --version``), the cargo features of the loong build the catalog
assumes, and the known-key inventory (``loong_keys.json`` beside this
module), which ``python scripts/loong_inventory.py`` generates from loong's
Rust struct definitions. Imports only the standard library.

The inventory is read on first use only: a valid config never needs it (the
schema's fast path accepts every key it lists), only the explanation of an
unknown key does.
"""

from __future__ import annotations

import functools
import os

__all__ = ["LOONG_BUILD_FEATURES", "LOONG_COMMIT", "LOONG_REPO", "inventory", "known_keys", "version_line"]

LOONG_REPO = "github:loongclaw-ai/loongclaw"
# The commit every rule, the conformance corpus (fixtures/loong/) and the key
# inventory follow. Bump it together with the inventory (a test keeps them
# equal) after reviewing the diff scripts/loong_inventory.py prints.
LOONG_COMMIT = "e6880c91583ad61ec94927d81a92b87ae01f99c8"
LOONG_COMMITTED = "2026-05-19"

# The build the catalog assumes: loong-app's default features
# (crates/app/Cargo.toml [features] default), which the daemon's `mvp`
# default pulls in. Every channel family is compiled in, and feishu account
# selection goes through feishu-integration's runtime-id matching.
LOONG_BUILD_FEATURES = (
    "channel-cli",
    "channel-plugin-bridge",
    "channel-telegram",
    "channel-feishu",
    "channel-matrix",
    "channel-wecom",
    "channel-discord",
    "channel-dingtalk",
    "channel-slack",
    "channel-webhook",
    "channel-google-chat",
    "channel-line",
    "channel-signal",
    "channel-twitch",
    "channel-teams",
    "channel-tlon",
    "channel-whatsapp",
    "channel-qqbot",
    "channel-email",
    "channel-mattermost",
    "channel-nextcloud-talk",
    "channel-synology-chat",
    "channel-irc",
    "channel-imessage",
    "channel-nostr",
    "feishu-integration",
)

_INVENTORY = os.path.join(os.path.dirname(__file__), "loong_keys.json")


def version_line() -> str:
    """`e6880c91, committed 2026-05-19`: the loong a --version line names."""
    return f"{LOONG_COMMIT[:8]}, committed {LOONG_COMMITTED}"


@functools.cache
def inventory() -> dict:
    import json

    with open(_INVENTORY, "rb") as fh:
        return json.load(fh)


def known_keys(path: tuple | list) -> frozenset[str] | None:
    """The keys loong's structs accept in the table at ``path``.

    ``path`` is the table's location as pointer tokens: ``("telegram",)``,
    ``("telegram", "accounts", "<key>")``, ``("telegram", "acp")``,
    ``("telegram", "accounts", "<key>", "acp")``. None when the path is not
    a table of loong's channel structs (including a hand-written or
    flattened-map struct, which accepts any key).
    """
    families = inventory()["families"]
    if not path or not isinstance(path[0], str) or path[0] not in families:
        return None
    table = families[path[0]]
    rest = list(path[1:])
    if len(rest) >= 2 and rest[0] == "accounts":
        table = table.get("accounts")
        rest = rest[2:]
        if table is None:
            return None
    for name in rest:
        table = table.get("tables", {}).get(name) if isinstance(name, str) else None
        if table is None:
            return None
    if table.get("open"):
        return None
    return frozenset(table["keys"])
