#!/usr/bin/env bash
# Idempotent set-up of a clone, in three levels; each asks only for what its job needs.
#   scripts/setup.sh render   npm ci (no install scripts, no CUDA download) unless node_modules
#                             matches package-lock.json, then the TypeScript build (dist/).
#                             Enough for `foley render`, `foley eval` and `foley bench`:
#                             no apt packages, no Python, no mediasoup worker build.
#   scripts/setup.sh live     render, plus the mediasoup worker (scripts/build-mediasoup.sh:
#                             make, g++ and a Python <= 3.9) and the browser pages (client/dist).
#                             Enough for `foley serve` (its --demo also wants a system ffmpeg).
#   scripts/setup.sh [all]    live, plus the Debian packages the tests use
#                             (scripts/setup-system.sh), the Python training/evaluation venv
#                             (scripts/setup-python.sh, CPU torch) and a clean rebuild of dist/
#                             and client/dist/. What `npm test` runs.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export ONNXRUNTIME_NODE_INSTALL_CUDA=skip ONNXRUNTIME_NODE_INSTALL=skip

LEVEL="${1:-all}"
case "$LEVEL" in
  render | live | all) ;;
  *)
    echo "setup: unknown level \"$LEVEL\"; use render, live or all" >&2
    exit 2
    ;;
esac

if [[ "$LEVEL" == all ]]; then
  bash scripts/setup-system.sh
fi

STAMP=node_modules/.live-foley-lock.sha256
WANT="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "setup: node_modules matches package-lock.json"
else
  bash scripts/need-space.sh "$ROOT" 1 "npm ci (node_modules)"
  echo "setup: npm ci"
  npm ci --ignore-scripts --no-audit --no-fund
  echo "$WANT" > "$STAMP"
fi

if [[ "$LEVEL" != render ]]; then
  bash scripts/build-mediasoup.sh
fi
if [[ "$LEVEL" == all ]]; then
  bash scripts/setup-python.sh
fi

echo "setup: building TypeScript"
# The full set-up starts from a clean dist/ so no output of a deleted source survives.
if [[ "$LEVEL" == all ]]; then rm -rf dist; fi
# Incremental, so a second level on the same clone does not compile everything again.
npx tsc -p tsconfig.json --incremental --tsBuildInfoFile dist/.tsbuildinfo
chmod +x dist/src/cli/main.js
if [[ "$LEVEL" != render ]]; then
  echo "setup: building the client pages"
  if [[ "$LEVEL" == all ]]; then rm -rf client/dist; fi
  npm run --silent build:client
fi
echo "setup: done ($LEVEL)"
