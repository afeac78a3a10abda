#!/usr/bin/env bash
# Second GPU call: regenerates the data, continues the LDM from a carried checkpoint, re-distills.
# Carried: data/drums.npz and runs/default/{config.json,autoencoder.pt,cavp.pt,ldm.pt}.
set -uo pipefail
export PYTHONUNBUFFERED=1 FOLEY_DRUMS_NPZ=$PWD/data/drums.npz FOLEY_WORKERS=16 FOLEY_INIT_DIR=$PWD/runs/default
RUNS=/tmp/runs; mkdir -p $RUNS/default
cp runs/default/autoencoder.pt runs/default/cavp.pt $RUNS/default/
cd models/training
timeout -k 10 ${BUDGET_S:-265} python3 -m foley.run --profile gpu --name default --device cuda --jobs 2 --until train \
  --runs-dir $RUNS --stages data,features,ldm,distill --set stage_seconds.ldm=${LDM_S:-150} --set stage_seconds.distill=${DISTILL_S:-56} \
  2>&1 | grep --line-buffered -v -e NNPACK -e UserWarning -e "torch.from_numpy" | tee "$OUT/continue.log"
cd $RUNS/default && ls -la && cp ldm.pt ldm.json distill.pt distill.json "$OUT/" 2>/dev/null; ls -la "$OUT"
