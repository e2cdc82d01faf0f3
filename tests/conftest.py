"""Shared test configuration.

Golden files change only through an explicit `pytest --update-goldens`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]

# The quick run's property tests (`bash scripts/test.sh --quick` passes
# `--hypothesis-profile quick`): a fifth of the examples (20 of hypothesis's
# default 100; tests.support.examples scales the counts the tests give), so
# the quick run stays under a minute on 2 cores. CI's full run keeps the
# default profile and every example.
settings.register_profile("quick", max_examples=20)


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


# ---- etcd (issue 16: the fleet backend's tests run a real server) ----


@pytest.fixture
def etcd_server(tmp_path):
    """A private etcd on 127.0.0.1 (free ports, tmp data dir): `.endpoint`, `.pid`,
    `.stop()`, `.start()` (same ports and data); stopped by pid at teardown."""
    from tests.etcd_server import MISSING_REASON, EtcdServer, etcd_binary

    if etcd_binary() is None:
        pytest.skip(MISSING_REASON)
    server = EtcdServer(tmp_path / "etcd")
    server.start_fresh()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_etcd(tmp_path_factory):
    """One etcd per test worker for tests that never stop it; pair with `etcd_prefix`."""
    from tests.etcd_server import MISSING_REASON, EtcdServer, etcd_binary

    if etcd_binary() is None:
        pytest.skip(MISSING_REASON)
    server = EtcdServer(tmp_path_factory.mktemp("etcd-shared"))
    server.start_fresh()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def etcd_prefix(request) -> str:
    """A fleet prefix no other test uses, e.g. "/gatewayctl-test/test_claim-1a2b3c4d"."""
    from tests.etcd_server import unique_prefix

    return unique_prefix(request.node.name)
