"""Editors' TOML tools (and the benchmark peer) read schemas/config.schema.json as written.

taplo (Even Better TOML in VS Code) and tombi both take draft-07 schemas; a
config that gatewayctl accepts must lint clean in them, and a schema error
must show up there too, so what an editor underlines agrees with `check`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCHEMA_URI = (REPO / "schemas" / "config.schema.json").as_uri()
VALID = sorted((REPO / "fixtures" / "valid").glob("*.toml"))
INVALID = [REPO / "fixtures" / "invalid" / "schema" / n for n in ("gw101-unknown-key.toml", "gw102-wrong-types.toml", "gw104-secret-refs.toml")]

pytestmark = pytest.mark.tools


def _tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    path = str(local) if local.exists() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' provides it)")
    return path


def _taplo(path: Path) -> subprocess.CompletedProcess:
    argv = [_tool("taplo"), "lint", "--no-auto-config", "--schema", SCHEMA_URI, str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=path.parent)


def _tombi(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    # tombi takes the schema from a `#:schema` directive on the first line.
    copy = tmp_path / path.name
    copy.write_text(f"#:schema {SCHEMA_URI}\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    argv = [_tool("tombi"), "lint", "--offline", str(copy)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_taplo_accepts_valid_configs(path):
    proc = _taplo(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_taplo_rejects_schema_errors(path):
    assert _taplo(path).returncode != 0


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_tombi_accepts_valid_configs(path, tmp_path):
    proc = _tombi(path, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_tombi_rejects_schema_errors(path, tmp_path):
    assert _tombi(path, tmp_path).returncode != 0


def test_check_jsonschema_accepts_every_valid_fixture():
    # The benchmark peer reads the same schema: it must agree on what is valid.
    valid = sorted(p for p in (REPO / "fixtures" / "valid").iterdir() if p.suffix in (".toml", ".yaml", ".yml"))
    argv = [_tool("check-jsonschema"), "--schemafile", str(REPO / "schemas" / "config.schema.json"), *map(str, valid)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_jsonschema_rejects_schema_errors():
    argv = [_tool("check-jsonschema"), "--schemafile", str(REPO / "schemas" / "config.schema.json"), *map(str, INVALID)]
    assert subprocess.run(argv, capture_output=True, text=True, timeout=120).returncode == 1
