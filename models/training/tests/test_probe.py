"""foley.probe: a linear onset probe on frozen video features. Features that carry the onsets
give a probe that finds them; the command (run in-process) fits on footage, scores clip folders and names bad
input."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import data, generalization, probe  # noqa: E402
from foley.probe import fit_probe, probe_onsets  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


def test_a_probe_on_features_that_carry_the_onsets_finds_them_at_their_frames():
    gen = torch.Generator().manual_seed(0)
    labels = (torch.rand(20, 50, generator=gen) < 0.04).float()
    features = torch.randn(20, 50, 8, generator=gen)
    features[..., 3] += 4 * labels                      # one dimension says "onset"
    probe, mu, sd, _ = fit_probe(features, labels)
    with torch.no_grad():
        prob = torch.sigmoid(probe((features[0] - mu) / sd)[:, 0]).numpy()
    truth = np.nonzero(labels[0].numpy())[0] / 25.0
    found = probe_onsets(prob, 0.7)
    assert len(found) == len(truth) and np.allclose(found, truth)


def test_the_command_prints_one_line_per_bundle_and_names_missing_data(tmp_path, capsys):
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    clips = generalization.write_clips("in_world", 2, tmp_path / "clips", seconds=2.0)
    args = ["--bundle", str(TINY), "--bundle", str(TINY), "--footage", str(footage), "--clips", str(clips), "--count", "2"]
    assert probe.main(args) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and rows[0]["thresholds"] == rows[1]["thresholds"]     # the same fit, twice
    assert rows[0]["clips"] == 2 and set(rows[0]["thresholds"]) == {"0.5", "0.7", "0.9"}
    assert all(0 <= r["onset_f1"] <= 1 for r in rows[0]["thresholds"].values())
    assert probe.main([*args[:2], "--footage", str(tmp_path / "nowhere"), "--clips", str(clips)]) == 4
    assert capsys.readouterr().err.startswith("[footage:")
    assert probe.main([*args[:2], "--footage", str(footage), "--clips", str(tmp_path / "footage")]) == 4
    assert capsys.readouterr().err.startswith("[clips:")
