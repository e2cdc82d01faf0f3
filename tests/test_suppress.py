"""Inline suppressions live in the pipeline's pass, so check, plan and fix
honour them identically (the corpus fixtures/invalid/suppressions/ checks
what is suppressed and the GW701/GW702 reports, TOML and YAML)."""

from __future__ import annotations

import pytest

from gatewayctl.cli.check import CheckSettings, run_check
from gatewayctl.cli.fix import FixSettings, run_fix
from gatewayctl.cli.plan import PlanSettings, run_plan
from gatewayctl.pipeline import lint_file
from gatewayctl.pipeline.suppress import comment_starts, directives, line_suppression_edit

CONFIG = """\
[telegram]
enabled = true
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [1]
bot_tokn = 1  # gatewayctl: ignore[GW101]
"""


def test_check_plan_and_fix_agree_on_a_suppressed_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    # plan compiles gatewayctl's settings (a handler) naming the config
    settings = tmp_path / "gatewayctl.toml"
    settings.write_text('loong_config = "c.toml"\n[handler]\necho = true\n')
    assert lint_file(str(cfg)).suppressed == 1
    assert run_check(CheckSettings(files=(str(cfg),))).exit_code == 0
    planned = run_plan(PlanSettings(config=str(settings)))
    assert planned.exit_code == 0, planned.stderr
    assert run_fix(FixSettings(files=(str(cfg),), unsafe=True)).exit_code == 0
    assert cfg.read_text() == CONFIG, "a suppressed diagnostic's fix is not applied"
    # without the comment, all three see the error
    cfg.write_text(CONFIG.replace("  # gatewayctl: ignore[GW101]", ""))
    assert run_check(CheckSettings(files=(str(cfg),))).exit_code == 1
    assert run_plan(PlanSettings(config=str(settings))).exit_code == 1


def test_an_unused_suppression_is_reported_with_its_own_code(tmp_path):
    for name, text, line in (
        ("c.toml", "[telegram]\nenabled = false  # gatewayctl: ignore[GW302]\n", 2),
        ("c.yaml", "telegram:\n  # gatewayctl: ignore[GW302]\n  enabled: false\n", 2),
    ):
        cfg = tmp_path / name
        cfg.write_text(text)
        diags = lint_file(str(cfg)).diagnostics
        assert [(d.code, d.range.start.line) for d in diags] == [("GW701", line)], name
        assert "GW302" in diags[0].message and diags[0].severity.value == "warning"


def test_a_load_error_cannot_be_suppressed(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[telegram]\nbroken = [1,  # gatewayctl: ignore[GW002]\n")
    assert [d.code for d in lint_file(str(cfg)).diagnostics] == ["GW002"]


@pytest.mark.parametrize(
    "fmt, text",
    [
        ("toml", 'a = "# no"  # yes\n'),
        ("toml", "a = '''\n# no\n'''  # yes\n"),
        ("toml", 'a = """x\\"""" # yes\n'),
        ("toml", "a = 'c:\\# no' # yes\n"),
        ("yaml", "a: b#c  # yes\n"),
        ("yaml", "a: 'it''s # no'  # yes\n"),
        ("yaml", "a: |\n  # no\n  # no\nb: 1 # yes\n"),
        ("yaml", "# yes\na: \"x\n  # no\"\n"),
        ("json", '{"a": "# no"}\n'),
    ],
)
def test_comments_are_found_outside_strings_only(fmt, text):
    expected = {n: line.index("# yes") for n, line in enumerate(text.split("\n"), 1) if "# yes" in line}
    assert comment_starts(text, fmt) == expected


def test_suppressing_a_code_on_a_line():
    toml = '[telegram]\nbot_tokn = 1\nx = 1  # why\ny = 2  # gatewayctl: ignore[GW101]\ns = """\nmore"""\n'
    assert line_suppression_edit(toml, "toml", 2, "GW101") == (2, 13, "  # gatewayctl: ignore[GW101]")
    assert line_suppression_edit(toml, "toml", 3, "GW101") == (3, 8, "# gatewayctl: ignore[GW101] ")
    assert line_suppression_edit(toml, "toml", 4, "GW102") == (4, 34, ", GW102")
    assert line_suppression_edit(toml, "toml", 4, "GW101") is None  # already there
    assert line_suppression_edit(toml, "toml", 5, "GW101") is None  # ends inside a string
    assert line_suppression_edit('{"a": 1}', "json", 1, "GW101") is None
    d = directives(toml, "toml")
    assert [(x.line, x.verb, [c for c, _, _ in x.codes]) for x in d] == [(4, "ignore", ["GW101"])]


def test_settings_file_suppressions_by_code_and_pointer(tmp_path):
    """Suppressions that survive loong rewriting its config: [lint] ignore in
    gatewayctl.toml, by code and JSON pointer, applied by the settings pass
    (check gatewayctl.toml, plan, gateway run)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[telegram]\nbot_tokn = 1\n[matrix]\nhomeservr = 1\n')
    settings = tmp_path / "gatewayctl.toml"
    settings.write_text(
        'loong_config = "config.toml"\n[lint]\nignore = [\n'
        '  { code = "GW101", pointer = "/telegram" },\n'
        '  { code = "GW302", pointer = "/matrix" },\n'
        '  { code = "GW501" },\n'
        '  { code = "GW101", pointer = "telegram" },\n'
        ']\n'
    )
    result = lint_file(str(settings))
    assert result.suppressed == 1
    got = sorted((d.code, d.path.endswith("gatewayctl.toml"), d.range.start.line) for d in result.diagnostics)
    assert ("GW111", False, 4) in got  # another code and pointer: not covered
    assert ("GW701", True, 5) in got  # GW302 at /matrix: nothing to silence
    assert ("GW702", True, 6) in got and ("GW702", True, 7) in got
    assert [c for c, in_settings, _ in got if in_settings] == ["GW701", "GW702", "GW702"]  # once each, no schema echo
    assert not [d for d in result.diagnostics if d.code == "GW101" and d.pointer.startswith("/telegram")]
    # the loong config alone is loong's verdict, without gatewayctl's settings
    assert [d.code for d in lint_file(str(cfg)).diagnostics if d.code == "GW101"] == ["GW101"]
