"""The GitHub Actions workflow in docs/ci.md is one a user can paste: it
validates against GitHub's workflow schema (check-jsonschema's vendored
copy, offline), uses both CI formats and the SARIF upload action, and its
shell steps behave as commented when run by bash -e as the runner does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHECK_JSONSCHEMA = str(BIN / "check-jsonschema") if (BIN / "check-jsonschema").exists() else shutil.which("check-jsonschema")


def workflow_text() -> str:
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    workflows = [b for b in blocks if "\njobs:" in b]
    assert len(workflows) == 1, "docs/ci.md should hold exactly one workflow"
    return workflows[0]


def workflow():
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(workflow_text())


@pytest.mark.tools
@pytest.mark.skipif(
    CHECK_JSONSCHEMA is None,
    reason="check-jsonschema not installed (it is in the bench extra: pip install -e '.[bench]'); it carries GitHub's workflow schema",
)
def test_workflow_validates_against_githubs_schema(tmp_path):
    path = tmp_path / "gatewayctl.yml"
    path.write_text(workflow_text(), encoding="utf-8")
    argv = [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.github-workflows", str(path)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and the schema is really applied: a broken workflow fails
    path.write_text(workflow_text().replace("runs-on:", "runs_on:"), encoding="utf-8")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1


def test_workflow_uses_both_formats_and_uploads_sarif():
    wf = workflow()
    steps = {name: job["steps"] for name, job in wf["jobs"].items()}
    runs = {name: "\n".join(s.get("run", "") for s in st) for name, st in steps.items()}
    assert "gatewayctl check --format github" in runs["lint"]
    assert "gatewayctl check --format sarif" in runs["code-scanning"]
    upload = [s for s in steps["code-scanning"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
    assert len(upload) == 1 and upload[0]["with"]["sarif_file"] == "gatewayctl.sarif"
    assert wf["jobs"]["code-scanning"]["permissions"]["security-events"] == "write"
    assert any("pip install gatewayctl" in s.get("run", "") for s in steps["lint"])


def _run_step(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1")
    # GitHub runs `run:` steps as `bash -e {0}` (with pipefail off).
    script_file = cwd / ".step.sh"
    script_file.write_text(script, encoding="utf-8")
    return subprocess.run(["bash", "-e", str(script_file)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def user_repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    (repo / "config.toml").write_text(
        '[telegram]\nenabled = true\nbot_token = { env = "T" }\nallowed_chat_ids = [1]\n', encoding="utf-8"
    )
    (repo / "deploy" / "prod.toml").write_text(
        '[telegram]\nenabled = true\nbot_tokn = { env = "T" }\nbot_token = { env = "T" }\nallowed_chat_ids = [1]\n',
        encoding="utf-8",
    )
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    return repo


def _gatewayctl_steps(job: str) -> str:
    steps = workflow()["jobs"][job]["steps"]
    return "\n".join(s["run"] for s in steps if "run" in s and "gatewayctl check" in s["run"])


@pytest.mark.slow
def test_lint_step_annotates_and_fails_on_errors(user_repo):
    proc = _run_step(_gatewayctl_steps("lint"), user_repo)
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"^::error file=deploy/prod\.toml,line=3,col=1,.*title=GW101::", proc.stdout, flags=re.M), proc.stdout


@pytest.mark.slow
def test_sarif_step_tolerates_findings_but_not_usage_errors(user_repo):
    script = _gatewayctl_steps("code-scanning")
    proc = _run_step(script, user_repo)
    assert proc.returncode == 0, proc.stderr
    log = json.loads((user_repo / "gatewayctl.sarif").read_text(encoding="utf-8"))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert "deploy/prod.toml" in uris
    # No config matches: gatewayctl exits 2 (usage) and the step must fail.
    subprocess.run(["git", "rm", "-q", "--cached", "config.toml", "deploy/prod.toml"], cwd=user_repo, check=True)
    proc = _run_step(script, user_repo)
    assert proc.returncode != 0
    assert "no config files given" in proc.stderr
