"""A student that reads the contact detector: sound where the motion shows a contact, in any look.

The bundle's contact gate can only silence what the student made. With the gate opened at the
true event frames (an oracle), the held-out worlds still reach onset recall 0.45-0.78 only
(docs/experiments.md section 23): where the CAVP features do not know a world's look, the student
makes no sound at its contacts. This gives the student the motion-only contact detector's
per-frame probability as one more feature column (nets.UNet.enable_contact_input; the engine
passes it when the student's video_features input is one column wider than the features) and
trains it on two halves per step:

- clips of the world family (many looks), against the true noise (the ε-loss), with a share of
  rows whose video features are dropped and whose contact column is kept, so the contact column
  alone must call up a sound;
- clips of the training world, against a frozen copy of the start student on the features alone,
  so the project's world keeps what it had.

A start student that already reads the column goes on training with --start-detector, the detector
it learned to read: the world half's target is then the frozen start student reading that
detector's column, and the student reads the bundle's, so a new detector can replace the old one
without the student forgetting what the old column meant (a still picture's silence, say).

    python -m foley.contact_student --bundle ../../models/default --data ../../data/recover/train \\
        --family ../../data/family --run ../../runs/cs --out ../../runs/cs/bundle --steps 4000
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from . import weights
from .allocator import keep_freed_memory
from .config import load_profile
from .contact_detector import FILE as DETECTOR_FILE, OnnxDetector
from .diffusion import Schedule
from .finetune import FinetuneError, cached, export_finetuned, load_data, load_start, sample_timesteps
from .train import compute_features, encode_latents, ldm_batch

RECORD = "contact-student.json"
# The contact column's value for a frame whose detector read is not exact yet (the low-latency
# preset's newest frames, read before their right context arrived); the bundle declares it
# (manifest sampling.contactUnknown) and the live path writes it there.
CONTACT_UNKNOWN = -1.0
# Frames at a window's right edge that may carry the unknown marker: the low preset's 2 new
# frames and its 2-frame guard.
MAX_UNKNOWN_FRAMES = 4
# Still pictures drawn once from the world's clips for --still-share.
STILL_PICTURES = 256
# How far a feature-shifted window's features are read off (frames, either way): past the ±50 ms
# onset tolerance and within a bounce's or step's spacing.
SHIFT_FRAMES = (3, 12)


@torch.no_grad()
def contact_probabilities(detector: OnnxDetector, st, chunk: int = 8) -> torch.Tensor:
    """[n, T]: the detector's per-frame contact probability over each whole clip of a Store."""
    out = torch.empty(st.n, st.t)
    for i in range(0, st.n, chunk):
        idx = torch.arange(i, min(st.n, i + chunk))
        frames = st.frames_at(idx, torch.zeros(len(idx), dtype=torch.long), st.t).cpu()
        out[i: i + len(idx)] = detector(frames.contiguous())
    return out


def file_tag(path: Path | str) -> str:
    """A short digest of a file's bytes: caches named by it are not read for another file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def cache_tags(bundle: Path) -> dict:
    """The digests naming a run folder's caches: each cache is read again only with the same
    video encoder, audio encoder or detector (a run folder may serve several bundles)."""
    return {"features": file_tag(bundle / "video_encoder.onnx"),
            "latents": file_tag(bundle / weights.REFIT_DIR / weights.REFIT_FILES["ae_encoder"]),
            "contact": file_tag(bundle / DETECTOR_FILE)}


def prepare(st, name: str, run: Path, tags: dict, video, ae, detector) -> tuple:
    """(features, latents, contact probabilities) of a Store, cached in the run folder."""
    feats = cached(run, f"{name}-features-{tags['features']}", (st.n, st.t), lambda: compute_features(video, st))
    lat = cached(run, f"{name}-latents-{tags['latents']}", (st.n,), lambda: encode_latents(ae, st))
    probs = cached(run, f"{name}-contact-{tags['contact']}", (st.n, st.t), lambda: contact_probabilities(detector, st))
    return feats, lat, probs


def with_contact(fv: torch.Tensor, probs: torch.Tensor, src_idx: torch.Tensor, src_t: torch.Tensor) -> torch.Tensor:
    """Feature rows [b, w, D + 1]: the window's features and each frame's contact probability."""
    return torch.cat([fv, probs[src_idx, src_t][..., None]], -1)


@torch.no_grad()
def still_rows(video, detectors: tuple, st, count: int, gen: torch.Generator) -> torch.Tensor:
    """[count, D + k]: the features of still pictures and the contact column of each of k detectors,
    each picture repeated over the encoder's reach: one frame of a clip each, and a quarter of them
    blank (one colour, the first black), as a covered lens or an empty screen gives."""
    blank = count // 4
    idx, at = torch.randint(0, st.n, (count - blank,), generator=gen), torch.randint(0, st.t, (count - blank,), generator=gen)
    pictures = st.frames_at(idx, at, 1).cpu()
    colours = torch.randint(0, 256, (blank, 3), generator=gen, dtype=torch.uint8)
    colours[:1] = 0
    pictures = torch.cat([pictures, colours[:, None, None, None, :].expand(-1, 1, *pictures.shape[2:4], -1)])
    reach = 2 * video.context_frames + 1
    frames = pictures.expand(-1, reach, -1, -1, -1).contiguous()
    rows = []
    for i in range(0, count, 16):
        part = frames[i: i + 16]
        rows.append(torch.cat([video.clip_features(part)[:, reach // 2],
                               *(d(part)[:, reach // 2, None] for d in detectors)], 1))
    return torch.cat(rows)


def unknown_edge(b: int, w: int, share: float, gen: torch.Generator) -> torch.Tensor:
    """[b, w]: True on the last 1..MAX_UNKNOWN_FRAMES frames of a share of b windows of w frames."""
    k = torch.randint(1, MAX_UNKNOWN_FRAMES + 1, (b,), generator=gen)
    on = torch.rand(b, generator=gen) < share
    return on[:, None] & (torch.arange(w)[None] >= w - k[:, None])


def mark_unknown(rows: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
    """Rows [b, w, D + 1] with the contact column at CONTACT_UNKNOWN where edge [b, w] is True."""
    return torch.cat([rows[..., :-1], torch.where(edge, CONTACT_UNKNOWN, rows[..., -1])[..., None]], -1)


def mark_unknown_edge(rows: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """Rows [b, w, D + 1] with the contact column at CONTACT_UNKNOWN on the last 1..MAX_UNKNOWN_FRAMES
    frames of a share of the windows: where the present is, the student must fall back on the features."""
    return mark_unknown(rows, unknown_edge(rows.shape[0], rows.shape[1], share, gen))


def shifted_features(fv: torch.Tensor, feats: torch.Tensor, src_idx: torch.Tensor, src_t: torch.Tensor, share: float,
                     gen: torch.Generator) -> torch.Tensor:
    """fv [b, w, D] with a share of the windows' features read SHIFT_FRAMES earlier or later in their
    clips while the contact column and the target stay: where the features' timing disagrees with
    the detector's, the detector's is the one to follow."""
    b = fv.shape[0]
    lo, hi = SHIFT_FRAMES
    off = torch.randint(lo, hi + 1, (b,), generator=gen) * (torch.randint(0, 2, (b,), generator=gen) * 2 - 1)
    moved = feats[src_idx, (src_t + off[:, None]).clamp(0, feats.shape[1] - 1)]
    on = torch.rand(b, generator=gen) < share
    return torch.where(on[:, None, None], moved, fv)


# Openings closer than this (frames) are one contact, the highest kept: dsp/contact-gate.ts
# MIN_OPENING_GAP_FRAMES.
MIN_OPENING_GAP_FRAMES = 3


def openings_column(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """[n, T]: 1 at the contact gate's openings of each row of probabilities [n, T], 0 elsewhere; the
    engine's contactOpenings (dsp/contact-gate.ts): local maxima (above the frame before, not below the
    one after, zero beyond the ends) at or above threshold, the highest of any closer than
    MIN_OPENING_GAP_FRAMES."""
    zero = torch.zeros_like(probs[:, :1])
    before, after = torch.cat([zero, probs[:, :-1]], 1), torch.cat([probs[:, 1:], zero], 1)
    peak = (probs >= threshold) & (probs > before) & (probs >= after)
    out = torch.zeros_like(probs)
    for i, t in enumerate(peak.tolist()):
        row, kept = probs[i].tolist(), []
        for f in sorted((f for f, on in enumerate(t) if on), key=lambda f: (-row[f], f)):
            if all(abs(k - f) >= MIN_OPENING_GAP_FRAMES for k in kept):
                kept.append(f)
        out[i, kept] = 1.0
    return out


def student_column(probs: torch.Tensor, man: dict) -> torch.Tensor:
    """What a bundle's contact-reading student reads of the detector's probabilities [n, T]: their
    openings where the bundle declares sampling.contactOpenings (--column openings), else themselves."""
    threshold = man["sampling"].get("contactOpenings")
    return probs if threshold is None else openings_column(probs, threshold)


class FamilySets:
    """Several family Stores read as one by ldm_batch (which reads n, t and starts); their cached
    features, latents and contact columns are concatenated in the same order."""

    def __init__(self, stores: list):
        if len({st.t for st in stores}) != 1:
            raise FinetuneError("[family] the sets' segments differ in length: "
                                + ", ".join(f"{st.set.folder}: {st.t} frames" for st in stores), 4)
        self.n, self.t = sum(st.n for st in stores), stores[0].t

    def starts(self, b: int, w: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randint(0, self.n, (b,), generator=gen), torch.randint(0, self.t - w + 1, (b,), generator=gen)


def family_cache_name(i: int) -> str:
    """The run folder's cache names of the i-th --family set: the first keeps the name runs before several sets used."""
    return "family" if i == 0 else f"family{i + 1}"


def train(args) -> dict:
    bundle, run, out = Path(args.bundle), Path(args.run), Path(args.out)
    if out.exists():
        raise FinetuneError(f"[out:{out}] already exists; nothing was overwritten", 2)
    if not (bundle / DETECTOR_FILE).exists():
        raise FinetuneError(f"[bundle:{bundle}] has no {DETECTOR_FILE}: the student would have no contact column to read", 3)
    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    world = load_data(Path(args.data), device)
    family_stores = [load_data(Path(f), device) for f in args.family]
    family = FamilySets(family_stores)
    mods, report, man = load_start(bundle)
    reads_column = mods["unet_student"].contact is not None
    if reads_column and args.start_detector is None:
        raise FinetuneError(f"[bundle:{bundle}] its student already reads the contact column; --start-detector names "
                            "the detector it learned to read, to go on training it", 2)
    if args.start_detector is not None:
        if not reads_column:
            raise FinetuneError(f"[bundle:{bundle}] --start-detector goes on with a student that reads the contact "
                                "column; this one does not", 2)
        if args.column == "openings" or "contactOpenings" in man["sampling"]:
            raise FinetuneError(f"[bundle:{bundle}] --start-detector goes on with a student that reads the detector's "
                                "probability, not its openings", 2)
        if not Path(args.start_detector).is_file():
            raise FinetuneError(f"[start-detector:{args.start_detector}] no such file", 3)
    if args.column == "openings" and (man.get("contactGate") or {}).get("source") != "detector":
        raise FinetuneError(f"[bundle:{bundle}] --column openings needs a contactGate with source 'detector'", 3)
    cfg = weights._cfg(load_profile(report["profile"]), man)
    run.mkdir(parents=True, exist_ok=True)
    video, ae = mods["video_encoder"].video.eval(), mods["latent_decoder"].ae.eval()
    detector = OnnxDetector(bundle / DETECTOR_FILE)
    t0 = time.time()
    tags = cache_tags(bundle)
    w_feats, w_lat, w_probs = prepare(world, "world", run, tags, video, ae, detector)
    readers, still_name, w_start = (detector,), f"world-still-{tags['features']}-{tags['contact']}", None
    if args.start_detector is not None:
        # With it, each still row's last column is its read of the picture.
        start_detector = OnnxDetector(Path(args.start_detector))
        tag = file_tag(args.start_detector)
        w_start = cached(run, f"world-contact-start-{tag}", (world.n, world.t),
                         lambda: contact_probabilities(start_detector, world))
        readers, still_name = (detector, start_detector), f"{still_name}-start-{tag}"
    f_feats, f_lat, f_probs = (torch.cat(parts) for parts in zip(*(
        prepare(st, family_cache_name(i), run, tags, video, ae, detector) for i, st in enumerate(family_stores))))
    still = None
    if args.still_share > 0:
        still = cached(run, still_name, (STILL_PICTURES,),
                       lambda: still_rows(video, readers, world, STILL_PICTURES, torch.Generator().manual_seed(args.seed)))
    if args.column == "openings":   # the student reads where the gate opens, not how sure the detector is
        threshold = man["contactGate"]["threshold"]
        f_probs, w_probs = openings_column(f_probs, threshold), openings_column(w_probs, threshold)
        if still is not None:   # a still picture's column is flat: no opening
            still = torch.cat([still[:, :-1], torch.zeros_like(still[:, -1:])], 1)
    print(json.dumps({"event": "stage", "stage": "prepared", "elapsedS": round(time.time() - t0, 1)}), flush=True)

    frozen = copy.deepcopy(mods["unet_student"]).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    student = (mods["unet_student"] if reads_column else mods["unet_student"].enable_contact_input()).train()
    sched, gen = Schedule(device), torch.Generator().manual_seed(args.seed)
    w = min(cfg["ldm_window"], world.t - world.t % 4, family.t - family.t % 4)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=1e-4)
    ctx, steps, b = SimpleNamespace(device=device), man["sampling"]["steps"], args.batch
    t0, losses = time.time(), []
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / (0.05 * args.steps)) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        # The family half: the ε-loss; dropped rows lose everything, appearance-dropped rows keep the contact column.
        z0, fv, si, ti = ldm_batch(ctx, family, gen, f_feats, f_lat, b, w, cfg["split_merge_p"], sources=True)
        if args.feature_shift > 0:     # no draws otherwise: runs without it train as before
            fv = shifted_features(fv, f_feats, si, ti, args.feature_shift, gen)
        rows = mark_unknown_edge(with_contact(fv, f_probs, si, ti), args.unknown_edge, gen)
        keep = (torch.rand(b, generator=gen) >= cfg["cond_drop"]).float()[:, None, None]
        look = (torch.rand(b, generator=gen) >= args.appearance_drop).float()[:, None, None]
        rows = rows * keep * torch.cat([look.expand(-1, -1, fv.shape[-1]), torch.ones(b, 1, 1)], -1)
        t = sample_timesteps(b, steps, gen)
        noise = torch.randn(z0.shape, generator=gen)
        loss_family = F.mse_loss(student(sched.q_sample(z0, t, noise), t.float(), rows), noise)
        # The world half: what the frozen start student predicts from the features alone (or, going
        # on, from the features and the start detector's column).
        z0, fv, si, ti = ldm_batch(ctx, world, gen, w_feats, w_lat, b, w, cfg["split_merge_p"], sources=True)
        keep = (torch.rand(b, generator=gen) >= cfg["cond_drop"]).float()[:, None, None]
        t = sample_timesteps(b, steps, gen)
        zt = sched.q_sample(z0, t, torch.randn(z0.shape, generator=gen))
        rows = with_contact(fv, w_probs, si, ti)
        if w_start is not None:
            rows = with_contact(rows, w_start, si, ti)
        if still is not None:   # still pictures: the start student's silence there is the target too
            on = torch.rand(b, generator=gen) < args.still_share
            pick = still[torch.randint(0, len(still), (b,), generator=gen)]
            rows = torch.where(on[:, None, None], pick[:, None, :].expand_as(rows), rows)
        edge = unknown_edge(b, rows.shape[1], args.unknown_edge, gen)
        d = fv.shape[-1]
        with torch.no_grad():
            start_rows = rows[..., :d] if w_start is None else mark_unknown(torch.cat([rows[..., :d], rows[..., d + 1:]], -1), edge)
            target = frozen(zt, t.float(), start_rows * keep)
        loss_world = F.mse_loss(student(zt, t.float(), mark_unknown(rows[..., :d + 1], edge) * keep), target)
        loss = loss_family + args.world_weight * loss_world
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        losses.append((loss_family.item(), loss_world.item()))
        if step % 100 == 0 or step == args.steps - 1:
            recent = losses[-100:]
            print(json.dumps({"event": "progress", "step": step + 1, "steps": args.steps,
                              "familyLoss": sum(x[0] for x in recent) / len(recent),
                              "worldLoss": sum(x[1] for x in recent) / len(recent),
                              "elapsedS": round(time.time() - t0, 1)}), flush=True)
    info = {"from": str(bundle), "fromName": man["name"], "profile": report["profile"],
            "recipe": "contact-conditioned student (foley.contact_student)", "worldSegments": world.n,
            "familySegments": family.n, "steps": args.steps, "stepsDone": args.steps, "seconds": round(time.time() - t0, 1),
            "batch": b, "lr": args.lr, "appearanceDrop": args.appearance_drop, "worldWeight": args.world_weight,
            "unknownEdge": args.unknown_edge, "stillShare": args.still_share, "featureShift": args.feature_shift,
            "column": args.column, "startDetector": args.start_detector, "seed": args.seed, "finalFamilyLoss": float(np.mean([x[0] for x in losses[-100:]])),
            "finalWorldLoss": float(np.mean([x[1] for x in losses[-100:]]))}
    origin = f"{man['name']}'s unet_student made to read the contact detector's column by foley.contact_student " \
             f"on {family.n} family and {world.n} world segments ({args.steps} steps)"
    if reads_column:
        origin = f"{man['name']}'s unet_student trained on by foley.contact_student to read its contact detector's column " \
                 f"as it read {Path(args.start_detector).name}'s, on {family.n} family and {world.n} world segments " \
                 f"({args.steps} steps)"
    if args.unknown_edge > 0:
        man = {**man, "sampling": {**man["sampling"], "contactUnknown": CONTACT_UNKNOWN}}
    if args.column == "openings":
        man = {**man, "sampling": {**man["sampling"], "contactOpenings": man["contactGate"]["threshold"]}}
    export_finetuned(bundle, man, mods, {"unet_student": student.eval()}, cfg, out, args.name or man["name"], info,
                     origin=origin, record=RECORD)
    return info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m foley.contact_student", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", required=True, help="start bundle (its student and contact_detector.onnx)")
    p.add_argument("--data", required=True, help="training-world clips (a foley.data ClipSet folder)")
    p.add_argument("--family", required=True, nargs="+", metavar="DIR",
                   help="world-family clips: one or more foley.data ClipSet folders of one segment length")
    p.add_argument("--run", required=True, help="run folder: cached features, latents and contact probabilities")
    p.add_argument("--out", required=True, help="new bundle folder (must not exist)")
    p.add_argument("--name", default=None)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=8, help="windows per half (family, world)")
    p.add_argument("--lr", type=float, default=1.5e-4)
    p.add_argument("--appearance-drop", type=float, default=0.25,
                   help="share of family rows whose video features are zeroed and contact column kept")
    p.add_argument("--world-weight", type=float, default=1.0)
    p.add_argument("--unknown-edge", type=float, default=0.0, metavar="P",
                   help="share of windows whose last 1-4 frames carry the unknown-contact marker (the low preset's "
                        "unread present); the bundle then declares sampling.contactUnknown")
    p.add_argument("--still-share", type=float, default=0.0, metavar="P",
                   help="share of world windows replaced by a still picture (one frame repeated), against the start "
                        "student's prediction there: the column a still picture reads must not call up a sound")
    p.add_argument("--feature-shift", type=float, default=0.0, metavar="P",
                   help=f"share of family windows whose features are read {SHIFT_FRAMES[0]}-{SHIFT_FRAMES[1]} frames off "
                        "while the contact column is not")
    p.add_argument("--column", choices=("probability", "openings"), default="probability",
                   help="what the student reads in the contact column: the detector's probability, or 1 at its openings "
                        "at the contact gate's threshold and 0 elsewhere (the bundle then declares sampling.contactOpenings)")
    p.add_argument("--start-detector", default=None, metavar="ONNX",
                   help="for a start student that already reads the contact column: the detector it learned to read; "
                        "it goes on training to read the bundle's detector as it read this one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    shares = (args.appearance_drop, args.unknown_edge, args.still_share, args.feature_shift)
    if args.steps < 1 or args.batch < 1 or args.lr <= 0 or args.world_weight < 0 or not all(0 <= s <= 1 for s in shares):
        print("error: [args] --steps and --batch must be at least 1, --lr positive, --world-weight not negative, "
              "--appearance-drop, --unknown-edge, --still-share and --feature-shift in 0..1", file=sys.stderr)
        return 2
    keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        info = train(args)
    except FinetuneError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    print(json.dumps({"event": "done", **info}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
