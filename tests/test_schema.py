"""The config JSON Schema and the schema stage (GW101-GW105, GW110).

Covers: the schema itself (draft-07 metaschema, self-contained refs,
descriptions, the 29 family tables and their account tables, the catalog's
``fields()`` view), each translation of a jsonschema error into a finding,
the misplaced-table warning, the fast path (the shipped generated module,
its cache, its fallbacks) and its agreement with jsonschema on random
mutations of valid configs, and that no config value reaches a message.
"""

from __future__ import annotations

import copy
import json
import marshal
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatewayctl.catalog import BY_TABLE, FAMILIES, fields, load_schema
from gatewayctl.diagnostics import CODES, pointer_split
from gatewayctl.validate import schema as stage
from tests.support import examples

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "schemas" / "config.schema.json"
GENERATED = REPO / "src" / "gatewayctl" / "validate" / "_schema_compiled.py"
SECRET = "#/definitions/secretRef"
ACP_FAMILIES = {"feishu", "telegram", "matrix", "wecom"}
STRUCTURAL = {"enabled", "account_id", "default_account", "accounts"}
FAMILY_LEVEL_ONLY = {"default_account", "accounts", "managed_bridge_plugin_id"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def jsonschema_valid(data) -> bool:
    return jsonschema.Draft7Validator(load_schema("config")).is_valid(data)


def codes(findings) -> list[str]:
    return sorted(f.code for f in findings)


def only(findings, code):
    picked = [f for f in findings if f.code == code]
    assert len(picked) == 1, findings
    return picked[0]


SEED = {
    "active_provider": "volcengine",
    "providers": {"volcengine": {"api_key": {"env": "ARK_API_KEY"}}},
    "memory": {"backend": "sqlite"},
    "gateway": {"channel_accounts": ["lark=work", "telegram=bot_123456", "wecom=alerts"]},
    "feishu": {
        "enabled": True,
        "mode": "websocket",
        "default_account": "work",
        "accounts": {
            "work": {
                "domain": "lark",
                "app_id": {"env": "LARK_WORK_APP_ID"},
                "app_secret": {"env": "LARK_WORK_APP_SECRET"},
                "allowed_chat_ids": ["oc_ops_room"],
            }
        },
    },
    "telegram": {
        "enabled": True,
        "default_account": "bot_123456",
        "accounts": {"bot_123456": {"bot_token": {"env": "TELEGRAM_BOT_TOKEN"}, "allowed_chat_ids": [123456789]}},
    },
    "wecom": {
        "enabled": True,
        "default_account": "alerts",
        "accounts": {
            "alerts": {
                "bot_id": {"env": "WECOM_ALERTS_BOT_ID"},
                "secret": {"exec": ["pass", "show", "wecom"]},
                "allowed_conversation_ids": ["group_alerts"],
            }
        },
    },
}


# --------------------------------------------------------------- the schema


def test_schema_is_valid_draft07(schema):
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] == "https://gatewayctl.dev/schemas/config.schema.json"
    assert schema["title"] and schema["description"]


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))


def test_schema_refs_are_internal_and_resolve(schema):
    refs = [(p, n["$ref"]) for p, n in _walk(schema) if isinstance(n.get("$ref"), str)]
    assert refs
    for path, ref in refs:
        assert ref.startswith("#/definitions/"), (path, ref)
        target = schema
        for token in ref[2:].split("/"):
            target = target[token]
        assert isinstance(target, dict), ref


def test_every_property_has_a_description(schema):
    missing = []
    for path, node in _walk(schema):
        if path and path[-1] == "properties" and isinstance(node, dict):
            missing += ["/".join(map(str, path + (k,))) for k, v in node.items() if not (isinstance(v, dict) and v.get("description"))]
    assert missing == []


def test_secret_ref_definition(schema):
    validator = jsonschema.Draft7Validator(schema["definitions"]["secretRef"])
    ok = ["literal", "$NAME", {"env": "A"}, {"file": "/run/x"}, {"exec": ["pass", "show", "x"]}, {"exec": ["op"]}]
    bad = [
        {},
        {"env": "A", "file": "/x"},
        {"value": "x"},
        {"env": ""},
        {"env": "  "},
        {"file": ""},
        {"exec": []},
        {"exec": [""]},
        {"exec": ["  ", "a"]},
        {"exec": ["p", 3]},
        {"exec": "p"},
        {"env": 3},
        3,
        True,
        ["a"],
        None,
    ]
    assert [validator.is_valid(v) for v in ok] == [True] * len(ok)
    assert [validator.is_valid(v) for v in bad] == [False] * len(bad)


def test_all_families_have_a_table(schema):
    assert len(FAMILIES) == 29
    tables = {f.table for f in FAMILIES}
    assert tables <= set(schema["properties"])
    for fam in FAMILIES:
        assert schema["properties"][fam.table] == {
            "$ref": f"#/definitions/channel_{fam.table}",
            "description": schema["properties"][fam.table]["description"],
        }


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.id for f in FAMILIES])
def test_family_and_account_tables(schema, fam):
    family = schema["definitions"][f"channel_{fam.table}"]
    account = schema["definitions"][f"account_{fam.table}"]
    for table in (family, account):
        assert table["type"] == "object"
        assert table["additionalProperties"] is False
    fprops, aprops = family["properties"], account["properties"]
    assert STRUCTURAL <= set(fprops)
    assert fprops["enabled"] == {**fprops["enabled"], "type": "boolean", "default": False}
    assert aprops["enabled"] == {**aprops["enabled"], "type": "boolean", "default": True}
    assert fprops["accounts"]["additionalProperties"] == {"$ref": f"#/definitions/account_{fam.table}"}
    # An account holds every family field, nothing family-level, no defaults
    # of its own (a missing field is inherited, not defaulted).
    assert set(aprops) == (set(fprops) - FAMILY_LEVEL_ONLY)
    for name, prop in aprops.items():
        if name != "enabled":
            assert "default" not in prop, (fam.id, name)
    for props in (fprops, aprops):
        for name, prop in props.items():
            if prop.get("$ref") == SECRET:
                assert set(prop) == {"$ref", "description"}, (fam.id, name)
                assert props[f"{name}_env"]["type"] == "string", (fam.id, name)
    assert ("acp" in fprops) == (fam.id in ACP_FAMILIES)


def test_family_enums_and_typed_lists(schema):
    d = schema["definitions"]
    assert d["channel_feishu"]["properties"]["mode"]["enum"] == ["websocket", "webhook"]
    assert d["channel_feishu"]["properties"]["domain"]["enum"] == ["feishu", "lark"]
    assert d["channel_telegram"]["properties"]["streaming_mode"]["enum"] == ["off", "draft"]
    assert d["channel_webhook"]["properties"]["payload_format"]["enum"] == ["json_text", "plain_text"]
    for name in ("allowed_chat_ids", "allowed_sender_ids"):
        assert d["channel_telegram"]["properties"][name]["items"] == {"type": "integer"}
        assert d["account_telegram"]["properties"][name]["items"] == {"type": "integer"}


def test_gateway_section(schema):
    gw = schema["definitions"]["gateway"]
    # loong's [gateway] holds only its port (runtime.rs:200); the rest are
    # gatewayctl's keys in their deprecated place, and typos are errors
    # (issue 13 item 4), so the table is strict.
    assert gw["additionalProperties"] is False
    p = gw["properties"]
    assert p["port"]["default"] == 26306 and p["port"]["maximum"] == 65535
    assert p["restart"]["properties"]["policy"]["enum"] == ["never", "on-failure"]
    v = jsonschema.Draft7Validator(schema)
    assert v.is_valid({"gateway": {"handler": {"echo": True}, "port": 1}})
    assert not v.is_valid({"gateway": {"handler": {"echo": True}, "loong_only_key": 1}})
    assert not v.is_valid({"gateway": {"handler": {"exec": ["x"], "url": "http://127.0.0.1:1/"}}})
    assert not v.is_valid({"gateway": {"worker": {"command": ["run", ""]}}})
    # gatewayctl's own sub-tables are strict: a typo there would silently
    # fall back to a default.
    for sub in ("worker", "restart", "handler"):
        assert p[sub]["additionalProperties"] is False
    f = only(stage.check({"gateway": {"restart": {"polcy": "on-failure"}}}), "GW101")
    assert f.pointer == "/gateway/restart/polcy" and "did you mean `policy`?" in f.message
    # issue 13 item 4: a typo of a key of [gateway] itself is an error with a did-you-mean
    f = only(stage.check({"gateway": {"channel_acounts": ["lark=work"]}}), "GW101")
    assert f.pointer == "/gateway/channel_acounts" and "did you mean `channel_accounts`?" in f.message


def test_settings_file_typos_are_errors_with_a_did_you_mean():
    for data, pointer, guess in (
        ({"loong_config": "c.toml", "channel_acounts": ["lark=work"]}, "/channel_acounts", "channel_accounts"),
        ({"loong_config": "c.toml", "handler": {"echo": True, "tiemout_s": 3}}, "/handler/tiemout_s", "timeout_s"),
        ({"loong_config": "c.toml", "restat": {}}, "/restat", "restart"),
    ):
        f = only(stage.check_settings(data), "GW101")
        assert f.pointer == pointer and f"did you mean `{guess}`?" in f.message
    assert stage.check_settings({"loong_config": "c.toml", "handler": {"echo": True}, "control_port": 0}) == []
    f = only(stage.check_settings({"channel_accounts": []}), "GW105")
    assert "missing `loong_config`" in f.message


def test_legacy_keys_are_the_gateway_tables_keys_but_port(schema):
    from gatewayctl.validate import LEGACY_SETTINGS_KEYS, LOONG_GATEWAY_KEYS

    keys = set(schema["definitions"]["gateway"]["properties"])
    assert set(LEGACY_SETTINGS_KEYS) == keys - LOONG_GATEWAY_KEYS


def test_settings_schema_holds_every_legacy_setting_and_is_strict():
    """Everything the deprecated [gateway] place holds has a home in
    gatewayctl.toml, with the same shape, and the file is strict."""
    from gatewayctl.catalog import load_schema
    from gatewayctl.validate import LEGACY_SETTINGS_KEYS

    settings = load_schema("settings")
    config = load_schema("config")
    jsonschema.Draft7Validator.check_schema(settings)
    assert settings["additionalProperties"] is False and settings["required"] == ["loong_config"]
    for key in LEGACY_SETTINGS_KEYS:
        legacy = dict(config["definitions"]["gateway"]["properties"][key])
        new = dict(settings["properties"][key])
        legacy.pop("description"), new.pop("description")
        assert new == legacy, key
    for table in ("worker", "restart", "handler"):
        assert settings["properties"][table]["additionalProperties"] is False


def test_known_sections_match_the_schema(schema):
    top = set(schema["properties"])
    assert stage.KNOWN_SECTIONS == top - set(BY_TABLE)
    assert schema["additionalProperties"] is True


# ------------------------------------------------------------ catalog view


@pytest.mark.parametrize("fam", FAMILIES, ids=[f.id for f in FAMILIES])
def test_fields_for_every_family(fam):
    specs = fields(fam.id)
    assert not (set(specs) & STRUCTURAL)
    for spec in specs.values():
        assert not (spec.name.endswith("_env") and spec.name[:-4] in specs)
        if spec.secret:
            assert spec.env_sibling == f"{spec.name}_env"
        else:
            assert spec.env_sibling is None
            assert spec.types, spec
    if fam.id in ("zalo", "zalo-personal", "webchat"):
        assert specs == {}
    else:
        assert specs


def test_fields_details():
    tg = fields("telegram")
    assert tg["bot_token"].secret and tg["bot_token"].env_sibling == "bot_token_env"
    assert tg["allowed_chat_ids"].types == ("array",)
    assert tg["streaming_mode"].enum == ("off", "draft") and tg["streaming_mode"].default == "off"
    assert tg["polling_timeout_s"].default == 15
    fs = fields("feishu")
    assert fs["mode"].default == "websocket" and fs["domain"].default == "feishu"
    assert fs["acp"].types == ("object",)
    assert fields("webhook")["payload_format"].enum == ("json_text", "plain_text")
    wa = fields("whatsapp")
    assert wa["phone_number_id"].secret is False
    qq = fields("qqbot")
    assert qq["app_id"].secret and qq["client_secret"].secret
    assert {"allowed_peer_ids", "token_base_url", "api_base_url"} <= set(qq)
    assert fields("signal")["account"].types == ("string",)


def test_whatsapp_env_sibling_defaults(schema):
    props = schema["definitions"]["channel_whatsapp"]["properties"]
    assert props["access_token_env"]["default"] == "WHATSAPP_ACCESS_TOKEN"
    assert props["phone_number_id_env"]["default"] == "WHATSAPP_PHONE_NUMBER_ID"
    assert props["verify_token_env"]["default"] == "WHATSAPP_VERIFY_TOKEN"
    assert props["app_secret_env"]["default"] == "WHATSAPP_APP_SECRET"


# ---------------------------------------------------------- translations


def test_valid_config_has_no_findings():
    assert stage.check(copy.deepcopy(SEED)) == []


def test_check_never_mutates_its_input():
    data = copy.deepcopy(SEED)
    data["telegram"]["polling"] = 1  # invalid, so the slow path runs too
    before = copy.deepcopy(data)
    stage.check(data)
    assert data == before
    clean = copy.deepcopy(SEED)
    stage.check(clean)
    assert clean == SEED  # no defaults written in by the fast path


@pytest.mark.parametrize("root", [[], "text", 3, None])
def test_non_table_root_is_the_loaders_finding(root):
    assert stage.check(root) == []


def test_gw101_unknown_key_with_did_you_mean():
    f = only(stage.check({"telegram": {"bot_tokn": {"env": "T"}}}), "GW101")
    assert f.pointer == "/telegram/bot_tokn" and f.target == "key"
    assert "`bot_token`" in f.message and "`bot_token`" in f.hint


def test_gw101_one_finding_per_unknown_key():
    found = stage.check({"matrix": {"homeserver": "https://m.example.org", "zzz_qqq": 1}})
    # A likely typo is an error (GW101); a key resembling nothing loong
    # reads is a warning (GW111): loong ignores it (no deny_unknown_fields).
    assert [(f.code, f.pointer) for f in found] == [("GW101", "/matrix/homeserver"), ("GW111", "/matrix/zzz_qqq")]
    assert "did you mean `base_url`?" in found[0].message  # matrix has no homeserver key
    no_guess = found[1]
    assert "did you mean" not in no_guess.message and no_guess.hint
    assert "loong does not read it" in no_guess.message


def test_gw101_in_account_and_acp_tables():
    data = {"feishu": {"accounts": {"Lark Prod": {"app_idd": {"env": "X"}, "acp": {"working_dir": "/x"}}}}}
    found = {f.pointer: f for f in stage.check(data)}
    assert set(found) == {"/feishu/accounts/Lark Prod/app_idd", "/feishu/accounts/Lark Prod/acp/working_dir"}
    assert '[feishu.accounts."Lark Prod"]' in found["/feishu/accounts/Lark Prod/app_idd"].message
    assert "`working_directory`" in found["/feishu/accounts/Lark Prod/acp/working_dir"].message


def test_gw101_family_level_key_in_account():
    f = only(stage.check({"wecom": {"accounts": {"a": {"default_account": "a"}}}}), "GW101")
    assert "belongs in [wecom]" in f.message


def test_gw102_quoted_telegram_chat_id():
    f = only(stage.check({"telegram": {"allowed_chat_ids": [1, "-100123"]}}), "GW102")
    assert f.pointer == "/telegram/allowed_chat_ids/1"
    assert f.message == "`allowed_chat_ids[1]` must be an integer (Telegram chat ids are numbers): remove the quotes"


@pytest.mark.parametrize(
    "data, pointer, fragment",
    [
        ({"slack": {"enabled": "true"}}, "/slack/enabled", "must be a boolean: remove the quotes"),
        ({"slack": {"enabled": "yes"}}, "/slack/enabled", "must be a boolean (true or false), not a string"),
        ({"wecom": "on"}, "/wecom", "[wecom] must be a table, not a string"),
        ({"matrix": {"allowed_room_ids": "!r:x"}}, "/matrix/allowed_room_ids", "must be a list, not a string"),
        ({"whatsapp": {"phone_number_id": 123}}, "/whatsapp/phone_number_id", "must be a string, not an integer"),
        ({"telegram": {"polling_timeout_s": "15"}}, "/telegram/polling_timeout_s", "must be an integer: remove the quotes"),
        ({"telegram": {"accounts": {"a": 1}}}, "/telegram/accounts/a", "[telegram.accounts.a] must be a table"),
        ({"memory": ["sqlite"]}, "/memory", "[memory] must be a table, not a list"),
        ({"gateway": {"port": True}}, "/gateway/port", "must be an integer, not a boolean"),
    ],
)
def test_gw102_messages(data, pointer, fragment):
    f = only(stage.check(data), "GW102")
    assert f.pointer == pointer and fragment in f.message, f


def test_gw103_lists_the_choices_and_suggests():
    f = only(stage.check({"feishu": {"mode": "websockets"}}), "GW103")
    assert f.pointer == "/feishu/mode"
    assert '"websocket", "webhook"' in f.message and 'did you mean "websocket"' in f.message
    g = only(stage.check({"webhook": {"payload_format": "xml"}}), "GW103")
    assert '"json_text", "plain_text"' in g.message and "did you mean" not in g.message


@pytest.mark.parametrize(
    "ref, reason",
    [
        ({}, "is an empty table"),
        ({"env": "A", "file": "/x"}, "sets env and file"),
        ({"env": "A", "file": "/x", "exec": ["p"]}, "sets env and file and exec"),
        ({"value": "x"}, "has unknown key `value`"),
        ({"envv": "X"}, "did you mean `env`?"),
        ({"env": ""}, "has a blank `env`"),
        ({"env": 3}, "has `env` as an integer"),
        ({"file": " "}, "has a blank `file`"),
        ({"exec": []}, "has an empty `exec` list"),
        ({"exec": "pass show x"}, "has `exec` as a string"),
        ({"exec": ["", "a"]}, "has an empty program"),
        ({"exec": [3]}, "has an empty program"),
        ({"exec": ["pass", 3]}, "has `exec[1]` that is not a string"),
        (42, "is an integer"),
        (["pass", "show"], "is a list"),
        (True, "is a boolean"),
    ],
)
def test_gw104_one_precise_finding_per_secret_field(ref, reason):
    found = stage.check({"feishu": {"accounts": {"work": {"app_secret": ref}}}})
    f = only(found, "GW104")
    assert len(found) == 1
    assert f.pointer == "/feishu/accounts/work/app_secret"
    assert f.message.startswith("`app_secret` ") and reason in f.message, f.message


def test_gw104_only_for_secret_fields():
    # phone_number_id is plain text: a table there is a type error, not a secret-ref error.
    f = only(stage.check({"whatsapp": {"phone_number_id": {"env": "X"}}}), "GW102")
    assert f.pointer == "/whatsapp/phone_number_id"


@pytest.mark.parametrize(
    "data, pointer, fragment",
    [
        ({"gateway": {"port": 70000}}, "/gateway/port", "at most 65535"),
        ({"gateway": {"port": -1}}, "/gateway/port", "at least 0"),
        ({"gateway": {"restart": {"window_s": 0}}}, "/gateway/restart/window_s", "greater than 0"),
        ({"gateway": {"worker": {"command": []}}}, "/gateway/worker/command", "at least 1 item"),
        ({"gateway": {"worker": {"command": [""]}}}, "/gateway/worker/command/0", "must not be empty"),
        ({"gateway": {"handler": {"exec": ["x"], "echo": True}}}, "/gateway/handler", "sets exec and echo: give at most one of exec, url, echo"),
        ({"synology_chat": {"allowed_user_ids": [-1]}}, "/synology_chat/allowed_user_ids/0", "at least 0"),
    ],
)
def test_gw105_messages(data, pointer, fragment):
    f = only(stage.check(data), "GW105")
    assert f.pointer == pointer and fragment in f.message, f


def test_findings_are_deduplicated_per_pointer_and_code():
    data = {
        "telegram": {"allowed_chat_ids": ["1", "2"], "bot_token": {"env": "", "file": ""}, "x": 1, "y": 2},
        "feishu": {"mode": "x", "domain": "y", "app_id": {}},
    }
    found = stage.check(data)
    keys = [(f.pointer, f.code) for f in found]
    assert len(keys) == len(set(keys))
    assert codes(found) == ["GW102", "GW102", "GW103", "GW103", "GW104", "GW104", "GW111", "GW111"]


def test_all_schema_codes_are_registered():
    for code in ("GW101", "GW102", "GW103", "GW104", "GW105", "GW110"):
        assert code in CODES


# ------------------------------------------------------------------ GW110


@pytest.mark.parametrize(
    "key, table",
    [
        ("lark", "feishu"),
        ("wechat-work", "wecom"),
        ("telegarm", "telegram"),
        ("google-chat", "google_chat"),
        ("Telegram", "telegram"),
        ("nextcloud-talk", "nextcloud_talk"),
        ("whatsapp-web", "whatsapp_personal"),
    ],
)
def test_gw110_channel_lookalike_tables(key, table):
    f = only(stage.check({key: {"enabled": True}}), "GW110")
    assert f.pointer == "/" + key and f.target == "key"
    assert f"did you mean [{table}]" in f.message


def test_gw110_channels_table():
    found = stage.check({"channels": {"telegram": {"enabled": True}, "lark": {}, "notes": {}}})
    assert [(f.code, f.pointer) for f in found] == [("GW110", "/channels/telegram"), ("GW110", "/channels/lark")]
    assert found[0].message.startswith("channel tables are top-level: [telegram]")
    assert "[feishu]" in found[1].message


@pytest.mark.parametrize(
    "data",
    [
        {"observability": {"endpoint": "x"}},
        {"logging": {"level": "info"}},
        {"lark": "not a table"},
        {"telegram": {"enabled": False}, "mcp": {}, "audit": {}, "skills": {}},
        {"channels": ["telegram"]},
    ],
)
def test_gw110_leaves_other_keys_alone(data):
    assert [f for f in stage.check(data) if f.code == "GW110"] == []


# ---------------------------------------------------------- no values leak

SENTINEL = "sk-SENTINEL0123456789abcdef"


def test_no_value_in_any_message():
    s = SENTINEL
    data = {
        "feishu": {
            "app_id": {"value": s},
            "app_secret": {"env": s, "file": s},
            "verification_token": {s: s},
            "mode": s,
            "domain": s,
            "enabled": s,
            "allowed_chat_ids": s,
            "accounts": {"a": {"encrypt_key": {"exec": [s, 3]}, "polling": s}},
        },
        "telegram": {"allowed_chat_ids": [s, "123"], "polling_timeout_s": s, "bot_token": [s]},
        "gateway": {"port": s, "handler": {"exec": [s], "url": s}, "restart": {"policy": s}},
        "whatsapp": {"phone_number_id": {"env": s}},
        "lark": {"app_secret": s},
    }
    found = stage.check(data)
    assert {f.code for f in found} >= {"GW111", "GW102", "GW103", "GW104", "GW105", "GW110"}
    for f in found:
        assert s not in f.message and s not in f.hint, f
        assert "SENTINEL" not in f.message + f.hint, f


# ------------------------------------------------------ fast path and cache


def test_generated_module_is_current():
    from gatewayctl.validate import _schema_compiled

    sha = __import__("hashlib").sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    assert _schema_compiled.SCHEMA_SHA256 == sha, "run: python -m gatewayctl.validate.schema --regenerate"
    assert GENERATED.read_text(encoding="utf-8") == stage.generated_module_source(), (
        "src/gatewayctl/validate/_schema_compiled.py is stale: run python -m gatewayctl.validate.schema --regenerate"
    )
    assert "import fastjsonschema" not in GENERATED.read_text() and "from fastjsonschema" not in GENERATED.read_text()


def test_fast_path_imports_neither_validation_library(tmp_path):
    script = (
        "import sys, json\n"
        "from gatewayctl.validate import schema\n"
        f"assert schema.check(json.loads({json.dumps(json.dumps(SEED))!r})) == []\n"
        "assert 'jsonschema' not in sys.modules and 'fastjsonschema' not in sys.modules, sorted(sys.modules)\n"
        "assert 'gatewayctl.validate.draft7' not in sys.modules\n"
        "assert schema.check({'telegram': {'bot_tokn': 1}})[0].code == 'GW101'\n"
        # the error path walks the schema itself (validate/draft7.py), still without jsonschema
        "assert 'gatewayctl.validate.draft7' in sys.modules and 'jsonschema' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_check_executes_nothing_from_a_cache_directory(tmp_path):
    """Issue 12 G: code is never loaded from a place another user can write.

    A planted "cache" in every directory gatewayctl ever used for one (all
    world-writable) must not even be opened; an audit hook sees every open()
    of a real `check` run, and the planted code would leave a file behind.
    """
    planted = []
    for cache in (tmp_path / "gw-cache", tmp_path / "xdg" / "gatewayctl", tmp_path / "home" / ".cache" / "gatewayctl"):
        cache.mkdir(parents=True)
        cache.chmod(0o777)
        evil = tmp_path / "pwned"
        code = compile(f"open({str(evil)!r}, 'w').write('ran')\nvalidate = lambda data: None\n", "x", "exec")
        for name in ("config-validator-planted.marshal",):
            (cache / name).write_bytes(marshal.dumps(code))
        planted.append(str(cache))
    script = (
        "import sys, json\n"
        "events = []\n"
        "def hook(event, args):\n"
        "    if event == 'open' and isinstance(args[0], str):\n"
        "        events.append((event, args[0]))\n"
        "sys.addaudithook(hook)\n"
        "from gatewayctl.cli.main import main\n"
        "try:\n"
        f"    main(['check', {str(REPO / 'examples' / 'gateway-rollout.toml')!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(json.dumps(events))\n"
    )
    env = dict(
        os.environ,
        GATEWAYCTL_CACHE_DIR=planted[0],
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
        HOME=str(tmp_path / "home"),
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    events = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not (tmp_path / "pwned").exists()
    assert not [e for e in events if any(e[1].startswith(p) for p in planted)], events


def _raise_compile(*args, **kwargs):
    raise AssertionError("a validator was generated although the shipped module matches the schema")


def _assert_behaves(validate):
    validate(copy.deepcopy(SEED))
    with pytest.raises(Exception):
        validate({"telegram": {"allowed_chat_ids": ["1"]}})


def test_stale_or_missing_generated_module_falls_back(tmp_path, monkeypatch):
    # A schema that differs from the one the shipped module was generated
    # from: port allows only up to 100 here.
    edited = json.loads(SCHEMA_FILE.read_text())
    edited["definitions"]["gateway"]["properties"]["port"]["maximum"] = 100
    schema_file = tmp_path / "config.schema.json"
    schema_file.write_text(json.dumps(edited))
    for generated in (GENERATED, tmp_path / "missing.py"):
        validate = stage._load_fast_validator(schema_file=schema_file, generated=generated)
        validate({"gateway": {"port": 100}})
        with pytest.raises(Exception):
            validate({"gateway": {"port": 101}})


def test_matching_shipped_module_is_imported_not_generated(monkeypatch):
    monkeypatch.setattr(stage, "_generate_source", _raise_compile)
    _assert_behaves(stage._load_fast_validator())


# ------------------------------------------- fast path agrees with jsonschema

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "123", "-100", "true", "websocket", "webhook", "lark", "draft", "on-failure", "x"]),
    st.text(max_size=8),
)
_refs = st.one_of(
    st.dictionaries(st.sampled_from(["env", "file", "exec", "value"]), st.one_of(_scalars, st.lists(_scalars, max_size=3)), max_size=3),
    st.builds(lambda xs: {"exec": xs}, st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=3)),
)
_values = st.recursive(
    st.one_of(_scalars, _refs),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


_ALL_PATHS = list(_paths(SEED))[1:]
_FIELD_NAMES = sorted({n for f in FAMILIES for n in fields(f.id)} | STRUCTURAL | {"port", "worker", "restart", "handler"})


@st.composite
def mutated_configs(draw):
    data = copy.deepcopy(SEED)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_ALL_PATHS))
        parent = data
        try:
            for token in path[:-1]:
                parent = parent[token]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(_values)
            elif action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.sampled_from(_FIELD_NAMES))] = draw(_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
    return data


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_fast_path_agrees_with_jsonschema(data):
    before = copy.deepcopy(data)
    expected = jsonschema_valid(data)
    assert stage._fast_is_valid(data) == expected
    found = stage.check(data)
    assert data == before
    schema_findings = [f for f in found if f.code != "GW110"]
    assert bool(schema_findings) == (not expected)
    for f in found:
        assert f.code in CODES and f.code.startswith("GW1")
        pointer_split(f.pointer)  # a well-formed pointer


@settings(max_examples=examples(100), deadline=None)
@given(mutated_configs())
def test_runtime_compiled_validator_agrees_too(data):
    import fastjsonschema

    compiled = _runtime_validator()
    try:
        compiled(copy.deepcopy(data))
        ok = True
    except fastjsonschema.JsonSchemaException:
        ok = False
    assert ok == jsonschema_valid(data)


_RUNTIME = []


def _runtime_validator():
    if not _RUNTIME:
        import fastjsonschema

        # A private copy: fastjsonschema rewrites every $ref of the schema it
        # is given in place, which would corrupt the shared cached schema.
        _RUNTIME.append(fastjsonschema.compile(copy.deepcopy(load_schema("config")), use_default=False))
    return _RUNTIME[0]


# ------------------------------------------------ user errors never raise

_any_key = st.one_of(
    st.sampled_from(sorted(BY_TABLE) + ["accounts", "bot_token", "env", "exec", "file", "gateway", "handler", "channels", "lark", "acp"]),
    st.text(max_size=5),
    st.integers(),
)
_any_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.datetimes(), st.dates())
_any_tree = st.recursive(_any_leaf, lambda i: st.one_of(st.lists(i, max_size=3), st.dictionaries(_any_key, i, max_size=4)), max_leaves=12)


@settings(max_examples=examples(300), deadline=None)
@given(st.dictionaries(_any_key, _any_tree, max_size=5))
def test_check_never_raises_on_arbitrary_trees(data):
    for f in stage.check(data):
        assert f.code in CODES and f.code.startswith("GW1") and f.message


def test_generating_validators_leaves_the_shared_schema_alone(tmp_path):
    before = copy.deepcopy(load_schema("config"))
    stage.generated_module_source()
    stage._load_fast_validator(generated=tmp_path / "missing.py")
    assert load_schema("config") == before
