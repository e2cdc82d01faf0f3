"""`gatewayctl schema config|settings|plan|status` prints the shipped schema files
byte for byte; an unknown name is a usage error (exit 2)."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from gatewayctl import catalog
from gatewayctl.cli.main import cli
from gatewayctl.cli.schema import SCHEMA_NAMES

NAMES = ("config", "settings", "plan", "plandiff", "status", "fleetstatus")


def test_names_are_the_documented_ones():
    assert SCHEMA_NAMES == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_prints_exact_file_bytes(name, repo_root):
    path = repo_root / "schemas" / f"{name}.schema.json"
    assert path.is_file(), f"schemas/{name}.schema.json is missing"
    result = CliRunner().invoke(cli, ["schema", name])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == path.read_bytes()
    # What we print is a JSON Schema a tool can load.
    doc = json.loads(result.stdout_bytes)
    assert "$schema" in doc


@pytest.mark.parametrize("name", NAMES)
def test_path_option_names_the_file_it_prints(name):
    result = CliRunner().invoke(cli, ["schema", "--path", name])
    assert result.exit_code == 0
    assert result.output.strip() == str(catalog.schema_path(name))


def test_real_process_stdout_is_byte_identical(gatewayctl_cmd, repo_root):
    proc = subprocess.run([*gatewayctl_cmd, "schema", "config"], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (repo_root / "schemas" / "config.schema.json").read_bytes()
    assert proc.stderr == b""


@pytest.mark.parametrize("argv", [["schema", "configs"], ["schema", "Config"], ["schema"], ["schema", "config", "plan"]])
def test_unknown_or_missing_name_is_usage_error(argv):
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2
    assert result.stdout_bytes == b""


def test_missing_shipped_file_is_an_internal_error_not_a_traceback(monkeypatch, tmp_path):
    monkeypatch.setattr(catalog, "schema_path", lambda name: tmp_path / f"{name}.schema.json")
    result = CliRunner().invoke(cli, ["schema", "config"])
    assert result.exit_code == 70
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "missing from this installation" in result.stderr
    assert result.stdout_bytes == b""
