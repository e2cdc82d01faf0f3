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
# yaml-language-server (the engine behind VS Code's YAML schema support) is
# an npm package; the editor-schema tests drive the real one. Installed into
# .venv/node so nothing global changes; without npm those tests skip and say so.
if command -v npm >/dev/null 2>&1 && [ ! -x .venv/node/bin/yaml-language-server ]; then
  npm install --silent --no-audit --no-fund -g --prefix .venv/node yaml-language-server >/dev/null 2>&1 \
    || echo "note: could not install yaml-language-server from npm; its tests will skip" >&2
fi
export PATH="$PWD/.venv/node/bin:$PWD/.venv/bin:$PATH"
# Byte-compile once: this environment may set PYTHONDONTWRITEBYTECODE, and
# the many subprocess tests would otherwise recompile every module each time.
.venv/bin/python -m compileall -q src >/dev/null
# Import-layer contracts (style.md): dependencies point one way.
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest "$@"
