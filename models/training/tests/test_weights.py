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
