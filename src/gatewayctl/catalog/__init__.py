"""The channel catalog: family ids, table names, aliases and classes.

Owns the 29 surfaces of the config model (../shared/spec/config-model.md)
and account-id normalization. Field definitions (types, defaults, secret
marks) live in schemas/config.schema.json, the source of truth; ``fields()``
reads them from there. Imports only the standard library and
gatewayctl.diagnostics.
"""

from __future__ import annotations

import functools
import os

from gatewayctl.lazyre import LOWER_ALNUM, lazy
from gatewayctl.records import record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without the typing import
if TYPE_CHECKING:
    from pathlib import Path

GATEWAY_SUPERVISED = "gateway-supervised"
NATIVE_SERVE = "native-serve"
PLUGIN_BRIDGE = "plugin-bridge"
OUTBOUND_ONLY = "outbound-only"
CATALOG_ONLY = "catalog-only"

CLASS_LABELS = {
    GATEWAY_SUPERVISED: "gateway-supervised",
    NATIVE_SERVE: "native-serve (standalone)",
    PLUGIN_BRIDGE: "plugin-bridge",
    OUTBOUND_ONLY: "outbound-only",
    CATALOG_ONLY: "catalog-only",
}


@record
class Family:
    id: str  # canonical id, e.g. "whatsapp-personal"
    table: str  # TOML/YAML table name, e.g. "whatsapp_personal"
    klass: str  # one of the class constants above
    aliases: tuple[str, ...]

    @property
    def supervised(self) -> bool:
        return self.klass == GATEWAY_SUPERVISED


def _f(id_, klass, aliases=(), table=None):
    return Family(id_, table or id_, klass, tuple(aliases))


FAMILIES: tuple[Family, ...] = (
    _f("feishu", GATEWAY_SUPERVISED, ["lark"]),
    _f("telegram", GATEWAY_SUPERVISED),
    _f("matrix", GATEWAY_SUPERVISED),
    _f("wecom", GATEWAY_SUPERVISED, ["wechat-work", "qywx"]),
    _f("whatsapp", GATEWAY_SUPERVISED, ["wa", "whatsapp-cloud"]),
    _f("qqbot", GATEWAY_SUPERVISED, ["qq", "qq-bot", "tencent-qq"]),
    _f("line", NATIVE_SERVE, ["line-bot"]),
    _f("webhook", NATIVE_SERVE, ["http-webhook"]),
    _f("weixin", PLUGIN_BRIDGE, ["wechat", "wx", "wechat-clawbot"]),
    _f("onebot", PLUGIN_BRIDGE, ["onebot-v11", "napcat", "llonebot"]),
    _f("whatsapp-personal", PLUGIN_BRIDGE, ["whatsapp-web", "wa-personal", "whatsapp-personal-bridge"], "whatsapp_personal"),
    _f("discord", OUTBOUND_ONLY, ["discord-bot"]),
    _f("slack", OUTBOUND_ONLY, ["slack-bot"]),
    _f("dingtalk", OUTBOUND_ONLY, ["ding", "ding-bot"]),
    _f("email", OUTBOUND_ONLY, ["smtp", "imap"]),
    _f("google-chat", OUTBOUND_ONLY, ["gchat", "googlechat"], "google_chat"),
    _f("signal", OUTBOUND_ONLY, ["signal-cli"]),
    _f("twitch", OUTBOUND_ONLY, ["tmi"]),
    _f("teams", OUTBOUND_ONLY, ["msteams", "ms-teams"]),
    _f("mattermost", OUTBOUND_ONLY, ["mm"]),
    _f("nextcloud-talk", OUTBOUND_ONLY, ["nextcloud", "nextcloudtalk"], "nextcloud_talk"),
    _f("synology-chat", OUTBOUND_ONLY, ["synologychat", "synochat"], "synology_chat"),
    _f("irc", OUTBOUND_ONLY),
    _f("imessage", OUTBOUND_ONLY, ["bluebubbles", "blue-bubbles"]),
    _f("nostr", OUTBOUND_ONLY),
    _f("tlon", OUTBOUND_ONLY, ["urbit"]),
    _f("zalo", CATALOG_ONLY, ["zalo-oa"]),
    _f("zalo-personal", CATALOG_ONLY, ["zalo-pm"], "zalo_personal"),
    _f("webchat", CATALOG_ONLY, ["browser-chat", "web-ui"]),
)

BY_ID: dict[str, Family] = {f.id: f for f in FAMILIES}
BY_TABLE: dict[str, Family] = {f.table: f for f in FAMILIES}
_BY_NAME: dict[str, Family] = {}
for _fam in FAMILIES:
    _BY_NAME[_fam.id] = _fam
    _BY_NAME[_fam.table] = _fam
    for _a in _fam.aliases:
        _BY_NAME[_a] = _fam

SUPERVISED: tuple[Family, ...] = tuple(f for f in FAMILIES if f.supervised)
SUPERVISED_IDS: tuple[str, ...] = tuple(f.id for f in SUPERVISED)


def resolve(name: str) -> Family | None:
    """Resolve a selector/CLI channel name (id, table name or alias).

    Matched after trimming and lowercasing, as loong does. TOML table names
    are *not* resolved through this: ``[lark]`` is not ``[feishu]``.
    """
    return _BY_NAME.get(name.strip().lower())


def all_names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


_SEP_RUN = lazy(r"[-_]{2,}")

# A fleet host's id: what `[fleet] host_id`, `gateway run --host-id`,
# $GATEWAYCTL_HOST_ID and the host name must look like, and what a host
# record read back from etcd must carry (it becomes a key segment and is
# shown in status). The settings schema's pattern says the same.
HOST_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_HOST_ID = lazy(HOST_ID_PATTERN + r"\Z")


def is_host_id(value) -> bool:
    return isinstance(value, str) and _HOST_ID.match(value) is not None


_ID_CHARS = LOWER_ALNUM + "-_"


def _already_normal(raw: str) -> bool:
    """``[a-z0-9](?:[a-z0-9]|[-_](?=[a-z0-9]))*`` as a full match, without
    re (a clean check calls it for every account and must not import re):
    ASCII lowercase letters, digits and single separators between them."""
    return (
        raw != ""
        and raw[0] in LOWER_ALNUM
        and raw[-1] in LOWER_ALNUM
        and not raw.strip(_ID_CHARS)
        and "--" not in raw
        and "__" not in raw
        and "-_" not in raw
        and "_-" not in raw
    )


@functools.lru_cache(maxsize=8192)
def normalize_account_id(raw: str) -> str:
    """loong's account-id normalization: "Lark Prod" -> "lark-prod".

    Trim; lowercase ASCII; letters, digits, ``_`` and ``-`` kept; any other
    character becomes ``-``; runs of separators collapse to one (the first of
    the run is kept); no leading/trailing separator; empty -> ``default``.
    """
    if _already_normal(raw):  # the common case: already an id
        return raw
    return _normalize_slow(raw)


def _normalize_slow(raw: str) -> str:
    out = []
    for ch in raw.strip():
        if "A" <= ch <= "Z":
            out.append(ch.lower())
        elif ("a" <= ch <= "z") or ("0" <= ch <= "9") or ch in "_-":
            out.append(ch)
        else:
            out.append("-")
    norm = _SEP_RUN.sub(lambda m: m.group(0)[0], "".join(out)).strip("-_")
    return norm or "default"


# ---------------------------------------------------------------- schema view


def schema_path(name: str) -> Path:
    """Locate a shipped JSON Schema (``config``, ``plan`` or ``status``).

    Installed wheels carry schemas/ as package data (gatewayctl/schemas);
    an editable checkout reads the repository's top-level schemas/.
    """
    from pathlib import Path

    return Path(schema_file(name))


def schema_file(name: str) -> str:
    """schema_path() as a string, without importing pathlib (the schema
    stage's fast path reads the config schema on every cold check)."""
    filename = f"{name}.schema.json"
    # The package is always a directory on disk (wheels install unzipped), so
    # a plain path beats importlib.resources, which costs ~4 ms of imports
    # on every cold start.
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    packaged = os.path.join(package, "schemas", filename)
    if os.path.isfile(packaged):
        return packaged
    return os.path.join(os.path.dirname(os.path.dirname(package)), "schemas", filename)


@functools.cache
def schema_source(name: str = "config") -> tuple[bytes, str]:
    """A shipped schema's bytes and their SHA-256, read once per process
    (the generated fast-path modules are used only while their recorded
    digest matches)."""
    from gatewayctl.digest import sha256_hex

    with open(schema_file(name), "rb") as fh:
        raw = fh.read()
    return raw, sha256_hex(raw)


@functools.cache
def load_schema(name: str = "config") -> dict:
    import json

    return json.loads(schema_source(name)[0])


@functools.lru_cache(maxsize=None)
def _gateway_schema() -> dict:
    return load_schema("config")["definitions"]["gateway"]


def gateway_field(*keys: str) -> dict:
    """The config schema of one [gateway] field, e.g. ``("restart",
    "window_s")``: the compiler reads its bounds from here, so `check` and
    `plan` judge a value by the same range (one source: the schema)."""
    node = _gateway_schema()
    for key in keys:
        node = node["properties"][key]
    return node


@record
class FieldSpec:
    name: str
    types: tuple[str, ...]  # JSON types: "string", "integer", "boolean", "array", "object"
    secret: bool
    default: object
    enum: tuple | None
    env_sibling: str | None  # "<field>_env" when the field is a secret


SECRET_DEF = "#/definitions/secretRef"


@functools.cache
def fields(family_id: str) -> dict[str, FieldSpec]:
    """The family's fields as the config schema defines them.

    Excludes the structural keys (enabled, account_id, default_account,
    accounts) and the ``*_env`` siblings, which are reported through their
    secret field's ``env_sibling``.

    Read from ``_fields_compiled.py`` (the same table, generated from the
    schema by ``python -m gatewayctl.validate.schema --regenerate``) while
    its recorded digest matches the schema file: a clean `check` then never
    imports json or parses the 130 kB schema (about 2 ms of a cold start).
    A stale or missing table costs that time, never correctness.
    """
    table = _compiled_fields()
    if table is not None and family_id in table:
        return {row[0]: FieldSpec(*row) for row in table[family_id]}
    return fields_from_schema(family_id)


def _compiled_fields() -> dict | None:
    try:
        from gatewayctl.catalog import _fields_compiled as module
    except ImportError:
        return None
    if getattr(module, "SCHEMA_SHA256", None) != schema_source("config")[1]:
        return None
    return module.FIELDS


def fields_from_schema(family_id: str) -> dict[str, FieldSpec]:
    """fields(), computed from the schema itself (the generator's and the fallback's way)."""
    schema = load_schema("config")
    fam = BY_ID[family_id]
    defs = schema["definitions"]
    table_schema = _deref(schema, schema["properties"][fam.table])
    props = table_schema.get("properties", {})
    out: dict[str, FieldSpec] = {}
    structural = {"enabled", "account_id", "default_account", "accounts"}
    for name, sub in props.items():
        if name in structural or (name.endswith("_env") and name[:-4] in props):
            continue
        secret = sub.get("$ref") == SECRET_DEF
        resolved = _deref(schema, sub)
        types = resolved.get("type", ())
        if isinstance(types, str):
            types = (types,)
        enum = tuple(resolved["enum"]) if "enum" in resolved else None
        sibling = f"{name}_env" if secret and f"{name}_env" in props else None
        out[name] = FieldSpec(name, tuple(types), secret, resolved.get("default", sub.get("default")), enum, sibling)
    del defs
    return out


def fields_module_source() -> str:
    """The text of ``_fields_compiled.py`` for the current schema file."""
    rows = {}
    for fam in FAMILIES:
        if fam.table in load_schema("config")["properties"]:
            specs = fields_from_schema(fam.id)
            rows[fam.id] = tuple(
                (s.name, s.types, s.secret, s.default, s.enum, s.env_sibling) for s in specs.values()
            )
    body = "".join(f"    {fid!r}: {spec_rows!r},\n" for fid, spec_rows in rows.items())
    return (
        "# Generated by `python -m gatewayctl.validate.schema --regenerate` from\n"
        "# schemas/config.schema.json. Do not edit.\n"
        '"""catalog.fields() as a table: (name, types, secret, default, enum,\n'
        "env_sibling) per field of each family. Owns nothing but generated data;\n"
        'catalog uses it only while SCHEMA_SHA256 matches the schema file."""\n\n'
        f'SCHEMA_SHA256 = "{schema_source("config")[1]}"\n\n'
        "FIELDS = {\n" + body + "}\n"
    )


def _deref(schema: dict, sub: dict) -> dict:
    seen = 0
    while "$ref" in sub and seen < 16:
        ref = sub["$ref"]
        assert ref.startswith("#/"), ref
        node = schema
        for tok in ref[2:].split("/"):
            node = node[tok]
        merged = dict(node)
        for k, v in sub.items():
            if k != "$ref":
                merged[k] = v
        sub = merged
        seen += 1
    return sub
