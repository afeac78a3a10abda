import numpy as np
import torch

from foley import metrics
from foley.audio import MelFrontend


def test_perfect_onsets_score_one_and_zero_offset():
    ref = np.array([0.5, 1.0, 2.0])
    s = metrics.onset_scores(ref, ref + 0.001)
    assert s["f1"] == 1.0
    assert np.allclose(s["offsets_ms"], 1.0)


def test_onsets_outside_the_window_do_not_count():
    s = metrics.onset_scores(np.array([0.5, 1.0]), np.array([0.56, 1.0]))
    assert s["f1"] == 0.5


def test_detector_finds_clicks_within_a_frame():
    sr = 16000
    y = np.random.default_rng(0).normal(0, 1e-4, 3 * sr).astype(np.float32)
    times = [0.5, 1.3, 2.2]
    for t in times:
        n = int(t * sr)
        y[n: n + 800] += (np.exp(-np.arange(800) / 120) * np.sin(np.arange(800) * 0.7)).astype(np.float32)
    mel = MelFrontend()(torch.from_numpy(y)[None])[0].numpy()
    est = metrics.detect_onsets(mel)
    s = metrics.onset_scores(np.array(times), est)
    assert s["f1"] == 1.0
    assert max(abs(o) for o in s["offsets_ms"]) <= 20


def test_event_crops_are_zero_padded_at_the_edges():
    mel = np.ones((64, 100), np.float32)
    crops = metrics.event_crops(mel, [0.0, 0.99])
    assert crops.shape == (2, 64, 32)
    assert crops[0, :, 0].sum() == 0 and crops[0, :, 5].sum() == 64
    assert crops[1, :, -1].sum() == 0
