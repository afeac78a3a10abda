#!/usr/bin/env bash
# The whole test run: set-up, lint, typecheck (the build), every node test, the Python tests.
# Two cores go further when the steps that do not judge timing share them: apt installs the
# Debian packages beside npm ci and the builds, the Python venv is made beside the mediasoup
# worker build, and the Python tests run beside the node tests
# that judge no timing. The node tests that judge live timing, latency or quality under real
# time (test/live, test/server, test/sfu, test/reliability) run last, one file at a time, on a
# quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

LOG_DIR="$(mktemp -d -t foley-test.XXXXXX)"
# say MESSAGE: a step's line, with the seconds since the start (where CI time goes).
say() { echo "test: [${SECONDS} s] $*"; }
trap 'rm -rf "$LOG_DIR"' EXIT
# wait_for PID LOG WHAT: waits for a set-up step run in the background; shows its log if it failed.
wait_for() {
  if ! wait "$1"; then
    cat "$2"
    echo "test: $3 could not be set up" >&2
    exit 1
  fi
}
# A fresh clone's set-up takes about 3.5 GiB (node_modules, the worker build, the Python venv).
if [[ ! -d .venv || ! -d node_modules ]]; then
  bash scripts/need-space.sh "$ROOT" 4 "a fresh clone's set-up and tests"
fi
bash scripts/need-space.sh "${TMPDIR:-/tmp}" 1 "the tests (their temporary files)"
# Nothing before the tests needs the Debian packages.
say "Debian packages (beside npm ci and the builds)"
bash scripts/setup-system.sh >"$LOG_DIR/apt.log" 2>&1 &
APT_PID=$!
# From a clean build, so no output of a deleted source (a test among them) survives.
rm -rf dist client/dist
bash scripts/setup.sh render

say "the Python venv (beside the mediasoup worker build)"
bash scripts/setup-python.sh >"$LOG_DIR/venv.log" 2>&1 &
VENV_PID=$!
bash scripts/setup.sh live
say "worker and pages built; waiting for the venv and the Debian packages"
wait_for "$VENV_PID" "$LOG_DIR/venv.log" "the Python venv"
wait_for "$APT_PID" "$LOG_DIR/apt.log" "the Debian packages"
cat "$LOG_DIR/apt.log"

say "lint (biome)"
npx biome check src pipelines test client

say "typecheck (client pages; the engine was typechecked by its build)"
npx tsc -p client/tsconfig.json

TIMED_DIRS=(dist/test/live dist/test/server dist/test/sfu dist/test/reliability)
mapfile -t UNTIMED < <(find dist/test -name '*.test.js' \
  -not -path 'dist/test/live/*' -not -path 'dist/test/server/*' \
  -not -path 'dist/test/sfu/*' -not -path 'dist/test/reliability/*' | sort)

say "python tests (beside the node tests that judge no timing)"
(cd models/training && ../../.venv/bin/python -m pytest -q tests) >"$LOG_DIR/pytest.log" 2>&1 &
PY_PID=$!

say "node tests that judge no timing (${#UNTIMED[@]} files)"
NODE_STATUS=0
node --test --test-concurrency=1 "${UNTIMED[@]}" || NODE_STATUS=$?

PY_STATUS=0
wait "$PY_PID" || PY_STATUS=$?
say "python tests (output)"
cat "$LOG_DIR/pytest.log"

say "node tests that judge timing (${TIMED_DIRS[*]})"
node --test --test-concurrency=1 "${TIMED_DIRS[@]}" || NODE_STATUS=$?

if [[ "$PY_STATUS" != 0 || "$NODE_STATUS" != 0 ]]; then
  echo "test: failed (python tests exit $PY_STATUS, node tests exit $NODE_STATUS)" >&2
  exit 1
fi
say "all passed"
