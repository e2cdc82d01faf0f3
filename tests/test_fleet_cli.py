"""`gatewayctl fleet ...` and `gateway run --host-id` without a live fleet:
the plan has no [fleet], etcd cannot be reached, a lane the plan does not
have, a malformed host id (each a clear message and its exit code)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gatewayctl.cli import exitcodes
from tests.etcd_server import free_ports
from tests.support import LANES_AS_ROOT_SETTINGS

REPO = Path(__file__).resolve().parents[1]


def settings(endpoint: str) -> str:
    return f"""loong_config = "gateway-rollout.toml"
channel_accounts = ["lark=work", "telegram=bot_123456", "wecom=alerts"]
stop_grace_s = 2
{LANES_AS_ROOT_SETTINGS}
[handler]
echo = true

[fleet]
backend = "etcd"
endpoints = ["{endpoint}"]
prefix = "/gatewayctl/cli-test"
lease_ttl_s = 6
"""


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "gateway-rollout.toml").write_text((REPO / "examples" / "gateway-rollout.toml").read_text())
    return tmp_path


def gatewayctl(cwd, *args):
    env = dict(os.environ, NO_COLOR="1", GATEWAYCTL_HOME=str(cwd / "home"))
    return subprocess.run([sys.executable, "-m", "gatewayctl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_fleet_commands_need_a_fleet_plan(workdir):
    (workdir / "gatewayctl.toml").write_text(settings("http://127.0.0.1:2379").split("[fleet]")[0])
    done = gatewayctl(workdir, "fleet", "status")
    assert done.returncode == exitcodes.USAGE
    assert "no [fleet] table" in done.stderr and "Traceback" not in done.stderr


def test_unreachable_etcd_is_exit_14_with_the_endpoint_named(workdir):
    port = free_ports(1)[0]
    (workdir / "gatewayctl.toml").write_text(settings(f"http://127.0.0.1:{port}"))
    for args in (("fleet", "status"), ("fleet", "status", "--json"), ("fleet", "rebalance"),
                 ("fleet", "release", "telegram=bot_123456")):
        done = gatewayctl(workdir, *args)
        assert done.returncode == exitcodes.FLEET_UNAVAILABLE, (args, done.stderr)
        assert done.stderr.startswith("error: etcd:") and f"127.0.0.1:{port}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""


def test_release_of_a_lane_the_plan_does_not_have_is_a_usage_error(workdir):
    (workdir / "gatewayctl.toml").write_text(settings("http://127.0.0.1:2379"))
    done = gatewayctl(workdir, "fleet", "release", "matrix=nobody")
    assert done.returncode == exitcodes.USAGE
    assert "has no lane 'matrix=nobody'" in done.stderr and "lark=work" in done.stderr
    done = gatewayctl(workdir, "fleet", "release", "telegram")
    assert done.returncode == exitcodes.USAGE and "not one lane selector" in done.stderr


def test_host_id_is_checked_before_anything_runs(workdir):
    (workdir / "gatewayctl.toml").write_text(settings("http://127.0.0.1:2379"))
    done = gatewayctl(workdir, "gateway", "run", "--host-id", "bad id/../x")
    assert done.returncode == exitcodes.USAGE and "--host-id" in done.stderr
    assert not (workdir / "home").exists()


def test_an_etcd_credential_that_does_not_resolve_fails_the_owner_with_a_message(workdir):
    text = settings("http://127.0.0.1:2379").replace(
        'lease_ttl_s = 6\n', 'lease_ttl_s = 6\nusername = { env = "HOME" }\npassword = { env = "GW_TEST_ETCD_PASSWORD_UNSET" }\n')
    (workdir / "gatewayctl.toml").write_text(text)
    env_before = os.environ.pop("GW_TEST_ETCD_PASSWORD_UNSET", None)
    assert env_before is None
    done = gatewayctl(workdir, "gateway", "run", "--port", "0")
    assert done.returncode == exitcodes.OWNER_FAILED, done.stderr
    assert "GW_TEST_ETCD_PASSWORD_UNSET" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_host_id_from_the_environment_is_checked_like_the_option(workdir):
    (workdir / "gatewayctl.toml").write_text(settings("http://127.0.0.1:2379"))
    env = dict(os.environ, NO_COLOR="1", GATEWAYCTL_HOME=str(workdir / "home"), GATEWAYCTL_HOST_ID="racks/a")
    done = subprocess.run([sys.executable, "-m", "gatewayctl", "gateway", "run", "--port", "0"], cwd=workdir,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == exitcodes.OWNER_FAILED, done.stderr
    assert "$GATEWAYCTL_HOST_ID 'racks/a' is not a fleet host id" in done.stderr
    assert "Traceback" not in done.stderr
