"""foley.conv_matmul: 1-D convolutions rewritten as MatMuls give the same outputs as PyTorch, keep
their weight initializers (foley.weights recovers the modules from a rewritten bundle), and leave
the convolutions they cannot rewrite as they were."""
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import conv_matmul, weights  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


class Convs(torch.nn.Module):
    """Every kind the rewrite takes, and one it leaves (a grouped convolution)."""

    def __init__(self):
        super().__init__()
        self.k3 = torch.nn.Conv1d(6, 8, 3, padding=1)
        self.down = torch.nn.Conv1d(8, 8, 4, stride=2, padding=1)
        self.k1 = torch.nn.Conv1d(8, 5, 1, bias=False)
        self.up = torch.nn.ConvTranspose1d(5, 7, 4, stride=2, padding=1)
        self.t3 = torch.nn.ConvTranspose1d(7, 4, 3, padding=1)
        self.grouped = torch.nn.Conv1d(4, 4, 3, padding=1, groups=2)

    def forward(self, x):
        return self.grouped(self.t3(self.up(self.k1(self.down(self.k3(x))))))


def test_rewritten_convolutions_match_pytorch_and_keep_their_weights(tmp_path):
    torch.manual_seed(0)
    net = Convs().eval()
    path = tmp_path / "convs.onnx"
    torch.onnx.export(net, (torch.randn(2, 6, 12),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch", 2: "frames"}, "y": {0: "batch", 2: "frames"}},
                      opset_version=18, dynamo=False)
    model = onnx.load(str(path))
    names = {i.name: tuple(i.dims) for i in model.graph.initializer}
    assert conv_matmul.convs_as_matmuls(model) == 5
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 1 and "ConvTranspose" not in ops and ops.count("MatMul") == 5
    kept = {i.name: tuple(i.dims) for i in model.graph.initializer}
    assert all(kept[n] == d for n, d in names.items()), "a weight initializer changed"
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch, frames in ((1, 8), (3, 20), (16, 4)):
        x = torch.randn(batch, 6, frames)
        with torch.no_grad():
            want = net(x).numpy()
        got = sess.run(None, {"x": x.numpy()})[0]
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 1e-5


def test_a_rewritten_bundle_gives_the_same_outputs_and_its_weights_are_recovered(tmp_path):
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    for key in conv_matmul.DEFAULT_MODELS:       # the shipped tiny bundle is already rewritten
        path = bundle / f"{key}.onnx"
        if not path.exists():
            continue
        assert conv_matmul.convs_as_matmuls(onnx.load(str(path))) == 0, key
    assert conv_matmul.main([str(bundle)]) == 0   # a second pass finds nothing and changes nothing
    mods, report = weights.recover_modules(bundle)
    for key in ("unet_student", "align_classifier"):
        assert report[key]["max_relative_error"] < 1e-4, (key, report[key])


def test_a_graph_whose_rewrite_differs_is_not_written(tmp_path, monkeypatch):
    src = tmp_path / "unet.onnx"
    shutil.copy(TINY / "unet_student.onnx", src)
    original = src.read_bytes()

    def broken(model):
        # Stands in for a wrong rewrite: the UNet's output scaled.
        out = model.graph.output[0].name
        for node in model.graph.node:
            for j, name in enumerate(node.output):
                if name == out:
                    node.output[j] = "unscaled"
        model.graph.initializer.append(onnx.numpy_helper.from_array(np.array(2.0, np.float32), "two"))
        model.graph.node.append(onnx.helper.make_node("Mul", ["unscaled", "two"], [out]))
        return 1

    monkeypatch.setattr(conv_matmul, "convs_as_matmuls", broken)
    with pytest.raises(ValueError, match="rewritten graph differs"):
        conv_matmul.rewrite_file(src, src)
    assert src.read_bytes() == original
    assert not list(tmp_path.glob(".*tmp"))


class Grey(torch.nn.Module):
    """The contact detector's grey frames: RGB weighted by a constant vector, summed."""

    def __init__(self):
        super().__init__()
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]) / 255.0)

    def forward(self, frames):
        return (frames.float() * self.luma).sum(-1) * 2.0


def test_a_channel_sum_by_a_constant_vector_becomes_a_matmul_with_the_same_output(tmp_path):
    path = tmp_path / "grey.onnx"
    torch.onnx.export(Grey(), (torch.zeros(1, 4, 8, 8, 3, dtype=torch.uint8),), str(path), input_names=["frames"],
                      output_names=["grey"], dynamic_axes={"frames": {0: "batch", 1: "frames"}}, opset_version=18,
                      dynamo=False)
    model = onnx.load(str(path))
    assert conv_matmul.convs_as_matmuls(model) == 0
    assert conv_matmul.channel_sums_as_matmuls(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert "ReduceSum" not in ops and ops.count("MatMul") == 1
    used = {name for n in model.graph.node for name in n.input} | {o.name for o in model.graph.output}
    assert all(i.name in used for i in model.graph.initializer), "an initializer left without a user"
    assert all(n.output[0] in used for n in model.graph.node if n.op_type == "Constant"), "a constant left without a user"
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = torch.randint(0, 256, (2, 5, 8, 8, 3), dtype=torch.uint8)
    got = sess.run(None, {"frames": x.numpy()})[0]
    assert np.abs(got - Grey()(x).numpy()).max() < 1e-5


def test_a_broken_model_file_is_named_and_the_others_are_still_rewritten(tmp_path, capsys):
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    (bundle / "align_classifier.onnx").write_bytes(b"not an onnx file")
    assert conv_matmul.main([str(bundle), "--models", "align_classifier", "unet_student"]) == 4
    out = capsys.readouterr()
    assert out.err.startswith("[bundle:") and "model:align_classifier" in out.err
    assert "conv_matmul: unet_student: 0 rewritten" in out.out
    assert (bundle / "align_classifier.onnx").read_bytes() == b"not an onnx file"
    (bundle / "manifest.json").write_text("{")
    assert conv_matmul.main([str(bundle)]) == 4
    assert "manifest.json is not a bundle manifest" in capsys.readouterr().err
