#!/usr/bin/env bash
# Full, idempotent set-up of a fresh clone, offline apart from the npm registry:
#   0. Debian packages (scripts/setup-system.sh)
#   1. npm ci (install scripts skipped; onnxruntime-node's CUDA download skipped) unless
#      node_modules already matches package-lock.json
#   2. the mediasoup worker (scripts/build-mediasoup.sh, when present)
#   3. the Python training/evaluation venv (scripts/setup-python.sh)
#   4. the TypeScript build (dist/) and the browser pages' scripts (client/dist/, esbuild)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export ONNXRUNTIME_NODE_INSTALL_CUDA=skip ONNXRUNTIME_NODE_INSTALL=skip

bash scripts/setup-system.sh

STAMP=node_modules/.live-foley-lock.sha256
WANT="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  echo "setup: node_modules matches package-lock.json"
else
  echo "setup: npm ci"
  npm ci --ignore-scripts --no-audit --no-fund
  echo "$WANT" > "$STAMP"
fi

if [[ -x scripts/build-mediasoup.sh ]]; then
  scripts/build-mediasoup.sh
elif [[ -f scripts/build-mediasoup.sh ]]; then
  bash scripts/build-mediasoup.sh
fi

bash scripts/setup-python.sh

echo "setup: building TypeScript"
rm -rf dist
npx tsc -p tsconfig.json
chmod +x dist/src/cli/main.js
echo "setup: building the client pages"
rm -rf client/dist
npm run --silent build:client
echo "setup: done"
