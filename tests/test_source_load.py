"""source: loading, load diagnostics (GW001-GW007) and the locator."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import os
import re
from pathlib import Path

import pytest

from gatewayctl.diagnostics import Finding, Range, Severity
from gatewayctl.source import Document, load_document, selector_document

REPO = Path(__file__).resolve().parents[1]


def load(text: str, name: str = "c.toml"):
    return load_document(name, data=text.encode("utf-8"))


def one(text: str, name: str = "c.toml"):
    doc, diags = load(text, name)
    assert doc is None, f"expected a load failure, got {doc.data!r}"
    assert len(diags) == 1, diags
    return diags[0]


def span(r: Range | None) -> tuple:
    assert r is not None
    return (r.start.line, r.start.column, r.end.line, r.end.column)


def snippet(doc: Document, r: Range) -> str:
    """The source text a range covers (what a reporter would underline)."""
    lines = doc.text.split("\n")
    out = []
    for n in range(r.start.line, r.end.line + 1):
        line = lines[n - 1].rstrip("\r")
        a = r.start.column - 1 if n == r.start.line else 0
        b = r.end.column - 1 if n == r.end.line else len(line)
        out.append(line[a:b])
    return "\n".join(out)


# -- reading ------------------------------------------------------------------


def test_missing_file_is_gw001_value(tmp_path):
    doc, diags = load_document(str(tmp_path / "nope.toml"))
    assert doc is None
    assert [d.code for d in diags] == ["GW001"]
    assert "no such file" in diags[0].message
    assert diags[0].severity is Severity.ERROR
    assert diags[0].path == str(tmp_path / "nope.toml")


def test_directory_is_gw001(tmp_path):
    _, diags = load_document(str(tmp_path))
    assert [d.code for d in diags] == ["GW001"]
    assert "directory" in diags[0].message


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="running as root: file modes are not enforced "
                    "(tests/test_hard_inputs.py checks mode 000 as an unprivileged user it creates)")
def test_permission_denied_is_gw001(tmp_path):
    p = tmp_path / "secret.toml"
    p.write_text("a = 1\n")
    p.chmod(0)
    try:
        _, diags = load_document(str(p))
    finally:
        p.chmod(0o600)
    assert [d.code for d in diags] == ["GW001"]
    assert "permission denied" in diags[0].message


def test_not_utf8_reports_the_line_and_column_of_the_bad_byte():
    doc, diags = load_document("c.toml", data=b'a = 1\nname = "caf\xe9"\n')
    assert doc is None
    d = diags[0]
    assert d.code == "GW001" and "not valid UTF-8" in d.message and "0xe9" in d.message
    assert span(d.range) == (2, 12, 2, 13)


def test_utf16_is_named():
    _, diags = load_document("c.toml", data="a = 1\n".encode("utf-16"))
    assert diags[0].code == "GW001" and "UTF-16" in diags[0].message


def test_data_given_never_touches_the_disk(tmp_path):
    doc, diags = load_document(str(tmp_path / "does-not-exist.yaml"), data=b"a: 1\n")
    assert diags == () and doc.data == {"a": 1} and doc.format == "yaml"


def test_format_by_suffix_and_override():
    assert load_document("x.yml", data=b"a: 1")[0].format == "yaml"
    assert load_document("x.JSON", data=b'{"a": 1}')[0].format == "json"
    assert load_document("x.conf", data=b"a = 1")[0].format == "toml"  # unknown suffix: TOML
    assert load_document("<stdin>", data=b"a: 1", fmt="yaml")[0].data == {"a": 1}
    with pytest.raises(ValueError):
        load_document("x.toml", data=b"", fmt="ini")


def test_document_is_frozen_and_hashes_the_raw_bytes():
    raw = b"\xef\xbb\xbfa = 1\n"
    doc, diags = load_document("c.toml", data=raw)
    assert diags == ()
    assert doc.sha256 == hashlib.sha256(raw).hexdigest()
    assert doc.text == "a = 1\n"  # BOM tolerated, and not a column
    assert span(doc.locate("/a")) == (1, 5, 1, 6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.text = "x"  # type: ignore[misc]


def test_reading_from_disk(tmp_path):
    p = tmp_path / "c.toml"
    p.write_bytes(b"[telegram]\nenabled = true\n")
    doc, diags = load_document(str(p))
    assert diags == () and doc.path == str(p) and doc.data == {"telegram": {"enabled": True}}


# -- TOML values ----------------------------------------------------------------


def test_empty_toml_is_an_empty_table():
    doc, diags = load("")
    assert diags == () and doc.data == {}
    assert span(doc.locate("")) == (1, 1, 1, 1)
    assert span(doc.locate("/missing")) == (1, 1, 1, 1)


def test_toml_datetimes_stay_datetimes():
    doc, _ = load("a = 1979-05-27 07:32:00\nb = 1979-05-27\nc = 07:32:00\n")
    assert doc.data == {
        "a": datetime.datetime(1979, 5, 27, 7, 32),
        "b": datetime.date(1979, 5, 27),
        "c": datetime.time(7, 32),
    }
    assert snippet(doc, doc.locate("/a")) == "1979-05-27 07:32:00"


def test_loading_does_not_build_the_index(monkeypatch):
    from gatewayctl.source import toml_scan

    calls = []
    real = toml_scan.build_index
    monkeypatch.setattr(toml_scan, "build_index", lambda text: calls.append(1) or real(text))
    doc, _ = load("a = 1\n")
    assert calls == []
    doc.locate("/a")
    doc.locate("/a", "key")
    assert calls == [1]  # built once, on the first locate


# -- TOML syntax errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "text, where, words",
    [
        ("a = 1\nb = [1, 2\n", (2, 10, 2, 10), "array is not closed"),
        ("a = 1\n= 2\n", (2, 1, 2, 2), "expected a key = value pair"),
        ('name = "x\n', (1, 10, 1, 10), "string is not closed"),
        ("x = 1 2\n", (1, 7, 1, 8), "unexpected text after"),
        ("[gateway\nport = 1\n", (1, 9, 1, 9), "not closed with ']'"),
        ("a = \n", (1, 5, 1, 5), "value is missing"),
        ("t = {a = 1\n", (1, 11, 1, 11), "inline table is not closed"),
        ('p = "C:\\path"\n', (1, 10, 1, 11), "backslash"),
        ("a b = 1\n", (1, 3, 1, 4), "expected '='"),
        ("d = 1979-02-30\n", (1, 5, 1, 6), "not a valid date"),
        ('a = "\x01"\n', (1, 6, 1, 7), "control character"),
    ],
)
def test_toml_syntax_errors_have_position_message_and_hint(text, where, words):
    d = one(text)
    assert d.code == "GW002"
    assert span(d.range) == where
    assert words in d.message and d.message.startswith("invalid TOML: ")
    assert d.hint
    assert "(at line" not in d.message  # tomllib's coordinates became the range


def test_toml_crlf_positions_match_the_file():
    d = one("a = 1\r\nb = [1\r\n")
    assert d.code == "GW002" and span(d.range) == (2, 7, 2, 7)
    doc, _ = load("a = 1\r\nb = 'x'\r\n")
    assert span(doc.locate("/b")) == (2, 5, 2, 8)
    assert doc.line_text(2) == "b = 'x'"


def test_toml_huge_number_and_deep_nesting_are_values_not_exceptions():
    d = one("a = " + "9" * 5000 + "\n")
    assert d.code == "GW007" and span(d.range) == (1, 5, 1, 5005)
    d = one("a = " + "[" * 3000 + "]" * 3000 + "\n")
    assert d.code == "GW002" and "nested too deeply" in d.message


# -- TOML redefinitions ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, line, col, name, first",
    [
        ("a = 1\na = 2\n", 2, 1, "a", 1),
        ("[t]\nx = 1\n\n[t]\n", 4, 2, "t", 1),
        ("[t]\nx = 1\ny = 2\nx = 3\n", 4, 1, "t.x", 2),
        ('[t]\n"a b" = 1\n\'a b\' = 2\n', 3, 1, 't."a b"', 2),
        ("[[s]]\nx = 1\n[[s]]\nx = 1\nx = 2\n", 5, 1, "s[1].x", 4),
        ("t = {a = 1, a = 2}\n", 1, 13, "t.a", 1),
        ("a.b = 1\n[a]\n", 2, 2, "a", 1),
        ("[a.b]\n[a]\nx = 1\n[a]\n", 4, 2, "a", 2),
        ("[[a]]\n[a]\n", 2, 2, "a", 1),
    ],
)
def test_toml_duplicate_keys_name_the_key_at_the_second_definition(text, line, col, name, first):
    d = one(text)
    assert d.code == "GW004"
    assert (d.range.start.line, d.range.start.column) == (line, col)
    assert f"'{name}'" in d.message
    assert f"line {first}" in d.message


def test_toml_extending_an_inline_table_is_a_duplicate_with_advice():
    d = one("[telegram]\nbot_token = { env = 'A' }\nbot_token.file = '/x'\n")
    assert d.code == "GW004" and d.range.start.line == 3
    assert "telegram.bot_token" in d.message and "inline table on line 2" in d.message
    assert "braces" in d.hint


def test_toml_value_then_table_is_a_duplicate():
    d = one("[gateway]\nport = 1\n[gateway.port]\n")
    assert d.code == "GW004" and d.range.start.line == 3
    assert "'gateway.port'" in d.message and "line 2" in d.message
    assert d.pointer == "/gateway/port"


# -- TOML locator -------------------------------------------------------------

CONFIG = '''\
# gateway config
title = "gw"   # trailing comment
[gateway]
port = 26306
channel_accounts = ["lark=work", "telegram=ops"]

[telegram]
enabled = true
bot_token = { env = "TG_TOKEN" }
allowed_chat_ids = [
  123,   # first
  -456,
]
accounts.ops.bot_token_env = "X"
"quoted.key" = 'lit'
[[servers]]
name = "a\\tb"
[ servers . sub ]
x = 1
[[servers]]
name = """
multi
line"""
'''


@pytest.fixture(scope="module")
def config():
    doc, diags = load(CONFIG)
    assert diags == ()
    return doc


@pytest.mark.parametrize(
    "pointer, key, value",
    [
        ("/title", "title", '"gw"'),
        ("/gateway", "gateway", "[gateway]"),
        ("/gateway/port", "port", "26306"),
        ("/gateway/channel_accounts", "channel_accounts", '["lark=work", "telegram=ops"]'),
        ("/gateway/channel_accounts/1", '"telegram=ops"', '"telegram=ops"'),
        ("/telegram/bot_token", "bot_token", '{ env = "TG_TOKEN" }'),
        ("/telegram/bot_token/env", "env", '"TG_TOKEN"'),
        ("/telegram/allowed_chat_ids/1", "-456", "-456"),
        ("/telegram/accounts", "accounts", 'accounts.ops.bot_token_env = "X"'),
        ("/telegram/accounts/ops", "ops", 'ops.bot_token_env = "X"'),
        ("/telegram/accounts/ops/bot_token_env", "bot_token_env", '"X"'),
        ("/telegram/quoted.key", '"quoted.key"', "'lit'"),
        ("/servers", "servers", "[[servers]]"),
        ("/servers/0", "servers", "[[servers]]"),
        ("/servers/0/name", "name", '"a\\tb"'),
        ("/servers/0/sub", "servers . sub", "[ servers . sub ]"),
        ("/servers/0/sub/x", "x", "1"),
        ("/servers/1/name", "name", '"""\nmulti\nline"""'),
    ],
)
def test_toml_locate_key_and_value(config, pointer, key, value):
    assert snippet(config, config.locate(pointer, "key")) == key
    assert snippet(config, config.locate(pointer)) == value


def test_toml_aot_elements_are_distinct(config):
    assert config.locate("/servers/0").start.line == 16
    assert config.locate("/servers/1").start.line == 20


def test_missing_pointer_falls_back_to_the_nearest_ancestor_key(config):
    assert snippet(config, config.locate("/telegram/nope")) == "telegram"
    assert snippet(config, config.locate("/telegram/accounts/ops/nope/deeper")) == "ops"
    assert span(config.locate("/nope")) == (1, 1, 1, 17)  # the whole first line
    assert span(config.locate("")) == (1, 1, 1, 17)
    assert span(config.locate("not-a-pointer")) == (1, 1, 1, 17)


def test_column_offset_narrows_inside_a_string(config):
    r = config.locate("/gateway/channel_accounts/1", column_offset=9, length=3)
    assert snippet(config, r) == "ops"
    r = config.locate("/gateway/channel_accounts/1", column_offset=9)
    assert snippet(config, r) == "ops"
    # an escape before the point: the whole value instead of a wrong column
    r = config.locate("/servers/0/name", column_offset=2, length=1)
    assert snippet(config, r) == '"a\\tb"'
    # before the escape it is still exact
    assert snippet(config, config.locate("/servers/0/name", column_offset=0, length=1)) == "a"
    # multi-line strings: offsets count from after the trimmed first newline
    assert snippet(config, config.locate("/servers/1/name", column_offset=6, length=4)) == "line"
    # out of range: the whole value
    assert snippet(config, config.locate("/title", column_offset=5, length=9)) == '"gw"'


def test_diagnostic_uses_the_codes_severity_and_the_located_range(config):
    d = config.diagnostic(Finding("GW211", "/telegram/bot_token/env", "inline", hint="h"))
    assert d.severity is Severity.WARNING and d.path == "c.toml" and d.hint == "h"
    assert snippet(config, d.range) == '"TG_TOKEN"'
    d = config.diagnostic(Finding("GW101", "/telegram/enabled", "m", target="key", severity=Severity.WARNING))
    assert d.severity is Severity.WARNING and snippet(config, d.range) == "enabled"


def test_line_text(config):
    assert config.line_text(2) == 'title = "gw"   # trailing comment'
    assert config.line_text(0) == "" and config.line_text(999) == ""


# -- YAML -----------------------------------------------------------------------

YAML = """\
base: &base
  enabled: true
  allowed_chat_ids: [1, 2]
telegram:
  <<: *base
  bot_token: {env: TG}
  note: "a\\tb"
  accounts:
    - id: ops
      name: 'it''s'
    - id: dev
"""


def test_yaml_values_are_plain_with_aliases_and_merges_resolved():
    doc, diags = load(YAML, "c.yaml")
    assert diags == ()
    assert doc.data["telegram"] == {
        "bot_token": {"env": "TG"},
        "note": "a\tb",
        "accounts": [{"id": "ops", "name": "it's"}, {"id": "dev"}],
        "enabled": True,
        "allowed_chat_ids": [1, 2],
    }
    assert type(doc.data["telegram"]) is dict and type(doc.data["telegram"]["accounts"]) is list


def test_yaml_locate():
    doc, _ = load(YAML, "c.yaml")
    assert snippet(doc, doc.locate("/telegram/bot_token/env")) == "TG"
    assert snippet(doc, doc.locate("/telegram/bot_token", "key")) == "bot_token"
    assert snippet(doc, doc.locate("/telegram/accounts/1/id")) == "dev"
    assert snippet(doc, doc.locate("/telegram/accounts/0/name")) == "'it''s'"
    assert snippet(doc, doc.locate("/telegram/accounts/0/name", column_offset=0, length=2)) == "it"
    # the '' escape sits at offset 2: from there on, the whole value
    assert snippet(doc, doc.locate("/telegram/accounts/0/name", column_offset=2, length=1)) == "'it''s'"
    # merged keys are located where they are written: in the anchor
    assert doc.locate("/telegram/enabled").start.line == 2
    assert snippet(doc, doc.locate("/telegram/nope")) == "telegram"


def test_yaml_duplicate_keys_name_both_lines():
    doc, diags = load("a: 1\nb:\n  x: 1\n  x: 2\na: 3\n", "c.yaml")
    assert doc is None
    got = sorted((d.code, d.range.start.line, d.pointer) for d in diags)
    assert got == [("GW004", 4, "/b/x"), ("GW004", 5, "/a")]
    assert all("first defined on line" in d.message for d in diags)
    assert "line 1" in [d for d in diags if d.pointer == "/a"][0].message


def test_yaml_syntax_error_is_gw003_at_the_problem_mark():
    d = one("a: 1\nb: c: d\n", "c.yaml")
    assert d.code == "GW003" and span(d.range) == (2, 5, 2, 6)
    d = one("a:\n\tb: 1\n", "c.yaml")
    assert d.code == "GW003" and d.range.start.line == 2 and "tab" in d.message
    d = one("a: 1\n---\nb: 2\n", "c.yaml")
    assert d.code == "GW003" and "more than one YAML document" in d.message


@pytest.mark.parametrize(
    "text, words",
    [
        ("a: !secret x\n", "tag !secret"),
        ("a: !!binary aGk=\n", "!!binary"),
        ("a: !!set {x, y}\n", "!!set"),
        ("1: x\n", "integer"),
        ("? [a, b]\n: x\n", "a list"),
        ("a: &x [*x]\n", "contains it"),
    ],
)
def test_yaml_values_a_config_cannot_hold_are_gw007(text, words):
    d = one(text, "c.yaml")
    assert d.code == "GW007" and words in d.message and d.range.start.line == 1


def test_yaml_alias_bomb_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    d = one("\n".join(lines) + "\n", "c.yaml")
    assert d.code == "GW007" and "expand" in d.message


def test_yaml_root_must_be_a_mapping_and_empty_is_empty():
    assert one("- a\n- b\n", "c.yaml").code == "GW006"
    assert one("just text\n", "c.yaml").code == "GW006"
    doc, diags = load("# only a comment\n", "c.yaml")
    assert diags == () and doc.data == {}


# -- JSON -----------------------------------------------------------------------


def test_json_load_locate_and_errors():
    doc, diags = load('{\n  "telegram": {"bot_token": "a b", "ids": [1, 2]}\n}\n', "c.json")
    assert diags == () and doc.data == {"telegram": {"bot_token": "a b", "ids": [1, 2]}}
    assert snippet(doc, doc.locate("/telegram/ids/1")) == "2"
    assert snippet(doc, doc.locate("/telegram/bot_token", "key")) == '"bot_token"'
    assert snippet(doc, doc.locate("/telegram/bot_token", column_offset=2, length=1)) == "b"
    d = one('{"a": 1,\n "b": }\n', "c.json")
    assert d.code == "GW005" and span(d.range) == (2, 7, 2, 8)
    d = one('{"a": 1,\n "a": 2}\n', "c.json")
    assert d.code == "GW004" and d.range.start.line == 2 and "line 1" in d.message
    assert one("[1]\n", "c.json").code == "GW006"
    assert one('{"a": NaN}', "c.json").code == "GW005"


# -- selector documents -----------------------------------------------------------


def test_selector_document_locates_each_value_on_its_own_line():
    doc = selector_document(["lark=work", " telegram = ops "])
    assert doc.path == "<command line>" and doc.format == "selectors"
    assert doc.data == ["lark=work", " telegram = ops "]
    assert span(doc.locate("/1")) == (2, 1, 2, 17)
    assert snippet(doc, doc.locate("/1", column_offset=12, length=3)) == "ops"
    assert span(doc.locate("/7")) == (1, 1, 1, 10)
    d = doc.diagnostic(Finding("GW401", "/0", "bad", column_offset=4, length=1))
    assert d.path == "<command line>" and span(d.range) == (1, 5, 1, 6)
    odd = selector_document(["a\nb", "c"], label="--select")
    assert odd.line_text(2) == "c" and odd.path == "--select"


# -- layering -------------------------------------------------------------------


def test_only_source_imports_the_parsers():
    # runtime/ and workers/ may not import source/ at all (they run plans), so
    # any file they read they parse themselves; the rule binds the config path.
    exempt = {"source", "runtime", "workers"}
    pattern = re.compile(r"^\s*(?:import|from)\s+(tomllib|tomlkit|ruamel)\b", re.M)
    offenders = []
    for p in (REPO / "src" / "gatewayctl").rglob("*.py"):
        if p.relative_to(REPO / "src" / "gatewayctl").parts[0] in exempt:
            continue
        if pattern.search(p.read_text(encoding="utf-8")):
            offenders.append(str(p.relative_to(REPO)))
    assert offenders == []


# -- secrets --------------------------------------------------------------------

SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    "name, text",
    [
        ("c.toml", f"[telegram]\nbot_token = {SECRET}\n"),
        ("c.toml", f'[telegram]\nbot_token = "{SECRET}\n'),
        ("c.toml", f'[telegram]\nbot_token = "{SECRET}"\nbot_token = "{SECRET}"\n'),
        ("c.yaml", f"telegram:\n  bot_token: !!int {SECRET}\n"),
        ("c.yaml", f"telegram:\n  bot_token: !vault {SECRET}\n"),
        ("c.yaml", f"telegram:\n  bot_token: {SECRET}: x\n"),
        ("c.yaml", f"telegram:\n  bot_token: {SECRET}\n  bot_token: {SECRET}\n"),
        ("c.json", f'{{"telegram": {{"bot_token": "{SECRET}" "x": 1}}}}'),
        ("c.json", f'{{"telegram": {{"bot_token": "{SECRET}", "bot_token": 1}}}}'),
    ],
)
def test_load_diagnostics_never_echo_values(name, text):
    doc, diags = load(text, name)
    assert doc is None and diags
    for d in diags:
        assert SECRET not in d.message and SECRET not in d.hint, d
