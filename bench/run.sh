#!/usr/bin/env bash
# Run every benchmark: `bash bench/run.sh` (sets up .venv with the peers).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e '.[test,bench]' >/dev/null
for b in bench/bench_*.py; do
  echo "== $b"
  .venv/bin/python "$b"
done
