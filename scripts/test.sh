#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e '.[test]'
# Import-layer contracts (style.md): dependencies point one way.
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest "$@"
