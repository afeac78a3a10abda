"""Export a trained run (or random weights) to a bundle: ONNX files, manifest.json,
reference.json. Every ONNX file is checked against PyTorch on fresh random inputs
(relative error < 1e-4, the classifier gradient included); a failing bundle is not written.

    python -m foley.export --run runs/default --out models/default
    python -m foley.export --random --profile tiny --out models/tiny-random
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from . import conv_matmul, nets
from .audio import MelFrontend, audio_geometry
from .config import load_profile
from .diffusion import TRAIN_STEPS, Schedule, alphas_cumprod, sample
from .train import build_models

FORMAT_VERSION = 1
PARITY_TOL = 1e-4
OPSET = 18


class ParityError(RuntimeError):
    pass


def f32(shape):
    return {"dtype": "float32", "shape": shape}


def io_specs(classes: int, windowed: bool = False) -> dict:
    """windowed: the alignment classifier gives one logit per window of latent frames."""
    lat = ["batch", nets.LATENT_CHANNELS, "frames", nets.LATENT_MELS]
    unet = {
        "inputs": {"z_t": f32(lat), "timestep": f32(["batch"]), "video_features": f32(["batch", "frames", nets.FEATURE_DIM])},
        "outputs": {"eps": f32(lat)},
    }
    return {
        "mel": {"inputs": {"waveform": f32(["batch", "samples"])}, "outputs": {"mel": f32(["batch", 64, "melFrames"])}},
        "video_encoder": {"inputs": {"frames": {"dtype": "uint8", "shape": ["batch", "frames", 96, 96, 3]}},
                          "outputs": {"features": f32(["batch", "frames", nets.FEATURE_DIM])}},
        "unet_student": unet,
        "unet_teacher": unet,
        "align_classifier": {"inputs": unet["inputs"],
                             "outputs": {"logit": f32(["batch", "windows"] if windowed else ["batch"]), "grad": f32(lat)}},
        "latent_decoder": {"inputs": {"latent": f32(lat)}, "outputs": {"mel": f32(["batch", 64, "melFrames"])}},
        "vocoder": {"inputs": {"mel": f32(["batch", 64, "melFrames"])}, "outputs": {"waveform": f32(["batch", "samples"])}},
        "eval_audio_classifier": {"inputs": {"mel": f32(["batch", 64, 32])},
                                  "outputs": {"logits": f32(["batch", classes]), "embedding": f32(["batch", 128])}},
    }


def student_spec(specs: dict, student: torch.nn.Module) -> dict:
    """specs["unet_student"], with the contact column in video_features when the student reads one
    (nets.UNet.enable_contact_input)."""
    spec = specs["unet_student"]
    width = getattr(student, "input_feature_dim", nets.FEATURE_DIM)
    if width == nets.FEATURE_DIM:
        return spec
    feats = spec["inputs"]["video_features"]
    return {**spec, "inputs": {**spec["inputs"], "video_features": {**feats, "shape": [*feats["shape"][:-1], width]}}}


def with_zero_contact(unet: torch.nn.Module):
    """The UNet called on video features alone: a contact column of zeros where it reads one (the
    TypeScript parity tests give the reference features the same zero column)."""
    if getattr(unet, "contact", None) is None:
        return unet
    return lambda z, t, f: unet(z, t, torch.cat([f, f.new_zeros(*f.shape[:-1], 1)], -1))


def random_inputs(key: str, spec: dict, frames: int, batch: int, gen: torch.Generator) -> dict:
    sizes = {"batch": batch, "frames": frames, "melFrames": frames * 4, "samples": frames * 640}
    out = {}
    for name, s in spec["inputs"].items():
        shape = [sizes[d] if isinstance(d, str) else d for d in s["shape"]]
        if s["dtype"] == "uint8":
            out[name] = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
        elif name == "timestep":
            out[name] = torch.randint(0, 1000, shape, generator=gen).float()
        elif name == "waveform":
            out[name] = 0.3 * torch.randn(shape, generator=gen)
        else:
            out[name] = torch.randn(shape, generator=gen)
    return out


def export_one(module: torch.nn.Module, key: str, spec: dict, path: Path, gen: torch.Generator) -> dict:
    module = module.eval()
    args = random_inputs(key, spec, 8, 2, gen)
    names_in, names_out = list(spec["inputs"]), list(spec["outputs"])
    dynamic = {}
    for n, s in list(spec["inputs"].items()) + list(spec["outputs"].items()):
        dynamic[n] = {i: d for i, d in enumerate(s["shape"]) if isinstance(d, str) and d != "classes"}
    # The DFT bases of the mel front end and the vocoder are computed in the graph from aranges:
    # folding them would store megabytes of tables.
    fold = key not in ("mel", "vocoder")
    torch.onnx.export(module, tuple(args[n] for n in names_in), str(path), input_names=names_in,
                      output_names=names_out, dynamic_axes=dynamic, opset_version=OPSET, dynamo=False,
                      do_constant_folding=fold)
    if key in conv_matmul.DEFAULT_MODELS:
        conv_matmul.rewrite_in_place(path)  # one weight read per call, not per row; the parity below checks it
    return parity(module, key, spec, path, gen)


def parity(module, key: str, spec: dict, path: Path, gen: torch.Generator) -> dict:
    """ORT against PyTorch on fresh random inputs at two sizes; raises ParityError."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    # 70 frames give the windowed classifier several windows, the last one partial.
    for frames, batch in ((12, 1), (20, 3)) + (((70, 2),) if key == "align_classifier" else ()):
        args = random_inputs(key, spec, frames, batch, gen)
        with torch.no_grad() if key != "align_classifier" else torch.enable_grad():
            ref = module(*[args[n] for n in spec["inputs"]])
        ref = ref if isinstance(ref, tuple) else (ref,)
        got = sess.run(list(spec["outputs"]), {n: a.numpy() for n, a in args.items()})
        for name, r, g in zip(spec["outputs"], ref, got):
            r = r.detach().numpy()
            if r.shape != g.shape:
                raise ParityError(f"[bundle:{key}, output:{name}] shape {list(g.shape)} from ONNX, {list(r.shape)} from PyTorch")
            err = float(np.abs(r - g).max() / (np.abs(r).max() + 1e-12))
            worst = max(worst, err)
            if not err < PARITY_TOL:
                raise ParityError(f"[bundle:{key}, output:{name}] relative error {err:.2e} >= {PARITY_TOL:g}")
    return {"max_relative_error": worst}


class _VideoEncoderExport(torch.nn.Module):
    def __init__(self, video):
        super().__init__()
        self.video = video

    def forward(self, frames):
        return self.video(frames)


def collect_modules(cfg: dict, run: Path | None) -> dict:
    make = build_models(cfg)

    def load(name, kind):
        m = make[kind]()
        if run is not None:
            m.load_state_dict(torch.load(run / f"{name}.pt", map_location="cpu")["state"])
        return m.eval()

    ae = load("autoencoder", "ae")
    cavp = load("cavp", "cavp")
    return {
        "mel": MelFrontend(),
        "video_encoder": _VideoEncoderExport(cavp.video),
        "unet_student": load("distill", "unet"),
        "unet_teacher": load("ldm", "unet"),
        # The tuned temperature and window are folded into the graph: P = σ(l / T) per window.
        "align_classifier": nets.AlignClassifierWithGrad(nets.for_guidance(
            load("align_clf", "clf"), cfg.get("cg_temperature", 1.0), cfg.get("cg_window"))),
        "latent_decoder": nets.LatentDecoder(ae),
        "vocoder": load("vocoder", "vocoder"),
        "eval_audio_classifier": load("eval_audio", "eval_audio"),
    }


def reference_frames(n: int) -> torch.Tensor:
    t, y, x, c = np.meshgrid(np.arange(n), np.arange(96), np.arange(96), np.arange(3), indexing="ij")
    return torch.from_numpy(((7 * t + 3 * y + 5 * x + 11 * c) % 256).astype(np.uint8))[None]


def make_reference(mods: dict, cfg: dict) -> dict:
    """Parity vectors for the TypeScript sampler (models/README.md, reference.json)."""
    n = 8
    gen = torch.Generator().manual_seed(7)
    sched = Schedule()
    with torch.no_grad():
        feats = mods["video_encoder"](reference_frames(n))
    noise = torch.randn(1, nets.LATENT_CHANNELS, n, nets.LATENT_MELS, generator=gen)
    clf = mods["align_classifier"].clf
    cases = []
    cg_max = cfg.get("cg_max_timestep", TRAIN_STEPS - 1)
    shipped_restarts = (cfg.get("restarts", 0), cfg.get("restart_max_timestep", TRAIN_STEPS - 1))
    # The shipped sampling, CFG alone, no guidance, the teacher; and one restart at t <= 800 in any
    # bundle, so the TypeScript restarts are checked even where the bundle ships none.
    for unet_key, steps, cfg_s, cg_s, (restarts, restart_max) in (
            ("unet_student", cfg["student_steps"], cfg["cfg_scale"], cfg["cg_scale"], shipped_restarts),
            ("unet_student", cfg["student_steps"], cfg["cfg_scale"], 0.0, shipped_restarts),
            ("unet_student", cfg["student_steps"], 0.0, 0.0, (0, TRAIN_STEPS - 1)),
            ("unet_teacher", 10, cfg["cfg_scale"], cfg["cg_scale"], (0, TRAIN_STEPS - 1)),
            ("unet_student", cfg["student_steps"], cfg["cfg_scale"], cfg["cg_scale"], (1, 800))):
        drawn = []  # restart noise, drawn as the sampler asks for it
        z = sample(with_zero_contact(mods[unet_key]), clf, feats, noise.clone(), steps, cfg_s, cg_s, sched, cg_max, restarts, restart_max,
                   lambda k: drawn.append(torch.randn(noise.shape, generator=gen)) or drawn[k])
        case = {"unet": unet_key, "steps": steps, "cfgScale": cfg_s, "cgScale": cg_s, "cgMaxTimestep": cg_max,
                "latent": z.flatten().tolist()}
        if restarts:
            case.update(restarts=restarts, restartMaxTimestep=restart_max, restartNoise=[n.flatten().tolist() for n in drawn])
        cases.append(case)
    with torch.no_grad():
        mel = mods["latent_decoder"](torch.tensor(cases[0]["latent"]).view_as(noise))
        wav = mods["vocoder"](mel)
    return {"numFrames": n, "features": feats.flatten().tolist(), "noise": noise.flatten().tolist(),
            "cases": cases, "mel": mel.flatten().tolist(), "waveform": wav.flatten().tolist()}


def manifest(cfg: dict, name: str, specs: dict, description: str, classes: list) -> dict:
    models = {}
    for key, spec in specs.items():
        models[key] = {
            "file": f"{key}.onnx",
            "inputs": [{"name": n, **s} for n, s in spec["inputs"].items()],
            "outputs": [{"name": n, **s} for n, s in spec["outputs"].items()],
        }
    return {
        "format": "live-foley-bundle", "formatVersion": FORMAT_VERSION, "name": name, "description": description,
        "audio": audio_geometry(),
        "video": {"fps": 25, "width": 96, "height": 96, "pixelFormat": "rgb24"},
        "latent": {"channels": nets.LATENT_CHANNELS, "melBins": nets.LATENT_MELS, "melFramesPerLatentFrame": 4,
                   "latentFramesPerVideoFrame": 1, "timeMultiple": 4},
        "features": {"dim": nets.FEATURE_DIM, "contextFrames": nets.VideoEncoder.context_frames,
                     "rightContextFrames": nets.VideoEncoder.right_context_frames},
        "classes": classes,
        "schedule": {"type": "ddpm-discrete", "trainSteps": 1000, "prediction": "epsilon",
                     "alphasCumprod": [float(a) for a in alphas_cumprod()], "timestepSpacing": "trailing"},
        "sampling": {"unet": "unet_student", "steps": cfg["student_steps"], "cfgScale": cfg["cfg_scale"],
                     "cgScale": cfg["cg_scale"], "cgMaxTimestep": cfg.get("cg_max_timestep", TRAIN_STEPS - 1),
                     "cgWindowFrames": cfg.get("cg_window"),
                     "restarts": cfg.get("restarts", 0), "restartMaxTimestep": cfg.get("restart_max_timestep", TRAIN_STEPS - 1),
                     "teacher": {"unet": "unet_teacher", "steps": cfg["teacher_steps"]},
                     "windowFrames": 100, "overlapFrames": 20},
        "eval": {"cropFrames": 32, "preOnsetFrames": 2},
        "models": models,
    }


def export_bundle(cfg: dict, run: Path | None, out: Path, name: str | None = None, description: str = "") -> dict:
    from .world import CLASSES
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    name = name or out.name
    # Sampling defaults from a tuning pass, when the evaluation wrote one.
    tuned = (run / "sampling.json") if run is not None else None
    if tuned is not None and tuned.exists():
        cfg = {**cfg, **json.loads(tuned.read_text())}
    torch.manual_seed(cfg["seed"])
    mods = collect_modules(cfg, run)
    specs = io_specs(len(CLASSES), cfg.get("cg_window") is not None)
    gen = torch.Generator().manual_seed(cfg["seed"])
    report = {}
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=out.parent if out.parent.exists() else None))
    try:
        for key, module in mods.items():
            t0 = time.time()
            report[key] = export_one(module, key, specs[key], tmp / f"{key}.onnx", gen)
            print(f"export: {key}: parity max relative error {report[key]['max_relative_error']:.1e} "
                  f"({time.time() - t0:.1f}s, {(tmp / f'{key}.onnx').stat().st_size / 1e6:.2f} MB)", flush=True)
        man = manifest(cfg, name, specs, description or f"profile {cfg['profile']}", CLASSES)
        (tmp / "manifest.json").write_text(json.dumps(man, indent=1))
        (tmp / "reference.json").write_text(json.dumps(make_reference(mods, cfg)))
        (tmp / "parity.json").write_text(json.dumps(report, indent=1))
        keep = [p for p in ("eval.json", "REPORT.md", "figures") if (out / p).exists()]
        if out.exists():
            for p in keep:
                shutil.move(str(out / p), str(tmp / p))
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.glob("*.onnx"))
    print(f"export: bundle {out} written, ONNX total {size / 1e6:.1f} MB", flush=True)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="foley.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=None, help="run folder with checkpoints")
    p.add_argument("--random", action="store_true", help="random weights (tiny test bundle)")
    p.add_argument("--profile", default="tiny")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if not args.random and not args.run:
        print("foley.export: give --run RUN_DIR or --random", file=sys.stderr)
        return 2
    if args.run:
        cfg = json.loads((Path(args.run) / "config.json").read_text())
        export_bundle(cfg, Path(args.run), Path(args.out))
    else:
        cfg = load_profile(args.profile)
        export_bundle(cfg, None, Path(args.out), description="random weights, for runtime tests only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
