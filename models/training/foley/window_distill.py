"""Window-consistency self-distillation of a bundle's student for the live chunker.

The live path samples each chunk in a short window (pipelines/live: 14 frames of context, 4 new,
a 2-frame guard whose last feature repeats the exact look-ahead one), where the offline render
sees whole 100-frame windows. This trains the student so that on such a short window its noise
prediction for the last frames (the new ones and the guard) is what a frozen copy of itself
predicts for the same frames inside the whole window, at the same timesteps of its own sampling
grid, with the condition dropped as in training so CFG still works. A second term keeps its
predictions on whole windows where the frozen copy's are, so the offline render stays close.

No ground-truth noise target is used: an ε-loss fine-tune of the distilled student on the same
clips lost live onset F1 (docs/experiments.md section 18). The new bundle is the start bundle with
the student replaced and its reference vectors remade.

`--guidance` folds classifier-free guidance into the student (guidance distillation, Meng et al.
2023): the target becomes the frozen copy's guided ε, (1 + ω)·ε(c) − ω·ε(∅) with the bundle's ω,
every row keeps its condition, and the new bundle samples with cfgScale 0, so each step is one
conditional pass instead of two.

`--halve-steps` is progressive distillation (Salimans & Ho 2022) on the same windows: one student
step on a grid of half the bundle's steps must land where two of the frozen copy's (guided, with
`--guidance`) land, and the new bundle samples with half the steps. `--init` starts the student
from another bundle's student of the same graph (a run folded earlier, say); the target stays the
start bundle's.

`--feature-noise σ` perturbs the video features of half the windows (Gaussian noise, σ times each
dimension's spread over the footage) before both the frozen copy and the student see them: the
target is the frozen copy's answer to the same input, so the student learns to follow it on
features the footage does not have, as unseen pictures give.

A student that reads the contact detector's column (foley.contact_student) gets that column from
the bundle's detector after the features; where the bundle declares the unknown-contact marker, a
share of the live windows carry it on their last frames, as the low preset writes it.

    python -m foley.window_distill --bundle ../../models/default --data ../../data/recover/train \\
        --out ../../runs/wd/bundle --steps 3000 --lr 1.5e-4
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from . import weights
from .allocator import keep_freed_memory
from .config import load_profile
from .contact_detector import FILE as DETECTOR_FILE, OnnxDetector
from .contact_student import contact_probabilities, mark_unknown_edge, student_column
from .diffusion import Schedule, halved_grid, pair_step_target
from .finetune import FinetuneError, export_finetuned, load_data, load_start, sample_timesteps
from .train import compute_features, encode_latents, latent_windows, ldm_batch

# The live chunker's balanced window, and its frames past the context (4 new + 2 guard).
LIVE_WINDOW_FRAMES = 20
LIVE_TAIL_FRAMES = 6
# The low preset's window: 12 frames of context, 2 new, 2 guard. It waits for no frame past the
# present (its last new frame), so the new frames' features see the picture frozen ahead and
# the guard repeats the present's.
LOW_WINDOW_FRAMES = 16
LOW_TAIL_FRAMES = 4
LOW_GUARD_FRAMES = 2
# Whole windows per step in the term that keeps the offline render where it is.
WHOLE_WINDOWS = 4
# The share of a step's whole windows whose video features --feature-noise perturbs.
PERTURBED_SHARE = 0.5
# The run's record in the new bundle (foley.finetune writes finetune.json).
RECORD = "window-distill.json"


def _crops(zt: torch.Tensor, fv: torch.Tensor, t: torch.Tensor, target: torch.Tensor, ends: torch.Tensor,
           window: int, tail: int):
    """Windows of `window` frames ending at `ends` [B, k] of each whole window: (z_t, features,
    timesteps, the frozen student's ε for the last `tail` frames), one row per crop."""
    b, k = ends.shape
    rows = torch.arange(b)[:, None].expand(b, k).reshape(-1)
    frames = ends.reshape(-1)[:, None] - window + torch.arange(window)[None]
    z = zt[rows[:, None], :, frames].permute(0, 2, 1, 3)           # [Bk, C, L, F]
    f = fv[rows[:, None], frames]                                     # [Bk, L, D]
    tgt = target[rows[:, None], :, frames[:, -tail:]].permute(0, 2, 1, 3)
    return z, f, t[rows], tgt


def crops_of(zt: torch.Tensor, fv: torch.Tensor, t: torch.Tensor, target: torch.Tensor, ends: torch.Tensor):
    """The live chunker's windows ending at `ends` [B, k]: features with the last one repeated,
    the target for the last LIVE_TAIL_FRAMES."""
    z, f, tc, tgt = _crops(zt, fv, t, target, ends, LIVE_WINDOW_FRAMES, LIVE_TAIL_FRAMES)
    return z, torch.cat([f[:, :-1], f[:, -2:-1]], dim=1), tc, tgt


def frozen_ahead_features(video: torch.nn.Module, st, idx: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Features [N, R+1, D] of frames present-R .. present of clip idx, as the live path computes
    them when no frame past the present has arrived (R: the encoder's right reach)."""
    left, right = video.context_frames, video.right_context_frames
    span = left + right + 1
    frames = st.frames_at(idx, present - span + 1, span)
    return video.clip_features(frames)[:, -(right + 1):]


def low_crops_of(zt: torch.Tensor, fv: torch.Tensor, ahead: torch.Tensor, t: torch.Tensor, target: torch.Tensor,
                 ends: torch.Tensor):
    """Low-preset windows ending at `ends` [B, k], the target for the last LOW_TAIL_FRAMES.
    `ahead` [B*k, R+1, D] replaces the features of the frames up to the present (the window's
    last frame before the guard); the guard repeats the present's."""
    z, f, tc, tgt = _crops(zt, fv, t, target, ends, LOW_WINDOW_FRAMES, LOW_TAIL_FRAMES)
    present = LOW_WINDOW_FRAMES - LOW_GUARD_FRAMES - 1
    f[:, present - ahead.shape[1] + 1: present + 1] = ahead
    f[:, present + 1:] = ahead[:, -1:]
    return z, f, tc, tgt


def condition_kept(n: int, gen: torch.Generator, cfg: dict, guidance: float | None) -> torch.Tensor:
    """1 per row that keeps its condition: dropout as in training, or every row when guidance is folded in."""
    if guidance is not None:
        return torch.ones(n)
    return (torch.rand(n, generator=gen) >= cfg["cond_drop"]).float()


def teacher_eps(frozen: torch.nn.Module, zt: torch.Tensor, t: torch.Tensor, fv: torch.Tensor,
                guidance: float | None) -> torch.Tensor:
    """The frozen copy's ε, or with `guidance` ω its guided ε (1 + ω)·ε(c) − ω·ε(∅), both rows in one pass."""
    if guidance is None:
        return frozen(zt, t.float(), fv)
    both = frozen(torch.cat([zt, zt]), torch.cat([t, t]).float(), torch.cat([fv, torch.zeros_like(fv)]))
    cond, uncond = both.chunk(2)
    return (1 + guidance) * cond - guidance * uncond


def draw_timesteps(b: int, steps: int, gen: torch.Generator, halve: bool):
    """(t, pair): t on the student's grid and the frozen copy's two steps (t_mid, t_next) when
    halving; else t as in training (foley.finetune) and pair None."""
    if not halve:
        return sample_timesteps(b, steps, gen), None
    t, t_mid, t_next = halved_grid(steps // 2, b, gen)
    return t, (t_mid, t_next)


def target_eps(frozen: torch.nn.Module, zt: torch.Tensor, t: torch.Tensor, fv: torch.Tensor, guidance: float | None,
               pair, sched: Schedule) -> torch.Tensor:
    """The frozen copy's (guided) ε at t, or with `pair` the ε of one step over two of its steps."""
    if pair is None:
        return teacher_eps(frozen, zt, t, fv, guidance)
    return pair_step_target(lambda z, tt: teacher_eps(frozen, z, tt, fv, guidance), zt, t, *pair, sched)


def perturbed(fv: torch.Tensor, spread: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """fv [B, T, D] with PERTURBED_SHARE of its rows' first len(spread) dims (the video features;
    a contact column after them is kept) plus Gaussian noise of sigma × spread."""
    d = spread.shape[0]
    rows = (torch.rand(fv.shape[0], generator=gen) < PERTURBED_SHARE).float()[:, None, None]
    noise = torch.randn(fv.shape[0], fv.shape[1], d, generator=gen) * (sigma * spread)
    out = fv.clone()
    out[..., :d] += rows * noise
    return out


def distill(args) -> dict:
    bundle, out = Path(args.bundle), Path(args.out)
    if out.exists():
        raise FinetuneError(f"[out:{out}] already exists; nothing was overwritten", 2)
    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    mods, report, man = load_start(bundle)
    cfg = weights._cfg(load_profile(report["profile"]), man)
    reads_contact = getattr(mods["unet_student"], "contact", None) is not None
    if reads_contact and args.low_crops:
        raise FinetuneError(f"[bundle:{bundle}] its student reads the contact detector's column; --low-crops recomputes "
                            "the features alone: leave it out", 2)
    if reads_contact and not (bundle / DETECTOR_FILE).exists():
        raise FinetuneError(f"[bundle:{bundle}] its student reads the contact column but it has no {DETECTOR_FILE}", 3)
    # The share of live windows whose newest frames carry the unknown-contact marker.
    unknown_edge = args.unknown_edge if reads_contact and man["sampling"].get("contactUnknown") is not None else 0.0
    guidance = None
    if args.guidance:
        guidance = float(man["sampling"]["cfgScale"])
        if guidance == 0:
            raise FinetuneError(f"[bundle:{bundle}] samples with cfgScale 0: there is no guidance to fold in", 2)
    steps = int(man["sampling"]["steps"])
    if args.halve_steps and (steps < 2 or steps % 2):
        raise FinetuneError(f"[bundle:{bundle}] samples with {steps} steps; --halve-steps needs an even number", 2)
    init = None
    if args.init:
        try:
            init = weights.recover_modules(Path(args.init), check=False)[0]["unet_student"].state_dict()
        except (weights.WeightRecoveryError, FileNotFoundError, KeyError) as e:
            raise FinetuneError(f"[init:{args.init}] its student cannot be recovered: {e}", 3) from e
        own = mods["unet_student"].state_dict()
        if {k: v.shape for k, v in init.items()} != {k: v.shape for k, v in own.items()}:
            raise FinetuneError(f"[init:{args.init}] its student is not the start bundle's graph", 3)
    # The bundle is checked before the footage is read.
    # A folder given twice is read and prepared once and gets both shares of the windows.
    listed = [str(Path(f).resolve()) for f in [args.data, *args.more_data]]
    folders = list(dict.fromkeys(listed))
    sets = [load_data(Path(folder), device) for folder in folders]
    for folder, s in zip(folders, sets):
        if s.t < LIVE_WINDOW_FRAMES:
            raise FinetuneError(f"[data:{folder}] segments of {s.t} frames; need at least {LIVE_WINDOW_FRAMES}", 4)
    st = sets[0]
    video = mods["video_encoder"].video.eval()
    detector = OnnxDetector(bundle / DETECTOR_FILE) if reads_contact else None
    ae = mods["latent_decoder"].ae.eval()

    def prepared(s) -> tuple:
        f = compute_features(video, s)
        if detector is not None:
            f = torch.cat([f, student_column(contact_probabilities(detector, s), man)[..., None]], -1)
        with torch.no_grad():
            return f, encode_latents(ae, s)

    feats_lats = [prepared(s) for s in sets]
    feats, lat = feats_lats[0]
    if args.feature_noise > 0:   # each video feature's spread over all the footage
        video_dims = feats.shape[-1] - (1 if detector is not None else 0)
        spread = torch.cat([f[..., :video_dims].reshape(-1, video_dims) for f, _ in feats_lats]).std(0)
    # Each set's share of a step's whole windows: an equal share per folder as listed.
    per_listed = [args.batch // len(listed) + (i < args.batch % len(listed)) for i in range(len(listed))]
    shares = [sum(n for f, n in zip(listed, per_listed) if f == folder) for folder in folders]
    student = mods["unet_student"].train()
    frozen = copy.deepcopy(student).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    if init is not None:
        student.load_state_dict(init)
    sched, gen = Schedule(device), torch.Generator().manual_seed(args.seed)
    w = min(cfg["ldm_window"], *(s.t - s.t % 4 for s in sets))
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=1e-4)
    t0, losses = time.time(), []
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / (0.05 * args.steps)) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        parts = [ldm_batch(SimpleNamespace(device=device), s, gen, f, l, n, w, cfg["split_merge_p"])
                 for s, (f, l), n in zip(sets, feats_lats, shares) if n > 0]
        order = torch.randperm(args.batch, generator=gen)   # the whole-window term takes the first rows
        z0, fv = torch.cat([p[0] for p in parts])[order], torch.cat([p[1] for p in parts])[order]
        if args.feature_noise > 0:   # before the dropout: a dropped condition stays all zeros
            fv = perturbed(fv, spread, args.feature_noise, gen)
        fv = fv * condition_kept(args.batch, gen, cfg, guidance)[:, None, None]
        t, pair = draw_timesteps(args.batch, steps, gen, args.halve_steps)
        zt = sched.q_sample(z0, t, torch.randn(z0.shape, generator=gen))
        with torch.no_grad():
            target = target_eps(frozen, zt, t, fv, guidance, pair, sched)
        ends = torch.randint(LIVE_WINDOW_FRAMES, w + 1, (args.batch, args.crops), generator=gen)
        zc, fc, tc, tgt = crops_of(zt, fv, t, target, ends)
        if unknown_edge > 0:
            fc = mark_unknown_edge(fc, unknown_edge, gen)
        loss_live = F.mse_loss(student(zc, tc.float(), fc)[:, :, -LIVE_TAIL_FRAMES:], tgt)
        n = min(WHOLE_WINDOWS, args.batch)
        loss_whole = F.mse_loss(student(zt[:n], t[:n].float(), fv[:n]), target[:n])
        loss = loss_live + args.whole_weight * loss_whole
        loss_low = torch.zeros(())
        if args.low_crops:
            loss_low = low_preset_loss(args, st, gen, sched, video, feats, lat, student, frozen, w, cfg, man, guidance)
            loss = loss + args.low_weight * loss_low
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        losses.append((loss_live.item(), loss_whole.item(), loss_low.item()))
        if step % 100 == 0 or step == args.steps - 1:
            recent = losses[-100:]
            print(json.dumps({"event": "progress", "step": step + 1, "steps": args.steps,
                              "liveLoss": sum(x[0] for x in recent) / len(recent),
                              "wholeLoss": sum(x[1] for x in recent) / len(recent),
                              **({"lowLoss": sum(x[2] for x in recent) / len(recent)} if args.low_crops else {}),
                              "elapsedS": round(time.time() - t0, 1)}), flush=True)
    info = {"from": str(bundle), "fromName": man["name"], "profile": report["profile"], "segments": sum(s.n for s in sets),
            "segmentFrames": st.t, "steps": args.steps, "stepsDone": args.steps, "seconds": round(time.time() - t0, 1),
            "recipe": "window-consistency self-distillation (foley.window_distill)", "batch": args.batch,
            "crops": args.crops, "lr": args.lr, "wholeWeight": args.whole_weight, "seed": args.seed,
            "finalLiveLoss": losses[-1][0], "finalWholeLoss": losses[-1][1]}
    if args.more_data:
        info.update(sets=[{"data": folder, "segments": s.n, "windowsPerStep": n} for folder, s, n in zip(folders, sets, shares)])
    if reads_contact:
        info.update(contactColumn=True, unknownEdge=unknown_edge)
    if guidance is not None:
        info.update(guidanceFolded=guidance)
        man = {**man, "sampling": {**man["sampling"], "cfgScale": 0.0}}
    if args.halve_steps:
        info.update(halvedSteps={"from": steps, "to": steps // 2})
        man = {**man, "sampling": {**man["sampling"], "steps": steps // 2}}
    if args.init:
        info.update(init=str(args.init))
    if args.feature_noise > 0:
        info.update(featureNoise=args.feature_noise, perturbedShare=PERTURBED_SHARE)
    if args.low_crops:
        info.update(lowBatch=args.low_batch, lowCrops=args.low_crops, lowWeight=args.low_weight,
                    finalLowLoss=losses[-1][2])
    origin = (f"{man['name']}'s unet_student window-distilled for the live chunker"
              f"{f' with CFG ω {guidance} folded in' if guidance is not None else ''}"
              f"{f', {steps} steps halved to {steps // 2}' if args.halve_steps else ''} by foley.window_distill "
              f"on {sum(s.n for s in sets)} segments ({args.steps} steps)")
    export_finetuned(bundle, man, mods, {"unet_student": student.eval()}, cfg, out, args.name or man["name"], info,
                     origin=origin, record=RECORD)
    return info


def low_preset_loss(args, st, gen, sched, video, feats, lat, student, frozen, w, cfg, man,
                    guidance: float | None = None) -> torch.Tensor:
    """The low preset's term: whole windows without split & merge (the frames behind each crop
    must be one clip's), crops in its geometry, their near-present features recomputed."""
    b = args.low_batch
    idx, start = st.starts(b, w, gen)
    tt = start[:, None] + torch.arange(w)[None]
    z0 = latent_windows(lat, idx[:, None].expand(b, w), tt)
    keep = condition_kept(b, gen, cfg, guidance)
    fv = feats[idx[:, None], tt] * keep[:, None, None]
    t, pair = draw_timesteps(b, int(man["sampling"]["steps"]), gen, args.halve_steps)
    zt = sched.q_sample(z0, t, torch.randn(z0.shape, generator=gen))
    with torch.no_grad():
        target = target_eps(frozen, zt, t, fv, guidance, pair, sched)
        ends = torch.randint(LOW_WINDOW_FRAMES, w + 1, (b, args.low_crops), generator=gen)
        rows = torch.arange(b)[:, None].expand(b, args.low_crops).reshape(-1)
        present = start[rows] + ends.reshape(-1) - LOW_GUARD_FRAMES - 1
        ahead = frozen_ahead_features(video, st, idx[rows], present) * keep[rows][:, None, None]
    zc, fc, tc, tgt = low_crops_of(zt, fv, ahead, t, target, ends)
    return F.mse_loss(student(zc, tc.float(), fc)[:, :, -LOW_TAIL_FRAMES:], tgt)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m foley.window_distill", description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True, help="start bundle (its student is distilled into itself)")
    p.add_argument("--data", required=True, help="footage, a foley.data ClipSet folder")
    p.add_argument("--more-data", action="append", default=[], metavar="DIR",
                   help="more footage, a ClipSet folder (repeatable): each set gives an equal share of every step's "
                        "whole windows (the low preset's term reads --data only)")
    p.add_argument("--out", required=True, help="new bundle folder (must not exist)")
    p.add_argument("--name", default=None, help="the new bundle's name (default: the start bundle's)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16, help="whole windows per step")
    p.add_argument("--crops", type=int, default=4, help="live windows cut from each whole window")
    p.add_argument("--lr", type=float, default=1.5e-4)
    p.add_argument("--whole-weight", type=float, default=0.5)
    p.add_argument("--low-crops", type=int, default=0,
                   help="also train on the low latency preset's windows: crops per whole window (0: off)")
    p.add_argument("--low-batch", type=int, default=8, help="whole windows per step for the low preset's term")
    p.add_argument("--low-weight", type=float, default=1.0)
    p.add_argument("--unknown-edge", type=float, default=0.3, metavar="P",
                   help="for a student that reads the contact column in a bundle that declares the unknown-contact "
                        "marker: the share of live windows whose last 1-4 frames carry it")
    p.add_argument("--guidance", action="store_true",
                   help="fold the bundle's classifier-free guidance into the student (the new bundle samples with cfgScale 0)")
    p.add_argument("--halve-steps", action="store_true",
                   help="progressive distillation: one student step for two of the start bundle's (the new bundle "
                        "samples with half the steps)")
    p.add_argument("--init", default=None, metavar="BUNDLE",
                   help="start the student from this bundle's student (same graph); the target stays --bundle's")
    p.add_argument("--feature-noise", type=float, default=0.0, metavar="SIGMA",
                   help="perturb half the windows' video features by Gaussian noise of SIGMA times each dimension's "
                        "spread, for the frozen copy and the student alike (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (0: its default)")
    a = p.parse_args(argv)
    if a.steps < 1 or a.batch < 1 or a.crops < 1 or a.lr <= 0 or a.whole_weight < 0 or not 0 <= a.unknown_edge <= 1 \
            or a.feature_noise < 0:
        print("error: [args] --steps, --batch and --crops must be at least 1, --lr positive, --whole-weight not negative, "
              "--unknown-edge in 0..1, --feature-noise not negative", file=sys.stderr)
        return 2
    keep_freed_memory()
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        info = distill(a)
    except FinetuneError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    print(json.dumps({"event": "done", "out": a.out, **info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
