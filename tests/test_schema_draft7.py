"""validate/draft7.py yields exactly the errors jsonschema's Draft7Validator
yields (same keyword, keyword value, instance, schema and path) on our
config and settings schemas: over the fixture corpus and over random
structural edits of valid configs. jsonschema is the reference.

Compared as sorted lists: jsonschema walks the extra keys under an
object-valued additionalProperties (``[providers]``) from a set, so its
order changes with PYTHONHASHSEED; ours is document order. The schema
stage keeps one finding per (pointer, code) and the report sorts them, so
that order never reached any output."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatewayctl.catalog import load_schema
from gatewayctl.source import load_document
from gatewayctl.validate.draft7 import Draft7
from tests.support import examples

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema("config")
REFERENCE = jsonschema.Draft7Validator(SCHEMA)
OURS = Draft7(SCHEMA)

CORPUS = sorted(
    p
    for p in (ROOT / "fixtures").rglob("*")
    # parts below the repository: a checkout may itself live under a directory named "settings"
    if p.suffix in (".toml", ".yaml", ".yml", ".json")
    and "plans" not in p.relative_to(ROOT).parts
    and "settings" not in p.relative_to(ROOT).parts
)
SETTINGS_CORPUS = sorted(p for p in (ROOT / "fixtures" / "settings").rglob("*") if p.suffix in (".toml", ".yaml", ".yml", ".json"))


def signature(errors) -> list:
    return sorted(
        (e.validator, json.dumps(e.validator_value, sort_keys=True, default=repr), list(e.absolute_path), id(e.schema), repr(e.instance))
        for e in errors
    )


def same_errors(data) -> None:
    assert signature(OURS.iter_errors(data)) == signature(REFERENCE.iter_errors(data))


def test_the_corpus_is_there_and_has_errors():
    datas = [doc.data for doc in (load_document(str(p))[0] for p in CORPUS) if doc is not None]
    assert len(datas) > 100
    assert sum(1 for d in datas if next(REFERENCE.iter_errors(d), None) is not None) >= 30


def _mismatches(paths, schema) -> list[str]:
    """Files whose errors differ; files that do not load are the loader's
    business (their GW0xx finding is tested with the loader) and have no
    schema errors to compare."""
    ours, reference = Draft7(schema), jsonschema.Draft7Validator(schema)
    bad = []
    for path in paths:
        doc, _ = load_document(str(path))
        if doc is not None and signature(ours.iter_errors(doc.data)) != signature(reference.iter_errors(doc.data)):
            bad.append(str(path.relative_to(ROOT)))
    return bad


def test_same_errors_as_jsonschema_on_the_fixture_corpus():
    assert _mismatches(CORPUS, SCHEMA) == []


def test_same_errors_as_jsonschema_on_the_settings_fixtures():
    assert SETTINGS_CORPUS, "fixtures/settings is empty"
    assert _mismatches(SETTINGS_CORPUS, load_schema("settings")) == []



VALID = [doc.data for doc in (load_document(str(p))[0] for p in sorted((ROOT / "fixtures" / "valid").rglob("*.toml"))) if doc is not None]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70000), st.floats(allow_nan=False), st.sampled_from(["", " ", "x", "lark=work", "$ENV", "websocket", "https://x"]),
    st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.sampled_from(["env", "file", "exec", "value", "x"]), st.sampled_from(["A", 1, ["a"]]), max_size=2),
)  # fmt: skip


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_same_errors_as_jsonschema_after_random_edits(data):
    assert VALID
    config = copy.deepcopy(data.draw(st.sampled_from(VALID)))
    for _ in range(data.draw(st.integers(1, 4))):
        paths = [p for p in _paths(config) if p]
        if not paths:  # every key deleted already: the empty config is compared below
            break
        path = data.draw(st.sampled_from(paths))
        parent = config
        for token in path[:-1]:
            parent = parent[token]
        op = data.draw(st.sampled_from(["set", "delete", "rename", "add"]))
        key = path[-1]
        # a drawn value is copied: VALUES samples one shared ["a"] list, which a
        # later edit of this config would otherwise change for every later
        # example (hypothesis then reports FlakyStrategyDefinition)
        if op == "set":
            parent[key] = copy.deepcopy(data.draw(VALUES))
        elif op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[str(key) + data.draw(st.sampled_from(["_", "x", "s"]))] = parent.pop(key)
        elif op == "add" and isinstance(parent, dict):
            parent[data.draw(st.sampled_from(["enabled", "accounts", "mode", "zzz", "bot_token", "allowed_chat_ids"]))] = copy.deepcopy(data.draw(VALUES))
    same_errors(config)
