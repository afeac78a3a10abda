#!/usr/bin/env bash
# Trains the default model family on a lent GPU machine in one call (models/README.md,
# "Reproducing"). Run from the repo root with $OUT set and data/drums.npz carried along.
# First the quick profile on the GPU as a check (stops here if it fails), then the gpu profile.
# Checkpoints come back packed into at most 8 files of at most 16 MiB.
set -uo pipefail
export PYTHONUNBUFFERED=1 FOLEY_DRUMS_NPZ=$PWD/data/drums.npz FOLEY_WORKERS=${FOLEY_WORKERS:-16}
RUNS=${RUNS:-/tmp/runs}
BUDGET_S=${BUDGET_S:-450}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
cd models/training
filter() { grep --line-buffered -v -e NNPACK -e UserWarning -e "torch.from_numpy"; }
timeout 100 python3 -m foley.run --profile quick --name quick-gpu --device cuda --jobs 4 --until train \
  --runs-dir "$RUNS" 2>&1 | filter | tee "$OUT/quick.log" || { echo "quick check failed"; exit 1; }
timeout -k 10 "$BUDGET_S" python3 -m foley.run --profile gpu --name default --device cuda --jobs "${JOBS:-6}" \
  --until train --runs-dir "$RUNS" 2>&1 | filter | tee "$OUT/train.log"
cd "$RUNS/default" && ls -la
for big in ldm ldm_e2e distill; do [ -f $big.pt ] && cp $big.pt "$OUT/"; done
small=$(ls *.pt | grep -v -e '^ldm.pt$' -e '^ldm_e2e.pt$' -e '^distill.pt$' -e '^data.pt$' -e '^features')
tar cf "$OUT/small.tar" *.json $small
ls -la "$OUT"
