"""Shared test configuration.

Golden files change only through an explicit `pytest --update-goldens`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files from current output instead of comparing",
    )


@pytest.fixture
def update_goldens(request) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def gatewayctl_cmd() -> list[str]:
    """argv prefix that runs this checkout's gatewayctl in a fresh process."""
    return [sys.executable, "-m", "gatewayctl"]


@pytest.fixture
def isolated_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "gwhome"
    monkeypatch.setenv("GATEWAYCTL_HOME", str(home))
    return home


os.environ.setdefault("NO_COLOR", "1")
