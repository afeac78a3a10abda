"""foley.contact_gate: the probe's standardization folds into the weights the engine applies to
raw features; the command writes the gate into a bundle's manifest, removes it, and names bad
input."""
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import contact_gate, data  # noqa: E402
from foley.contact_gate import fold_standardization  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


def test_folded_weights_on_raw_features_give_the_probe_on_standardized_ones():
    gen = torch.Generator().manual_seed(0)
    probe = torch.nn.Linear(6, 1)
    mu, sd = torch.randn(6, generator=gen), torch.rand(6, generator=gen) + 0.5
    f = torch.randn(10, 6, generator=gen) * 3
    w, b = fold_standardization(probe, mu, sd)
    with torch.no_grad():
        expected = probe((f - mu) / sd)[:, 0]
    assert torch.allclose(f @ torch.tensor(w) + b, expected, atol=1e-5)


def test_the_command_writes_the_gate_into_the_manifest_and_removes_it(tmp_path, capsys):
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    assert contact_gate.main(["--bundle", str(bundle), "--footage", str(footage)]) == 0
    printed = json.loads(capsys.readouterr().out)
    man = json.loads((bundle / "manifest.json").read_text())
    gate = man["contactGate"]
    assert len(gate["weights"]) == man["features"]["dim"] and printed["threshold"] == gate["threshold"]
    assert {k: gate[k] for k in contact_gate.GATE_SHAPE} == contact_gate.GATE_SHAPE
    assert contact_gate.main(["--bundle", str(bundle), "--remove"]) == 0
    assert "contactGate" not in json.loads((bundle / "manifest.json").read_text())
    capsys.readouterr()
    assert contact_gate.main(["--bundle", str(tmp_path / "nowhere"), "--remove"]) == 4
    assert capsys.readouterr().err.startswith("[bundle:")
    assert contact_gate.main(["--bundle", str(bundle), "--footage", str(tmp_path / "nowhere")]) == 4
    assert capsys.readouterr().err.startswith("[footage:")
