"""What the held-out generators share: the onset schedule rule, the seed range and the CLI.

Seeds start far past the training world's splits (world.SPLIT_STARTS), so no held-out clip
shares a seed with a clip anything was trained or tuned on.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import world

HELDOUT_SEED_START = 50_000_000
MIN_GAP_S = 0.15     # two onsets closer than this are not separable at the ±50 ms window
HEAD_S = 0.2
TAIL_S = 0.4
NOISE_FLOOR_DB = -60.0


def clip_seeds(world_name: str, count: int, start: int = 0) -> list[int]:
    from . import WORLDS
    if world_name not in WORLDS:
        raise ValueError(f"unknown held-out world {world_name!r}; use one of {list(WORLDS)}")
    if count < 1 or start < 0:
        raise ValueError(f"count must be >= 1 and start >= 0, got {count}, {start}")
    base = HELDOUT_SEED_START + 1_000_000 * WORLDS.index(world_name)
    return list(range(base + start, base + start + count))


class OnsetBook:
    """Onset times already taken in a clip: a new sound must keep MIN_GAP_S from all of them."""

    def __init__(self, seconds: float, sample_rate: int):
        self.lo_s, self.hi_s, self.sample_rate = HEAD_S, seconds - TAIL_S, sample_rate
        self.times: list[float] = []

    def fits(self, times_s) -> bool:
        taken = list(self.times)
        for t in times_s:
            if not (self.lo_s <= t <= self.hi_s) or any(abs(t - u) < MIN_GAP_S for u in taken):
                return False
            taken.append(t)
        return True

    def take(self, times_s) -> list[float]:
        q = [round(t * self.sample_rate) / self.sample_rate for t in times_s]
        self.times += q
        return q


def add_sound(audio: np.ndarray, sound: np.ndarray, t_s: float, sample_rate: int) -> None:
    i = int(round(t_s * sample_rate))
    n = min(len(sound), len(audio) - i)
    if n > 0:
        audio[i:i + n] += sound[:n]


def finish_audio(rng, audio: np.ndarray) -> np.ndarray:
    """Noise floor and one limiting gain, as a recording would have them."""
    audio = audio + rng.standard_normal(len(audio)) * 10 ** ((NOISE_FLOOR_DB + rng.uniform(-3, 3)) / 20)
    peak = np.max(np.abs(audio))
    if peak > world.PEAK_LIMIT:
        audio *= world.PEAK_LIMIT / peak
    return audio.astype(np.float32)


def check_args(seconds: float, fps: int, size: int, sample_rate: int) -> None:
    if not seconds > HEAD_S + TAIL_S + 0.5:
        raise ValueError(f"seconds must be > {HEAD_S + TAIL_S + 0.5}, got {seconds}")
    if size < 96 or size % 2:
        raise ValueError(f"size must be an even number >= 96, got {size}")
    if abs(seconds * fps - round(seconds * fps)) > 1e-6 or abs(seconds * sample_rate - round(seconds * sample_rate)) > 1e-6:
        raise ValueError(f"seconds={seconds} must be a whole number of frames and samples")


def cli(world_name: str, make_clip: Callable, doc: str, argv=None) -> int:
    """`python -m foley.heldout.<world> --count N --out DIR`: <DIR>/<world>-<seed>/ clip folders."""
    ap = argparse.ArgumentParser(prog=f"python -m foley.heldout.{world_name}", description=doc.split("\n")[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--start", type=int, default=0, help="first seed offset inside the world's range")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=8.0)
    a = ap.parse_args(argv)
    try:
        seeds = clip_seeds(world_name, a.count, a.start)
        check_args(a.seconds, 25, 96, 16000)
    except ValueError as e:
        ap.error(str(e))
    t0, made = time.time(), 0
    for seed in seeds:
        folder = a.out / f"{world_name}-{seed}"
        if all((folder / n).exists() for n in world.CLIP_FILES):
            continue
        world.write_clip(make_clip(seed, a.seconds), folder, f"heldout-{world_name}")
        made += 1
    print(f"{made} clips written, {len(seeds) - made} already there, to {a.out} in {time.time() - t0:.1f} s")
    return 0


def schedule_blows(rng, book, swing_s: float, seconds: float):
    """1-4 blows of a tool, 0.35-1 s apart, booked so they keep clear of other onsets.

    Returns (times, onsets with intensities), or (None, []) when 30 tries found no room.
    """
    for _ in range(30):
        n = int(rng.integers(1, 5))
        t0 = rng.uniform(HEAD_S + swing_s, seconds - TAIL_S)
        times = list(t0 + np.concatenate([[0], np.cumsum(rng.uniform(0.35, 1.0, n - 1))]))
        if book.fits(times):
            times = book.take(times)
            return times, [(t, float(rng.uniform(0.4, 1.0))) for t in times]
    return None, []


def lift_between_blows(times, swing_s: float, lift: float, t: float) -> float:
    """Height of a tool over its target: 0 at each blow, a parabola between blows, raised before and after."""
    if t <= times[0]:
        return lift * (1 - (1 - min((times[0] - t) / swing_s, 1.0)) ** 2)
    for a, b in zip(times, times[1:]):
        if t <= b:
            u = (t - a) / (b - a)
            return lift * (1 - (2 * u - 1) ** 2)
    return lift * (1 - (1 - min((t - times[-1]) / swing_s, 1.0)) ** 2)
