"""Held-out world (c): unseen sounds. The training world's pictures and onset times
(world.make_clip on seeds no split uses) with every sound replaced by one the training world
never made: ceramic plates, cardboard thuds, bells, water drops, claves and springs. The class
of every event is "unknown" (the sound's name is kept in "sound").

    python -m foley.heldout.sounds --count 60 --out data/heldout/sounds
"""
from __future__ import annotations

import sys

import numpy as np

from .. import world
from . import common

SOUNDS = ("ceramic_plate", "cardboard", "bell", "water_drop", "clave", "spring")


def _decaying(t, freqs, decays, amps, phases):
    return (amps[:, None] * np.exp(-t / decays[:, None]) * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)


def synthesize(rng, name: str, sample_rate: int) -> np.ndarray:
    """One impact of `name`, attack at sample 0, peak 1."""
    if name == "ceramic_plate":     # thin plate: dense inharmonic modes, bright, medium ring
        n, f0 = 0.6, rng.uniform(900, 1500)
        freqs = f0 * np.array([1.0, 1.59, 2.14, 2.65, 3.16, 3.65, 4.15])
        decays = rng.uniform(0.05, 0.2) * 0.8 ** np.arange(7)
    elif name == "bell":            # hum, prime, tierce, quint, nominal partials; long ring
        n, f0 = 1.5, rng.uniform(300, 600)
        freqs = f0 * np.array([0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 2.67])
        decays = rng.uniform(0.5, 0.9) * 0.75 ** np.arange(7)
    elif name == "clave":           # one hard, short high mode
        n, f0 = 0.15, rng.uniform(2000, 2800)
        freqs, decays = np.array([f0, 2.7 * f0]), np.array([0.025, 0.01])
    if name in ("ceramic_plate", "bell", "clave"):
        t = np.arange(int(n * sample_rate)) / sample_rate
        freqs = np.minimum(freqs, 0.45 * sample_rate)
        x = _decaying(t, freqs, decays, rng.uniform(0.4, 1.0, len(freqs)), rng.uniform(0, 2 * np.pi, len(freqs)))
        x[:40] += rng.standard_normal(40) * 0.4 * np.exp(-np.arange(40) / 10)
    elif name == "cardboard":       # hollow box: band-passed noise thud with a low body mode
        from scipy.signal import butter, sosfilt
        t = np.arange(int(0.2 * sample_rate)) / sample_rate
        sos = butter(2, [rng.uniform(250, 400), rng.uniform(900, 1400)], "bandpass", fs=sample_rate, output="sos")
        x = sosfilt(sos, rng.standard_normal(len(t))) * np.exp(-t / rng.uniform(0.02, 0.04))
        x = x / (np.abs(x).max() + 1e-12) + 0.6 * np.sin(2 * np.pi * rng.uniform(140, 220) * t) * np.exp(-t / 0.05)
    elif name == "water_drop":      # rising resonance of a bubble
        t = np.arange(int(0.12 * sample_rate)) / sample_rate
        f_start = rng.uniform(600, 1000)
        f = f_start * (1 + rng.uniform(1.0, 2.0) * t / 0.12)
        x = np.sin(2 * np.pi * np.cumsum(f) / sample_rate) * np.exp(-t / rng.uniform(0.02, 0.05))
    elif name == "spring":          # boing: a low tone with fast vibrato and a slow decay
        t = np.arange(int(0.5 * sample_rate)) / sample_rate
        f = rng.uniform(150, 300) * (1 + 0.15 * np.sin(2 * np.pi * rng.uniform(12, 25) * t))
        x = np.sin(2 * np.pi * np.cumsum(f) / sample_rate) * np.exp(-t / 0.15)
        x[:80] += rng.standard_normal(80) * 0.5 * np.exp(-np.arange(80) / 20)
    else:
        raise ValueError(f"unknown sound {name!r}; use one of {SOUNDS}")
    fade = min(len(x), int(0.01 * sample_rate))
    x[len(x) - fade:] *= np.linspace(1, 0, fade)
    return (x / (np.abs(x).max() + 1e-12)).astype(np.float64)


def make_clip(seed: int, seconds: float = 8.0, fps: int = 25, size: int = 96, sample_rate: int = 16000) -> world.Clip:
    common.check_args(seconds, fps, size, sample_rate)
    pictures = world.make_clip(int(seed), seconds, fps, size, sample_rate)
    rng = np.random.default_rng([int(seed), 7])
    # Each training source becomes one unseen sound, kept for all its onsets.
    by_source = {}
    audio = np.zeros(int(round(seconds * sample_rate)), np.float64)
    events = []
    for e in pictures.events:
        name = by_source.setdefault(e["source"], str(rng.choice(SOUNDS)))
        gain = 10 ** ((-26 + 23 * e["intensity"]) / 20)
        common.add_sound(audio, synthesize(rng, name, sample_rate) * gain, e["time"], sample_rate)
        events.append({"time": e["time"], "class": "unknown", "sound": name, "intensity": e["intensity"],
                       "source": e["source"], "visual": e["class"]})
    return world.Clip(int(seed), pictures.frames, common.finish_audio(rng, audio), events, fps, sample_rate, seconds)


def main(argv=None) -> int:
    return common.cli("sounds", make_clip, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
