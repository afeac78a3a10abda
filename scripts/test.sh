#!/usr/bin/env bash
# The whole test run: set-up, lint, typecheck (the build), every node test, the Python tests.
# The Python tests need only the TypeScript build and the venv, so they run beside the
# mediasoup worker build; the node tests start after them, on a quiet machine, as several
# judge live timing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

bash scripts/setup-system.sh
# From a clean build, so no output of a deleted source (a test among them) survives.
rm -rf dist client/dist
bash scripts/setup.sh render

PY_LOG="$(mktemp -t foley-pytest.XXXXXX)"
echo "test: python tests (beside the rest of the set-up; log $PY_LOG)"
(bash scripts/setup-python.sh && cd models/training && ../../.venv/bin/python -m pytest -q tests) >"$PY_LOG" 2>&1 &
PY_PID=$!

bash scripts/setup.sh live

echo "test: lint (biome)"
npx biome check src pipelines test client

echo "test: typecheck (client pages; the engine was typechecked by its build)"
npx tsc -p client/tsconfig.json

PY_STATUS=0
wait "$PY_PID" || PY_STATUS=$?
echo "test: python tests (output)"
cat "$PY_LOG"
rm -f "$PY_LOG"

echo "test: node tests"
NODE_STATUS=0
node --test --test-concurrency=1 dist/test/ || NODE_STATUS=$?
if [[ "$PY_STATUS" != 0 || "$NODE_STATUS" != 0 ]]; then
  echo "test: failed (python tests exit $PY_STATUS, node tests exit $NODE_STATUS)" >&2
  exit 1
fi
echo "test: all passed"
