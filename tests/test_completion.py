"""Shell completion (click's): the bash/zsh/fish sources generate, and
completing `gatewayctl ch` offers check and channels, both through click's
completion protocol and through a real bash sourcing the generated script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
GATEWAYCTL = BIN / "gatewayctl"
needs_script = pytest.mark.skipif(
    not GATEWAYCTL.exists(), reason="the gatewayctl console script is not installed in this venv (pip install -e .)"
)


def complete_env(**extra) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run_gatewayctl(env) -> str:
    proc = subprocess.run([str(GATEWAYCTL)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


@needs_script
@pytest.mark.parametrize(
    "shell, marker",
    [
        ("bash", "complete -o nosort -F _gatewayctl_completion gatewayctl"),
        ("zsh", "#compdef gatewayctl"),
        ("fish", "complete --no-files --command gatewayctl"),
    ],
)
def test_source_scripts_generate(shell, marker):
    out = run_gatewayctl(complete_env(_GATEWAYCTL_COMPLETE=f"{shell}_source"))
    assert marker in out
    assert f"_GATEWAYCTL_COMPLETE={shell}_complete" in out


@needs_script
def test_bash_protocol_completes_command_prefix():
    out = run_gatewayctl(complete_env(_GATEWAYCTL_COMPLETE="bash_complete", COMP_WORDS="gatewayctl ch", COMP_CWORD="1"))
    assert sorted(out.split()) == ["plain,channels", "plain,check"]


@needs_script
def test_zsh_protocol_completes_with_descriptions():
    out = run_gatewayctl(complete_env(_GATEWAYCTL_COMPLETE="zsh_complete", COMP_WORDS="gatewayctl ch", COMP_CWORD="1"))
    lines = out.splitlines()
    # zsh triples: type, value, help
    values = {lines[i + 1]: lines[i + 2] for i in range(0, len(lines), 3)}
    assert set(values) == {"check", "channels"}
    assert "Lint loong configs and gatewayctl.toml" in values["check"]


@needs_script
def test_fish_protocol_completes_command_prefix():
    out = run_gatewayctl(complete_env(_GATEWAYCTL_COMPLETE="fish_complete", COMP_WORDS="gatewayctl ch", COMP_CWORD="ch"))
    values = sorted(line.split(",", 1)[1].split("\t")[0] for line in out.splitlines())
    assert values == ["channels", "check"]


@needs_script
def test_schema_names_and_format_choices_complete():
    out = run_gatewayctl(complete_env(_GATEWAYCTL_COMPLETE="bash_complete", COMP_WORDS="gatewayctl schema ", COMP_CWORD="2"))
    from gatewayctl.cli.schema import SCHEMA_NAMES

    assert sorted(out.split()) == sorted(f"plain,{name}" for name in SCHEMA_NAMES)
    assert "plain,plandiff" in out.split()
    assert "plain,settings" in out.split()
    out = run_gatewayctl(
        complete_env(_GATEWAYCTL_COMPLETE="bash_complete", COMP_WORDS="gatewayctl check --format s", COMP_CWORD="3")
    )
    assert out.split() == ["plain,sarif"]


@needs_script
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_real_bash_sources_the_script_and_completes():
    script = run_gatewayctl(complete_env(_GATEWAYCTL_COMPLETE="bash_source"))
    driver = (
        script
        + "\nCOMP_WORDS=(gatewayctl ch); COMP_CWORD=1\n"
        + "_gatewayctl_completion gatewayctl\n"
        + 'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(["bash", "--norc", "--noprofile"], input=driver, env=complete_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["channels", "check"]
