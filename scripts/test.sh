#!/usr/bin/env bash
# The whole test run: set-up, lint, typecheck (the build), every node test, the Python tests.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

echo "test: lint (biome)"
npx biome check src pipelines test client

echo "test: typecheck (client pages)"
npx tsc -p client/tsconfig.json

echo "test: typecheck"
npx tsc -p tsconfig.json --noEmit

echo "test: node tests"
node --test --test-concurrency=1 dist/test/

echo "test: python tests"
(cd models/training && ../../.venv/bin/python -m pytest -q tests)
echo "test: all passed"
