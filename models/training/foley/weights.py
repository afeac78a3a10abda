"""Rebuild the torch modules of foley.nets from a bundle's ONNX initializers, so fine-tuning can
start from a shipped bundle in a fresh clone (the run folders with the checkpoints are ignored).

Initializers keep their state_dict names except where the exporter folded a parameter into the
graph; those are mapped back through the scope of the node that uses them (`/down_blocks.0/n1/Mul`
is GroupNorm down_blocks.0.n1's weight, `/head/MatMul` the transposed Linear weight, a Conv fused
with the BatchNorm after it gets the fused weight and the BatchNorm becomes the identity).
Constants derived from parameters at graph level (no module scope) are left out; every rebuilt
module is checked against its ONNX file on random inputs (foley.export.parity).

    python -m foley.weights --bundle ../../models/default --out runs/recovered
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from . import export, nets
from .config import PROFILES, load_profile
from .world import CLASSES

# Run-folder checkpoint names (foley.train / foley.evaluate) of the bundle models that hold a
# whole trained module; the others hold part of one.
CHECKPOINTS = {"unet_student": ("distill", "unet"), "unet_teacher": ("ldm", "unet"), "vocoder": ("vocoder", "vocoder"),
               "eval_audio_classifier": ("eval_audio", "eval_audio")}
NOT_IN_BUNDLES = ["autoencoder encoder (ae.enc, ae.to_latent)", "CAVP audio encoder", "eval_align (Align Acc's classifier)",
                  "ldm_e2e / align_clf_e2e (ablation rows)"]


class WeightRecoveryError(RuntimeError):
    pass


def _modules_of(root: torch.nn.Module) -> dict:
    return dict(root.named_modules())


def _scope(node_name: str) -> str:
    """`/down_blocks.0/n1/Mul` -> `down_blocks.0.n1`; the exporter repeats list parents (`/net/net.0/Conv`)."""
    parts = [p for p in node_name.split("/")[1:-1] if p]
    path: list[str] = []
    for p in parts:
        if path and p.startswith(".".join(path) + "."):
            path = p.split(".")
        else:
            path += p.split(".")
    return ".".join(path)


def state_from_onnx(module: torch.nn.Module, path: Path, key: str) -> dict:
    """A state_dict for `module` (the exported wrapper) from the initializers of its ONNX file."""
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    sd = {k: v.clone() for k, v in module.state_dict().items()}
    mods = _modules_of(module)
    # Equal tensors are stored once and handed to their other users through Identity nodes.
    alias = {}
    for node in model.graph.node:
        if node.op_type == "Identity" and (node.input[0] in inits or node.input[0] in alias):
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
    users = {}
    for node in model.graph.node:
        for j, name in enumerate(node.input):
            root = alias.get(name, name)
            if root in inits and node.op_type != "Identity":
                users.setdefault(root, []).append((node, j))
    filled = set()

    def put(k: str, value: np.ndarray) -> None:
        if k not in sd:
            raise WeightRecoveryError(f"[bundle:{key}] initializer maps to {k}, which the module does not have")
        if sd[k].numel() != value.size:
            raise WeightRecoveryError(f"[bundle:{key}, param:{k}] {tuple(value.shape)} in ONNX, {tuple(sd[k].shape)} in torch: "
                                      "the bundle was made with another architecture (profile)")
        sd[k] = torch.from_numpy(np.array(value)).reshape(sd[k].shape).to(sd[k].dtype)
        filled.add(k)

    for name, value in inits.items():
        # One initializer can fill the parameters of every module that uses it (equal tensors:
        # fresh GroupNorm weights, a ConvNeXt gamma).
        leaf = None
        if name in sd:
            put(name, value)
            leaf = name.rsplit(".", 1)[-1]
        for node, j in users.get(name, []):
            scope = _scope(node.name)
            if scope and scope not in mods:
                # A submodule called from a parent's helper method, not its forward, is scoped
                # without the parent (AlignClassifierWithGrad calls clf.head as `/head`).
                found = [k for k in mods if k.endswith("." + scope)]
                scope = found[0] if len(found) == 1 else scope
            m = mods.get(scope)
            if not scope or m is None:
                continue        # a graph-level constant derived from parameters
            if leaf is not None:
                if f"{scope}.{leaf}" in sd and sd[f"{scope}.{leaf}"].numel() == value.size:
                    put(f"{scope}.{leaf}", value)
                continue
            if isinstance(m, torch.nn.GroupNorm) and node.op_type in ("Mul", "Add"):
                put(f"{scope}.{'weight' if node.op_type == 'Mul' else 'bias'}", value)
            elif isinstance(m, torch.nn.Linear) and node.op_type in ("MatMul", "Gemm", "Add"):
                put(f"{scope}.{'bias' if node.op_type == 'Add' or j == 2 else 'weight'}", value.T if value.ndim == 2 else value)
            elif isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) and node.op_type == "Conv":
                put(f"{scope}.{'weight' if j == 1 else 'bias'}", value)
            else:
                raise WeightRecoveryError(f"[bundle:{key}, initializer:{name}] used by {node.name} ({node.op_type}) "
                                          f"on {type(m).__name__}: no rule maps it to a parameter")
    # A BatchNorm whose Conv came fused: identity, since the Conv carries its scale and shift.
    for scope, m in mods.items():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and f"{scope}.weight" not in filled:
            n = m.num_features
            sd[f"{scope}.weight"], sd[f"{scope}.bias"] = torch.ones(n), torch.zeros(n)
            sd[f"{scope}.running_mean"], sd[f"{scope}.running_var"] = torch.zeros(n), torch.full((n,), 1 - m.eps)
            filled |= {f"{scope}.{p}" for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    return sd, [k for k in sd if k not in filled and not k.endswith("num_batches_tracked")]


def bundle_profile(bundle: Path) -> str:
    """The training profile whose architecture the bundle's initializers fit."""
    man = json.loads((bundle / "manifest.json").read_text())
    desc = man.get("description", "")
    named = desc.split("profile ", 1)[1].split()[0] if desc.startswith("profile ") else None
    candidates = ([named] if named in PROFILES else []) + [p for p in PROFILES if p != named]
    vocoder = {i.name: tuple(i.dims) for i in onnx.load(str(bundle / "vocoder.onnx")).graph.initializer}
    unet = {i.name: tuple(i.dims) for i in onnx.load(str(bundle / "unet_student.onnx")).graph.initializer}
    for p in candidates:
        mods = export.collect_modules(_cfg(load_profile(p), man), None)
        if all(tuple(v.shape) == vocoder.get(k, tuple(v.shape)) for k, v in mods["vocoder"].state_dict().items()) and \
                all(tuple(v.shape) == unet.get(k, tuple(v.shape)) for k, v in mods["unet_student"].state_dict().items()):
            return p
    raise WeightRecoveryError(f"[bundle:{bundle}] fits no training profile's architecture ({', '.join(PROFILES)})")


def _cfg(cfg: dict, man: dict) -> dict:
    # The temperature is folded into the exported head; the window shapes the graph.
    return {**cfg, "cg_temperature": 1.0, "cg_window": man["sampling"].get("cgWindowFrames")}


def recover_modules(bundle: Path, profile: str | None = None, check: bool = True) -> tuple[dict, dict]:
    """(modules, report): the exported modules of foley.export.collect_modules with the bundle's
    weights, and per model the parity against its ONNX file and any parameters left unset."""
    bundle = Path(bundle)
    man = json.loads((bundle / "manifest.json").read_text())
    profile = profile or bundle_profile(bundle)
    cfg = _cfg(load_profile(profile), man)
    torch.manual_seed(0)
    mods = export.collect_modules(cfg, None)
    specs = export.io_specs(len(CLASSES), cfg["cg_window"] is not None)
    report = {"profile": profile}
    gen = torch.Generator().manual_seed(1)
    for key, module in mods.items():
        sd, unset = state_from_onnx(module, bundle / man["models"][key]["file"], key)
        module.load_state_dict(sd)
        module.eval()
        report[key] = {"unset": unset}
        if check:
            report[key].update(export.parity(module, key, specs[key], bundle / man["models"][key]["file"], gen))
    return mods, report


def write_checkpoints(mods: dict, report: dict, out: Path) -> list[str]:
    """Run-folder checkpoints ({"state": state_dict}) for the whole modules, and the parts."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for key, (name, _) in CHECKPOINTS.items():
        torch.save({"state": mods[key].state_dict(), "recovered_from": key}, out / f"{name}.pt")
        written.append(f"{name}.pt")
    parts = {"cavp_video": mods["video_encoder"].video, "latent_decoder": mods["latent_decoder"],
             # The head is the guidance copy: weight and bias already divided by the tuned temperature.
             "align_clf_guidance": mods["align_classifier"].clf}
    for name, m in parts.items():
        torch.save({"state": m.state_dict()}, out / f"{name}.pt")
        written.append(f"{name}.pt")
    (out / "recovered.json").write_text(json.dumps({**report, "written": written, "not_in_bundles": NOT_IN_BUNDLES},
                                                   indent=1, default=float))
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m foley.weights", description=__doc__.split("\n")[0])
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for the recovered checkpoints")
    p.add_argument("--profile", choices=sorted(PROFILES), help="default: the one the bundle's weights fit")
    a = p.parse_args(argv)
    if not (a.bundle / "manifest.json").exists():
        print(f"foley.weights: {a.bundle} is not a bundle (no manifest.json)", file=sys.stderr)
        return 2
    mods, report = recover_modules(a.bundle, a.profile)
    for key in mods:
        r = report[key]
        print(f"weights: {key}: parity max relative error {r['max_relative_error']:.1e}"
              + (f", {len(r['unset'])} parameters not in the bundle" if r["unset"] else ""), flush=True)
    print(f"weights: profile {report['profile']}; wrote {', '.join(write_checkpoints(mods, report, a.out))} to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
