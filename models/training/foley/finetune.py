"""Fine-tunes a bundle's few-step student UNet on prepared footage: the trainer behind
`foley train <videos> -o <bundle>`. Self-supervised: each segment's own audio is the target, its
video (through the bundle's frozen CAVP video encoder) the condition; no labels.

The data folder is a ClipSet (foley.data) that `foley train` prepares from the videos. The start
bundle's weights come from its ONNX initializers (foley.weights), the audio encoder from its refit
train/ checkpoint. The loss is the LDM's noise prediction with condition dropout (for CFG) and
temporal split & merge, at timesteps drawn half from the student's own sampling grid (the only
ones it is run at) and half uniformly. The new bundle is the start bundle with the student
replaced, its parity vectors remade, and finetune.json describing the run.

Stdout carries one JSON object per line (stage, progress, checkpoint, done) for the TypeScript
side; errors are one line on stderr: exit 3 for the bundle, 4 for the data, 2 for usage.

    python -m foley.finetune --bundle ../../models/default --data W/data --run W/run \
        --out ../../models/mine --name mine --steps 600
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import export, metrics, weights
from .allocator import keep_freed_memory
from .config import load_profile
from .diffusion import TRAIN_STEPS, Schedule, trailing_timesteps
from .data import FPS
from .nets import FEATURE_DIM
from .train import Store, compute_features, encode_latents, ldm_batch, save
from .world import CLASSES

CHECKPOINT = "finetune.pt"
WARMUP = 0.05
# Onset frames are about 2% of all (a few events in 8 s, one frame each and half-weight beside it).
ONSET_POS_WEIGHT = 8.0
# Files of the start bundle that describe it, not the fine-tuned one.
NOT_COPIED = ("eval.json", "REPORT.md", "figures", "parity.json", "reference.json", "train-report.json", "finetune.json",
              "window-distill.json")


class FinetuneError(RuntimeError):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise FinetuneError("[device:cuda] no CUDA device is visible to PyTorch", 2)
    return torch.device(name)


def load_start(bundle: Path) -> tuple[dict, dict, dict]:
    """(modules, report, manifest) of the start bundle, or FinetuneError(3) naming what is wrong."""
    if not (bundle / "manifest.json").exists():
        raise FinetuneError(f"[bundle:{bundle}] has no manifest.json", 3)
    man = json.loads((bundle / "manifest.json").read_text())
    try:
        mods, report = weights.recover_modules(bundle, check=False)
    except (weights.WeightRecoveryError, FileNotFoundError, KeyError) as e:
        raise FinetuneError(f"[bundle:{bundle}] its weights cannot be recovered: {e}", 3) from e
    if "ae_encoder" not in report["refit"]:
        raise FinetuneError(
            f"[bundle:{bundle}] has no {weights.REFIT_DIR}/{weights.REFIT_FILES['ae_encoder']} (the audio encoder that "
            f"turns footage audio into latents); make it with: python -m foley.weights --bundle {bundle} --refit", 3)
    return mods, report, man


def load_data(folder: Path, device: torch.device) -> Store:
    try:
        st = Store(folder, device)
    except FileNotFoundError as e:
        raise FinetuneError(f"[data:{folder}] {e}", 4) from e
    if st.n < 1 or st.t < 8:
        raise FinetuneError(f"[data:{folder}] holds {st.n} segments of {st.t} frames; need at least 1 of 8", 4)
    return st


@torch.no_grad()
def cached(run: Path, name: str, shape_head: tuple, make) -> torch.Tensor:
    """A tensor cached in the run folder (a resumed run skips the encoders)."""
    path = run / f"{name}.pt"
    if path.exists():
        t = torch.load(path, map_location="cpu")
        if tuple(t.shape[: len(shape_head)]) == shape_head:
            return t
    t = make().cpu()
    save(path, t)
    return t


@torch.no_grad()
def onset_labels(st: Store) -> torch.Tensor:
    """[n, T] per video frame: 1 at each onset of the clip's own audio (detected as the evaluation
    detects them), 0.5 on the frames beside it. Labels from the footage's sound alone."""
    return torch.stack([frame_labels(metrics.detect_onsets(st.mel[i].cpu().numpy()), st.t) for i in range(st.n)])


def frame_labels(times, t: int) -> torch.Tensor:
    """[t] per video frame: 1 at each time's frame, 0.5 on the frames beside it."""
    out = torch.zeros(t)
    for s in times:
        k = int(round(float(s) * FPS))
        for d, v in ((-1, 0.5), (1, 0.5), (0, 1.0)):
            if 0 <= k + d < t:
                out[k + d] = max(float(out[k + d]), v)
    return out


def augment_frames(frames: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-sample mirror, colour gain and brightness offset of frames [B, T, H, W, 3] (as floats
    in 0..255): what a camera changes that the sound does not depend on."""
    b = frames.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    gain = (0.7 + 0.6 * torch.rand(b, 1, 1, 1, 3, generator=gen)).to(frames.device)
    offset = (60 * torch.rand(b, 1, 1, 1, 1, generator=gen) - 30).to(frames.device)
    # Mirror while still 8-bit, then change one float copy in place: a step's batch is 44 M
    # values, and each out-of-place float copy of it costs a large share of a CPU step.
    flip = flip.to(frames.device)
    if bool(flip.any()):
        frames = frames.clone()
        frames[flip] = frames[flip].flip(3)
    return frames.float().mul_(gain).add_(offset).clamp_(0, 255)


def freeze_tail(frames: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """For a share p of the windows [B, T, ...], every frame after a random "present" repeats the
    present one: what a live chunk's right edge sees when it does not wait for the frames ahead."""
    b, t = frames.shape[:2]
    present = torch.randint(t // 4, t, (b,), generator=gen)
    present = torch.where(torch.rand(b, generator=gen) < p, present, torch.full((b,), t - 1))
    idx = torch.minimum(torch.arange(t)[None], present[:, None]).to(frames.device)
    return frames[torch.arange(b, device=frames.device)[:, None], idx]


def sample_timesteps(b: int, student_steps: int, gen: torch.Generator) -> torch.Tensor:
    grid = torch.tensor(trailing_timesteps(student_steps))
    on_grid = grid[torch.randint(0, len(grid), (b,), generator=gen)]
    uniform = torch.randint(0, TRAIN_STEPS, (b,), generator=gen)
    return torch.where(torch.rand(b, generator=gen) < 0.5, on_grid, uniform)


@contextlib.contextmanager
def signals_deferred():
    """SIGINT and SIGTERM only mark the list it yields (the loop checkpoints and exits between
    steps); the previous handlers are back afterwards."""
    caught: list = []
    previous = {sig: signal.signal(sig, lambda *_: caught.append(True)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


NEEDS_TRAIN_VIDEO = (
    ("scratch", "--scratch starts the video encoder from random weights"),
    ("onset_loss", "--onset-loss trains the video features"),
    ("frozen_tail", "--frozen-tail computes features per window"),
    ("causal_video", "--causal-video makes a new video encoder"),
)


def check_args(args) -> None:
    """Named before any data or weights are read."""
    if args.steps < 1 or args.batch < 1 or args.lr <= 0 or not 0 <= args.frozen_tail <= 1 or args.onset_loss < 0:
        raise FinetuneError("[args] --steps and --batch must be at least 1, --lr positive, --frozen-tail in [0, 1] and "
                            "--onset-loss not negative", 2)
    if not args.train_video:
        for field, what in NEEDS_TRAIN_VIDEO:
            if getattr(args, field):
                raise FinetuneError(f"[args] {what}: it needs --train-video", 2)


def finetune(args) -> dict:
    bundle, data, run, out = Path(args.bundle), Path(args.data), Path(args.run), Path(args.out)
    if out.exists():
        raise FinetuneError(f"[out:{out}] already exists; nothing was overwritten", 2)
    device = pick_device(args.device)
    torch.manual_seed(args.seed)
    st = load_data(data, device)
    emit("stage", stage="recover", message=f"weights of {bundle}")
    mods, report, man = load_start(bundle)
    profile = report["profile"]
    cfg = weights._cfg(load_profile(profile), man)
    run.mkdir(parents=True, exist_ok=True)

    if args.scratch:
        # The parts that map pictures to sound start from random weights (seeded); the audio codec
        # (mel encoder, latent decoder, vocoder) is sound alone and stays the start bundle's.
        torch.manual_seed(args.seed)
        fresh = export.collect_modules(cfg, None)
        if mods["unet_student"].contact is not None:   # the start's student reads the contact column
            fresh["unet_student"].enable_contact_input()
        mods = {**mods, "video_encoder": fresh["video_encoder"], "unet_student": fresh["unet_student"]}
        emit("stage", stage="scratch", message="video encoder and student from random weights")
    video = mods["video_encoder"].video.to(device).eval()
    if args.causal_video:
        video.make_causal()
    if args.train_video:
        emit("stage", stage="features", message="CAVP video features are computed per window (--train-video)")
        feats = None
    else:
        emit("stage", stage="features", message=f"CAVP video features of {st.n} segments of {st.t} frames")
        feats = cached(run, "features", (st.n, st.t), lambda: compute_features(video, st)).to(device)
    emit("stage", stage="latents", message="audio latents")
    ae = mods["latent_decoder"].ae.to(device).eval()
    lat = cached(run, "latents", (st.n,), lambda: encode_latents(ae, st)).to(device)

    student = mods["unet_student"].to(device).train()
    trained = {"unet_student": student}
    contact = None
    if student.contact is not None:
        # A student that reads the contact detector's column (foley.contact_student) gets it here too.
        from .contact_student import contact_probabilities, student_column, with_contact    # imports this module
        from .contact_detector import FILE as DETECTOR_FILE, OnnxDetector
        emit("stage", stage="contact", message=f"contact detector probabilities of {st.n} segments")
        contact = student_column(cached(run, "contact", (st.n, st.t),
                                        lambda: contact_probabilities(OnnxDetector(bundle / DETECTOR_FILE), st)), man).to(device)
    if args.train_video:
        # End to end: the LDM's loss also reaches the CAVP video encoder, so its features can learn
        # this footage's look. Features are then computed per window, with the clip-edge rule.
        trained["video_encoder"] = mods["video_encoder"].to(device).train()
    # --onset-loss: a linear probe on the video features learns where the footage's own audio has
    # onsets; its loss reaches the encoder directly, not only through the diffusion student. The
    # probe is not exported.
    aux = {}
    if args.onset_loss > 0:
        emit("stage", stage="onsets", message="onsets of the footage's own audio")
        onsets = cached(run, "onsets", (st.n, st.t), lambda: onset_labels(st)).to(device)
        aux["onset_probe"] = nn.Linear(FEATURE_DIM, 1).to(device).train()
        pos_weight = torch.tensor(ONSET_POS_WEIGHT, device=device)
    params = [p for m in [*trained.values(), *aux.values()] for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    step, elapsed_before, losses = 0, 0.0, []
    ckpt = run / CHECKPOINT
    if args.resume and ckpt.exists():
        obj = torch.load(ckpt, map_location="cpu")
        if obj["bundle"] != str(bundle.resolve()) or obj["steps"] != args.steps:
            raise FinetuneError(f"[run:{run}] its checkpoint is of another run ({obj['bundle']}, {obj['steps']} steps)", 2)
        if obj.get("scratch", False) != bool(args.scratch):
            raise FinetuneError(f"[run:{run}] its checkpoint was {'' if obj.get('scratch') else 'not '}started from scratch; "
                                f"give --scratch as the run began", 2)
        if sorted(obj["states"]) != sorted(trained) or sorted(obj.get("aux", {})) != sorted(aux):
            raise FinetuneError(f"[run:{run}] its checkpoint trained {sorted(obj['states']) + sorted(obj.get('aux', {}))}, "
                                f"this run {sorted(trained) + sorted(aux)}", 2)
        for key, m in trained.items():
            m.load_state_dict(obj["states"][key])
        for key, m in aux.items():
            m.load_state_dict(obj["aux"][key])
        opt.load_state_dict(obj["opt"])
        step, elapsed_before, losses = obj["step"], obj["elapsed"], obj["losses"]
        emit("stage", stage="train", message=f"resumed at step {step} of {args.steps}")

    def write_checkpoint() -> None:
        save(ckpt, {"states": {k: m.state_dict() for k, m in trained.items()}, "aux": {k: m.state_dict() for k, m in aux.items()},
                    "opt": opt.state_dict(), "step": step, "steps": args.steps,
                    "elapsed": elapsed_before + time.time() - t0, "losses": losses, "bundle": str(bundle.resolve()), "scratch": bool(args.scratch)})
        emit("checkpoint", step=step)

    sched = Schedule(device)
    gen = torch.Generator().manual_seed(args.seed + step)
    w = min(cfg["ldm_window"], st.t - st.t % 4)
    student_steps = man["sampling"]["steps"]
    t0 = time.time()
    last_report = last_ckpt = t0
    start_step = step
    cap = args.time_cap_s or 0.0
    stopped_by = "steps"
    def encode_window(f: torch.Tensor) -> torch.Tensor:
        f = augment_frames(f, gen) if args.augment else f
        return video.clip_features(freeze_tail(f, gen, args.frozen_tail) if args.frozen_tail > 0 else f)

    encode = encode_window if args.train_video else None
    with signals_deferred() as interrupted:
        # Announced only once a Ctrl-C is deferred: a signal right after this line still checkpoints.
        emit("stage", stage="train", message=f"{args.steps} steps at batch {args.batch}, windows of {w} frames, on {device}")
        while step < args.steps:
            if interrupted:
                write_checkpoint()
                emit("interrupted", step=step)
                raise SystemExit(130)
            elapsed = elapsed_before + time.time() - t0
            if cap and elapsed >= cap:
                stopped_by = "time-cap"
                break
            progress = min(1.0, max(step / args.steps, elapsed / cap if cap else 0.0))
            lr = args.lr * min(1.0, (progress + 1 / args.steps) / WARMUP) * 0.5 * (1 + math.cos(math.pi * progress))
            for g in opt.param_groups:
                g["lr"] = lr
            z0, fv, src_idx, src_t = ldm_batch(SimpleNamespace(device=device), st, gen, feats, lat, args.batch, w,
                                               cfg["split_merge_p"], encode, sources=True)
            keep = (torch.rand(args.batch, generator=gen) >= cfg["cond_drop"]).to(device).float()[:, None, None]
            t = sample_timesteps(args.batch, student_steps, gen).to(device)
            noise = torch.randn(z0.shape, generator=gen).to(device)
            rows = fv if contact is None else with_contact(fv, contact, src_idx.to(device), src_t.to(device))
            loss = F.mse_loss(student(sched.q_sample(z0, t, noise), t.float(), rows * keep), noise)
            if aux:
                target = onsets[src_idx.to(device), src_t.to(device)]
                loss = loss + args.onset_loss * F.binary_cross_entropy_with_logits(
                    aux["onset_probe"](fv)[..., 0], target, pos_weight=pos_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            losses.append(loss.item())
            now = time.time()
            if now - last_report >= 5 or step == args.steps:
                done_s = elapsed_before + now - t0
                left = (args.steps - step) * (now - t0) / (step - start_step)  # this process's own pace
                eta = min(left, max(0.0, cap - done_s)) if cap else left
                emit("progress", step=step, steps=args.steps, loss=float(np.mean(losses[-50:])), elapsedS=round(done_s, 1),
                     etaS=round(eta, 1))
                last_report = now
            if now - last_ckpt >= 60:
                write_checkpoint()
                last_ckpt = now
    write_checkpoint()
    seconds = elapsed_before + time.time() - t0
    info = {"from": str(bundle), "fromName": man["name"], "profile": profile, "segments": st.n, "segmentFrames": st.t,
            "steps": args.steps, "stepsDone": step, "stoppedBy": stopped_by, "seconds": round(seconds, 1),
            "finalLoss": float(np.mean(losses[-50:])) if losses else None, "batch": args.batch, "lr": args.lr,
            "windowFrames": w, "device": str(device), "seed": args.seed, "trained": sorted(trained),
            "augment": bool(args.augment and args.train_video), "causalVideo": bool(args.causal_video),
            "frozenTail": args.frozen_tail if args.train_video else 0.0, "scratch": bool(args.scratch),
            "onsetLoss": args.onset_loss}
    gate = None
    if args.contact_gate:
        # A student that reads the detector's column keeps the detector (the column); the gate is
        # still fitted on the trained features, which know this footage's look.
        from .contact_gate import fit_gate    # imports this module
        emit("stage", stage="contact-gate", message=f"fitting the contact gate on {st.n} segments")
        labels = onsets.cpu() if args.onset_loss > 0 else None    # the onset loss's labels, already made
        gate, gate_loss = fit_gate(mods["video_encoder"].video.to(device).eval(), st, labels)
        info["contactGate"] = {"fitLoss": gate_loss, "threshold": gate["threshold"]}
    emit("stage", stage="export", message=f"writing {out}")
    export_finetuned(bundle, man, mods, {k: m.cpu().eval() for k, m in trained.items()}, cfg, out, args.name, info, gate)
    return info


def export_finetuned(bundle: Path, man: dict, mods: dict, trained: dict, cfg: dict, out: Path, name: str, info: dict,
                     gate: dict | None = None, origin: str | None = None, record: str = "finetune.json") -> None:
    """Writes the bundle. `gate`: its contactGate; without one, a start bundle's gate is kept unless
    it reads the video features and the video encoder was trained (a detector gate reads frames). `origin`: how the trained
    models were made, for the manifest's description; `record`: the file `info` is written to."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(bundle, tmp, ignore=lambda _d, names: [n for n in names if n in NOT_COPIED or n.endswith(".work")])
    try:
        specs = export.io_specs(len(CLASSES), cfg["cg_window"] is not None)
        student = trained.get("unet_student", mods["unet_student"])
        specs["unet_student"] = export.student_spec(specs, student)
        gen = torch.Generator().manual_seed(info["seed"])
        parity = {key: export.export_one(m, key, specs[key], tmp / man["models"][key]["file"], gen) for key, m in trained.items()}
        mods = {**mods, **trained}
        sampling = trained_sampling(man["sampling"], bool(info.get("scratch")))
        if origin is None:
            origin = f"trained from random weights by foley train on {info['segments']} segments ({info['stepsDone']} steps), " \
                     f"with {man['name']}'s audio codec" if info.get("scratch") else \
                     f"{man['name']}'s {' and '.join(sorted(trained))} fine-tuned by foley train on {info['segments']} segments " \
                     f"({info['stepsDone']} steps)"
        ref_cfg = {**cfg, "student_steps": sampling["steps"], "cfg_scale": sampling["cfgScale"], "cg_scale": sampling["cgScale"],
                   "cg_max_timestep": sampling.get("cgMaxTimestep", TRAIN_STEPS - 1), "restarts": sampling.get("restarts", 0),
                   "restart_max_timestep": sampling.get("restartMaxTimestep", TRAIN_STEPS - 1)}
        (tmp / "reference.json").write_text(json.dumps(export.make_reference(mods, ref_cfg)))
        new_man = {**man, "name": name, "sampling": sampling,
                   "features": features_reach(man, mods["video_encoder"].video),
                   "description": f"profile {info['profile']} (read by foley.weights), {origin}"}
        if "unet_student" in trained:   # its signature: the contact column (export.student_spec)
            spec = specs["unet_student"]
            new_man["models"] = {**man["models"], "unet_student": {
                **man["models"]["unet_student"],
                "inputs": [{"name": n, **v} for n, v in spec["inputs"].items()],
                "outputs": [{"name": n, **v} for n, v in spec["outputs"].items()]}}
        if gate is not None:
            new_man["contactGate"] = gate
        elif "video_encoder" in trained and (man.get("contactGate") or {}).get("source", "features") == "features":
            new_man.pop("contactGate", None)
        (tmp / "manifest.json").write_text(json.dumps(new_man, indent=1))
        (tmp / record).write_text(json.dumps({**info, "parity": parity}, indent=1))
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def features_reach(man: dict, video) -> dict:
    """The new bundle's features entry: the trained encoder's reach, and behind it at least as far
    as the start bundle's when its contact detector is kept (a detector may read further behind
    than the encoder, and the engine hands it the features' frames)."""
    behind = video.context_frames
    if "contact_detector" in man["models"]:
        behind = max(behind, man["features"]["contextFrames"])
    return {**man["features"], "contextFrames": behind, "rightContextFrames": video.right_context_frames}


def trained_sampling(sampling: dict, scratch: bool) -> dict:
    """The start bundle's sampling settings as a trained bundle keeps them. The second pass at
    openings the student left silent (silentOpeningGain) was chosen for the default's student and
    detector, not measured on trained bundles: left out. From scratch, no classifier guidance: the
    alignment classifier reads the start bundle's video features, which a scratch encoder does not
    make, so its guidance would push toward noise."""
    kept = {k: v for k, v in sampling.items() if k not in ("silentOpeningGain", "silentOpeningMaxDbfs")}
    return {**kept, "cgScale": 0.0} if scratch else kept


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="foley.finetune", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, help="start bundle folder")
    p.add_argument("--data", required=True, help="prepared footage (a foley.data ClipSet folder)")
    p.add_argument("--run", required=True, help="run folder: caches and the resumable checkpoint")
    p.add_argument("--out", required=True, help="new bundle folder (must not exist)")
    p.add_argument("--name", default=None, help="the new bundle's name (default: the folder's name)")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--time-cap-s", type=float, default=0.0, help="stop after this many seconds of training (0: none)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (0: its default, one per core)")
    p.add_argument("--train-video", action="store_true", help="fine-tune the CAVP video encoder too (end to end)")
    p.add_argument("--causal-video", action="store_true",
                   help="with --train-video: make the video encoder causal (no frame ahead) for the low-latency live path")
    p.add_argument("--frozen-tail", type=float, default=0.0, metavar="P",
                   help="with --train-video: share of windows whose frames after a random present repeat it, "
                        "as a live chunk's right edge sees them")
    p.add_argument("--augment", action="store_true", help="with --train-video: mirror and colour-jitter the training windows")
    p.add_argument("--scratch", action="store_true",
                   help="with --train-video: start the video encoder and the student from random weights instead of the "
                        "start bundle's (its audio codec is kept)")
    p.add_argument("--onset-loss", type=float, default=0.0, metavar="W",
                   help="with --train-video: add W times a probe's loss for the onsets of the footage's own audio, "
                        "read from the video features (0: off)")
    p.add_argument("--contact-gate", action="store_true",
                   help="fit the bundle's contact gate (foley.contact_gate) on the footage with the trained video encoder "
                        "(a student that reads the contact detector's column keeps the detector for that column)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    args = p.parse_args(argv)
    # stderr is for the one-line error the CLI shows: the tracer's and numpy's notes are not errors.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    args.name = args.name or Path(args.out).name
    keep_freed_memory()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        check_args(args)
        info = finetune(args)
    except FinetuneError as e:
        print(str(e), file=sys.stderr)
        return e.code
    emit("done", out=str(args.out), stepsDone=info["stepsDone"], seconds=info["seconds"], finalLoss=info["finalLoss"],
         stoppedBy=info["stoppedBy"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
