"""The schema stage: checks a loaded config against schemas/config.schema.json.

Owns the GW1xx findings: unknown keys (GW101 likely typos, GW111 keys
loong ignores; the keys loong defines come from catalog/loong_keys.json),
wrong types (GW102), bad enum values (GW103), malformed secret references
(GW104), other schema violations (GW105) and misplaced channel tables
(GW110). The only module
that imports fastjsonschema (and validate/draft7.py, its error walk). Imports the standard library,
gatewayctl.diagnostics and gatewayctl.catalog; never source, selectors,
compile, runtime, report or cli.

Two paths, because almost every config a user checks is valid:

- fast: a validator that fastjsonschema generated from the schema ahead of
  time (``_schema_compiled.py``, regenerated with ``python -m
  gatewayctl.validate.schema --regenerate``) answers "valid?" without
  importing either library; it is imported like any module (Python's
  bytecode cache beside it keeps that cheap). If the shipped module does not match the
  schema file (an edited schema, a missing file), fastjsonschema generates
  one at run time instead, so a stale module can cost speed but never
  correctness.
- slow, only for invalid data: validate/draft7.py yields every error as
  jsonschema's Draft7Validator does (jsonschema itself cost a cold check
  with one mistake more than everything else; the tests keep it as the
  reference), and each is translated into a Finding with a JSON pointer, a
  human message and a hint.

No message ever contains a value from the config: keys, field names,
allowed choices and schema limits only. A secret pasted into the wrong
place must not be echoed into CI logs.
"""

from __future__ import annotations

import os
import sys

from gatewayctl.catalog import BY_TABLE, CATALOG_ONLY, FAMILIES, load_schema, resolve, schema_source
from gatewayctl.catalog import schema_file as _schema_file
from gatewayctl.catalog.loong import LOONG_COMMIT, known_keys
from gatewayctl.diagnostics import MAX_DIAGNOSTICS_PER_FILE, TARGET_KEY, UNSAFE, Finding, Fix, pointer_join, pointer_split
from gatewayctl.lazyre import lazy

__all__ = ["KNOWN_SECTIONS", "check", "check_settings", "generated_module_source"]

SECRET_DEF = "#/definitions/secretRef"

# Top-level keys that are not channel families but that loong (or
# gatewayctl) reads. Kept here rather than read from the schema so the fast
# path never parses the schema JSON; a test keeps it equal to the schema's
# top-level properties.
KNOWN_SECTIONS = frozenset(
    {
        "acp",
        "active_provider",
        "audit",
        "cli",
        "control_plane",
        "conversation",
        "feishu_integration",
        "gateway",
        "last_provider",
        "mcp",
        "memory",
        "outbound_http",
        "provider",
        "providers",
        "runtime_plugins",
        "skills",
        "tools",
    }
)
_KNOWN_TOP_LEVEL = KNOWN_SECTIONS | frozenset(BY_TABLE)

# Tables loong never deserializes: `LoongConfig` (crates/app/src/config/runtime.rs:110)
# has no field for them, so serde skips them whole. Nothing written inside
# one is an error (loong cannot refuse what it does not read); the table as
# a whole gets one GW111 warning, because an operator who writes it expects
# it to do something. The catalog-only families (listed in loong's channel
# catalog, no config struct, no runtime) and `[external_skills]` (the skill
# policy is `SkillsConfig`, read from `[skills]`, crates/app/src/config/tools.rs:488).
CATALOG_ONLY_TABLES = frozenset(f.table for f in FAMILIES if f.klass == CATALOG_ONLY)
_IGNORED_SECTIONS = {"external_skills": "skills"}

_GENERATED_MODULE = "gatewayctl.validate._schema_compiled"
_GENERATED_PATH = os.path.join(os.path.dirname(__file__), "_schema_compiled.py")


def check(data) -> list[Finding]:
    """GW1xx findings for one loaded config (an empty list when it is valid).

    A root that is not a table is the loader's finding (GW006), not ours.
    """
    if not isinstance(data, dict):
        return []
    findings: list[Finding] = []
    if not _fast_is_valid(data):
        findings.extend(_explain(data))
    non_finite = _non_finite_numbers(data)
    if non_finite:
        # inf also breaks a `maximum`; one finding per value is enough.
        taken = {f.pointer for f in non_finite}
        findings = [f for f in findings if not (f.code == "GW105" and f.pointer in taken)]
        findings.extend(non_finite)
    findings.extend(_misplaced_channel_tables(data))
    if any(key in CATALOG_ONLY_TABLES or key in _IGNORED_SECTIONS for key in data):
        findings = [f for f in findings if pointer_split(f.pointer)[:1] not in _ignored_heads(data)]
        findings.extend(_ignored_tables(data))
    return findings


def check_settings(data) -> list[Finding]:
    """GW1xx findings for gatewayctl's own settings file
    (schemas/settings.schema.json: strict, every unknown key is an error).

    The settings schema is small and has no generated module: its fast
    validator is generated at run time and cached like the config's.
    """
    if not isinstance(data, dict):
        return []
    global _settings_fast_validate
    if _settings_fast_validate is None:
        _settings_fast_validate = _load_fast_validator(
            schema_file=_schema_file("settings"), generated="<settings-schema>"
        )
    try:
        _settings_fast_validate(data)
        return []
    except Exception:  # noqa: BLE001 - not proven valid: the slow path explains
        return _explain(data, "settings")


_settings_fast_validate = None
def _ignored_heads(data: dict) -> list[list[str]]:
    return [[key] for key in data if key in CATALOG_ONLY_TABLES or key in _IGNORED_SECTIONS]


def _ignored_tables(data: dict) -> list[Finding]:
    """One GW111 per top-level table loong never reads (see CATALOG_ONLY_TABLES)."""
    out = []
    for key in data:
        if key in CATALOG_ONLY_TABLES:
            fam = BY_TABLE[key]
            out.append(
                Finding(
                    "GW111",
                    pointer_join(key),
                    f"loong does not read [{key}]: its config (loong {LOONG_COMMIT[:8]}) has no {fam.id} table, "
                    f"so nothing in it takes effect ({fam.id} is listed in loong's channel catalog but has no runtime)",
                    hint=f"remove [{key}], or keep it only as a note: no loong command reads it",
                    target=TARGET_KEY,
                )
            )
        elif key in _IGNORED_SECTIONS:
            read = _IGNORED_SECTIONS[key]
            out.append(
                Finding(
                    "GW111",
                    pointer_join(key),
                    f"loong does not read [{key}]: its config (loong {LOONG_COMMIT[:8]}) has no such table, "
                    f"so nothing in it takes effect; loong reads these settings from [{read}]",
                    hint=f"rename [{key}] to [{read}]",
                    target=TARGET_KEY,
                )
            )
    return out


def _non_finite_numbers(data: dict) -> list[Finding]:
    """GW105 for nan/inf anywhere in [gateway] or a channel table.

    TOML (and YAML, and Python's JSON) accept them, JSON Schema's `minimum`
    cannot see them (every comparison with nan is false), and a launch plan
    is JSON, which has no such numbers: without this, check would pass a
    file that plan refuses. Tables the plan never reads (providers, tools)
    are loong's business and left alone."""
    import math

    out: list[Finding] = []
    if not any(_has_float(value) for key, value in data.items() if key == "gateway" or key in BY_TABLE):
        return out  # the common case: one walk without paths
    stack = [((key,), value) for key, value in data.items() if key == "gateway" or key in BY_TABLE]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((path + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((path + (i,), v) for i, v in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            out.append(
                Finding(
                    "GW105",
                    pointer_join(*path),
                    f"{_subject(list(path), False)} must be a finite number (nan and inf are not)",
                    hint="use a plain number",
                )
            )
    out.sort(key=lambda f: f.pointer)
    return out


def _has_float(node) -> bool:
    # Exact types first (what every loader gives for scalars), then the
    # mapping and sequence subclasses (YAML's); map() spares a generator
    # frame per value on the one walk a clean file pays for.
    kind = type(node)
    if kind is str or kind is int or kind is bool:
        return False
    if kind is float:
        return True
    if isinstance(node, dict):
        return any(map(_has_float, node.values()))
    if isinstance(node, list):
        return any(map(_has_float, node))
    return isinstance(node, float)


# ------------------------------------------------------------------ fast path

_fast_validate = None


def _fast_is_valid(data) -> bool:
    global _fast_validate
    if _fast_validate is None:
        _fast_validate = _load_fast_validator()
    try:
        _fast_validate(data)
    except Exception:  # noqa: BLE001 - any failure only means "not proven valid": the slow path decides
        return False
    return True


def _load_fast_validator(*, schema_file: str | os.PathLike | None = None, generated: str | os.PathLike | None = None):
    """The fast validator: the shipped module when it matches the schema, else one
    generated from the schema at hand (a stale module costs speed, never correctness).

    The shipped module is imported like every other gatewayctl module, so
    Python's own bytecode cache next to it (in the install, as trusted as
    the code itself) makes a cold start cheap. Nothing is loaded from a
    per-user cache directory: code run from a place another user can write
    would run that user's code (the class of CVE-2024-53848).
    """
    if schema_file is None:
        schema_bytes, schema_sha = schema_source("config")  # read and hashed once per process
    else:
        from gatewayctl.digest import sha256_hex

        with open(schema_file, "rb") as fh:
            schema_bytes = fh.read()
        schema_sha = sha256_hex(schema_bytes)
    if generated is None or os.path.abspath(generated) == os.path.abspath(_GENERATED_PATH):
        try:
            from gatewayctl.validate import _schema_compiled as module
        except ImportError:
            module = None
        if module is not None and getattr(module, "SCHEMA_SHA256", None) == schema_sha:
            return module.validate
    else:
        # Another generated file (tests): the same match rule, compiled here.
        try:
            with open(generated, encoding="utf-8") as fh:
                text = fh.read()
        except OSError:
            text = ""
        if f'SCHEMA_SHA256 = "{schema_sha}"' in text:
            validate = _exec_validator(compile(text, str(generated), "exec"))
            if validate is not None:
                return validate
    # The shipped module is missing or was generated from another schema.
    # json.loads gives fastjsonschema a private copy: it rewrites every $ref
    # of the schema it is given in place, and catalog.load_schema's cached
    # dict is shared with every other stage.
    import json

    source = _generate_source(json.loads(schema_bytes), schema_sha)
    validate = _exec_validator(compile(source, str(_GENERATED_PATH), "exec"))
    if validate is None:  # pragma: no cover - our own generated code failed to run
        raise RuntimeError("the generated config validator could not be loaded")
    return validate


def _exec_validator(code):
    """Run code generated in this process from the shipped schema (never read from a cache)."""
    namespace = {"__name__": _GENERATED_MODULE, "__builtins__": __builtins__}
    try:
        exec(code, namespace)  # noqa: S102 - generated here, from our own schema file
    except Exception:  # noqa: BLE001 - a broken generated file: the caller generates afresh
        return None
    validate = namespace.get("validate")
    return validate if callable(validate) else None


def generated_module_source() -> str:
    """The text of ``_schema_compiled.py`` for the current schema file."""
    # Parsed afresh, never catalog.load_schema's shared dict (see above).
    import json

    from gatewayctl.digest import sha256_hex

    with open(_schema_file("config"), "rb") as fh:
        raw = fh.read()
    return _generate_source(json.loads(raw), sha256_hex(raw))


def _generate_source(schema: dict, schema_sha: str) -> str:
    import fastjsonschema

    code = fastjsonschema.compile_to_code(schema, use_default=False, detailed_exceptions=False)
    import re

    entry = re.search(r"^def (validate_\w+)\(", code, re.M)
    if entry is None:  # pragma: no cover - a fastjsonschema output change
        raise RuntimeError("fastjsonschema output has no validate function")
    # The generated code would import fastjsonschema for its two exception
    # classes; local stand-ins keep the fast path free of that import (and
    # keep fastjsonschema imported in this module only).
    library_import = "from fastjsonschema import JsonSchemaValueException, JsonSchemaValuesException\n"
    if library_import not in code:  # pragma: no cover - a fastjsonschema output change
        raise RuntimeError("unexpected fastjsonschema import line in generated code")
    code = code.replace(library_import, "")
    # re: the patterns are compiled on first use by a stand-in (header
    # below), and `\\S` (a value must not be blank), the only one a common
    # config meets, is answered without re at all: for str, re's \\s is
    # exactly str.isspace() (both are Py_UNICODE_ISSPACE), so a clean check
    # need not import re for it.
    re_import = "import re\n"
    if re_import not in code or "re.compile(" not in code:  # pragma: no cover - a fastjsonschema output change
        raise RuntimeError("unexpected regex handling in generated code")
    code = code.replace(re_import, "", 1).replace("re.compile(", "_Pattern(")
    if re.search(r"(?<![\w.\"'])re\.", code):  # pragma: no cover - a fastjsonschema output change
        raise RuntimeError("unexpected use of re in generated code")
    # Decimal: our loaders never produce one (TOML, YAML and JSON numbers
    # load as int and float), and importing decimal cost every cold check
    # about a millisecond. A Decimal, should one ever arrive, fails the fast
    # path and the slow path (which counts it as a number) decides.
    decimal_import = "from decimal import Decimal\n"
    if decimal_import in code:
        code = code.replace(decimal_import, "").replace(", Decimal)", ")")
        if "Decimal" in code:  # pragma: no cover - a fastjsonschema output change
            raise RuntimeError("unexpected use of Decimal in generated code")
    header = (
        f"# Generated by `python -m gatewayctl.validate.schema --regenerate` from\n"
        f"# schemas/config.schema.json with fastjsonschema {fastjsonschema.VERSION}. Do not edit.\n"
        f"# flake8: noqa\n"
        f'"""Ahead-of-time validator for the config schema (the schema stage\'s fast path).\n\n'
        f"Owns nothing but generated code; imports only the standard library.\n"
        f'gatewayctl.validate.schema uses it only while SCHEMA_SHA256 matches the schema file."""\n\n'
        f'SCHEMA_SHA256 = "{schema_sha}"\n\n\n'
        f"class JsonSchemaValueException(ValueError):\n"
        f"    def __init__(self, message, *args, **kwargs):\n"
        f"        super().__init__(message)\n\n\n"
        f"class JsonSchemaValuesException(JsonSchemaValueException):\n"
        f"    pass\n\n\n"
        f"class _Pattern:\n"
        f'    """re.compile(source), compiled on first use; a search for \\\\S answered\n'
        f'    by str.isspace(), which is re\'s \\\\s for str (no re import for it)."""\n\n'
        f"    __slots__ = (\"_source\", \"_compiled\")\n\n"
        f"    def __init__(self, source):\n"
        f"        self._source = source\n"
        f"        self._compiled = None\n\n"
        f"    def search(self, text):\n"
        f"        if self._source == \"\\\\S\":\n"
        f"            return True if text and not text.isspace() else None\n"
        f"        if self._compiled is None:\n"
        f"            import re\n\n"
        f"            self._compiled = re.compile(self._source)\n"
        f"        return self._compiled.search(text)\n\n\n"
    )
    return header + code.rstrip("\n") + f"\n\n\nvalidate = {entry.group(1)}\n"


# ------------------------------------------------------------------ slow path

_slow_validators: dict = {}


def _explain(data, name: str = "config") -> list[Finding]:
    validator = _slow_validators.get(name)
    if validator is None:
        from gatewayctl.validate.draft7 import Draft7

        validator = _slow_validators[name] = Draft7(load_schema(name))
    out: dict[tuple[str, str], Finding] = {}
    for error in validator.iter_errors(data):
        for finding in _translate(error, data, name):
            out.setdefault((finding.pointer, finding.code), finding)
    return list(out.values())


def _translate(error, data, name: str = "config") -> list[Finding]:
    path = list(error.absolute_path)
    # Only the config has secret references (the settings file holds none).
    secret_depth = _secret_field_depth(path) if name == "config" else None
    if secret_depth is not None:
        field_path = path[:secret_depth]
        return [_secret_finding(field_path, _value_at(data, field_path))]
    kind = error.validator
    if kind == "additionalProperties" and error.validator_value is False:
        return _unknown_keys(path, error.instance, error.schema, name)
    if kind == "type":
        return [_wrong_type(path, error.instance, error.validator_value)]
    if kind == "enum":
        return [_bad_choice(path, error.instance, error.validator_value)]
    return [_violation(path, error, name)]


# -- schema navigation


def _deref(node: dict) -> dict:
    root = load_schema("config")
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 16:
        target = root
        for token in node["$ref"][2:].split("/"):
            target = target[token]
        node = target
        seen += 1
    return node


def _secret_field_depth(path: list) -> int | None:
    """If ``path`` is at or inside a secret field, the length of that field's path."""
    node = load_schema("config")
    for depth, token in enumerate(path):
        node = _deref(node)
        if not isinstance(node, dict) or not isinstance(token, str):
            return None
        props = node.get("properties", {})
        if token in props:
            child = props[token]
        elif isinstance(node.get("additionalProperties"), dict):
            child = node["additionalProperties"]
        else:
            return None
        if child.get("$ref") == SECRET_DEF:
            return depth + 1
        node = child
    return None


def _value_at(data, path: list):
    node = data
    for token in path:
        node = node[token]
    return node


def _family_schema(table: str) -> dict:
    return _deref(load_schema("config")["properties"][table])


# -- naming things in messages

_BARE_KEY = lazy(r"[A-Za-z0-9_-]+")


def _toml_key(key) -> str:
    key = str(key)
    return key if _BARE_KEY.fullmatch(key) else '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _table_label(path: list) -> str:
    if not path:
        return "the top level"
    return "[" + ".".join(_toml_key(t) for t in path) + "]"


def _field_label(path: list) -> str:
    """`allowed_chat_ids[0]`, `acp.working_directory`: the field as written in its table."""
    name = ""
    for token in reversed(path):
        if isinstance(token, int):
            name = f"[{token}]" + name
        else:
            name = _toml_key(token) + name
            break
    return f"`{name}`" if name else "the top level"


def _subject(path: list, expected_object: bool) -> str:
    return _table_label(path) if expected_object or not path else _field_label(path)


_TYPE_NAMES = {
    "object": "a table",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
}


def _actual_type(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "null"
    if type(value).__name__ in ("datetime", "date", "time"):
        return "a date/time"
    return "a value of another type"


def _suggest(word: str, choices, cutoff: float = 0.6) -> str | None:
    import difflib

    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    match = difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)
    if not match:
        match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)
        match = [lowered[m] for m in match]
    return match[0] if match else None


# -- GW101

# Names people carry over from other tools, which spelling distance alone
# would not map to the field loong reads.
_MISNAMES = {"homeserver": "base_url", "homeserver_url": "base_url", "token": "bot_token", "api_url": "api_base_url"}


def _unknown_keys(path: list, instance, schema: dict, name: str = "config") -> list[Finding]:
    """GW101/GW111 for the keys of one table that the schema does not list.

    In loong's channel tables (a family, an account, their ``acp``) the keys
    loong's structs define come from the generated inventory
    (catalog/loong_keys.json): loong has no ``deny_unknown_fields``, so such
    a key is never reported, even where the schema lags behind loong. Of the
    rest, a key in the wrong table or a likely typo of a key the table reads
    is an error (GW101: what was written silently does nothing); any other
    key is a warning (GW111): loong ignores it. gatewayctl's own tables
    (``[gateway.*]`` and the whole settings file, ``name`` "settings") keep
    GW101 for every unknown key.
    """
    if not isinstance(instance, dict):
        return []
    allowed = list(schema.get("properties", {}))
    loong_keys = known_keys(path) if name == "config" else None
    if loong_keys is not None:
        allowed = sorted(set(allowed) | loong_keys)
    table = _table_label(path)
    family_level = None
    if len(path) == 3 and path[1] == "accounts" and path[0] in BY_TABLE:
        family_level = set(_family_schema(path[0]).get("properties", {})) - set(allowed)
    out = []
    for n, key in enumerate(sorted((k for k in instance if k not in allowed), key=str)):
        pointer = pointer_join(*path, key)
        if family_level and key in family_level:
            out.append(
                Finding(
                    "GW101",
                    pointer,
                    f"`{key}` belongs in {_table_label(path[:1])}, not in an account table "
                    "(loong ignores it there)",
                    hint=f"move `{key}` up to {_table_label(path[:1])}",
                    target=TARGET_KEY,
                )
            )
            continue
        cutoff = 0.75 if loong_keys is not None else 0.6
        # Spelling suggestions cost a difflib pass each; past the per-file
        # cap they would be computed for diagnostics nobody sees.
        if _MISNAMES.get(key) in allowed:
            guess = _MISNAMES.get(key)
        elif n < MAX_DIAGNOSTICS_PER_FILE:
            guess = _suggest(str(key), allowed, cutoff)
        else:
            guess = None
        if guess is not None:
            ignored = " (loong ignores unknown keys, so its value would never be read)" if loong_keys is not None else ""
            message = f"unknown key `{key}` in {table}: did you mean `{guess}`?{ignored}"
            hint = f"rename `{key}` to `{guess}`"
            # Unsafe: a newer loong may define the key as written, and the
            # renamed key may start doing something the user never saw work.
            fix = Fix("rename-key", UNSAFE, f"rename `{key}` to `{guess}`", (("to", guess),))
            out.append(Finding("GW101", pointer, message, hint=hint, target=TARGET_KEY, fix=fix))
            continue
        shown = sorted(k for k in allowed if not k.endswith("_env"))
        if loong_keys is not None:
            out.append(
                Finding(
                    "GW111",
                    pointer,
                    f"unknown key `{key}` in {table}: loong does not read it (loong {LOONG_COMMIT[:8]} "
                    "ignores keys its config structs do not define)",
                    hint=f"remove it, or check the key names `gatewayctl schema config` lists for {table}",
                    target=TARGET_KEY,
                )
            )
            continue
        message = f"unknown key `{key}` in {table}"
        hint = (
            f"remove it; {table} takes: {', '.join(shown)}"
            if len(shown) <= 16
            else f"remove it; `gatewayctl schema {name}` lists every field of {table}"
        )
        out.append(Finding("GW101", pointer, message, hint=hint, target=TARGET_KEY))
    return out


# -- GW102

_INTEGER_TEXT = lazy(r"\s*[-+]?\d+\s*")
_ID_LISTS = {"allowed_chat_ids": "chat ids", "allowed_sender_ids": "user ids", "allowed_user_ids": "user ids"}


def _wrong_type(path: list, value, expected) -> Finding:
    expected_types = [expected] if isinstance(expected, str) else list(expected)
    wanted = " or ".join(_TYPE_NAMES.get(t, t) for t in expected_types)
    expects_object = expected_types == ["object"]
    subject = _subject(path, expects_object)
    actual = _actual_type(value)
    pointer = pointer_join(*path)
    if expected_types == ["integer"] and isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        list_name = next((t for t in reversed(path) if isinstance(t, str)), "")
        if path and path[0] == "telegram" and list_name in _ID_LISTS:
            why = f" (Telegram {_ID_LISTS[list_name]} are numbers)"
        elif list_name in _ID_LISTS:
            why = f" ({_ID_LISTS[list_name]} are numbers here)"
        else:
            why = ""
        return Finding(
            "GW102",
            pointer,
            f"{subject} must be an integer{why}: remove the quotes",
            hint="write the number without quotes",
        )
    if expected_types == ["boolean"] and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return Finding("GW102", pointer, f"{subject} must be a boolean: remove the quotes", hint="write true or false without quotes")
    if expected_types == ["array"] and not isinstance(value, (list, dict)):
        return Finding(
            "GW102",
            pointer,
            f"{subject} must be a list, not {actual}",
            hint="wrap the value in brackets, e.g. [value]",
        )
    if expects_object:
        return Finding(
            "GW102",
            pointer,
            f"{subject} must be a table, not {actual}",
            hint=f"write it as a table header {subject} followed by key = value lines" if path else "",
        )
    if expected_types == ["string"] and isinstance(value, (int, float)) and not isinstance(value, bool):
        return Finding("GW102", pointer, f"{subject} must be a string, not {actual}", hint="put the value in quotes")
    return Finding("GW102", pointer, f"{subject} must be {wanted}, not {actual}", hint=f"change the value to {wanted}")


# -- GW103


def _bad_choice(path: list, value, choices) -> Finding:
    listed = ", ".join(f'"{c}"' if isinstance(c, str) else str(c) for c in choices)
    subject = _field_label(path)
    guess = _suggest(value, [c for c in choices if isinstance(c, str)]) if isinstance(value, str) else None
    if guess is not None:
        message = f'{subject} must be one of {listed}: did you mean "{guess}"?'
        hint = f'use "{guess}"'
    else:
        message = f"{subject} must be one of {listed}"
        hint = f"use one of {listed}"
    return Finding("GW103", pointer_join(*path), message, hint=hint)


# -- GW104

_REF_KEYS = ("env", "file", "exec")
_PLAIN_NAME = lazy(r"[A-Za-z_][A-Za-z0-9_]{0,19}")


def _secret_problem(value) -> tuple[str, str]:
    """Why a secret reference is malformed: (reason, hint). Never quotes the value."""
    one_of = "a secret reference is a string or a table with exactly one of env, file, exec"
    if not isinstance(value, (str, dict)):
        return f"is {_actual_type(value)}: {one_of}", 'write { env = "NAME" }, { file = "/path" } or { exec = ["program", "arg"] }'
    if isinstance(value, str):  # pragma: no cover - a string always matches
        return "is not a valid secret reference", ""
    unknown = sorted((k for k in value if k not in _REF_KEYS), key=str)
    if unknown:
        key = unknown[0]
        if not (isinstance(key, str) and _PLAIN_NAME.fullmatch(key)):
            # A key inside a secret reference may itself be a pasted secret.
            return f"has an unknown key ({one_of})", "keep exactly one of env, file, exec"
        guess = _suggest(key, _REF_KEYS)
        extra = f": did you mean `{guess}`?" if guess and guess not in value else ""
        return (
            f"has unknown key `{key}`{extra} ({one_of})",
            f"rename `{key}` to `{guess}`" if extra else "keep exactly one of env, file, exec",
        )
    written = [k for k in _REF_KEYS if k in value]
    if not written:
        return f"is an empty table: {one_of}", 'write { env = "NAME" }, { file = "/path" } or { exec = ["program", "arg"] }'
    # loong drops a blank env or file (crates/contracts/src/secret_ref.rs:142),
    # so `{ env = "", file = "/run/x" }` is a file reference, not a conflict.
    present = [k for k in written if k == "exec" or not (isinstance(value[k], str) and not value[k].strip())]
    if len(present) > 1:
        return f"sets {' and '.join(present)}: {one_of}", f"keep one of {', '.join(present)}"
    key = present[0] if present else written[0]
    ref = value[key]
    if key in ("env", "file"):
        what = "the environment variable name" if key == "env" else "the file path"
        if not isinstance(ref, str):
            return f"has `{key}` as {_actual_type(ref)}: it must be a string ({what})", f"give {what} as a string"
        return f"has a blank `{key}`: give {what}", f"fill in {what}"
    if not isinstance(ref, (list, tuple)):
        return f"has `exec` as {_actual_type(ref)}: it must be a list [program, arg, ...]", 'write exec = ["program", "arg"]'
    if not ref:
        return "has an empty `exec` list: give [program, arg, ...]", 'write exec = ["program", "arg"]'
    if not isinstance(ref[0], str) or not ref[0].strip():
        return "has an empty program: the first item of `exec` must name the program to run", "put the program first"
    bad = next((i for i, item in enumerate(ref) if not isinstance(item, str)), None)
    if bad is None:
        return f"is not a valid secret reference ({one_of})", "check the reference against the secret reference forms"
    return f"has `exec[{bad}]` that is not a string: every argument must be a string", "quote the argument"


def _secret_finding(field_path: list, value) -> Finding:
    reason, hint = _secret_problem(value)
    return Finding("GW104", pointer_join(*field_path), f"{_field_label(field_path)} {reason}", hint=hint)


# -- GW105


def _violation(path: list, error, name: str = "config") -> Finding:
    kind = error.validator
    limit = error.validator_value
    subject = _subject(path, isinstance(error.instance, dict))
    pointer = pointer_join(*path)
    if kind == "minimum":
        return Finding("GW105", pointer, f"{subject} must be at least {limit}", hint=f"use a value of {limit} or more")
    if kind == "maximum":
        return Finding("GW105", pointer, f"{subject} must be at most {limit}", hint=f"use a value of {limit} or less")
    if kind == "exclusiveMinimum":
        return Finding("GW105", pointer, f"{subject} must be greater than {limit}", hint=f"use a value above {limit}")
    if kind == "exclusiveMaximum":
        return Finding("GW105", pointer, f"{subject} must be less than {limit}", hint=f"use a value below {limit}")
    if kind == "minItems":
        return Finding("GW105", pointer, f"{subject} must have at least {limit} item{'s' if limit != 1 else ''}", hint="add the missing items")
    if kind == "maxItems":
        return Finding("GW105", pointer, f"{subject} must have at most {limit} items", hint="remove the extra items")
    if kind == "minLength":
        return Finding("GW105", pointer, f"{subject} must not be empty", hint="fill in the value")
    if kind == "pattern" and limit == "\\S":
        return Finding("GW105", pointer, f"{subject} must not be blank", hint="fill in the value")
    if kind == "pattern":
        return Finding("GW105", pointer, f"{subject} must match the pattern {limit}", hint="fix the value's format")
    if kind == "not" and isinstance(limit, dict) and "anyOf" in limit:
        exclusive = list(dict.fromkeys(k for branch in limit["anyOf"] for k in branch.get("required", ())))
        given = [k for k in exclusive if isinstance(error.instance, dict) and k in error.instance]
        return Finding(
            "GW105",
            pointer,
            f"{subject} sets {' and '.join(given)}: give at most one of {', '.join(exclusive)}",
            hint=f"keep one of {', '.join(given)}",
        )
    if kind == "required":
        missing = [k for k in limit if not (isinstance(error.instance, dict) and k in error.instance)]
        return Finding(
            "GW105",
            pointer,
            f"{subject} is missing {', '.join(f'`{k}`' for k in missing)}",
            hint="add the missing keys",
            missing=tuple(str(k) for k in missing),
        )
    return Finding("GW105", pointer, f"{subject} breaks the schema rule `{kind}`", hint=f"see `gatewayctl schema {name}`")


# ------------------------------------------------------------------- GW110

_FAMILY_NAMES: dict[str, str] = {}
for _fam in FAMILIES:
    for _name in (_fam.table, _fam.id, *_fam.aliases):
        _FAMILY_NAMES.setdefault(_name, _fam.table)


def _channel_guess(name: str) -> tuple[str, str] | None:
    """(table, why) when ``name`` looks like a channel family but is not its table."""
    fam = resolve(name)
    folded = name.strip().lower()
    if fam is not None:
        if folded == fam.table:
            return fam.table, "table names are case-sensitive"
        if folded == fam.id:
            return fam.table, "multi-word tables use underscores"
        return fam.table, f"`{name}` is a selector alias; table names have no aliases"
    underscored = folded.replace("-", "_").replace(" ", "_")
    if underscored in BY_TABLE:
        return underscored, "multi-word tables use underscores"
    import difflib

    close = difflib.get_close_matches(folded, list(_FAMILY_NAMES), n=1, cutoff=0.8)
    if close:
        return _FAMILY_NAMES[close[0]], "it looks like a misspelling"
    return None


def _misplaced_channel_tables(data: dict) -> list[Finding]:
    out = []
    for key, value in data.items():
        if not isinstance(key, str) or key in _KNOWN_TOP_LEVEL or not isinstance(value, dict):
            continue
        if key.strip().lower() == "channels":
            for sub in value:
                guess = _channel_guess(sub) if isinstance(sub, str) else None
                if guess is None:
                    continue
                table, _why = guess
                written = _table_label([key, sub])
                out.append(
                    Finding(
                        "GW110",
                        pointer_join(key, sub),
                        f"channel tables are top-level: [{table}] (loong ignores {written})",
                        hint=f"move {written} to [{table}]",
                        target=TARGET_KEY,
                    )
                )
            continue
        guess = _channel_guess(key)
        if guess is None:
            continue
        table, why = guess
        written = _table_label([key])
        out.append(
            Finding(
                "GW110",
                pointer_join(key),
                f"{written} is not a channel table, so loong ignores it: did you mean [{table}]? ({why})",
                hint=f"rename {written} to [{table}]",
                target=TARGET_KEY,
            )
        )
    return out


# ------------------------------------------------------------------- tooling


def _main(argv: list[str]) -> int:
    if argv == ["--regenerate"]:
        from gatewayctl.catalog import fields_module_source

        with open(_GENERATED_PATH, "w", encoding="utf-8") as fh:
            fh.write(generated_module_source())
        print(f"wrote {_GENERATED_PATH}")
        fields_path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "catalog", "_fields_compiled.py")
        with open(fields_path, "w", encoding="utf-8") as fh:
            fh.write(fields_module_source())
        print(f"wrote {fields_path}")
        return 0
    print("usage: python -m gatewayctl.validate.schema --regenerate", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover - developer tooling
    raise SystemExit(_main(sys.argv[1:]))
