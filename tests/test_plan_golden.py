"""Golden plans: the exact bytes `gatewayctl plan` writes for known inputs.

A golden file changes only through `pytest --update-goldens`; a diff in
review then shows exactly how the plan format or its content moved.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gatewayctl.cli.main import cli
from gatewayctl.compile import planfile

from tests.test_plan_support import REPO, plan_validator

GOLDEN = REPO / "tests" / "golden" / "plans"

CASES = {
    # the seed's three-family rollout as shipped: examples/gatewayctl.toml
    # (selectors and handler) naming examples/gateway-rollout.toml
    "gateway-rollout": ["--file", "examples/gatewayctl.toml"],
    # lanes from explicit default, mapped default, fallback and single-account shapes
    "default-shapes": ["--file", "fixtures/plans/default-shapes.gatewayctl.toml"],
    # attached session, on-failure restarts, a custom worker template, a
    # handler: all in loong's [gateway], the deprecated place (GW601 warns)
    "attached-custom-worker": ["--config", "fixtures/plans/attached-custom-worker.toml", "--session", "ops", "--port", "0"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_plan(name, update_goldens, monkeypatch):
    args = CASES[name]
    monkeypatch.chdir(REPO)  # config paths are recorded as given: relative to the repo
    r = CliRunner().invoke(cli, ["plan", *args], env={"GATEWAYCTL_GATEWAY_PORT": None})
    assert r.exit_code == 0, r.stderr
    produced = r.stdout_bytes
    plan_validator().validate(json.loads(produced))
    assert planfile.dumps(planfile.loads(produced)) == produced
    path = GOLDEN / f"{name}.json"
    if update_goldens:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(produced)
    assert path.exists(), f"no golden for {name}: run pytest --update-goldens"
    assert produced == path.read_bytes(), f"{path.name} differs: review, then pytest --update-goldens"
