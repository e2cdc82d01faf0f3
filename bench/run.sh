#!/usr/bin/env bash
# Run every benchmark: `bash bench/run.sh` (sets up .venv with the peers).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e '.[test,bench]' >/dev/null
# Every bench/bench_*.py runs here (bench_memory.py included: the six-lane
# rollout's USS/PSS against the built-in fakes).
for b in bench/bench_*.py; do
  echo "== $b"
  .venv/bin/python "$b"
done
