#!/usr/bin/env bash
# A later GPU call: regenerates the data, continues the LDM from a carried checkpoint with a
# learning-rate schedule sized to the call (so the cosine anneals to zero), then re-distills.
# STAGES=data,features,align_clf retrains only the alignment classifier (CLF_STEPS, CLF_S; its
# crop and noise range with EXTRA_SET="--set clf_window=32 --set clf_max_timestep=600").
# Carried: data/drums.npz and runs/default/{autoencoder.pt,cavp.pt,ldm.pt}.
# Knobs: LDM_STEPS/LDM_S (steps and time cap), DISTILL_STEPS/DISTILL_S (per round; cap for all rounds),
# ROUNDS (distillation rounds as JSON), BUDGET_S (whole run), EXTRA_SET (more --set flags, e.g.
# "--set train_codec_p=0.5" for compressed training frames, models/README.md).
# On the CPU (session 6): DEVICE=cpu JOBS=1 PYTHON=../../.venv/bin/python FOLEY_WORKERS=2, and
# RUNS/OUT inside the ignored runs/ (models/README.md, step 7 of the shipped model's recipe).
set -uo pipefail
export PYTHONUNBUFFERED=1 FOLEY_DRUMS_NPZ=$PWD/data/drums.npz FOLEY_WORKERS=${FOLEY_WORKERS:-16} FOLEY_INIT_DIR=$PWD/runs/default
case "${EXTRA_SET:-}" in *train_codec_p*)  # world.jpeg_roundtrip: fail now, not after the data stage started
  ${PYTHON:-python3} -c "import PIL" || { echo "train_codec_p needs Pillow, which ${PYTHON:-python3} lacks"; exit 1; };; esac
RUNS=${RUNS:-/tmp/runs}; mkdir -p $RUNS/default
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
cp runs/default/autoencoder.pt runs/default/cavp.pt $RUNS/default/
cd models/training
timeout -k 10 ${BUDGET_S:-265} ${PYTHON:-python3} -m foley.run --profile gpu --name default --device ${DEVICE:-cuda} --jobs ${JOBS:-2} --until train \
  --runs-dir $RUNS --stages ${STAGES:-data,features,ldm,distill} \
  --set clf_steps=${CLF_STEPS:-3000} --set stage_seconds.align_clf=${CLF_S:-50} \
  --set ldm_steps=${LDM_STEPS:-6500} --set stage_seconds.ldm=${LDM_S:-330} \
  --set distill_rounds=${ROUNDS:-[8,4]} --set distill_steps=${DISTILL_STEPS:-800} --set stage_seconds.distill=${DISTILL_S:-120} \
  ${EXTRA_SET:-} 2>&1 | grep --line-buffered -v -e NNPACK -e UserWarning -e "torch.from_numpy" | tee "$OUT/continue.log"
cd $RUNS/default && ls -la
for stage in ldm distill align_clf; do [ -f $stage.pt ] && cp $stage.pt $stage.json "$OUT/"; done; ls -la "$OUT"
