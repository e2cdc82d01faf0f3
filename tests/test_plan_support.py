"""Shared helpers for the plan tests (the whole pipeline, in process), and
the checks on the plan JSON Schema itself."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jsonschema

REPO = Path(__file__).resolve().parents[1]
PLAN_SCHEMA = REPO / "schemas" / "plan.schema.json"


@functools.cache
def plan_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(PLAN_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def compile_text(text: str, *, path: str = "config.toml", selectors=None, settings: str | None = None, **options):
    """load -> validate -> compile, as `gatewayctl plan` does. ``settings``:
    the text of a gatewayctl settings file naming the config (else the
    config's deprecated [gateway] place is read).

    Returns (plan, compile_findings, validate_diagnostics)."""
    from gatewayctl.compile.compiler import CompileOptions, compile_plan
    from gatewayctl.source import load_document, selector_document
    from gatewayctl.validate import validate

    doc, load_diags = load_document(path, data=text.encode("utf-8"))
    assert doc is not None, load_diags
    settings_doc = None
    if settings is not None:
        settings_doc, sdiags = load_document("gatewayctl.toml", data=settings.encode("utf-8"))
        assert settings_doc is not None, sdiags
    cli = selector_document(list(selectors)) if selectors is not None else None
    validated, diags = validate(doc, cli_selectors=cli, settings_doc=settings_doc)
    plan, findings = compile_plan(doc, validated, CompileOptions(**options))
    return plan, findings, diags


def assert_valid_plan(plan) -> dict:
    """The plan's file form validates against the schema and round-trips."""
    from gatewayctl.compile import planfile

    data = planfile.dumps(plan)
    obj = json.loads(data)
    plan_validator().validate(obj)
    assert planfile.loads(data) == plan
    return obj


def test_plan_schema_is_a_valid_self_contained_draft7_schema():
    schema = json.loads(PLAN_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    # self-contained: every $ref is local
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    assert refs and all(r.startswith("#/") for r in refs)


def test_plan_schema_rejects_what_the_format_forbids():
    v = plan_validator()
    good_lane = {
        "family": "telegram", "alias": None, "account_id": "default", "account_label": "default",
        "account_source": "single_account", "settings": {}, "secrets": [], "worker": ["w"], "env": [],
    }
    body = {
        "generator": {"name": "gatewayctl", "version": "0.1.0"},
        "config": {"path": "c.toml", "sha256": "0" * 64},
        "owner": {"mode": "gateway_headless", "session": None},
        "control": {"bind": "127.0.0.1", "port": 26306, "port_source": "default"},
        "restart": {"policy": "never", "max_restarts": 5, "window_s": 60.0, "backoff_initial_s": 1.0, "backoff_max_s": 30.0},
        "stop_grace_s": 10.0, "allow_private_hosts": False, "handler": None, "lanes": [good_lane],
    }
    env = {"format_version": 1, "plan": body, "plan_sha256": "a" * 64}
    assert v.is_valid(env)
    bad = json.loads(json.dumps(env))
    bad["plan"]["control"]["bind"] = "0.0.0.0"
    assert not v.is_valid(bad)
    bad = json.loads(json.dumps(env))
    bad["plan"]["owner"] = {"mode": "multi_channel_serve", "session": None}
    assert not v.is_valid(bad)
    bad = json.loads(json.dumps(env))
    bad["plan"]["lanes"][0]["secrets"] = [{"field": "bot_token", "kind": "inline", "ref": "123:abc"}]
    assert not v.is_valid(bad)  # an inline ref is a pointer, never a value
    bad = json.loads(json.dumps(env))
    bad["plan"]["lanes"] = []
    assert not v.is_valid(bad)
