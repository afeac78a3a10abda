#!/usr/bin/env bash
# Render foley for the bundled sample clip with the bundled default model. Set-up is the
# render level only (npm ci if needed, the TypeScript build): no apt, Python or mediasoup.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh render
mkdir -p out
node dist/src/cli/main.js render samples/clip.mp4 -o out/clip-with-foley.mp4 --model models/default
echo "demo: the result is $ROOT/out/clip-with-foley.mp4 (the sample clip's video with generated foley as its audio)"
