"""The config schema works in editors: the real taplo (Even Better TOML's
engine) and tombi, offline, validate a good config clean and report the
misspelled key of a bad one, through each way docs/editors.md documents:
the `#:schema` directive, the tool's own config file, and taplo's --schema.

The schema file a project uses is written by `gatewayctl schema config`,
exactly as the docs tell users to do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gatewayctl.cli.main import cli

pytestmark = pytest.mark.tools

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

GOOD = """\
active_provider = "openai"

[providers.openai]
kind = "openai"
model = "gpt-4o"
api_key = { env = "OPENAI_API_KEY" }

[memory]
backend = "sqlite"

[telegram]
enabled = true
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]

[feishu]
enabled = true
app_id = "cli_a1b2c3"
app_secret = { env = "FEISHU_APP_SECRET" }
allowed_chat_ids = ["oc_0123456789abcdef"]
"""

BAD = GOOD.replace("bot_token =", "bot_tokn =")


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


TAPLO = _tool("taplo")
TOMBI = _tool("tombi")
needs_taplo = pytest.mark.skipif(TAPLO is None, reason="taplo not installed (pip install taplo; it is in the test extra)")
needs_tombi = pytest.mark.skipif(TOMBI is None, reason="tombi not installed (pip install tombi)")


@pytest.fixture
def project(tmp_path) -> Path:
    """A user's repository with the schema vendored by `gatewayctl schema config`."""
    (tmp_path / "schemas").mkdir()
    for name in ("config", "settings"):
        result = CliRunner().invoke(cli, ["schema", name])
        assert result.exit_code == 0, result.output
        (tmp_path / "schemas" / f"{name}.schema.json").write_bytes(result.stdout_bytes)
    return tmp_path


def run(argv, cwd: Path) -> tuple[int, str]:
    env = dict(os.environ)
    env.update(
        NO_COLOR="1",
        HOME=str(cwd / ".home"),
        XDG_CACHE_HOME=str(cwd / ".cache"),
        XDG_CONFIG_HOME=str(cwd / ".config"),
        TOMBI_OFFLINE="true",
        RUST_LOG="warn",
    )
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, _ANSI.sub("", proc.stdout + proc.stderr)


def key_line(path: Path, key: str = "bot_tokn") -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(key + " "))


def write(project: Path, rel: str, text: str) -> str:
    path = project / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return rel


# -------------------------------------------------------------------- taplo


@needs_taplo
def test_taplo_directive_good_is_clean(project):
    rel = write(project, "config.toml", "#:schema ./schemas/config.schema.json\n" + GOOD)
    rc, out = run([TAPLO, "check", rel], project)
    assert rc == 0, out
    assert "error" not in out.lower()


@needs_taplo
def test_taplo_directive_bad_key_reported(project):
    rel = write(project, "config.toml", "#:schema ./schemas/config.schema.json\n" + BAD)
    rc, out = run([TAPLO, "check", rel], project)
    assert rc != 0
    assert "bot_tokn" in out
    # taplo marks the whole table; the offending key's own line is among them
    assert re.search(rf"config\.toml:{key_line(project / rel)}:1\b", out), out


@needs_taplo
def test_taplo_directive_relative_to_the_file(project):
    rel = write(project, "deploy/prod/config.toml", "#:schema ../../schemas/config.schema.json\n" + BAD)
    rc, out = run([TAPLO, "check", rel], project)
    assert rc != 0 and "bot_tokn" in out


@needs_taplo
def test_taplo_schema_flag(project):
    url = (project / "schemas" / "config.schema.json").as_uri()
    good = write(project, "good.toml", GOOD)
    bad = write(project, "bad.toml", BAD)
    rc, out = run([TAPLO, "check", "--schema", url, good], project)
    assert rc == 0, out
    rc, out = run([TAPLO, "check", "--schema", url, bad], project)
    assert rc != 0 and "bot_tokn" in out


@needs_taplo
def test_taplo_config_file_rule(project):
    write(project, ".taplo.toml", '[[rule]]\ninclude = ["deploy/**/*.toml"]\n\n[rule.schema]\npath = "./schemas/config.schema.json"\n')
    good = write(project, "deploy/good/config.toml", GOOD)
    bad = write(project, "deploy/bad/config.toml", BAD)
    rc, out = run([TAPLO, "check", good], project)
    assert rc == 0, out
    rc, out = run([TAPLO, "check", bad], project)
    assert rc != 0 and "bot_tokn" in out


@needs_taplo
def test_taplo_uses_the_schema_not_just_toml_syntax(project):
    # A wrong type is a schema error, not a syntax error: proves the schema
    # was loaded and applied (a quoted Telegram chat id).
    rel = write(project, "config.toml", "#:schema ./schemas/config.schema.json\n" + GOOD.replace("[123456789]", '["123456789"]'))
    rc, out = run([TAPLO, "check", rel], project)
    assert rc != 0, out


@needs_taplo
def test_taplo_checks_gatewayctl_toml_with_the_settings_schema(project):
    """The settings file is strict in the editor too: a typo of one of its
    keys is reported, the documented example is clean."""
    good = '#:schema ./schemas/settings.schema.json\nloong_config = "config.toml"\nchannel_accounts = ["lark=work"]\n'
    rel = write(project, "gatewayctl.toml", good)
    rc, out = run([TAPLO, "check", rel], project)
    assert rc == 0, out
    rel = write(project, "gatewayctl.toml", good.replace("channel_accounts", "channel_acounts"))
    rc, out = run([TAPLO, "check", rel], project)
    assert rc != 0 and "channel_acounts" in out, out


# -------------------------------------------------------------------- tombi

# tombi's strict mode treats a table without "additionalProperties" as
# closed, which would warn on the open sections loong has ([providers.*],
# [memory], ...); the documented `#:tombi schema.strict = false` turns that off.
TOMBI_HEAD = "#:schema ./schemas/config.schema.json\n#:tombi schema.strict = false\n"


@needs_tombi
def test_tombi_directive_good_is_clean(project):
    rel = write(project, "config.toml", TOMBI_HEAD + GOOD)
    rc, out = run([TOMBI, "lint", "--offline", "--error-on-warnings", rel], project)
    assert rc == 0, out
    assert "1 file linted successfully" in out


@needs_tombi
def test_tombi_directive_bad_key_reported(project):
    rel = write(project, "config.toml", TOMBI_HEAD + BAD)
    rc, out = run([TOMBI, "lint", "--offline", rel], project)
    assert rc != 0
    assert '"bot_tokn" is not allowed' in out
    assert f"config.toml:{key_line(project / rel)}:1" in out


@needs_tombi
def test_tombi_config_file_association(project):
    write(project, "tombi.toml", '[[schemas]]\npath = "./schemas/config.schema.json"\ninclude = ["deploy/**/*.toml"]\nstrict = false\n')
    good = write(project, "deploy/good/config.toml", GOOD)
    bad = write(project, "deploy/bad/config.toml", BAD)
    rc, out = run([TOMBI, "lint", "--offline", "--error-on-warnings", good], project)
    assert rc == 0, out
    rc, out = run([TOMBI, "lint", "--offline", bad], project)
    assert rc != 0 and '"bot_tokn" is not allowed' in out


# ------------------------------------------------------ docs/editors.md as written


def _doc_blocks(lang: str) -> list[str]:
    text = (Path(__file__).resolve().parents[1] / "docs" / "editors.md").read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_docs_show_every_association():
    tomls = _doc_blocks("toml")
    assert any(b.startswith("#:schema ./schemas/config.schema.json") for b in tomls)
    assert any(b.startswith("#:schema ./schemas/settings.schema.json") for b in tomls)
    assert any("#:tombi schema.strict = false" in b for b in tomls)
    assert any(b.startswith("[[rule]]") for b in tomls) and any(b.startswith("[[schemas]]") for b in tomls)
    assert any(b.startswith("# yaml-language-server: $schema=./schemas/config.schema.json") for b in _doc_blocks("yaml"))


@needs_taplo
@needs_tombi
def test_documented_directive_examples_are_clean(project):
    examples = [b for b in _doc_blocks("toml") if b.startswith("#:schema")]
    assert examples
    for block in examples:
        name = "gatewayctl.toml" if "settings.schema.json" in block.split("\n", 1)[0] else "config.toml"
        rel = write(project, name, block)
        rc, out = run([TAPLO, "check", rel], project)
        assert rc == 0, (block, out)
        if "#:tombi" in block:
            rc, out = run([TOMBI, "lint", "--offline", "--error-on-warnings", rel], project)
            assert rc == 0, (block, out)


@needs_taplo
@needs_tombi
@pytest.mark.parametrize("tool", ["taplo", "tombi"])
def test_documented_config_file_associations(project, tool):
    (block,) = [b for b in _doc_blocks("toml") if b.startswith("[[rule]]" if tool == "taplo" else "[[schemas]]")]
    write(project, ".taplo.toml" if tool == "taplo" else "tombi.toml", block)
    good = write(project, "config.toml", GOOD)
    bad = write(project, "deploy/eu/config.toml", BAD)
    argv = [TAPLO, "check"] if tool == "taplo" else [TOMBI, "lint", "--offline"]
    rc, out = run([*argv, good], project)
    assert rc == 0, out
    rc, out = run([*argv, bad], project)
    assert rc != 0 and "bot_tokn" in out
