"""How much contact a bundle's video features carry, apart from what the diffusion student makes
of them: a linear onset probe on the frozen CAVP video features.

The probe is fitted on footage (a foley.data ClipSet) against the onsets of each clip's own
audio (`finetune.onset_labels`: no labels), then scored on clip folders (video.mp4 and
events.json, e.g. a held-out world written by foley.generalization): the peaks of its output
above each threshold against the events, onset F1 at ±50 ms (mean over clips, as `foley eval`).

    python -m foley.probe --bundle ../../models/default --footage ../../runs/r3-300/data \\
        --clips ../../data/generalization/render3d --count 60

prints one JSON line per bundle (several --bundle flags compare encoders on the same data).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics, weights
from .data import FPS
from .finetune import ONSET_POS_WEIGHT, onset_labels
from .generalization import clip_folders, decode_frames, event_times
from .nets import FEATURE_DIM
from .train import Store, compute_features

THRESHOLDS = (0.5, 0.7, 0.9)
FIT_ITERATIONS = 500


def fit_probe(features: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor, float]:
    """A logistic probe on standardized features [n, T, D] for per-frame labels [n, T] in 0..1."""
    torch.manual_seed(seed)
    mu, sd = features.mean((0, 1)), features.std((0, 1)) + 1e-6
    x, y = ((features - mu) / sd).reshape(-1, features.shape[-1]), labels.reshape(-1)
    probe = torch.nn.Linear(features.shape[-1], 1)
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2)
    for _ in range(FIT_ITERATIONS):
        loss = F.binary_cross_entropy_with_logits(probe(x)[:, 0], y, pos_weight=torch.tensor(ONSET_POS_WEIGHT))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return probe, mu, sd, float(loss.detach())


def probe_onsets(prob: np.ndarray, threshold: float) -> np.ndarray:
    """Onset times (s): peaks of the per-frame probability above threshold, at least 3 frames apart."""
    import scipy.signal  # here: about 0.7 s of import that most commands never need

    peaks, _ = scipy.signal.find_peaks(np.concatenate([[0.0], prob, [0.0]]), height=threshold, distance=3)
    return (peaks - 1) / FPS


def threshold_scores(probs: list[np.ndarray], refs: list[np.ndarray], thresholds) -> dict:
    """{threshold: (onset F1 at ±50 ms, mean over clips; onsets per event)} of per-frame
    probabilities' peaks against each clip's event times."""
    out = {}
    for th in thresholds:
        scores = [metrics.onset_scores(ref, probe_onsets(p, th)) for p, ref in zip(probs, refs)]
        out[th] = (float(np.mean([s["f1"] for s in scores])),
                   sum(s["n_est"] for s in scores) / max(1, sum(s["n_ref"] for s in scores)))
    return out


def score_bundle(bundle: Path, footage: Store, labels: torch.Tensor, frames: list[np.ndarray], refs: list[np.ndarray]) -> dict:
    mods, _ = weights.recover_modules(bundle, check=False)
    video = mods["video_encoder"].video.eval()
    with torch.no_grad():
        features = compute_features(video, footage)
    probe, mu, sd, loss = fit_probe(features, labels)
    with torch.no_grad():
        probs = [torch.sigmoid(probe((video.clip_features(torch.from_numpy(fr.copy())[None])[0] - mu) / sd)[:, 0]).numpy()
                 for fr in frames]
    rows = {str(th): {"onset_f1": f1, "onsets_per_event": per_event}
            for th, (f1, per_event) in threshold_scores(probs, refs, THRESHOLDS).items()}
    return {"bundle": str(bundle), "fit_loss": loss, "footage_clips": footage.n, "clips": len(frames),
            "events": sum(len(r) for r in refs), "thresholds": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="foley.probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", action="append", required=True, help="bundle whose video encoder is probed (repeatable)")
    p.add_argument("--footage", required=True, help="ClipSet the probe is fitted on (its own audio gives the onsets)")
    p.add_argument("--clips", required=True, help="folder of clip folders (video.mp4, events.json) it is scored on")
    p.add_argument("--count", type=int, default=60)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    try:
        footage = Store(Path(args.footage), torch.device("cpu"))
    except FileNotFoundError as e:
        print(f"[footage:{args.footage}] {e}", file=sys.stderr)
        return 4
    folders = clip_folders(Path(args.clips), args.count) if Path(args.clips).is_dir() else []
    if not folders:
        print(f"[clips:{args.clips}] holds no clip folder with events.json", file=sys.stderr)
        return 4
    labels = onset_labels(footage)
    frames = [decode_frames(f / "video.mp4") for f in folders]
    refs = [event_times(f) for f in folders]
    for bundle in args.bundle:
        print(json.dumps(score_bundle(Path(bundle), footage, labels, frames, refs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
