"""pre-commit hooks, driven by the real pre-commit tool.

Two ways, both installing this repository into pre-commit's own virtualenv
(pip, from the package index) and running a hook on a scratch git
repository with a good and a bad config:

- `pre-commit try-repo <this checkout> <hook> --ref <HEAD>`, the tool's own
  way to try a hook repository. try-repo always builds in a throw-away
  store (it ignores PRE_COMMIT_HOME), a whole environment per call, so it
  is used once, for the failing case.
- `pre-commit run` with a .pre-commit-config.yaml naming this checkout at
  HEAD, exactly what a user writes; its environment lives in one
  PRE_COMMIT_HOME per test session and is built once and reused.

Building an environment dominates the suite's time, so these tests share
one xdist worker (group "pre-commit"): one build of the hook environment,
not one per worker.

Both test the *committed* HEAD of the checkout; CI runs on a fresh clone,
where HEAD is the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOOKS_FILE = REPO / ".pre-commit-hooks.yaml"

GOOD = """\
[telegram]
enabled = true
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]
"""
BAD = GOOD.replace("bot_token =", "bot_tokn =")

GOOD_YAML = """\
telegram:
  enabled: true
  bot_token: {env: TELEGRAM_BOT_TOKEN}
  allowed_chat_ids: [123456789]
"""
BAD_YAML = GOOD_YAML.replace("bot_token:", "bot_tokn:")


# ------------------------------------------------------------ manifest (fast)


def _manifest():
    from pre_commit.clientlib import load_manifest

    # pre-commit's own loader validates the manifest against its schema.
    return {hook["id"]: hook for hook in load_manifest(str(HOOKS_FILE))}


def test_manifest_is_valid_for_pre_commit():
    hooks = _manifest()
    assert set(hooks) == {"gatewayctl-check", "gatewayctl-plan-verify"}
    check, verify = hooks["gatewayctl-check"], hooks["gatewayctl-plan-verify"]
    assert check["entry"] == "gatewayctl check" and check["language"] == "python"
    assert verify["entry"] == "gatewayctl plan verify" and verify["language"] == "python"
    # Safe in parallel batches: documented in docs/ci.md.
    assert check["require_serial"] is False and verify["require_serial"] is False
    assert check["pass_filenames"] is True and verify["pass_filenames"] is True


def _selected(hook, path: str) -> bool:
    # pre-commit's own rule: re.search on files, not excluded by exclude.
    return bool(re.search(hook["files"], path)) and not re.search(hook["exclude"], path)


@pytest.mark.parametrize(
    "path",
    [
        "config.toml",
        "deploy/config.toml",
        "deploy/config.prod.toml",
        "config-staging.toml",
        "loong.toml",
        "gateway.toml",
        "gateway_eu.toml",
        "channels.toml",
        "channels.yaml",
        "ops/channels.prod.yml",
        "loong.yaml",
        ".loong/config.toml",
        "loong/prod.yaml",
        "srv/.loong/work.yml",
        "gatewayctl.toml",
        "deploy/gatewayctl.yaml",
        "gatewayctl.json",
    ],
)
def test_check_files_pattern_selects_channel_configs(path):
    assert _selected(_manifest()["gatewayctl-check"], path)


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "Cargo.toml",
        ".cargo/config.toml",
        "rustfmt.toml",
        "netlify.toml",
        "tombi.toml",
        ".taplo.toml",
        ".pre-commit-config.yaml",
        ".github/ISSUE_TEMPLATE/config.yml",
        ".circleci/config.yml",
        "k8s/gateway.yaml",
        "docker-compose.yml",
        "myconfig.toml",
        "config.json",
        "config.toml.bak",
        "loong/sub/dir/config.txt",
        "gatewayctl.toml.bak",
        "mygatewayctl.json",
    ],
)
def test_check_files_pattern_leaves_other_files_alone(path):
    assert not _selected(_manifest()["gatewayctl-check"], path)


@pytest.mark.parametrize(
    "path, selected",
    [
        ("plan.json", True),
        ("plans/launch-plan.json", True),
        ("prod.plan.json", True),
        ("plan_staging.json", True),
        ("explanation.json", False),
        ("planets.json", False),
        ("package.json", False),
        ("plan.json.orig", False),
    ],
)
def test_plan_files_pattern(path, selected):
    assert _selected(_manifest()["gatewayctl-plan-verify"], path) is selected


# ------------------------------------------------------------- real pre-commit


def _git(*args, cwd: Path) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="session")
def head_ref() -> str:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("pre-commit try-repo needs this checkout to be a git repository with git installed")
    ref = _git("rev-parse", "HEAD", cwd=REPO)
    listed = _git("ls-tree", "--name-only", ref, ".pre-commit-hooks.yaml", cwd=REPO)
    assert listed == ".pre-commit-hooks.yaml", "try-repo tests committed code: commit .pre-commit-hooks.yaml"
    return ref


@pytest.fixture(scope="session")
def precommit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def scratch(tmp_path) -> Path:
    repo = tmp_path / "user-repo"
    repo.mkdir()
    _git("init", "-q", cwd=repo)
    return repo


def try_repo(scratch: Path, home: Path, ref: str, hook: str, *args: str) -> tuple[int, str]:
    argv = [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), hook, "--ref", ref, *args]
    proc = subprocess.run(argv, cwd=scratch, env=_precommit_env(home), capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def _precommit_env(home: Path) -> dict:
    env = dict(os.environ)
    env.update(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never", NO_COLOR="1")
    env.pop("PRE_COMMIT_NO_CONCURRENCY", None)
    return env


def _write_config(scratch: Path, ref: str, hook: str) -> None:
    config = f"repos:\n  - repo: {REPO.as_posix()}\n    rev: {ref}\n    hooks:\n      - id: {hook}\n"
    (scratch / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    _git("add", ".pre-commit-config.yaml", cwd=scratch)


def precommit_run(scratch: Path, home: Path, ref: str, hook: str, *args: str) -> tuple[int, str]:
    """`pre-commit run HOOK` from a user's .pre-commit-config.yaml (cached env)."""
    _write_config(scratch, ref, hook)
    argv = [sys.executable, "-m", "pre_commit", "run", hook, *args]
    proc = subprocess.run(argv, cwd=scratch, env=_precommit_env(home), capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def hook_env(tmp_path_factory, precommit_home, head_ref) -> Path:
    """Build the hook environment once for the session; returns its bin/."""
    repo = tmp_path_factory.mktemp("install-hooks")
    _git("init", "-q", cwd=repo)
    # Both hooks share one environment: the repository at one rev.
    _write_config(repo, head_ref, "gatewayctl-check")
    proc = subprocess.run([sys.executable, "-m", "pre_commit", "install-hooks"], cwd=repo,
                          env=_precommit_env(precommit_home), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (bindir,) = {p.parent for p in precommit_home.glob("repo*/py_env-*/bin/gatewayctl")}
    return bindir


def add(scratch: Path, files: dict[str, str]) -> list[str]:
    for rel, text in files.items():
        path = scratch / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    _git("add", "--", *files, cwd=scratch)
    return list(files)


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.xdist_group("pre-commit")
def test_check_hook_passes_good_config(scratch, precommit_home, head_ref, hook_env):
    files = add(scratch, {"config.toml": GOOD, "deploy/channels.yaml": GOOD_YAML})
    rc, out = precommit_run(scratch, precommit_home, head_ref, "gatewayctl-check", "--files", *files)
    assert rc == 0, out
    assert re.search(r"gatewayctl check\.+Passed", out), out


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.xdist_group("pre-commit")
def test_check_hook_fails_bad_config_with_code_visible(scratch, precommit_home, head_ref):
    files = add(scratch, {"config.toml": GOOD, "bad/config.toml": BAD, "bad/channels.yaml": BAD_YAML})
    rc, out = try_repo(scratch, precommit_home, head_ref, "gatewayctl-check", "--files", *files)
    assert rc == 1, out
    assert re.search(r"gatewayctl check\.+Failed", out), out
    assert "exit code: 1" in out
    assert "GW101" in out and "bot_tokn" in out
    assert "bad/config.toml:3:1" in out
    assert "bad/channels.yaml:3:3" in out
    assert not re.search(r"(?<!bad/)config\.toml:\d", out), "the good file must not be reported"


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.xdist_group("pre-commit")
def test_check_hook_all_files_uses_the_files_pattern(scratch, precommit_home, head_ref, hook_env):
    # pyproject.toml is not valid as a channel config; the pattern must skip it.
    add(scratch, {"pyproject.toml": '[telegram]\nbot_tokn = 1\n', "config.toml": GOOD, "notes.yaml": BAD_YAML})
    rc, out = precommit_run(scratch, precommit_home, head_ref, "gatewayctl-check", "--all-files")
    assert rc == 0, out


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.xdist_group("pre-commit")
def test_check_hook_parallel_batches_report_every_bad_file(scratch, precommit_home, head_ref, hook_env):
    """Many files: pre-commit shuffles them and splits them into concurrent
    batches (one per CPU). Every bad file must be reported, whichever batch
    it lands in, and no batch may disturb another."""
    bad = {f"svc{i:03d}/config.toml" for i in range(0, 60, 3)}
    files = {f"svc{i:03d}/config.toml": GOOD for i in range(60)}
    files.update({p: BAD for p in bad})
    add(scratch, files)
    rc, out = precommit_run(scratch, precommit_home, head_ref, "gatewayctl-check", "--all-files", "--verbose")
    assert rc == 1, out
    reported = set(re.findall(r"(svc\d{3}/config\.toml):3:1", out))
    assert reported == bad
    assert out.count("error[GW101]") == len(bad)
    # Each batch prints its own summary line; pre-commit runs one batch per
    # CPU (at least 4 files a batch), and each must account for its files.
    from pre_commit import xargs

    expected_batches = min(xargs.cpu_count(), len(files) // 4)
    counts = [int(n) for n in re.findall(r"^checked (\d+) files?", out, flags=re.M)]
    assert len(counts) == expected_batches, out
    assert sum(counts) == len(files)


SETTINGS = 'loong_config = "config.toml"\n\n[handler]\necho = true\n'


def _make_plan(scratch: Path, out: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gatewayctl", "plan", "--out", out],  # ./gatewayctl.toml
        cwd=scratch, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.xdist_group("pre-commit")
def test_plan_verify_hook(scratch, precommit_home, head_ref, hook_env):
    add(scratch, {"config.toml": GOOD, "gatewayctl.toml": SETTINGS})
    made = _make_plan(scratch, "plan.json")
    assert made.returncode == 0, made.stderr + made.stdout
    plan = json.loads((scratch / "plan.json").read_text(encoding="utf-8"))
    # A tampered copy: the control port edited by hand, digest left as it was.
    text = (scratch / "plan.json").read_text(encoding="utf-8")
    tampered = re.sub(r'"port": (\d+)', lambda m: f'"port": {int(m.group(1)) + 1}', text, count=1)
    assert tampered != text
    (scratch / "launch-plan.json").write_text(tampered, encoding="utf-8")
    _git("add", "plan.json", "launch-plan.json", cwd=scratch)

    rc, out = precommit_run(scratch, precommit_home, head_ref, "gatewayctl-plan-verify", "--files", "plan.json")
    assert rc == 0, out
    assert re.search(r"gatewayctl plan verify\.+Passed", out), out

    rc, out = precommit_run(scratch, precommit_home, head_ref, "gatewayctl-plan-verify", "--files", "plan.json", "launch-plan.json")
    assert rc != 0, out
    assert "launch-plan.json" in out and "tampered" in out
    assert plan["format_version"]  # a real plan was verified, not an empty file

    # A hand edit whose author recomputed the digest (docs/ci.md: the hook
    # still fails): the hook recompiles the settings and config and names the field.
    edited = json.loads(text)
    edited["plan"]["lanes"][0]["worker"] = ["/bin/sh", "-c", "exfiltrate"]
    body = json.dumps(edited["plan"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    edited["plan_sha256"] = hashlib.sha256(body.encode("utf-8")).hexdigest()
    (scratch / "prod.plan.json").write_text(json.dumps(edited, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    _git("add", "prod.plan.json", cwd=scratch)
    rc, out = precommit_run(scratch, precommit_home, head_ref, "gatewayctl-plan-verify", "--files", "prod.plan.json")
    assert rc != 0, out
    assert "not what gatewayctl.toml compiles to" in out and "/plan/lanes/0/worker/0 differs" in out

    # The settings change after the plan was made: the saved plan is stale.
    (scratch / "gatewayctl.toml").write_text(SETTINGS.replace("echo = true", 'url = "http://127.0.0.1:9/t"'), encoding="utf-8")
    rc, out = precommit_run(scratch, precommit_home, head_ref, "gatewayctl-plan-verify", "--files", "plan.json")
    assert rc != 0, out
    assert "stale" in out and "gatewayctl.toml changed" in out
    (scratch / "gatewayctl.toml").write_text(SETTINGS, encoding="utf-8")
    # The config changes after the plan was made: the saved plan is stale.
    (scratch / "config.toml").write_text(GOOD.replace("123456789", "987654321"), encoding="utf-8")
    rc, out = precommit_run(scratch, precommit_home, head_ref, "gatewayctl-plan-verify", "--files", "plan.json")
    assert rc != 0, out
    assert "stale" in out


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.xdist_group("pre-commit")
def test_installed_hook_ships_the_schemas_as_package_data(hook_env, head_ref):
    """pre-commit installs a real wheel (not an editable checkout): the
    schemas must be inside the package, byte-identical to the commit's."""
    for name in ("config", "plan", "status"):
        proc = subprocess.run([str(hook_env / "gatewayctl"), "schema", "--path", name], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        installed = Path(proc.stdout.strip())
        assert "site-packages" in installed.parts and installed.parent.name == "schemas"
        committed = subprocess.run(["git", "show", f"{head_ref}:schemas/{name}.schema.json"], cwd=REPO, capture_output=True, timeout=60)
        assert committed.returncode == 0, f"schemas/{name}.schema.json is not committed"
        printed = subprocess.run([str(hook_env / "gatewayctl"), "schema", name], capture_output=True, timeout=120)
        assert printed.returncode == 0 and printed.stdout == committed.stdout


# ------------------------------------------------------------- docs/ci.md


def _ci_yaml_blocks() -> list[str]:
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_documented_pre_commit_config_is_valid(tmp_path):
    from pre_commit.clientlib import load_config

    (block,) = [b for b in _ci_yaml_blocks() if b.startswith("repos:")]
    path = tmp_path / ".pre-commit-config.yaml"
    path.write_text(block, encoding="utf-8")
    config = load_config(str(path))
    ids = [h["id"] for repo in config["repos"] for h in repo["hooks"]]
    assert sorted(ids) == sorted(_manifest())


def test_documented_hook_overrides_are_valid_and_known():
    from pre_commit.clientlib import load_config  # noqa: F401  (same validator, per hook)
    from ruamel.yaml import YAML

    overrides = [b for b in _ci_yaml_blocks() if b.lstrip().startswith("- id:")]
    assert overrides
    known = _manifest()
    for block in overrides:
        (hook,) = YAML(typ="safe").load(block)
        assert hook["id"] in known
        if "files" in hook:
            re.compile(hook["files"])
            assert re.search(hook["files"], "deploy/prod/config.toml")
        for arg in hook.get("args", []):
            assert isinstance(arg, str)
