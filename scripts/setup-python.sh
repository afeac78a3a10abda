#!/usr/bin/env bash
# Creates .venv with the training/evaluation stack (CPU torch). Idempotent; works offline
# against the npm-free package mirror this project is built with (no default index).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import torch, onnx, onnxruntime, librosa, mir_eval, soundfile, scipy" 2>/dev/null; then
  bash scripts/need-space.sh "$(pwd)" 2 "the Python venv (CPU torch)"
  "$PY" -m venv .venv
  .venv/bin/pip install --quiet --retries 0 --timeout 2 -r models/training/requirements.txt
fi
