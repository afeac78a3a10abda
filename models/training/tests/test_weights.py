"""foley.weights: the tiny random bundle's torch modules rebuilt from its ONNX initializers give
the ONNX outputs, and the checkpoints it writes load into the training code's models."""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import weights  # noqa: E402
from foley.config import load_profile  # noqa: E402
from foley.train import build_models  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


@pytest.fixture(scope="module")
def recovered():
    return weights.recover_modules(TINY)


def test_the_bundle_fits_the_tiny_profile_and_every_parameter_it_ships_is_recovered(recovered):
    mods, report = recovered
    assert report["profile"] == "tiny"
    for key in mods:
        # Only the autoencoder's encoder is not in a bundle (the decoder is exported alone).
        assert all(k.startswith("ae.enc.") for k in report[key]["unset"]), (key, report[key]["unset"][:5])
        assert report[key]["max_relative_error"] < 1e-4


def test_the_rebuilt_student_unet_matches_onnx_runtime_on_the_same_input(recovered):
    mods, _ = recovered
    g = torch.Generator().manual_seed(3)
    z, t, f = torch.randn(2, 4, 16, 16, generator=g), torch.tensor([999.0, 250.0]), torch.randn(2, 16, 64, generator=g)
    with torch.no_grad():
        ref = mods["unet_student"](z, t, f).numpy()
    sess = ort.InferenceSession(str(TINY / "unet_student.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"z_t": z.numpy(), "timestep": t.numpy(), "video_features": f.numpy()})[0]
    assert np.abs(ref - got).max() < 1e-4 * np.abs(ref).max()
    # A fresh module of the same architecture is far off: the weights came from the bundle.
    fresh = build_models(load_profile("tiny"))["unet"]().eval()
    with torch.no_grad():
        assert np.abs(fresh(z, t, f).numpy() - got).max() > 1e-2


def test_written_checkpoints_load_into_the_training_models(recovered, tmp_path):
    mods, report = recovered
    written = weights.write_checkpoints(mods, report, tmp_path)
    make = build_models(load_profile("tiny"))
    for name, kind in (("distill", "unet"), ("ldm", "unet"), ("vocoder", "vocoder"), ("eval_audio", "eval_audio")):
        make[kind]().load_state_dict(torch.load(tmp_path / f"{name}.pt")["state"])
    make["video"]().load_state_dict(torch.load(tmp_path / "cavp_video.pt")["state"])
    make["clf"]().load_state_dict(torch.load(tmp_path / "align_clf_guidance.pt")["state"])
    meta = json.loads((tmp_path / "recovered.json").read_text())
    assert meta["written"] == written and meta["profile"] == "tiny"


def test_a_profile_of_another_architecture_is_refused_naming_the_parameter():
    with pytest.raises(weights.WeightRecoveryError, match=r"\[bundle:\w+, param:[\w.]+\].*another architecture"):
        weights.recover_modules(TINY, profile="gpu")


def _tiny_bundle_with_refit_parts(tmp_path, seed=5):
    """A copy of the tiny bundle with random refit parts of its architecture in train/."""
    import shutil
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    torch.manual_seed(seed)
    make = build_models(load_profile("tiny"))
    cavp = make["cavp"]()
    parts = {"ae_encoder": make["ae"]().enc.state_dict(),
             "cavp_audio": {k: v for k, v in cavp.state_dict().items() if not k.startswith("video.")},
             "eval_align": make["eval_align"]().state_dict()}
    for name, state in parts.items():
        weights.save_refit_part(bundle / weights.REFIT_DIR, name, state, {"steps_done": 0})
    return bundle, parts


def test_the_refit_parts_in_train_complete_the_recovery_and_the_run_folder(tmp_path):
    bundle, parts = _tiny_bundle_with_refit_parts(tmp_path)
    mods, report = weights.recover_modules(bundle, check=False)
    assert sorted(report["refit"]) == sorted(weights.REFIT_FILES)
    assert all(report[key]["unset"] == [] for key in report if key not in ("profile", "refit"))
    # The loaded tensors are the saved ones (stored as fp16).
    enc = mods["latent_decoder"].ae.enc.state_dict()
    assert all(torch.equal(enc[k], v.half().float()) for k, v in parts["ae_encoder"].items())
    assert torch.equal(mods["eval_align"].head.weight, parts["eval_align"]["head.weight"].half().float())
    assert torch.equal(mods["cavp"].audio.net[0].weight, parts["cavp_audio"]["audio.net.0.weight"].half().float())
    assert mods["cavp"].video is mods["video_encoder"].video
    out = tmp_path / "run"
    written = weights.write_checkpoints(mods, report, out)
    assert {"autoencoder.pt", "cavp.pt", "eval_align.pt"} <= set(written)
    make = build_models(load_profile("tiny"))
    for name, kind in (("autoencoder", "ae"), ("cavp", "cavp"), ("eval_align", "eval_align")):
        make[kind]().load_state_dict(torch.load(out / f"{name}.pt")["state"])
    meta = json.loads((out / "recovered.json").read_text())
    assert meta["not_in_bundles"] == ["ldm_e2e / align_clf_e2e (ablation rows)"]
    assert weights.load_eval_align(bundle) is not None and weights.load_eval_align(TINY) is None


def test_a_refit_part_of_another_architecture_is_refused_naming_it(tmp_path):
    bundle, _ = _tiny_bundle_with_refit_parts(tmp_path)
    wide = build_models(load_profile("gpu"))["ae"]().enc.state_dict()
    weights.save_refit_part(bundle / weights.REFIT_DIR, "ae_encoder", wide, {})
    with pytest.raises(weights.WeightRecoveryError, match=r"\[refit:ae_encoder, file:.*ae_encoder.pt\].*architecture"):
        weights.recover_modules(bundle, check=False)


DEFAULT = TINY.parent / "default"


@pytest.fixture(scope="module")
def default_recovered():
    return weights.recover_modules(DEFAULT, check=False)


def test_the_default_bundle_with_its_train_folder_recovers_every_part_and_leaves_nothing_unset(default_recovered):
    mods, report = default_recovered
    held = sorted(f.stem for f in (DEFAULT / weights.REFIT_DIR).glob("*.pt"))
    assert sorted(report["refit"]) == held == sorted(weights.REFIT_FILES)
    assert all(report[key]["unset"] == [] for key in report if key not in ("profile", "refit"))
    assert sum((DEFAULT / weights.REFIT_DIR / f"{name}.pt").stat().st_size for name in held) < 5e6
    meta = json.loads((DEFAULT / weights.REFIT_DIR / "refit.json").read_text())
    assert sorted(meta) == held


@pytest.fixture(scope="module")
def val_clips():
    from foley import world
    from foley.audio import MelFrontend
    clips = [world.make_clip(int(s), seconds=4.0) for s in world.split_seeds("val", 2)]
    with torch.no_grad():
        mel = MelFrontend().eval()(torch.from_numpy(np.stack([c.audio for c in clips])))
    return clips, mel


def test_the_refit_encoder_inverts_the_shipped_decoder_with_the_latent_scale_the_ldm_expects(default_recovered, val_clips):
    mods, _ = default_recovered
    _, mel = val_clips
    ae = mods["latent_decoder"].ae
    with torch.no_grad():
        z = ae.encode(mel)
        assert float(torch.nn.functional.l1_loss(ae.decode(z), mel)) < 0.2
        # A fresh encoder's latents decode to nothing like the mel.
        fresh = build_models(load_profile("gpu"))["ae"]().enc
        assert float(torch.nn.functional.l1_loss(ae.decode(fresh(mel.transpose(1, 2)[:, None]) * ae.scale), mel)) > 0.3
    assert 0.5 < float(z.std()) < 2.0


def test_the_refit_cavp_audio_encoder_agrees_with_the_shipped_video_encoder_over_time(default_recovered, val_clips):
    mods, _ = default_recovered
    clips, mel = val_clips
    norm = torch.nn.functional.normalize
    with torch.no_grad():
        for k, clip in enumerate(clips):
            ev = mods["cavp"].video.clip_features(torch.from_numpy(clip.frames)[None])[0]
            ea = mods["cavp"].audio(mel[k: k + 1])[0]
            seg = lambda x: norm(x[: 96].reshape(24, 4, -1).mean(1), dim=-1)  # noqa: E731
            sim = seg(ea) @ seg(ev).T
            # Its own 160 ms segment is more alike than the others, on average.
            assert float(sim.diag().mean()) > float(sim.mean())


def test_the_refit_judge_calls_a_clips_own_audio_more_aligned_than_anothers(default_recovered, val_clips):
    mods, _ = default_recovered
    clips, mel = val_clips
    with torch.no_grad():
        frames = torch.from_numpy(np.stack([c.frames[16:48] for c in clips]))
        own = mods["eval_align"](mel[:, :, 64:192], frames)
        swapped = mods["eval_align"](mel.flip(0)[:, :, 64:192], frames)
    assert (own > swapped).all()
