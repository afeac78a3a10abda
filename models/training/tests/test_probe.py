"""foley.probe: a linear onset probe on frozen video features. Features that carry the onsets
give a probe that finds them; the command fits on footage, scores clip folders and names bad
input."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import data, generalization  # noqa: E402
from foley.probe import fit_probe, probe_onsets  # noqa: E402

TRAINING = Path(__file__).resolve().parents[1]
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


def test_the_command_prints_one_line_per_bundle_and_names_missing_data(tmp_path):
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    clips = generalization.write_clips("in_world", 2, tmp_path / "clips", seconds=2.0)
    cmd = [sys.executable, "-m", "foley.probe", "--bundle", str(TINY), "--bundle", str(TINY), "--footage", str(footage),
           "--clips", str(clips), "--count", "2"]
    p = subprocess.run(cmd, cwd=TRAINING, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(rows) == 2 and rows[0]["thresholds"] == rows[1]["thresholds"]     # the same fit, twice
    assert rows[0]["clips"] == 2 and set(rows[0]["thresholds"]) == {"0.5", "0.7", "0.9"}
    assert all(0 <= r["onset_f1"] <= 1 for r in rows[0]["thresholds"].values())
    missing = subprocess.run([*cmd[:5], "--footage", str(tmp_path / "nowhere"), "--clips", str(clips)], cwd=TRAINING,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 4 and missing.stderr.startswith("[footage:")
    empty = subprocess.run([*cmd[:9], "--clips", str(tmp_path / "footage")], cwd=TRAINING, capture_output=True, text=True,
                           timeout=300)
    assert empty.returncode == 4 and empty.stderr.startswith("[clips:")
