"""Diagnostics behind figures in the closing notes, on val clips (never the test split).

  python -m foley.diagnose guidance [--run DIR]       classifier-guidance size per DDIM step
  python -m foley.diagnose vocoder [--run DIR] [--clips N]  where the student loses onset F1:
      precision/recall of the vocoder, Griffin-Lim and the generated mel itself
  python -m foley.diagnose sweep [--run DIR] [--clips N] [--seeds 99,1] [--cfg W] [--h264] W,γ,T[,R,RT] ...
      the student on val clips per guidance form (classifier window W latent frames, 0 = whole
      clip; scale γ, 0 = CFG alone; acting at t <= T; R restarts of the steps at t <= RT, default
      none), the same noise for every form of a seed
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from . import metrics
from .audio import griffin_lim
from .diffusion import ddim_step, guided_eps, trailing_timesteps
from .nets import for_guidance
from .evaluate import (Family, generate, generate_mels, guarded_render, h264_clips, score, student_variant, test_clips,
                       variants, video_features)

ROOT = Path(__file__).resolve().parents[3]


def _family(run: Path):
    cfg = json.loads((run / "config.json").read_text())
    sampling = json.loads((run / "sampling.json").read_text())
    return cfg, Family(cfg, run), sampling


def _features(fam, clips):
    f = video_features(fam, clips, e2e=False)
    return f[:, : f.shape[1] - f.shape[1] % 4]


@torch.no_grad()
def guidance(run: Path) -> None:
    """Per step of the student's sampler: the classifier's logits and |γ-free guidance term| vs |ε̂|."""
    cfg, fam, sampling = _family(run)
    clips = test_clips("val", 4, cfg["clip_seconds"])
    f = _features(fam, clips)
    z = torch.randn(len(clips), 4, f.shape[1], 16, generator=torch.Generator().manual_seed(1))
    ts = trailing_timesteps(cfg["student_steps"])
    clf = for_guidance(fam.clf, sampling.get("cg_temperature", 1.0), sampling.get("cg_window"))
    for i, t in enumerate(ts):
        tt = torch.full((len(clips),), float(t))
        with torch.enable_grad():
            zg = z.detach().requires_grad_(True)
            logit = clf(zg, tt, f)
            grad = torch.autograd.grad(torch.nn.functional.logsigmoid(logit).sum(), zg)[0]
        eps = guided_eps(fam.student, None, z, t, f, sampling["cfg_scale"], 0, fam.schedule)
        term = (1 - fam.schedule.alpha(t)) ** 0.5 * grad
        low = logit.reshape(len(clips), -1).min(dim=1).values  # the least aligned window of each clip
        print(f"t={t}: lowest logits {[round(float(x), 1) for x in low]}, |eps| {eps.norm():.1f}, "
              f"|sqrt(1-a) grad log P| {term.norm():.4f} (x γ={sampling['cg_scale']} in eq. 8, T={sampling.get('cg_temperature', 1.0)})")
        z = ddim_step(z, eps, t, ts[i + 1] if i + 1 < len(ts) else -1, fam.schedule)


@torch.no_grad()
def vocoder(run: Path, n: int) -> None:
    cfg, fam, sampling = _family(run)
    clips = test_clips("val", n, cfg["clip_seconds"])
    variant = variants(cfg, sampling)["student_cavp_double"]  # the shipped sampling
    mels = [m for batch in generate_mels(fam, clips, variant, seed=99) for m in batch]
    rows: dict[str, list] = {"vocoder": [], "griffin_lim": [], "generated_mel": []}
    for clip, mel in zip(clips, mels):
        ref = np.array([e["time"] for e in clip.events])
        wav = guarded_render(lambda x: fam.vocoder(x[None])[0], mel).numpy()
        for name, w in (("vocoder", wav), ("griffin_lim", guarded_render(lambda x: griffin_lim(x.numpy()), mel))):
            m = fam.mel(torch.from_numpy(np.asarray(w, np.float32))[None])[0].numpy()
            rows[name].append(metrics.onset_scores(ref, metrics.detect_onsets(m)))
        rows["generated_mel"].append(metrics.onset_scores(ref, metrics.detect_onsets(mel.numpy())))
    for name, r in rows.items():
        f1, p, rc = (float(np.mean([x[key] for x in r])) for key in ("f1", "precision", "recall"))
        ratio = sum(x["n_est"] for x in r) / sum(x["n_ref"] for x in r)
        print(f"{name}: F1 {f1:.3f} precision {p:.3f} recall {rc:.3f} onsets/events {ratio:.2f} ({n} val clips)")


def parse_form(spec: str) -> tuple[int, float, int, int, int]:
    """'W,γ,T' or 'W,γ,T,R,RT' -> (window frames, γ, last timestep, restarts, their last
    timestep); a clear error for anything else."""
    try:
        parts = spec.split(",")
        if len(parts) == 3:
            parts += ["0", "999"]
        w, g, t, r, rt = parts
        form = int(w), float(g), int(t), int(r), int(rt)
    except ValueError:
        raise ValueError(f"guidance form '{spec}' is not W,γ,T or W,γ,T,R,RT (e.g. 32,3,600 or 32,3,600,2,800)") from None
    if form[0] < 0 or form[1] < 0 or not 0 <= form[2] < 1000:
        raise ValueError(f"guidance form '{spec}': W and γ must be >= 0 and T in 0..999")
    if form[3] < 0 or not 0 <= form[4] < 1000:
        raise ValueError(f"guidance form '{spec}': R must be >= 0 and RT in 0..999")
    return form


@torch.no_grad()
def sweep(run: Path, forms: list, clips_n: int, seeds: list[int], cfg_scale: float, h264: bool) -> None:
    """Onset F1, Align Acc and class accuracy of the student per guidance form (the tables of
    models/README.md steps 10 and 11 came from such sweeps)."""
    cfg = json.loads((run / "config.json").read_text())
    fam = Family(cfg, run)
    clips = test_clips("val", clips_n, cfg["clip_seconds"])
    if h264:
        clips = h264_clips(clips)
    for seed in seeds:
        for w, g, t, r, rt in forms:
            v = {**student_variant(cfg, cfg_scale, g, w or None, t, r, rt), **({"frames": "h264"} if h264 else {})}
            s = score(fam, clips, generate(fam, clips, v, seed))
            print(f"W={w} γ={g} t<={t}{f' restarts {r} t<={rt}' if r else ''} seed {seed}{' h264' if h264 else ''}: F1 {s['onset_f1']:.4f} "
                  f"align {s['align_acc']:.4f} class {s['class_accuracy']:.4f} ({clips_n} val clips)", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m foley.diagnose")
    p.add_argument("what", choices=["guidance", "vocoder", "sweep"])
    p.add_argument("forms", nargs="*", help="sweep: guidance forms W,γ,T[,R,RT]")
    p.add_argument("--run", default=str(ROOT / "runs" / "default"))
    p.add_argument("--clips", type=int, default=None, help="val clips (vocoder 32, sweep 200)")
    p.add_argument("--seeds", default="99,1", help="sweep: noise seeds")
    p.add_argument("--cfg", type=float, default=3.0, help="sweep: ω")
    p.add_argument("--h264", action="store_true", help="sweep: frames through the H.264 of video.mp4")
    args = p.parse_intermixed_args(argv)  # forms may follow options
    run = Path(args.run)
    needs = ("config.json", "distill.pt", "align_clf.pt") if args.what == "sweep" else ("config.json", "sampling.json", "distill.pt")
    for need in needs:
        if not (run / need).exists():
            print(f"foley.diagnose: {run} has no {need}; train and tune first (foley.run)", file=sys.stderr)
            return 2
    if args.what == "sweep":
        try:
            forms = [parse_form(f) for f in args.forms]
            seeds = [int(x) for x in args.seeds.split(",")]
        except ValueError as e:
            print(f"foley.diagnose: {e}", file=sys.stderr)
            return 2
        if not forms:
            print("foley.diagnose: sweep needs at least one guidance form W,γ,T", file=sys.stderr)
            return 2
        sweep(run, forms, args.clips or 200, seeds, args.cfg, args.h264)
    elif args.what == "guidance":
        guidance(run)
    else:
        vocoder(run, args.clips or 32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
