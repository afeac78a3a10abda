"""The bundle's contact gate (manifest `contactGate`, applied by the engine's dsp/contact-gate.ts):
a linear probe on the video features, fitted on footage against the onsets of its own audio
(no labels), whose peaks open the audio; elsewhere the audio is held down by `depthDb`.

    python -m foley.contact_gate --bundle ../../runs/r3-300/bundle --footage ../../runs/r3-300/data

fits one for a bundle's video encoder and writes it into the bundle's manifest (replacing any
there); `--remove` takes it out. `foley.finetune --contact-gate` fits it at export.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from . import weights
from .finetune import onset_labels
from .probe import fit_probe
from .train import Store, compute_features, replace_text

# Chosen on 30 clips of the 3-D held-out world at seeds apart from its footage and its
# evaluation clips (docs/experiments.md section 13).
GATE_SHAPE = {"threshold": 0.8, "rampMs": 5.0, "holdMs": 300.0, "releaseDbPer10ms": 1.5, "depthDb": -40.0}


def fit_gate(video: torch.nn.Module, footage: Store, labels: torch.Tensor | None = None) -> tuple[dict, float]:
    """The manifest's contactGate for `video` (a CAVP video encoder) fitted on footage, and the fit's loss."""
    with torch.no_grad():
        features = compute_features(video.eval(), footage).cpu()
    probe, mu, sd, loss = fit_probe(features, onset_labels(footage) if labels is None else labels)
    w, b = fold_standardization(probe, mu, sd)
    return {"source": "features", "weights": w, "bias": b, **GATE_SHAPE}, loss


def fold_standardization(probe: torch.nn.Linear, mu: torch.Tensor, sd: torch.Tensor) -> tuple[list[float], float]:
    """w, b with w·f + b = probe((f − mu) / sd): the engine reads raw features."""
    w = probe.weight.detach()[0] / sd
    return [float(x) for x in w], float(probe.bias.detach()[0]) - float((w * mu).sum())


def write_gate(bundle: Path, gate: dict | None) -> None:
    path = bundle / "manifest.json"
    man = json.loads(path.read_text())
    if gate is None:
        man.pop("contactGate", None)
    else:
        man["contactGate"] = gate
    replace_text(path, json.dumps(man, indent=1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="foley.contact_gate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, help="bundle whose manifest gets the gate (its video encoder is probed)")
    p.add_argument("--footage", help="ClipSet the probe is fitted on (its own audio gives the onsets)")
    p.add_argument("--remove", action="store_true", help="take the gate out of the manifest instead")
    args = p.parse_args(argv)
    bundle = Path(args.bundle)
    if not (bundle / "manifest.json").is_file():
        print(f"[bundle:{bundle}] has no manifest.json", file=sys.stderr)
        return 4
    if args.remove:
        write_gate(bundle, None)
        print(json.dumps({"bundle": str(bundle), "contactGate": None}))
        return 0
    if not args.footage:
        p.error("--footage is required unless --remove")
    try:
        footage = Store(Path(args.footage), torch.device("cpu"))
    except FileNotFoundError as e:
        print(f"[footage:{args.footage}] {e}", file=sys.stderr)
        return 4
    mods, _ = weights.recover_modules(bundle, check=False)
    gate, loss = fit_gate(mods["video_encoder"].video, footage)
    write_gate(bundle, gate)
    print(json.dumps({"bundle": str(bundle), "footageClips": footage.n, "fitLoss": loss,
                      **{k: v for k, v in gate.items() if k != "weights"}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
