"""foley.quantize on the tiny random bundle: an int8 UNet beside copies of the rest, the
manifest pointing at it, outputs close to the float model's, and a refusal to overwrite."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import quantize  # noqa: E402

TRAINING = Path(__file__).resolve().parents[1]
TINY = TRAINING.parents[1] / "models" / "tiny-random"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foley.quantize", *args], cwd=TRAINING, capture_output=True,
                          text=True)


def test_writes_a_bundle_whose_unet_is_int8_and_close_to_the_float_one(tmp_path):
    out = tmp_path / "int8"
    p = run("--bundle", str(TINY), "--out", str(out), "--models", "unet_student", "--mode", "static",
            "--calibration-clips", "1", "--keep-float", "/stem/")
    assert p.returncode == 0, p.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["models"]["unet_student"]["file"] == "unet_student.int8.onnx"
    assert not (out / "unet_student.onnx").exists()
    assert (out / "unet_teacher.onnx").read_bytes() == (TINY / "unet_teacher.onnx").read_bytes()
    ops = {n.op_type for n in onnx.load(out / "unet_student.int8.onnx").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops, ops
    row = json.loads((out / "quantization.json").read_text())["models"][0]
    assert row["model"] == "unet_student" and row["maxErrorOverPeak"] < 0.1
    # The stem convolution, exported as a MatMul (foley.conv_matmul), is the one node kept in float.
    assert len(row["keptFloat"]) == 1 and row["keptFloat"][0].startswith("/stem/Conv_as_matmul/MatMul")

    tiny_manifest = json.loads((TINY / "manifest.json").read_text())
    x = quantize.sampler_states(TINY, tiny_manifest, 1, 1, seed=3)["unet_student"][-1]   # a state it was not calibrated on
    ref = quantize.session(TINY / "unet_student.onnx").run(None, x)[0]
    got = quantize.session(out / "unet_student.int8.onnx").run(None, x)[0]
    # A random tiny UNet quantizes worse than a trained one (the default's error is in
    # models/README.md); this checks that the int8 graph computes the same function.
    assert got.shape == ref.shape and np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.9


def test_refuses_an_existing_folder_an_unknown_model_and_a_folder_that_is_no_bundle(tmp_path):
    p = run("--bundle", str(TINY), "--out", str(tmp_path), "--models", "unet_student")
    assert p.returncode != 0 and "exists" in p.stderr
    p = run("--bundle", str(TINY), "--out", str(tmp_path / "x"), "--models", "unet_nope")
    assert p.returncode != 0 and "no model 'unet_nope'" in p.stderr
    p = run("--bundle", str(tmp_path), "--out", str(tmp_path / "y"))
    assert p.returncode != 0 and "is not a bundle (no manifest.json)" in p.stderr
