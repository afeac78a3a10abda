"""Rebuild the torch modules of foley.nets from a bundle's ONNX initializers, so fine-tuning can
start from a shipped bundle in a fresh clone (the run folders with the checkpoints are ignored).

What no bundle graph holds (the autoencoder's encoder, the CAVP audio encoder, the Align Acc judge
eval_align) is refit against the frozen shipped parts (`--refit`) and kept as compact fp16
checkpoints in the bundle's train/ folder, which recovery loads when present.

Initializers keep their state_dict names except where the exporter folded a parameter into the
graph; those are mapped back through the scope of the node that uses them (`/down_blocks.0/n1/Mul`
is GroupNorm down_blocks.0.n1's weight, `/head/MatMul` the transposed Linear weight, a Conv fused
with the BatchNorm after it gets the fused weight and the BatchNorm becomes the identity).
Constants derived from parameters at graph level (no module scope) are left out; every rebuilt
module is checked against its ONNX file on random inputs (foley.export.parity).

    python -m foley.weights --bundle ../../models/default --out runs/recovered
    python -m foley.weights --bundle ../../models/default --refit --out ../../runs/recovered-default
"""
from __future__ import annotations

import argparse
import json
import sys
import time
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
# The refit parts: file in the bundle's REFIT_DIR, what it replaces in NOT_IN_BUNDLES.
REFIT_DIR = "train"
REFIT_FILES = {"ae_encoder": "ae_encoder.pt", "cavp_audio": "cavp_audio.pt", "eval_align": "eval_align.pt"}
REFIT_REPLACES = {"ae_encoder": NOT_IN_BUNDLES[0], "cavp_audio": NOT_IN_BUNDLES[1], "eval_align": NOT_IN_BUNDLES[2]}


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


def student_reads_contact(man: dict) -> bool:
    """Whether the manifest's student takes the contact detector's column after the features."""
    inputs = {i["name"]: i for i in man["models"]["unet_student"]["inputs"]}
    return inputs["video_features"]["shape"][-1] == man["features"]["dim"] + 1


def recover_modules(bundle: Path, profile: str | None = None, check: bool = True) -> tuple[dict, dict]:
    """(modules, report): the exported modules of foley.export.collect_modules with the bundle's
    weights, and per model the parity against its ONNX file and any parameters left unset."""
    bundle = Path(bundle)
    man = json.loads((bundle / "manifest.json").read_text())
    profile = profile or bundle_profile(bundle)
    cfg = _cfg(load_profile(profile), man)
    torch.manual_seed(0)
    mods = export.collect_modules(cfg, None)
    if man["features"].get("rightContextFrames", man["features"]["contextFrames"]) == 0:
        mods["video_encoder"].video.make_causal(keep_weights=False)     # a causal bundle (foley.finetune --causal-video)
    specs = export.io_specs(len(CLASSES), cfg["cg_window"] is not None)
    if student_reads_contact(man):
        mods["unet_student"].enable_contact_input()
        specs["unet_student"] = export.student_spec(specs, mods["unet_student"])
    report = {"profile": profile}
    gen = torch.Generator().manual_seed(1)
    for key, module in mods.items():
        sd, unset = state_from_onnx(module, bundle / man["models"][key]["file"], key)
        module.load_state_dict(sd)
        module.eval()
        report[key] = {"unset": unset}
        if check:
            report[key].update(export.parity(module, key, specs[key], bundle / man["models"][key]["file"], gen))
    refit = load_refit(bundle, mods, cfg)
    if "ae_encoder" in refit:
        report["latent_decoder"]["unset"] = [k for k in report["latent_decoder"]["unset"] if not k.startswith("ae.enc.")]
    report["refit"] = {name: f"{REFIT_DIR}/{REFIT_FILES[name]}" for name in refit}
    return mods, report


# ---------------------------------------------------------- refit parts ---

def load_refit(bundle: Path, mods: dict, cfg: dict) -> dict:
    """Loads the bundle's refit checkpoints that exist: the encoder into mods["latent_decoder"].ae,
    and adds mods["cavp"] (the shipped video encoder with the refit audio encoder) and
    mods["eval_align"]. Returns {part: its info}."""
    from .train import build_models
    folder, make, out = Path(bundle) / REFIT_DIR, build_models(cfg), {}
    for name, file in REFIT_FILES.items():
        if not (folder / file).exists():
            continue
        obj = torch.load(folder / file, map_location="cpu")
        state = {k: v.float() if v.is_floating_point() else v for k, v in obj["state"].items()}
        if name == "ae_encoder":
            _load_exact(mods["latent_decoder"].ae.enc, state, name, folder / file)
        elif name == "cavp_audio":
            cavp = make["cavp"]()
            cavp.video = mods["video_encoder"].video
            _load_exact(cavp, {**{f"video.{k}": v for k, v in cavp.video.state_dict().items()},
                               **{k: v for k, v in state.items()}}, name, folder / file)
            mods["cavp"] = cavp.eval()
        else:
            judge = make["eval_align"]()
            _load_exact(judge, state, name, folder / file)
            mods["eval_align"] = judge.eval()
        out[name] = obj.get("info", {})
    return out


def _load_exact(module: torch.nn.Module, state: dict, name: str, path: Path) -> None:
    want = module.state_dict()
    if set(want) != set(state) or any(want[k].shape != state[k].shape for k in want):
        raise WeightRecoveryError(f"[refit:{name}, file:{path}] its tensors do not fit the profile's architecture "
                                  f"(missing {sorted(set(want) - set(state))[:3]}, extra {sorted(set(state) - set(want))[:3]})")
    module.load_state_dict(state)


def load_eval_align(bundle: Path) -> torch.nn.Module | None:
    """The bundle's refit Align Acc judge in eval mode, or None when it has none."""
    path = Path(bundle) / REFIT_DIR / REFIT_FILES["eval_align"]
    if not path.exists():
        return None
    judge = nets.EvalAlignClassifier()
    _load_exact(judge, {k: v.float() for k, v in torch.load(path, map_location="cpu")["state"].items()}, "eval_align", path)
    return judge.eval()


def save_refit_part(folder: Path, name: str, state: dict, info: dict) -> Path:
    """fp16 state (compact: the bundle's train/ folder is committed) with its info."""
    folder.mkdir(parents=True, exist_ok=True)
    from .train import save
    half = {k: v.detach().half() if v.is_floating_point() else v for k, v in state.items()}
    save(folder / REFIT_FILES[name], {"state": half, "info": info})
    return folder / REFIT_FILES[name]


def _fp16_rel_error(module: torch.nn.Module, run) -> float:
    """Relative output error of `module` with its weights rounded to fp16, on run(module)."""
    import copy
    with torch.no_grad():
        ref = run(module)
        rounded = copy.deepcopy(module)
        rounded.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in module.state_dict().items()})
        return float((run(rounded) - ref).abs().max() / (ref.abs().max() + 1e-12))


def refit_ae_encoder(ctx, mods: dict, steps: int, batch: int, resume: bool = False) -> tuple[dict, dict]:
    """The encoder trained to invert the FROZEN shipped latent decoder (foley.train's autoencoder
    loss, decoder fixed), so its latents are ones the shipped LDM and decoder were made for."""
    from .train import autoencoder_loss, train_loop, val_mel_windows
    # 16-frame training windows: half the decoder's cost per sample of foley.train's 32 (the val L1 stays on 32).
    ae, st, gen, w = mods["latent_decoder"].ae, ctx.store("train"), ctx.generator("ae"), 16
    if not resume:
        ae.enc = ctx.models["ae"]().enc  # from scratch, not from the refit the bundle holds
    for p in ae.dec.parameters():
        p.requires_grad_(False)
    ae.train()
    info = train_loop(ctx, "refit_ae_encoder", list(ae.enc.parameters()), steps, ctx.cfg["ae_lr"],
                      lambda _: autoencoder_loss(ae, st.mel_at(*st.starts(batch, w, gen), w)), log_every=20)
    ae.eval()
    with torch.no_grad():
        mel = val_mel_windows(ctx.store("val"), 32)
        z = ae.encode(mel)
        info["val_l1"] = float(torch.nn.functional.l1_loss(ae.decode(z), mel))
        # The LDM was trained on encode()'s latents with unit std (the scale the decoder keeps).
        info["latent_scale"] = float(ae.scale)
        info["val_latent_std"] = float(z.std())
        info["val_latent_mean"] = float(z.mean())
        info["val_latent_channel_std"] = [float(v) for v in z.std(dim=(0, 2, 3))]
    info.update(_ldm_check(ctx, mods))
    info["fp16_rel_error"] = _fp16_rel_error(ae.enc, lambda m: m(mel.transpose(1, 2)[:, None]))
    return {k: v for k, v in ae.enc.state_dict().items()}, info


@torch.no_grad()
def _ldm_check(ctx, mods: dict, clips: int = 8) -> dict:
    """Do the shipped diffusion models understand the refit latents? The teacher's ε-MSE on them
    (noised at spread timesteps, with the clips' own video features) against the same on unit
    Gaussian "latents"; and the latents the shipped student generates for those clips, whose
    per-channel std the encoder's should match."""
    from .diffusion import Schedule, sample
    val = ctx.store("val")
    n = min(clips, val.n)
    feats = mods["video_encoder"].video.clip_features(torch.from_numpy(np.asarray(val.set.frames[:n])))
    z0 = mods["latent_decoder"].ae.encode(val.mel[:n])[:, :, :feats.shape[1]]
    sched, g = Schedule(), torch.Generator().manual_seed(5)
    t = torch.linspace(50, 950, n).long()
    noise = torch.randn(z0.shape, generator=g)
    teacher = mods["unet_teacher"]
    mse = float(((teacher(sched.q_sample(z0, t, noise), t.float(), feats) - noise) ** 2).mean())
    fake = torch.randn(z0.shape, generator=g)
    mse_gauss = float(((teacher(sched.q_sample(fake, t, noise), t.float(), feats) - noise) ** 2).mean())
    gen_z = sample(mods["unet_student"], None, feats, torch.randn(z0.shape, generator=g), ctx.cfg["student_steps"],
                   3.0, 0.0, sched)
    return {"teacher_eps_mse": mse, "teacher_eps_mse_gaussian_latents": mse_gauss,
            "student_generated_channel_std": [float(v) for v in gen_z.std(dim=(0, 2, 3))],
            "encoded_channel_std_same_clips": [float(v) for v in z0.std(dim=(0, 2, 3))]}


def refit_cavp_audio(ctx, mods: dict, steps: int, batch: int, resume: bool = False) -> tuple[dict, dict]:
    """The CAVP audio encoder (and the two temperatures) trained with foley.train's CAVP loss
    against the FROZEN shipped video encoder, whose whole-clip features are computed once."""
    from .train import compute_features, train_loop
    video = mods["video_encoder"].video
    cavp = mods["cavp"] if resume else ctx.models["cavp"]()
    cavp.video = video
    st, val, gen, w = ctx.store("train"), ctx.store("val"), ctx.generator("cavp"), ctx.cfg["cavp_window"]
    t0 = time.time()
    feats, val_feats = compute_features(video, st), compute_features(video, val)
    feature_seconds = time.time() - t0
    params = list(cavp.audio.parameters()) + [cavp.log_temp_semantic, cavp.log_temp_temporal]
    cavp.audio.train()

    def windows(s, f, idx, start):
        return f[idx[:, None], start[:, None] + torch.arange(w)], s.mel_at(idx, start, w)

    def step(_):
        ev, mel = windows(st, feats, *st.starts(batch, w, gen))
        loss, ls, lt = nets.cavp_feature_loss(cavp, ev, cavp.audio(mel))
        return loss, f"L_S {ls.item():.3f} L_T {lt.item():.3f}"

    info = train_loop(ctx, "refit_cavp_audio", params, steps, ctx.cfg["cavp_lr"], step, log_every=50)
    info["video_feature_seconds"] = feature_seconds
    cavp.eval()
    with torch.no_grad():
        # One window per val clip: which clip's video does each audio window pick (semantic),
        # and which 4-frame segment of its own clip (temporal).
        idx = torch.arange(val.n)
        start = torch.randint(0, val.t - w + 1, (val.n,), generator=torch.Generator().manual_seed(0))
        ev, mel = windows(val, val_feats, idx, start)
        ea = cavp.audio(mel)
        loss, ls, lt = nets.cavp_feature_loss(cavp, ev, ea)
        norm = torch.nn.functional.normalize
        sem = norm(ea.mean(1), dim=-1) @ norm(ev.mean(1), dim=-1).T
        seg = lambda x: x.reshape(x.shape[0], w // 4, 4, -1).mean(2)  # noqa: E731
        tem = norm(seg(ea), dim=-1) @ norm(seg(ev), dim=-1).transpose(1, 2)
        info.update(val_loss=float(loss), val_loss_semantic=float(ls), val_loss_temporal=float(lt), val_windows=val.n,
                    val_semantic_top1=float((sem.argmax(1) == idx).float().mean()),
                    val_temporal_top1=float((tem.argmax(2) == torch.arange(w // 4)).float().mean()),
                    chance_semantic=1 / val.n, chance_temporal=4 / w)
    state = {k: v for k, v in cavp.state_dict().items() if not k.startswith("video.")}
    info["fp16_rel_error"] = _fp16_rel_error(cavp.audio, lambda m: m(mel))
    return state, info


def refit_eval_align(ctx, mods: dict, resume: bool = False) -> tuple[dict, dict]:
    """foley.train's stage_eval_align as it is, from scratch (its own video encoder) on this
    data, with the step count and time cap of the refit profile."""
    from .train import stage_eval_align
    if resume:
        ctx.models["eval_align"] = lambda: mods["eval_align"]
    model, info = stage_eval_align(ctx)
    val = ctx.store("val")
    idx, start = val.starts(16, 32, torch.Generator().manual_seed(2))
    mel, frames = val.mel_at(idx, start, 32), val.frames_at(idx, start, 32)
    info["fp16_rel_error"] = _fp16_rel_error(model, lambda m: m(mel, frames))
    return model.state_dict(), info


REFIT_DEFAULTS = {"train_clips": 320, "val_clips": 48, "eval_align_steps": 1500, "eval_align_batch": 64,
                  "eval_align_seconds": 540, "ae_steps": 2000, "ae_batch": 16, "ae_seconds": 420,
                  "cavp_steps": 1500, "cavp_batch": 128, "cavp_seconds": 180}


def refit(bundle: Path, data: Path, parts: list[str], knobs: dict, command: str, resume: bool = False) -> dict:
    """Refits `parts` against the frozen shipped modules and writes them to bundle/train/.
    resume: each part continues from the one the bundle holds (more steps on a busy machine)."""
    from . import data as data_mod
    from .train import Ctx
    bundle, data = Path(bundle), Path(data)
    torch.set_num_threads(2)
    k = {**REFIT_DEFAULTS, **knobs}
    t0 = time.time()
    data_mod.build_set(data / "train", "train", k["train_clips"], 8.0, 2)
    data_mod.build_set(data / "val", "val", k["val_clips"], 8.0, 2)
    print(f"weights: refit data ready in {data} ({time.time() - t0:.0f} s)", flush=True)
    mods, report = recover_modules(bundle, check=False)
    missing = [name for name in parts if resume and name not in report["refit"]]
    if missing:
        raise WeightRecoveryError(f"[bundle:{bundle}] --resume: no refit {', '.join(missing)} in {REFIT_DIR}/ to continue from")
    profile = bundle_profile(bundle)
    cfg = load_profile(profile, [f"eval_clf_steps={k['eval_align_steps']}", f"eval_clf_batch={2 * k['eval_align_batch']}"])
    cfg["stage_seconds"] = {"eval_align": k["eval_align_seconds"], "refit_ae_encoder": k["ae_seconds"],
                            "refit_cavp_audio": k["cavp_seconds"]}
    ctx = Ctx(cfg, data / "run", "cpu", data_root=data)
    folder = bundle / REFIT_DIR
    meta_path = folder / "refit.json"
    for name in parts:
        t1 = time.time()
        torch.manual_seed(cfg["seed"])
        before = json.loads(meta_path.read_text()).get(name) if resume and meta_path.exists() else None
        if name == "eval_align":
            state, info = refit_eval_align(ctx, mods, resume)
        elif name == "ae_encoder":
            state, info = refit_ae_encoder(ctx, mods, k["ae_steps"], k["ae_batch"], resume)
        else:
            state, info = refit_cavp_audio(ctx, mods, k["cavp_steps"], k["cavp_batch"], resume)
        if before:
            keep = ("steps_done", "seconds", "wall_seconds", "continued_from")
            info["continued_from"] = {x: before.get(x) for x in keep if x in before}
        info.update(wall_seconds=time.time() - t1, threads=torch.get_num_threads(), command=command,
                    data={"train_clips": k["train_clips"], "val_clips": k["val_clips"], "clip_seconds": 8.0})
        path = save_refit_part(folder, name, state, info)
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}  # read late: another refit may run
        meta[name] = {**info, "file": path.name, "bytes": path.stat().st_size}
        meta_path.write_text(json.dumps(meta, indent=1, default=float))
        print(f"weights: refit {name}: {json.dumps({x: y for x, y in info.items() if not isinstance(y, (list, dict))}, default=float)}",
              flush=True)
    return json.loads(meta_path.read_text())


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
    refit = report.get("refit", {})
    # With the refit parts, the run-folder checkpoints foley.train and foley.evaluate load.
    if "ae_encoder" in refit:
        parts["autoencoder"] = mods["latent_decoder"].ae
    if "cavp_audio" in refit:
        parts["cavp"] = mods["cavp"]
    if "eval_align" in refit:
        parts["eval_align"] = mods["eval_align"]
    for name, m in parts.items():
        torch.save({"state": m.state_dict()}, out / f"{name}.pt")
        written.append(f"{name}.pt")
    missing = [n for n in NOT_IN_BUNDLES if n not in {REFIT_REPLACES[r] for r in refit}]
    (out / "recovered.json").write_text(json.dumps({**report, "written": written, "not_in_bundles": missing},
                                                   indent=1, default=float))
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m foley.weights", description=__doc__.split("\n")[0])
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="folder for the recovered checkpoints")
    p.add_argument("--profile", choices=sorted(PROFILES), help="default: the one the bundle's weights fit")
    p.add_argument("--refit", nargs="*", choices=list(REFIT_FILES), metavar="PART",
                   help=f"first refit these parts (default: all of {', '.join(REFIT_FILES)}) against the frozen "
                        f"shipped ones into <bundle>/{REFIT_DIR}/ (2 CPU threads, minutes)")
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "data" / "recover",
                   help="where the refit's training-world clips are generated (ignored folder)")
    p.add_argument("--resume", action="store_true", help="with --refit: continue from the parts the bundle holds")
    for key, value in REFIT_DEFAULTS.items():
        p.add_argument(f"--{key.replace('_', '-')}", type=int, default=value)
    a = p.parse_args(argv)
    if not (a.bundle / "manifest.json").exists():
        print(f"foley.weights: {a.bundle} is not a bundle (no manifest.json)", file=sys.stderr)
        return 2
    if a.refit is not None:
        refit(a.bundle, a.data, a.refit or list(REFIT_FILES), {k: getattr(a, k) for k in REFIT_DEFAULTS},
              "python -m foley.weights " + " ".join(argv if argv is not None else sys.argv[1:]), a.resume)
    mods, report = recover_modules(a.bundle, a.profile)
    for key in export.io_specs(len(CLASSES)):
        r = report[key]
        print(f"weights: {key}: parity max relative error {r['max_relative_error']:.1e}"
              + (f", {len(r['unset'])} parameters not in the bundle" if r["unset"] else ""), flush=True)
    print(f"weights: refit parts loaded: {', '.join(report['refit']) or 'none'}")
    print(f"weights: profile {report['profile']}; wrote {', '.join(write_checkpoints(mods, report, a.out))} to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
