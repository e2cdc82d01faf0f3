"""Whole-pipeline robustness: whatever bytes a user feeds `check`, the answer
is a report (diagnostics located inside the input), never an exception."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from gatewayctl.cli.check import CheckSettings, run_check
from tests.support import examples

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = (REPO / "examples" / "gateway-rollout.toml").read_text()
EXAMPLE_LINES = EXAMPLE.splitlines(keepends=True)


def _check_bytes(data: bytes, name: str, selectors=()):
    outcome = run_check(CheckSettings(files=("-",), fmt="json", stdin_filename=name, selectors=tuple(selectors)), stdin_bytes=data)
    assert outcome.exit_code in (0, 1)
    report = json.loads(outcome.output)
    text = data.decode("utf-8", "replace")
    lines = text.splitlines() or [""]
    for d in report["diagnostics"]:
        r = d["range"]
        if d["path"] != name or r is None:
            continue
        assert 1 <= r["start"]["line"] <= max(len(lines), 1) + 1, d
        assert r["start"]["column"] >= 1 and (r["end"]["line"], r["end"]["column"]) >= (r["start"]["line"], r["start"]["column"]), d
    return report


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_example_never_crashes(data):
    lines = list(EXAMPLE_LINES)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "dup", "garble", "swap"]))
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "garble":
            pos = data.draw(st.integers(min_value=0, max_value=max(len(lines[i]) - 1, 0)))
            junk = data.draw(st.text(alphabet='[]{}="\',.=\\#\n abc123_-:$%', max_size=4))
            lines[i] = lines[i][:pos] + junk + lines[i][pos:]
        else:
            j = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        if not lines:
            break
    _check_bytes("".join(lines).encode(), "mutated.toml")


@settings(max_examples=examples(100), deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(blob):
    _check_bytes(blob, "blob.toml")
    _check_bytes(blob, "blob.yaml")


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(st.text(alphabet="lark=work,feishuwecom alerts=_-.", max_size=20), max_size=4))
def test_arbitrary_selectors_never_crash(selectors):
    _check_bytes(EXAMPLE.encode(), "example.toml", selectors)
