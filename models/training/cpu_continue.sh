#!/usr/bin/env bash
# The CPU counterpart of device_continue.sh (session 6, no GPU lent): regenerates the training
# data, continues the LDM from runs/default/ldm.pt with a cosine schedule sized to the run,
# then re-distills the 4-step student. Writes into $RUNS/default; copy ldm.pt and distill.pt
# back into runs/default (keeping the old ones) and re-run the evaluation to ship.
# Knobs: LDM_STEPS/LDM_S, LDM_BATCH, LDM_LR, DISTILL_STEPS/DISTILL_S (cap for all rounds), ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 FOLEY_WORKERS=${FOLEY_WORKERS:-2} FOLEY_INIT_DIR=$PWD/runs/default
RUNS=${RUNS:-$PWD/runs/cpu_continue}; mkdir -p "$RUNS/default"
cp -n runs/default/autoencoder.pt runs/default/autoencoder.json runs/default/cavp.pt runs/default/cavp.json "$RUNS/default/"
cd models/training
../../.venv/bin/python -m foley.run --profile gpu --name default --device cpu --jobs 1 --until train \
  --runs-dir "$RUNS" --stages ${STAGES:-data,features,ldm,distill} \
  --set ldm_batch=${LDM_BATCH:-64} --set ldm_lr=${LDM_LR:-1.5e-4} \
  --set ldm_steps=${LDM_STEPS:-5000} --set stage_seconds.ldm=${LDM_S:-2700} \
  --set distill_rounds=${ROUNDS:-[8,4]} --set distill_steps=${DISTILL_STEPS:-600} --set stage_seconds.distill=${DISTILL_S:-1200} \
  2>&1 | grep --line-buffered -v -e NNPACK -e UserWarning -e "torch.from_numpy" | tee -a "$RUNS/default/continue.log"
