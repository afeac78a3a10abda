import json

import onnxruntime as ort
import pytest
import torch

from foley import export
from foley.config import load_profile


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "tiny"
    export.export_bundle(load_profile("tiny"), None, out)
    return out


def test_export_writes_every_model_of_the_manifest_with_matching_io(tiny_bundle):
    man = json.loads((tiny_bundle / "manifest.json").read_text())
    assert man["formatVersion"] == export.FORMAT_VERSION
    for key, spec in man["models"].items():
        sess = ort.InferenceSession(str(tiny_bundle / spec["file"]))
        assert [i.name for i in sess.get_inputs()] == [i["name"] for i in spec["inputs"]], key
        assert [o.name for o in sess.get_outputs()] == [o["name"] for o in spec["outputs"]], key
    parity = json.loads((tiny_bundle / "parity.json").read_text())
    assert all(v["max_relative_error"] < 1e-4 for v in parity.values())


def test_tiny_bundle_stays_under_two_megabytes(tiny_bundle):
    size = sum(p.stat().st_size for p in tiny_bundle.iterdir() if p.suffix == ".onnx")
    assert size < 2e6


def test_reference_vectors_have_the_documented_sizes(tiny_bundle):
    ref = json.loads((tiny_bundle / "reference.json").read_text())
    n = ref["numFrames"]
    assert len(ref["noise"]) == 4 * n * 16
    assert len(ref["features"]) == n * 64
    assert all(len(c["latent"]) == 4 * n * 16 for c in ref["cases"])
    assert len(ref["waveform"]) == n * 640


def test_export_refuses_a_bundle_whose_parity_fails(tmp_path, monkeypatch):
    real = export.parity

    def broken(module, key, spec, path, gen):
        if key == "vocoder":
            raise export.ParityError("[bundle:vocoder, output:waveform] relative error 1e-01 >= 0.0001")
        return real(module, key, spec, path, gen)

    monkeypatch.setattr(export, "parity", broken)
    out = tmp_path / "broken"
    with pytest.raises(export.ParityError, match="vocoder"):
        export.export_bundle(load_profile("tiny"), None, out)
    assert not out.exists()
    assert not any(p.name.startswith(".broken") for p in tmp_path.iterdir())


def test_windowed_classifier_exports_with_a_dynamic_window_count(tmp_path):
    from foley import nets
    torch.manual_seed(0)
    clf = nets.for_guidance(nets.AlignClassifier(16), 2.0, 32)
    spec = export.io_specs(8, windowed=True)["align_classifier"]
    assert spec["outputs"]["logit"]["shape"] == ["batch", "windows"]
    gen = torch.Generator().manual_seed(0)
    # parity() runs 12, 20 and 70 frames: one window, then three with a partial last one.
    report = export.export_one(nets.AlignClassifierWithGrad(clf), "align_classifier", spec, tmp_path / "c.onnx", gen)
    assert report["max_relative_error"] < 1e-4
    sess = ort.InferenceSession(str(tmp_path / "c.onnx"))
    logit, _ = sess.run(None, {"z_t": torch.randn(1, 4, 100, 16).numpy(), "timestep": torch.tensor([300.0]).numpy(),
                               "video_features": torch.randn(1, 100, 64).numpy()})
    assert logit.shape == (1, 4)
