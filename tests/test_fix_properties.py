"""Properties of `fix` on generated configs (hypothesis): it never changes a
byte outside the ranges its edits replace (each edit being the located key
or value of its diagnostic, or a suppression comment's code), and a second
run changes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gatewayctl.fix import fix_text
from tests.support import examples

FAMILIES = ["telegram", "matrix", "wecom", "feishu"]
NAMES = st.sampled_from(["TELEGRAM_BOT_TOKEN", "MATRIX_TOKEN", "X", "APP_SECRET", "Wecom_Bot"])
COMMENTS = st.sampled_from(["", "  # note", " # gatewayctl: ignore[GW101]", "  # gatewayctl: ignore[GW101, GW212]", "\t# äöü #"])
SECRET_FIELD = {"telegram": "bot_token", "matrix": "access_token", "wecom": "secret", "feishu": "app_secret"}
TYPOS = {"telegram": ["bot_tokn", "polling_timout_s", "alowed_chat_ids"], "matrix": ["homeserver", "acess_token"], "wecom": ["secrt"], "feishu": ["app_secrt", "domian"]}


def _quote(fmt: str, text: str) -> str:
    return '"' + text + '"'  # a double-quoted string reads the same in TOML and YAML


@st.composite
def entries(draw, family: str, fmt: str):
    kind = draw(st.sampled_from(["env_dollar", "env_string", "inline", "typo", "good", "comment", "blank", "pct"]))
    field = SECRET_FIELD[family]
    name = draw(NAMES)
    sep = " = " if fmt == "toml" else ": "
    if kind == "env_dollar":
        return f"{field}_env{sep}" + _quote(fmt, "$" + draw(st.sampled_from(["", "{"])) + name + ("}" if draw(st.booleans()) else "")).replace("${" + name + '"', "${" + name + '}"')
    if kind == "pct":
        return f"{field}_env{sep}" + _quote(fmt, f"%{name}%")
    if kind == "env_string":
        return f"{field}{sep}" + _quote(fmt, draw(st.sampled_from(["$", "env:", "${"])) + name).replace("${" + name + '"', "${" + name + '}"')
    if kind == "inline":
        return f"{field}{sep}" + _quote(fmt, draw(st.text(alphabet="abcdefghijkXYZ0123456789-_:", min_size=6, max_size=30)))
    if kind == "typo":
        return draw(st.sampled_from(TYPOS[family])) + f"{sep}1"
    if kind == "good":
        return f"enabled{sep}" + ("true" if draw(st.booleans()) else "false")
    if kind == "comment":
        return "# a comment line"
    return ""


@st.composite
def configs(draw, fmt: str):
    out = []
    for family in draw(st.lists(st.sampled_from(FAMILIES), min_size=1, max_size=3, unique=True)):
        out.append(f"[{family}]" if fmt == "toml" else f"{family}:")
        seen = set()
        for _ in range(draw(st.integers(1, 6))):
            line = draw(entries(family, fmt))
            key = line.split("=")[0].split(":")[0].strip()
            if key and not key.startswith("#"):
                if key in seen:
                    continue
                seen.add(key)
            line = (line + draw(COMMENTS)) if line and not line.startswith("#") else line
            out.append(line if fmt == "toml" or not line else "  " + line)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(out) + newline


def _back_to_original(span, previous_steps):
    """Map a [start, end) span of a later text back to original offsets."""
    start, end = span
    for edits in reversed(previous_steps):
        for e in sorted(edits, reverse=True):
            grow = len(e.new) - (e.end - e.start)
            def back(pos, e=e, grow=grow):
                if pos >= e.start + len(e.new):
                    return pos - grow
                if pos > e.start:
                    return e.end if pos == e.start + len(e.new) else e.start
                return pos
            start, end = back(start), back(end)
            if start > end:
                start, end = end, start
    return start, end


def _merged(spans):
    out = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _check(fmt: str, text: str):
    path = f"gen.{fmt}"
    ff = fix_text(path, text.encode(), unsafe=True)
    event(f"{len(ff.applied)} fixes applied")
    if not ff.changed:
        return
    # every edit replaces what its diagnostic located, nothing else
    allowed = []
    for i, edits in enumerate(ff.steps):
        for e in edits:
            a, b = _back_to_original((e.start, e.end), ff.steps[:i])
            allowed.append((a, b))
    # the text between edits: each gap of the original reappears, byte for
    # byte, at its position shifted by the edits before it
    allowed.sort()
    gaps, pos = [], 0
    for a, b in allowed:
        if a > pos:
            gaps.append((pos, a))
        pos = max(pos, b)
    gaps.append((pos, len(ff.original)))
    for g1, g2 in gaps:
        p1, p2 = g1, g2
        for edits in ff.steps:
            shift = sum(len(e.new) - (e.end - e.start) for e in edits if e.end <= p1)
            inside = [e for e in edits if p1 < e.end and e.start < p2]
            assert not inside, f"an edit {inside} overlaps text it was not located at"
            p1, p2 = p1 + shift, p2 + shift
        assert ff.fixed[p1:p2] == ff.original[g1:g2], (
            f"bytes outside the edits changed: {ff.original[g1:g2]!r} -> {ff.fixed[p1:p2]!r}\n{ff.original}\n---\n{ff.fixed}"
        )
    assert sum(g2 - g1 for g1, g2 in gaps) + sum(b - a for a, b in _merged(allowed)) == len(ff.original)
    again = fix_text(path, ff.fixed.encode(), unsafe=True)
    assert not again.changed, f"second run changed:\n{ff.fixed}\n---\n{again.fixed}"


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs("toml"))
def test_toml_fix_edits_only_located_ranges_and_is_idempotent(text):
    _check("toml", text)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs("yaml"))
def test_yaml_fix_edits_only_located_ranges_and_is_idempotent(text):
    _check("yaml", text)


@st.composite
def json_configs(draw):
    import json

    data = {}
    for family in draw(st.lists(st.sampled_from(FAMILIES), min_size=1, max_size=3, unique=True)):
        table = {}
        field = SECRET_FIELD[family]
        for _ in range(draw(st.integers(1, 5))):
            kind = draw(st.sampled_from(["env_dollar", "env_string", "inline", "typo", "good"]))
            name = draw(NAMES)
            if kind == "env_dollar":
                table[f"{field}_env"] = "$" + name
            elif kind == "env_string":
                table[field] = draw(st.sampled_from(["$", "env:"])) + name
            elif kind == "inline":
                table[field] = draw(st.text(alphabet="abcdefXYZ0123456789-_:", min_size=6, max_size=30))
            elif kind == "typo":
                table[draw(st.sampled_from(TYPOS[family]))] = 1
            else:
                table["enabled"] = draw(st.booleans())
        data[family] = table
    return json.dumps(data, indent=draw(st.sampled_from([None, 2])), ensure_ascii=False) + "\n"


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_configs())
def test_json_fix_edits_only_located_ranges_and_is_idempotent(text):
    _check("json", text)
