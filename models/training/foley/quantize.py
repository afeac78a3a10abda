"""Int8 variants of a bundle's ONNX models for the CPU, and what each model costs at the
live path's shapes.

    python -m foley.quantize --bundle ../../models/default --out ../../runs/default-int8 \\
        [--models unet_student,latent_decoder] [--mode static|dynamic] [--keep-float PARTS] [--bench-only]

Static mode (the default) writes QDQ graphs with per-channel int8 weights, their activation
ranges calibrated on the bundle's own sampler states (sampler_states). Dynamic mode quantizes
weights and, per call, activations (MatMul and Conv); on these models it is slower than float.
The output is a whole bundle (the quantized files beside copies of the rest, the manifest
pointing at them), so `foley eval --model OUT` and `foley bench --model OUT` judge it as any
other bundle. Its reference.json and parity.json still describe the float models.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

# The live full level's window: 14 context frames (12 + padding), a 4-frame chunk, 2 guard frames.
LIVE_WINDOW_FRAMES = 20
LIVE_CHUNK_FRAMES = 4
CFG_BATCH = 2
# The models sampler_states records inputs for (static mode calibrates only these).
CALIBRATED = ("unet_student", "latent_decoder", "vocoder")
CALIBRATION_METHODS = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                       "entropy": CalibrationMethod.Entropy}


def live_inputs(manifest: dict, name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random inputs of the shapes a full-level live chunk gives `name`."""
    lat, feat, audio = manifest["latent"], manifest["features"], manifest["audio"]
    frames = LIVE_WINDOW_FRAMES
    z = lambda b: rng.standard_normal((b, lat["channels"], frames, lat["melBins"])).astype(np.float32)  # noqa: E731
    f = lambda b: rng.standard_normal((b, frames, feat["dim"])).astype(np.float32)  # noqa: E731
    if name.startswith("unet"):
        return {"z_t": z(CFG_BATCH), "timestep": np.full((CFG_BATCH,), 500, np.float32), "video_features": f(CFG_BATCH)}
    if name == "align_classifier":
        return {"z_t": z(1), "timestep": np.full((1,), 500, np.float32), "video_features": f(1)}
    if name == "latent_decoder":
        return {"latent": z(1)}
    if name == "vocoder":
        mel_frames = frames * lat["melFramesPerLatentFrame"]
        return {"mel": rng.standard_normal((1, audio["melBins"], mel_frames)).astype(np.float32)}
    if name == "video_encoder":
        ctx = feat["contextFrames"] + feat.get("rightContextFrames", feat["contextFrames"])
        v = manifest["video"]
        return {"frames": rng.integers(0, 256, (1, LIVE_CHUNK_FRAMES + ctx, v["height"], v["width"], 3), np.uint8)}
    raise KeyError(f"no live shapes for model {name}")


def session(path: Path) -> ort.InferenceSession:
    """One intra-op thread, as the engine's inference runner by default."""
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), o, providers=["CPUExecutionProvider"])


def time_model(path: Path, inputs: dict[str, np.ndarray], runs: int = 40) -> float:
    """Median milliseconds of one call, after warm-up, on one intra-op thread (the runner's default)."""
    s = session(path)
    for _ in range(5):
        s.run(None, inputs)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        s.run(None, inputs)
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


class SamplerStates(CalibrationDataReader):
    """Calibration inputs for static quantization: the given input sets, one per call."""

    def __init__(self, sets: list[dict[str, np.ndarray]]):
        self.sets = iter(sets)

    def get_next(self):
        return next(self.sets, None)


def sampler_states(bundle: Path, manifest: dict, clips: int, windows: int, seed: int) -> dict[str, list]:
    """The inputs the float models see when the student samples live windows of world training
    clips (seeds 0 …): the UNet's at every step with CFG, then the decoder's and the vocoder's.
    Static quantization calibrates its activation ranges on these. DDIM as foley.diffusion.sample
    (no restarts, no classifier), but on the ONNX models and the manifest's own schedule."""
    from foley import world
    from foley.diffusion import trailing_timesteps

    m = manifest["models"]
    enc, unet = session(bundle / m["video_encoder"]["file"]), session(bundle / m["unet_student"]["file"])
    dec = session(bundle / m["latent_decoder"]["file"])
    s = manifest["sampling"]
    alphas = np.asarray(manifest["schedule"]["alphasCumprod"], np.float64)
    ts = trailing_timesteps(s["steps"], manifest["schedule"]["trainSteps"])
    lat = manifest["latent"]
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {name: [] for name in CALIBRATED}
    for clip_seed in range(clips):
        frames = world.make_clip(clip_seed).frames
        feats = enc.run(None, {"frames": frames[None]})[0][0]
        for _ in range(windows):
            start = int(rng.integers(0, len(feats) - LIVE_WINDOW_FRAMES + 1))
            f = feats[None, start:start + LIVE_WINDOW_FRAMES]
            z = rng.standard_normal((1, lat["channels"], LIVE_WINDOW_FRAMES, lat["melBins"])).astype(np.float32)
            for i, t in enumerate(ts):
                x = {"z_t": np.concatenate([z, z]), "timestep": np.full((2,), t, np.float32),
                     "video_features": np.concatenate([f, np.zeros_like(f)])}
                out["unet_student"].append(x)
                eps = unet.run(None, x)[0]
                e = (1 + s["cfgScale"]) * eps[:1] - s["cfgScale"] * eps[1:]
                ab, ab_prev = alphas[t], (alphas[ts[i + 1]] if i + 1 < len(ts) else 1.0)
                x0 = (z - np.sqrt(1 - ab) * e) / np.sqrt(ab)
                z = (np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev) * e).astype(np.float32)
            out["latent_decoder"].append({"latent": z})
            out["vocoder"].append({"mel": dec.run(None, {"latent": z})[0]})
    return out


def quantize_model(src: Path, dst: Path, name: str, mode: str, tmp: Path, calibration: dict[str, list],
                   keep_float: list[str], method: str = "minmax") -> list[str]:
    """Writes the int8 graph; returns the names of the MatMul and Conv nodes kept in float."""
    src, dst, tmp = src.resolve(), dst.resolve(), tmp.resolve()
    # ONNX Runtime's pre-processing and calibration write scratch files into the working folder.
    with contextlib.chdir(tmp):
        pre = tmp / f"{name}.pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        kept = [n.name for n in onnx.load(str(pre)).graph.node
                if n.op_type in ("MatMul", "Conv") and any(k in n.name for k in keep_float)]
        if mode == "dynamic":
            quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Conv"],
                             nodes_to_exclude=kept)
        elif mode == "static":
            quantize_static(str(pre), str(dst), SamplerStates(calibration[name]),
                            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Conv"], per_channel=True,
                            nodes_to_exclude=kept, calibrate_method=CALIBRATION_METHODS[method])
        else:
            raise ValueError(f"unknown mode {mode!r}; use dynamic or static")
        return kept


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", type=Path, required=True, help="the float bundle")
    p.add_argument("--out", type=Path, help="a new folder for the int8 bundle")
    p.add_argument("--models", default="unet_student,latent_decoder", help="comma-separated models to quantize")
    p.add_argument("--mode", default="static", choices=["static", "dynamic"])
    p.add_argument("--keep-float", default="",
                   help="comma-separated parts of node names whose MatMul/Conv stay float (e.g. /stem/,/out/)")
    p.add_argument("--calibration-method", default="minmax", choices=sorted(CALIBRATION_METHODS),
                   help="how static mode sets activation ranges from the calibration states")
    p.add_argument("--calibration-clips", type=int, default=16, help="world training clips the static mode samples")
    p.add_argument("--bench-only", action="store_true", help="time the bundle's models, write nothing")
    a = p.parse_args()
    if not (a.bundle / "manifest.json").is_file():
        raise SystemExit(f"quantize: {a.bundle} is not a bundle (no manifest.json)")
    manifest = json.loads((a.bundle / "manifest.json").read_text())
    names = [n for n in a.models.split(",") if n]
    keep_float = [k for k in a.keep_float.split(",") if k]
    for n in names:
        if n not in manifest["models"]:
            raise SystemExit(f"quantize: the bundle has no model {n!r} (it has {', '.join(manifest['models'])})")
    if a.mode == "static" and not a.bench_only and a.out is not None:
        uncalibrated = [n for n in names if n not in CALIBRATED]
        if uncalibrated:
            raise SystemExit(f"quantize: static mode calibrates only {', '.join(CALIBRATED)}, not {', '.join(uncalibrated)}")
    rng = np.random.default_rng(0)
    if a.bench_only or a.out is None:
        for n in names:
            ms = time_model(a.bundle / manifest["models"][n]["file"], live_inputs(manifest, n, rng))
            print(f"{n}: {ms:.2f} ms")
        return
    if a.out.exists():
        raise SystemExit(f"quantize: {a.out} exists; choose a new folder")
    shutil.copytree(a.bundle, a.out, ignore=shutil.ignore_patterns("train", "figures"))
    tmp = a.out / ".quantize-tmp"
    tmp.mkdir()
    calibration = sampler_states(a.bundle, manifest, a.calibration_clips, 4, seed=7) if a.mode == "static" else {}
    rows = []
    for n in names:
        src = a.bundle / manifest["models"][n]["file"]
        dst_name = f"{n}.int8.onnx"
        kept = quantize_model(src, a.out / dst_name, n, a.mode, tmp, calibration, keep_float, a.calibration_method)
        x = calibration[n][-1] if calibration else live_inputs(manifest, n, rng)
        ref = session(src).run(None, x)
        got = session(a.out / dst_name).run(None, x)
        err = max(float(np.abs(r - g).max() / (np.abs(r).max() + 1e-12)) for r, g in zip(ref, got))
        before, after = time_model(src, x), time_model(a.out / dst_name, x)
        rows.append({"model": n, "keptFloat": kept, "msBefore": before, "msAfter": after, "maxErrorOverPeak": err,
                     "bytesBefore": src.stat().st_size, "bytesAfter": (a.out / dst_name).stat().st_size})
        print(f"{n}: {before:.2f} → {after:.2f} ms, max |error| / peak {err:.4f}, "
              f"{src.stat().st_size / 1e6:.1f} → {(a.out / dst_name).stat().st_size / 1e6:.1f} MB, "
              f"{len(kept)} MatMul/Conv kept in float", flush=True)
        (a.out / manifest["models"][n]["file"]).unlink()
        manifest["models"][n]["file"] = dst_name
    shutil.rmtree(tmp)
    manifest["description"] = f"{manifest.get('description', '')}; int8 ({a.mode}) {', '.join(names)}".strip("; ")
    (a.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (a.out / "quantization.json").write_text(json.dumps(
        {"mode": a.mode, "calibrationMethod": a.calibration_method if a.mode == "static" else None,
         "calibrationClips": a.calibration_clips if a.mode == "static" else 0, "models": rows}, indent=1))


if __name__ == "__main__":
    main()
