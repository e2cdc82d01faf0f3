"""compile_plan never raises on user input: whatever a mutated config or a
random set of [gateway] values holds, the answer is a plan or findings. Any
plan it does produce validates against the plan schema and round-trips."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatewayctl.compile.compiler import CompileOptions, compile_plan
from gatewayctl.diagnostics import CODES
from gatewayctl.source import load_document, selector_document
from gatewayctl.validate import validate

from tests.test_plan_support import REPO, assert_valid_plan
from tests.support import examples

SHAPES_LINES = (REPO / "fixtures" / "plans" / "default-shapes.toml").read_text().splitlines(keepends=True)
SEED_LINES = (REPO / "examples" / "gateway-rollout.toml").read_text().splitlines(keepends=True)


def _compile_any(text: str, selectors=None, **options):
    doc, _ = load_document("m.toml", data=text.encode("utf-8", "surrogatepass"))
    if doc is None:
        return
    cli = selector_document(selectors) if selectors is not None else None
    validated, _diags = validate(doc, cli_selectors=cli)
    # Called even when check found errors: the compiler must tolerate that.
    plan, findings = compile_plan(doc, validated, CompileOptions(**options))
    assert all(f.code in CODES for f in findings)
    if plan is not None:
        assert_valid_plan(plan)


_junk = st.text(alphabet='[]{}="\',.=\\#\n abc123_-:$%', max_size=5)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([SHAPES_LINES, SEED_LINES]))
def test_mutated_configs_compile_or_report(data, source):
    lines = list(source)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "dup", "garble", "swap"]))
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "garble":
            pos = data.draw(st.integers(min_value=0, max_value=max(len(lines[i]) - 1, 0)))
            lines[i] = lines[i][:pos] + data.draw(_junk) + lines[i][pos:]
        else:
            j = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        if not lines:
            return
    _compile_any("".join(lines), allow_inline_secrets=data.draw(st.booleans()))


_toml_value = st.one_of(
    st.integers(-5, 70000).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1.5", "true", '"x"', '"{family}"', "[]", '["a", "{nope}"]', "{}", '"on-failure"']),
)
_gateway_keys = st.sampled_from(
    ["port", "stop_grace_s", "worker.command", "restart.policy", "restart.max_restarts", "restart.window_s",
     "restart.backoff_max_s", "handler.exec", "handler.url", "handler.echo", "handler.timeout_s", "worker"]
)


@settings(max_examples=examples(200), deadline=None)
@given(st.dictionaries(_gateway_keys, _toml_value, max_size=5), st.one_of(st.none(), st.text(max_size=6)))
def test_any_gateway_table_compiles_or_reports(gateway, env_port):
    body = "".join(f"{k} = {v}\n" for k, v in gateway.items())
    _compile_any("[gateway]\n" + body + "".join(SEED_LINES), env_port=env_port)
