"""The lint pass has one home (gatewayctl.pipeline): check and plan run the
same load -> validate -> redact, so they cannot disagree about a file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gatewayctl.cli.check import CheckSettings, run_check
from gatewayctl.cli.plan import PlanSettings, run_plan
from gatewayctl.compile.compiler import CompileOptions
from gatewayctl.pipeline import lint_and_compile, lint_file, selector_doc

ROOT = Path(__file__).resolve().parents[1]
INVALID = sorted(p for p in (ROOT / "fixtures" / "invalid").rglob("*") if p.suffix in {".toml", ".yaml", ".yml", ".json"})
SECRET = "Qz7kR2mN8pV4sT6wX9yB3cD5"


def _codes(diags):
    return sorted((d.code, d.range.start.line if d.range else 0) for d in diags)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: str(p.relative_to(ROOT / "fixtures")))
def test_plan_reports_what_check_reports(path):
    linted = lint_file(str(path))
    planned, plan = lint_and_compile(str(path), CompileOptions(generator_version="test"))
    # plan may add the compiler's own findings, never drop or change a lint one
    lint_keys = {(d.code, d.range, d.message) for d in linted.diagnostics}
    plan_keys = {(d.code, d.range, d.message) for d in planned.diagnostics}
    assert lint_keys <= plan_keys
    if linted.has_errors:
        assert plan is None


def test_masked_sources_and_scrubbed_text_come_from_the_pass(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[telegram]\nenabled = true\nbot_token = "123456789:{SECRET}"\nbot_tokn = 1\n', encoding="utf-8")
    result = lint_file(str(cfg))
    assert result.diagnostics, "an inline token and a typo must be reported"
    shown = "\n".join(result.sources[str(cfg)])
    assert SECRET not in shown and "*" * 10 in shown
    assert all(SECRET not in d.message and SECRET not in d.hint for d in result.diagnostics)
    # and what check prints is exactly built from it
    out = run_check(CheckSettings(files=(str(cfg),))).output
    assert SECRET not in out
    plan_out = run_plan(PlanSettings(config=str(cfg)))
    assert SECRET not in plan_out.stdout + plan_out.stderr


def test_clean_file_pays_for_no_redaction(tmp_path):
    cfg = tmp_path / "ok.toml"
    cfg.write_text('[telegram]\nenabled = true\nbot_token = { env = "TELEGRAM_BOT_TOKEN" }\nallowed_chat_ids = [1]\n', encoding="utf-8")
    result = lint_file(str(cfg))
    assert not result.diagnostics and result.sources == {}


def test_command_line_selectors_are_shown_from_their_own_document(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[telegram]\nenabled = true\nallowed_chat_ids = [1]\n[telegram.accounts.ops]\nbot_token = { env = "TELEGRAM_BOT_TOKEN" }\n',
        encoding="utf-8",
    )
    sel = selector_doc(("telegram=nobody",))
    result = lint_file(str(cfg), cli_selectors=sel)
    assert result.sources[sel.path] == ("telegram=nobody",)
    assert any(d.path == sel.path for d in result.diagnostics)


def test_no_cli_module_implements_the_pass():
    """Masking, scrubbing and loading live in the pipeline; a CLI module that
    loads or validates configs itself would be a second, drifting pass."""
    offenders = []
    for mod in (ROOT / "src" / "gatewayctl" / "cli").glob("*.py"):
        tree = ast.parse(mod.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in {"mask_lines", "scrub", "sensitive_values"}:
                offenders.append(f"{mod.name}: defines {node.name}")
            if isinstance(node, ast.ImportFrom) and node.module == "gatewayctl.validate":
                if any(a.name == "validate" for a in node.names):
                    offenders.append(f"{mod.name}: calls validate() directly")
    assert offenders == []


def test_lint_files_in_worker_processes_gives_the_same_results_in_the_same_order(tmp_path):
    # Enough files for three workers; a mistake, an unparsable file and a
    # missing one among them, so diagnostics and sources travel back too.
    from gatewayctl.pipeline import lint_files

    base = (Path(__file__).resolve().parents[1] / "examples" / "gateway-rollout.toml").read_text(encoding="utf-8")
    paths = []
    for i in range(60):
        text = base
        if i % 7 == 3:
            text = base.replace("allowed_chat_ids = [123", "allowed_chat_idz = [123")
        elif i % 11 == 5:
            text = "[telegram\n"
        p = tmp_path / f"c{i:02d}.toml"
        p.write_text(text, encoding="utf-8")
        paths.append(str(p))
    paths.insert(30, str(tmp_path / "missing.toml"))
    one = lint_files(paths, jobs=1)
    three = lint_files(paths, jobs=3)
    assert [r.shown for r in one] == paths
    assert three == one
    assert any(r.diagnostics for r in one) and not all(r.loaded for r in one)


def test_check_output_does_not_depend_on_jobs(tmp_path):
    base = (Path(__file__).resolve().parents[1] / "examples" / "gateway-rollout.toml").read_text(encoding="utf-8")
    files = []
    for i in range(40):
        p = tmp_path / f"c{i:02d}.toml"
        p.write_text(base if i % 5 else base.replace("allowed_chat_ids = [123", "allowed_chat_idz = [123"), encoding="utf-8")
        files.append(str(p))
    for fmt in ("text", "json", "sarif"):
        outs = {jobs: run_check(CheckSettings(files=tuple(files), fmt=fmt, jobs=jobs)) for jobs in (1, 2, 4)}
        assert outs[1].exit_code == 1
        assert outs[2] == outs[1] and outs[4] == outs[1]
