#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite. CI calls exactly this.
#
#   bash scripts/test.sh                  # everything, in parallel workers (what CI runs)
#   bash scripts/test.sh --quick          # the quick run: all but the slow process-heavy tests, fewer property examples
#   bash scripts/test.sh tests/test_x.py -n 0 -x   # one file, serially, stop at the first failure
#
# Arguments go to pytest; `--quick`, first, stands for `-m "not slow"
# --hypothesis-profile quick` (tests/conftest.py: a fifth of the property
# tests' examples; CI's full run keeps them all). Tests run in
# GATEWAYCTL_TEST_WORKERS parallel workers (pytest-xdist; default 4: most
# tests wait on processes, sockets and deadlines, so more workers than the 2
# CI cores pays, the quick run included); a later -n wins, `-n 0` runs
# serially.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
fi
# Reinstall only when the declared dependencies changed (the install is
# editable, so source changes need none); a stamp holds pyproject's hash.
stamp=.venv/.gatewayctl-install-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x .venv/bin/gatewayctl ]; then
  .venv/bin/python -m pip install --quiet -e '.[test]'
  echo "$want" > "$stamp"
fi
# yaml-language-server (the engine behind VS Code's YAML schema support) is
# an npm package; the editor-schema tests drive the real one. Installed into
# .venv/node so nothing global changes; without npm those tests skip and say so.
if command -v npm >/dev/null 2>&1 && [ ! -x .venv/node/bin/yaml-language-server ]; then
  npm install --silent --no-audit --no-fund -g --prefix .venv/node yaml-language-server >/dev/null 2>&1 \
    || echo "note: could not install yaml-language-server from npm; its tests will skip" >&2
fi
export PATH="$PWD/.venv/node/bin:$PWD/.venv/bin:$PATH"
# The fleet tests (issue 16) run a real etcd: Debian's etcd-server package.
# Installed when missing (as root, or through sudo); without apt the etcd
# tests skip and name the missing binary.
if ! command -v etcd >/dev/null 2>&1 && [ -z "${GATEWAYCTL_TEST_ETCD:-}" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then as_root=(env); else as_root=(sudo -n env); fi
    { "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >/dev/null 2>&1 \
      || { "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 \
           && "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >/dev/null 2>&1; }; } \
      || echo "note: could not install etcd-server with apt-get; the etcd tests will skip" >&2
  else
    echo "note: no etcd on PATH and no apt-get to install etcd-server; the etcd tests will skip" >&2
  fi
fi
# Byte-compile once: this environment may set PYTHONDONTWRITEBYTECODE, and
# the many subprocess tests would otherwise recompile every module each time.
.venv/bin/python -m compileall -q src >/dev/null
# Import-layer contracts (style.md): dependencies point one way.
.venv/bin/lint-imports --no-cache
# pytest caches its assertion-rewritten test modules only where Python may
# write bytecode; with PYTHONDONTWRITEBYTECODE set, every worker rewrote all
# test modules on every run (about 3 of its 4 s of collection).
unset PYTHONDONTWRITEBYTECODE
if [ "${1:-}" = "--quick" ]; then
  shift
  set -- -m "not slow" --hypothesis-profile quick "$@"
fi
# loadgroup: tests marked xdist_group share one worker (and so one copy of
# an expensive session fixture, such as pre-commit's hook environment).
exec .venv/bin/python -m pytest -n "${GATEWAYCTL_TEST_WORKERS:-4}" --dist loadgroup "$@"
