"""foley.tonal_floor: a known frame-rate buzz in the silence of a signal is found at its level."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley.tonal_floor import tonal_floor  # noqa: E402


def test_finds_a_200_hz_buzz_66_db_below_the_peak_and_calls_it_a_frame_rate_harmonic():
    sr = 16000
    t = np.arange(4 * sr) / sr
    rng = np.random.default_rng(0)
    x = 10 ** (-66 / 20) * np.sin(2 * np.pi * 200 * t) + 10 ** (-100 / 20) * rng.standard_normal(len(t))
    x[sr: sr + 1600] += 0.9 * np.sin(2 * np.pi * 440 * t[:1600])     # the loud event sets the peak
    r = tonal_floor(x, sr)
    peak_db = 20 * np.log10(np.max(np.abs(x)))
    assert r["strongest"]["hz"] == pytest.approx(200, abs=4)
    assert r["strongest"]["db_below_peak"] == pytest.approx(-66 - peak_db, abs=1.5)
    assert r["strongest"]["frame_rate_harmonic"]
    assert r["silence_s"] > 2.5


def test_a_render_without_enough_silence_is_refused():
    x = np.sin(2 * np.pi * 300 * np.arange(16000) / 16000)
    with pytest.raises(ValueError, match="of silence below"):
        tonal_floor(x, 16000)
