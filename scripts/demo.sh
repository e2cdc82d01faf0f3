#!/usr/bin/env bash
# Set up (idempotent) and run gatewayctl on the bundled example rollout:
# lint it (examples/gatewayctl.toml and the loong config it names: both
# verdicts), then run it end to end against the built-in loopback fakes
# (no network, no credentials; see `gatewayctl demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet -e . >/dev/null
echo "\$ gatewayctl check examples/gatewayctl.toml"
.venv/bin/gatewayctl check examples/gatewayctl.toml
echo
echo "\$ gatewayctl demo"
exec .venv/bin/gatewayctl demo "$@"
