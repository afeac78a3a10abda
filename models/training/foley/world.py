"""Procedural foley world: deterministic video + audio + onset ground truth from a seed.

Every clip is built in two stages: a *plan* (sources, their onset times and motion
parameters, all drawn from one numpy Generator seeded with the clip seed) and then
*rendering* (frames) and *synthesis* (audio) from that plan. Onsets are scheduled
globally first, so two onsets are never closer than MIN_GAP_S, and each source's motion
is built around its onset times: the visible contact lands exactly on the onset, and the
frame nearest each onset shows the contact pose (ball on the floor and squashed, stick
on the pad with the pad flashing, boot on the ground).

Geometry is laid out for a 96 px frame and scaled by size / 96.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

CLASSES = ["wood_ball", "metal_ball", "glass_ball", "rubber_ball",
           "kick", "snare", "hihat", "crash", "footstep", "scrape"]
BALL_CLASSES = CLASSES[:4]
DRUM_CLASSES = ["kick", "snare", "hihat", "crash"]

SPLIT_STARTS = {"train": 0, "val": 1_000_000, "test": 2_000_000}
SPLIT_SIZE = 1_000_000

MIN_GAP_S = 0.12        # any two onsets in a clip are at least this far apart
HEAD_S = 0.1            # no onset in the first HEAD_S ...
TAIL_S = 0.3            # ... nor in the last TAIL_S seconds
MIN_SIZE = 96
NOISE_FLOOR_DB = -60.0  # rms of the background noise in the audio
PEAK_LIMIT = 0.95

# Drum samples from Debian's hydrogen-drumkits (one acoustic kit with all four pieces).
HYDROGEN_KIT = Path("/usr/share/hydrogen/data/drumkits/Millo_MultiLayered2")
DRUM_FILES = {"kick": "bd_04.flac", "snare": "jsnare_04.flac",
              "hihat": "hhclosed_04.flac", "crash": "crash_04.flac"}
# Tails are cut so a long crash does not mask the next onsets for seconds.
DRUM_MAX_S = {"kick": 0.45, "snare": 0.5, "hihat": 0.25, "crash": 1.2}
DEFAULT_DRUMS_NPZ = Path(__file__).resolve().parents[3] / "data" / "drums.npz"
DRUMS_SAMPLE_RATE = 16000


@dataclass
class Clip:
    seed: int
    frames: np.ndarray          # uint8 [T, size, size, 3] RGB, frame k shown at k / fps
    audio: np.ndarray           # float32 [seconds * sample_rate], |x| <= PEAK_LIMIT
    events: list                # dicts {time, class, intensity, source}, sorted by time
    fps: int = 25
    sample_rate: int = 16000
    seconds: float = 8.0


# ----------------------------------------------------------------------------- drums

def _trim_and_fade(x: np.ndarray, sample_rate: int, max_s: float) -> np.ndarray:
    # Start the sample at its attack so the onset is exactly the event time.
    peak = float(np.max(np.abs(x))) or 1.0
    start = int(np.argmax(np.abs(x) > 0.05 * peak))
    x = x[start:start + int(max_s * sample_rate)].astype(np.float64)
    fade_n = min(len(x), int(0.05 * sample_rate))
    x[len(x) - fade_n:] *= np.linspace(1.0, 0.0, fade_n)
    return (x / (np.max(np.abs(x)) or 1.0)).astype(np.float32)


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x.astype(np.float32)
    from scipy.signal import resample_poly
    g = math.gcd(sr_in, sr_out)
    return resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


def load_hydrogen_drums(sample_rate: int = DRUMS_SAMPLE_RATE) -> dict:
    import soundfile as sf
    out = {}
    for name, fname in DRUM_FILES.items():
        x, sr = sf.read(str(HYDROGEN_KIT / fname), dtype="float64", always_2d=True)
        x = _resample(x.mean(axis=1), sr, sample_rate)
        out[name] = _trim_and_fade(x, sample_rate, DRUM_MAX_S[name])
    return out


@lru_cache(maxsize=4)
def drum_samples(sample_rate: int = 16000) -> dict:
    """The four drum samples at sample_rate, peak 1. Sources, in order: $FOLEY_DRUMS_NPZ,
    <repo>/data/drums.npz, the hydrogen-drumkits folder."""
    env = os.environ.get("FOLEY_DRUMS_NPZ")
    npz = Path(env) if env else DEFAULT_DRUMS_NPZ
    if env and not npz.exists():
        raise FileNotFoundError(f"FOLEY_DRUMS_NPZ={env} does not exist")
    if npz.exists():
        with np.load(npz) as z:
            sr = int(z["sample_rate"])
            return {k: _resample(z[k], sr, sample_rate) for k in DRUM_CLASSES}
    if HYDROGEN_KIT.exists():
        return load_hydrogen_drums(sample_rate)
    raise FileNotFoundError(
        f"no drum samples: set FOLEY_DRUMS_NPZ, or create {DEFAULT_DRUMS_NPZ} with "
        f"`python -m foley.world --export-drums {DEFAULT_DRUMS_NPZ}` on a machine that has "
        f"hydrogen-drumkits ({HYDROGEN_KIT})")


def export_drums(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    d = load_hydrogen_drums(DRUMS_SAMPLE_RATE)
    np.savez(path, sample_rate=np.int64(DRUMS_SAMPLE_RATE), **d)
    return path


# ----------------------------------------------------------------------------- schedule

class Schedule:
    """Onset times already taken in the clip, shared by all sources."""

    def __init__(self, seconds: float, sample_rate: int):
        self.lo_s, self.hi_s = HEAD_S, seconds - TAIL_S
        self.sample_rate = sample_rate
        self.times: list[float] = []

    def quantize(self, t_s: float) -> float:
        # Event times sit on the sample grid so the audio onset is exact.
        return round(t_s * self.sample_rate) / self.sample_rate

    def free(self, t_s: float) -> bool:
        return self.lo_s <= t_s <= self.hi_s and all(abs(t_s - u) >= MIN_GAP_S for u in self.times)

    def take(self, t_s: float) -> float:
        t_s = self.quantize(t_s)
        self.times.append(t_s)
        return t_s

    def place(self, t_s: float, max_shift_s: float = 0.3) -> float | None:
        """Take t_s or the first free time up to max_shift_s later; None if none."""
        for shift in np.arange(0.0, max_shift_s + 1e-9, 0.01):
            t = self.quantize(t_s + shift)
            if self.free(t):
                return self.take(t)
        return None


# ----------------------------------------------------------------------------- drawing

def _blend(dst: np.ndarray, rgb, alpha: np.ndarray) -> None:
    a = alpha[..., None]
    dst += a * (np.asarray(rgb, np.float32) - dst)


def _paste(frame: np.ndarray, sprite: np.ndarray, cy: float, cx: float) -> None:
    """Alpha-blend an RGBA float sprite centred at (cy, cx) into frame (in place)."""
    h, w = sprite.shape[:2]
    top, left = int(round(cy - h / 2)), int(round(cx - w / 2))
    H, W = frame.shape[:2]
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + h, H), min(left + w, W)
    if y0 >= y1 or x0 >= x1:
        return
    s = sprite[y0 - top:y1 - top, x0 - left:x1 - left]
    d = frame[y0:y1, x0:x1]
    d += s[..., 3:4] * (s[..., :3] - d)


def _grid(h: int, w: int):
    # Broadcastable pixel-centre coordinates ([h,1] and [1,w]): cheaper than a full mesh.
    return (np.arange(h, dtype=np.float32)[:, None] + 0.5,
            np.arange(w, dtype=np.float32)[None, :] + 0.5)


def _ellipse_sprite(rx: float, ry: float, color_fn, pad: int = 2) -> np.ndarray:
    """RGBA sprite of an anti-aliased ellipse; color_fn(u, v, d) -> (rgb [h,w,3], alpha [h,w])
    where u, v are coordinates normalised by the radii and d the normalised radius."""
    h, w = int(math.ceil(2 * ry)) + 2 * pad, int(math.ceil(2 * rx)) + 2 * pad
    yy, xx = _grid(h, w)
    u, v = (xx - w / 2) / rx, (yy - h / 2) / ry
    d = np.sqrt(u * u + v * v)
    edge = np.clip((1.0 - d) * min(rx, ry) + 0.5, 0.0, 1.0)
    rgb, alpha = color_fn(u, v, d)
    out = np.zeros((h, w, 4), np.float32)
    out[..., :3] = rgb
    out[..., 3] = edge * alpha
    return out


def _segment_alpha(yy, xx, p0, p1, width: float) -> np.ndarray:
    (y0, x0), (y1, x1) = p0, p1
    dy, dx = y1 - y0, x1 - x0
    L2 = dy * dy + dx * dx + 1e-9
    t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / L2, 0.0, 1.0)
    d = np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx))
    return np.clip(width / 2 + 0.5 - d, 0.0, 1.0)


def _draw_segment(frame, p0, p1, width, rgb, head_r=0.0, head_rgb=None) -> None:
    H, W = frame.shape[:2]
    m = width + head_r + 2
    y0, y1 = int(max(min(p0[0], p1[0]) - m, 0)), int(min(max(p0[0], p1[0]) + m, H))
    x0, x1 = int(max(min(p0[1], p1[1]) - m, 0)), int(min(max(p0[1], p1[1]) + m, W))
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = _grid(y1 - y0, x1 - x0)
    yy += y0
    xx += x0
    d = frame[y0:y1, x0:x1]
    _blend(d, rgb, _segment_alpha(yy, xx, p0, p1, width))
    if head_r > 0:
        a = np.clip(head_r + 0.5 - np.hypot(yy - p1[0], xx - p1[1]), 0.0, 1.0)
        _blend(d, head_rgb, a)


def _background(rng, S: int) -> np.ndarray:
    yy, xx = _grid(S, S)
    c0 = rng.uniform(40, 200, 3)
    c1 = np.clip(c0 + rng.uniform(-60, 60, 3), 0, 255)
    kind = rng.integers(4)
    if kind == 0:       # flat
        w = np.zeros((S, S), np.float32)
    elif kind == 1:     # linear gradient in a random direction
        a = rng.uniform(0, 2 * np.pi)
        w = (np.cos(a) * xx + np.sin(a) * yy) / S
        w = (w - w.min()) / (w.max() - w.min() + 1e-9)
    elif kind == 2:     # stripes
        a = rng.uniform(0, np.pi)
        period = rng.uniform(6, 24) * S / 96
        w = (np.sin(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / period) > 0).astype(np.float32)
    else:               # checker
        cell = rng.uniform(6, 20) * S / 96
        w = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(np.float32)
    return (c0 + (c1 - c0) * w[..., None]).astype(np.float32)


# ----------------------------------------------------------------------------- sound

def _modal(rng, sample_rate, freqs_hz, decays_s, amps, click_s=0.003, click_amp=0.3):
    """Sum of damped sinusoids plus a short noise click, peak-normalised to 1."""
    n = int(min(5 * max(decays_s), 2.5) * sample_rate) + 1
    t = np.arange(n, dtype=np.float64) / sample_rate
    f = np.asarray(freqs_hz)[:, None]
    tau = np.asarray(decays_s)[:, None]
    x = (np.asarray(amps)[:, None] * np.exp(-t / tau)
         * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (len(freqs_hz), 1)))).sum(0)
    nc = int(click_s * 5 * sample_rate)
    x[:nc] += click_amp * rng.standard_normal(nc) * np.exp(-t[:nc] / click_s)
    return x / (np.max(np.abs(x)) + 1e-12)


def _gain(intensity: float, lo_db: float = -26.0, hi_db: float = -3.0) -> float:
    # Quietest events stay well above the -60 dB floor so the onset detector sees them.
    return 10 ** ((lo_db + (hi_db - lo_db) * intensity) / 20)


MATERIALS = {
    # base Hz (for a 6.5 px ball at 96 px), mode ratios, decay of mode 0 (s), decay falloff,
    # restitution range
    "wood_ball": ((330, 480), [1.0, 2.3, 3.1, 4.2], 0.04, 0.7, (0.45, 0.6)),
    "metal_ball": ((800, 1200), [1.0, 2.76, 3.9, 5.4, 6.9], 0.40, 0.85, (0.5, 0.65)),
    "glass_ball": ((2100, 2800), [1.0, 1.47, 2.09], 0.15, 0.8, (0.55, 0.7)),
    "rubber_ball": ((80, 130), [1.0, 1.58, 2.1], 0.03, 0.8, (0.7, 0.82)),
}


def _ball_sound(rng, material, radius_rel, intensity, sample_rate):
    base, ratios, tau0, fall, _ = MATERIALS[material]
    f0 = rng.uniform(*base) / radius_rel          # bigger ball, lower pitch
    freqs = np.minimum(np.array(ratios) * f0 * rng.uniform(0.98, 1.02, len(ratios)),
                       0.45 * sample_rate)
    decays = tau0 * fall ** np.arange(len(ratios))
    amps = rng.uniform(0.5, 1.0, len(ratios)) / np.arange(1, len(ratios) + 1) ** 0.5
    if material == "rubber_ball":
        # Low thud plus a longer low-passed noise burst (the squash).
        x = _modal(rng, sample_rate, freqs, decays, amps, click_s=0.008, click_amp=0.6)
    else:
        x = _modal(rng, sample_rate, freqs, decays, amps)
    return x * _gain(intensity)


def _footstep_sound(rng, intensity, sample_rate, sos):
    from scipy.signal import sosfilt
    n = int(0.12 * sample_rate)
    t = np.arange(n) / sample_rate
    noise = sosfilt(sos, rng.standard_normal(n)) * np.exp(-t / rng.uniform(0.015, 0.03))
    noise /= np.max(np.abs(noise)) + 1e-12
    thump = np.sin(2 * np.pi * rng.uniform(60, 110) * t) * np.exp(-t / 0.035)
    x = 0.7 * noise + thump
    return x / np.max(np.abs(x)) * _gain(intensity)


# ----------------------------------------------------------------------------- sources

@dataclass
class Layout:
    S: int
    scale: float
    x0: float           # column of the frame this source owns
    x1: float

    @property
    def cx(self):
        return 0.5 * (self.x0 + self.x1)


@dataclass
class Source:
    cls: str
    index: int
    layout: Layout
    onsets: list = field(default_factory=list)      # (time_s, intensity)
    keepout: list = field(default_factory=list)     # (y0, x0, y1, x1) rects distractors avoid

    def static(self, canvas):       # draw parts that never move into the background
        pass

    def render(self, frames, t_frames, fps):
        pass

    def audio(self, rng, out, sample_rate):
        pass


def _ball_colors(material, rng):
    if material == "wood_ball":
        base = np.array([150, 95, 45]) * rng.uniform(0.85, 1.1)
        freq, phase = rng.uniform(9, 14), rng.uniform(0, 6.3)

        def fn(u, v, d):
            grain = 0.75 + 0.25 * np.sin(freq * (v + 0.15 * np.sin(3 * u)) + phase)
            return base * grain[..., None] * (1 - 0.25 * d[..., None] ** 2), 1.0
    elif material == "metal_ball":
        base = np.array([150, 152, 160]) * rng.uniform(0.9, 1.1)

        def fn(u, v, d):
            shade = 1 - 0.45 * d ** 2
            spec = np.exp(-((u + 0.35) ** 2 + (v + 0.35) ** 2) / 0.04)
            rgb = base * shade[..., None] + (255 - base * shade[..., None]) * spec[..., None]
            return rgb, 1.0
    elif material == "glass_ball":
        def fn(u, v, d):
            rim = np.clip((d - 0.7) / 0.3, 0, 1)
            rgb = np.array([175, 235, 245]) + (255 - np.array([175, 235, 245])) * rim[..., None]
            return rgb, 0.35 + 0.65 * rim
    else:
        base = np.array([235, rng.uniform(50, 120), 20])

        def fn(u, v, d):
            return base * (1 - 0.2 * d[..., None] ** 2), 1.0
    return fn


class Ball(Source):
    G = 600.0           # gravity, px/s^2 at 96 px

    def plan(self, rng, sched: Schedule, seconds: float, rate_hz: float):
        L = self.layout
        s = L.scale
        self.material = self.cls
        self.radius = rng.uniform(4.0, 8.5) * s
        self.floor_y = rng.uniform(0.78, 0.9) * L.S
        g = self.G * s
        e_lo, e_hi = MATERIALS[self.cls][4]
        self.drops = []         # per drop: x, t_appear, h0, impacts [(t, v)], end_s
        t = rng.uniform(0.0, 1.0)
        while t < seconds - TAIL_S:
            x = rng.uniform(L.x0 + self.radius + 1, L.x1 - self.radius - 1)
            h0 = rng.uniform(0.45, 1.1) * (self.floor_y - self.radius)
            e = rng.uniform(e_lo, e_hi)
            fall = math.sqrt(2 * h0 / g)
            # First impact: shift the drop later until its impact time is free.
            t_imp = sched.place(t + fall, max_shift_s=0.5)
            if t_imp is None:
                t += 0.5
                continue
            t_app = t_imp - fall
            v = math.sqrt(2 * g * h0)
            impacts = [(t_imp, v)]
            while len(impacts) < 7:
                v_up = e * impacts[-1][1]
                t_next = sched.quantize(impacts[-1][0] + 2 * v_up / g)
                # Stop (the ball sticks) before tiny rapid bounces or a taken time.
                if 2 * v_up / g < 0.2 or not sched.free(t_next):
                    break
                impacts.append((sched.take(t_next), v_up))
            self.drops.append((x, t_app, h0, impacts))
            n = len(impacts)
            rest = max(rng.uniform(0.2, 0.9), n / rate_hz - (impacts[-1][0] - t_app))
            t = impacts[-1][0] + rest
        v_ref = math.sqrt(2 * g * 1.1 * self.floor_y)
        self.onsets = [(ti, float(min(v / v_ref, 1.0)))
                       for d in self.drops for ti, v in d[3]]
        fn = _ball_colors(self.cls, rng)
        r = self.radius
        self.sprite = _ellipse_sprite(r, r, fn)
        self.squash = _ellipse_sprite(r * 1.3, r * 0.7, fn)
        self.floor_rgb = rng.uniform(0, 255, 3)
        self.floor_w = max(2, round(2 * s))
        self.keepout = [(self.floor_y - 4 * s, L.x0, L.S, L.x1)]

    def static(self, canvas):
        y = int(round(self.floor_y))
        canvas[y:y + self.floor_w, int(self.layout.x0):int(math.ceil(self.layout.x1))] = self.floor_rgb

    def height(self, t):
        """Height of the ball bottom above the floor at times t (nan = not visible)."""
        g = self.G * self.layout.scale
        h = np.full(t.shape, np.nan)
        x = np.zeros(t.shape)
        for i, (xd, t_app, h0, imps) in enumerate(self.drops):
            t_end = self.drops[i + 1][1] if i + 1 < len(self.drops) else np.inf
            m = (t >= t_app) & (t < t_end)
            x[m] = xd
            tt = t[m]
            hh = np.where(tt < imps[0][0], h0 - 0.5 * g * (tt - t_app) ** 2, 0.0)
            for j, (ti, v) in enumerate(imps[:-1]):
                vu = imps[j + 1][1]
                seg = (tt >= ti) & (tt < imps[j + 1][0])
                dt = tt[seg] - ti
                hh[seg] = np.maximum(vu * dt - 0.5 * g * dt ** 2, 0.0)
            h[m] = hh
        return h, x

    def render(self, frames, t_frames, fps):
        h, x = self.height(t_frames)
        contact = {int(round(ti * fps)) for d in self.drops for ti, _ in d[3]}
        r = self.radius
        for k in range(len(t_frames)):
            if np.isnan(h[k]):
                continue
            if k in contact:    # the impact frame: on the floor and squashed
                _paste(frames[k], self.squash, self.floor_y - 0.7 * r, x[k])
            else:
                _paste(frames[k], self.sprite, self.floor_y - r - h[k], x[k])

    def audio(self, rng, out, sample_rate):
        rel = self.radius / (6.5 * self.layout.scale)
        for t_s, inten in self.onsets:
            _add(out, _ball_sound(rng, self.cls, rel, inten, sample_rate), t_s, sample_rate)


def _add(out, x, t_s, sample_rate):
    i = int(round(t_s * sample_rate))
    n = min(len(x), len(out) - i)
    if n > 0:
        out[i:i + n] += x[:n]


def _regular_times(rng, sched, seconds, rate_hz, jitter=0.35):
    """Roughly periodic onsets at rate_hz (jittered), placed into the schedule."""
    out = []
    t = rng.uniform(HEAD_S, HEAD_S + 1.0 / rate_hz)
    while t < seconds - TAIL_S:
        p = sched.place(t, max_shift_s=0.2)
        if p is not None:
            out.append(p)
        t = (p if p is not None else t) + (1.0 / rate_hz) * rng.uniform(1 - jitter, 1 + jitter)
    return out


class Drum(Source):
    WINDUP_S, DOWN_S, REBOUND_S = 0.12, 0.09, 0.16

    def plan(self, rng, sched, seconds, rate_hz):
        L, s = self.layout, self.layout.scale
        cx = L.cx + rng.uniform(-0.1, 0.1) * (L.x1 - L.x0)
        half = 0.5 * (L.x1 - L.x0)
        if self.cls == "kick":
            rx = ry = min(rng.uniform(10, 13) * s, half - 2)
            cy = rng.uniform(0.72, 0.8) * L.S
            rgb = np.array([40, 38, 45]) * rng.uniform(0.8, 1.2)

            def fn(u, v, d):
                ring = (d > 0.82)[..., None]
                return np.where(ring, np.array([170, 170, 175]), rgb), 1.0
            self.stick_rgb, self.head_rgb, self.head_r = (200, 200, 205), (245, 245, 240), 3.0 * s
        elif self.cls == "snare":
            rx = ry = min(rng.uniform(7, 9) * s, half - 2)
            cy = rng.uniform(0.55, 0.65) * L.S

            def fn(u, v, d):
                ring = (d > 0.8)[..., None]
                return np.where(ring, np.array([150, 150, 160]), np.array([232, 232, 238])), 1.0
            self.stick_rgb, self.head_rgb, self.head_r = (200, 160, 100), (220, 190, 130), 1.2 * s
        elif self.cls == "hihat":
            rx, ry = min(rng.uniform(9, 11) * s, half - 2), 1.6 * s
            cy = rng.uniform(0.4, 0.5) * L.S

            def fn(u, v, d):
                return np.broadcast_to(np.array([215, 180, 60]), d.shape + (3,)), 1.0
            self.stick_rgb, self.head_rgb, self.head_r = (200, 160, 100), (220, 190, 130), 1.2 * s
        else:
            rx, ry = min(rng.uniform(12, 14) * s, half - 1), rng.uniform(3.5, 4.5) * s
            cy = rng.uniform(0.2, 0.28) * L.S

            def fn(u, v, d):
                groove = 0.85 + 0.15 * np.sin(25 * d)
                return np.array([195, 125, 50]) * groove[..., None], 1.0
            self.stick_rgb, self.head_rgb, self.head_r = (200, 160, 100), (220, 190, 130), 1.2 * s
        pad = _ellipse_sprite(rx, ry, fn)
        if self.cls == "hihat":     # a pair of thin cymbals
            gap = int(round(3 * s))
            pair = np.zeros((pad.shape[0] * 2 + gap, pad.shape[1], 4), np.float32)
            pair[:pad.shape[0]] = pad
            pair[-pad.shape[0]:] = np.maximum(pair[-pad.shape[0]:], pad)
            pad = pair
        self.pad, self.cy, self.cx = pad, cy, cx
        self.flash = pad.copy()
        self.flash[..., :3] += 0.6 * (255 - self.flash[..., :3])
        ph = pad.shape[0] / 2
        self.contact = (cy - ph + 2, cx)    # stick tip lands on the top of the pad
        side = rng.choice([-1.0, 1.0])
        self.side = side
        self.stick_len = rng.uniform(13, 17) * s
        a0 = math.radians(rng.uniform(15, 30))
        self.pivot = (self.contact[0] - self.stick_len * math.sin(a0),
                      self.contact[1] + side * self.stick_len * math.cos(a0))
        self.theta_contact = math.atan2(self.contact[0] - self.pivot[0], self.contact[1] - self.pivot[1])
        self.rest_deg = rng.uniform(30, 45)
        times = _regular_times(rng, sched, seconds, rate_hz)
        self.onsets = [(t, float(rng.uniform(0.3, 1.0))) for t in times]
        self.stick_w = max(1.5, 2 * s)
        m = self.stick_len + 4 * s
        self.keepout = [(cy - ph - m, cx - pad.shape[1] / 2 - m, cy + ph + 3, cx + pad.shape[1] / 2 + m)]

    def static(self, canvas):
        _paste(canvas, self.pad, self.cy, self.cx)

    def angles_deg(self, t):
        """Stick lift above the contact pose: wind up, accelerate down to 0 at the onset,
        rebound to rest."""
        a = np.full(t.shape, self.rest_deg)
        for t_hit, inten in self.onsets:
            up = self.rest_deg + 15 + 30 * inten       # harder hit, bigger swing
            dt = t - t_hit
            wind = (dt >= -self.DOWN_S - self.WINDUP_S) & (dt < -self.DOWN_S)
            u = (dt[wind] + self.DOWN_S + self.WINDUP_S) / self.WINDUP_S
            a[wind] = np.minimum(a[wind], self.rest_deg + (up - self.rest_deg) * (3 * u ** 2 - 2 * u ** 3))
            down = (dt >= -self.DOWN_S) & (dt <= 0)
            a[down] = np.minimum(a[down], up * (dt[down] / -self.DOWN_S) ** 2)
            reb = (dt > 0) & (dt < self.REBOUND_S)
            a[reb] = np.minimum(a[reb], self.rest_deg * np.sqrt(dt[reb] / self.REBOUND_S))
        return a

    def render(self, frames, t_frames, fps):
        a = self.angles_deg(t_frames)
        hits = {int(round(t * fps)) for t, _ in self.onsets}
        for k in hits:
            if 0 <= k < len(frames):
                a[k] = 0.0
                _paste(frames[k], self.flash, self.cy, self.cx)
        th = self.theta_contact + self.side * np.radians(a)
        tips = np.stack([self.pivot[0] + self.stick_len * np.sin(th),
                         self.pivot[1] + self.stick_len * np.cos(th)], 1)
        for k in range(len(frames)):
            _draw_segment(frames[k], self.pivot, tuple(tips[k]), self.stick_w, self.stick_rgb,
                          self.head_r, self.head_rgb)

    def audio(self, rng, out, sample_rate):
        x = drum_samples(sample_rate)[self.cls]
        for t_s, inten in self.onsets:
            _add(out, x * _gain(inten, -24.0, -2.0), t_s, sample_rate)


class Footstep(Source):
    def plan(self, rng, sched, seconds, rate_hz):
        L, s = self.layout, self.layout.scale
        self.ground_y = rng.uniform(0.8, 0.9) * L.S
        self.boot = self._boot_sprite(s, rng)
        self.flip = self.boot[:, ::-1].copy()
        times = _regular_times(rng, sched, seconds, rate_hz, jitter=0.25)
        self.onsets = [(t, float(rng.uniform(0.4, 1.0))) for t in times]
        bw = self.boot.shape[1] / 2
        lo, hi = L.x0 + bw, L.x1 - bw
        x = rng.uniform(lo, hi)
        d = rng.choice([-1.0, 1.0])
        self.xs, self.dirs = [x], [d]
        for _ in times:
            step = rng.uniform(6, 12) * s
            if not lo <= x + d * step <= hi:
                d = -d
            x = float(np.clip(x + d * step, lo, hi))
            self.xs.append(x)
            self.dirs.append(d)
        self.lift = rng.uniform(7, 12) * s
        self.ground_rgb = rng.uniform(0, 255, 3)
        self.keepout = [(self.ground_y - self.boot.shape[0] - self.lift - 4, L.x0, L.S, L.x1)]
        from scipy.signal import butter
        lo_hz = rng.uniform(200, 500)
        self.sos = butter(2, [lo_hz, lo_hz * rng.uniform(4, 8)], "bandpass", fs=sched.sample_rate, output="sos")

    @staticmethod
    def _boot_sprite(s, rng):
        h, w = int(round(14 * s)), int(round(14 * s))
        yy, xx = _grid(h, w)
        shaft = (xx < 7 * s) & (yy < h)
        foot = (yy > h - 5 * s) & (np.hypot(np.maximum(xx - (w - 3 * s), 0), yy - (h - 2.5 * s)) < 3 * s)
        foot |= (yy > h - 5 * s) & (xx < w - 3 * s)
        sole = yy > h - 1.5 * s
        spr = np.zeros((h, w, 4), np.float32)
        base = np.array([45, 32, 25]) * rng.uniform(0.7, 1.3)
        spr[..., :3] = np.where(sole[..., None], np.array([90, 85, 80]), base)
        spr[..., 3] = (shaft | foot).astype(np.float32)
        return spr

    def static(self, canvas):
        y = int(round(self.ground_y))
        canvas[y:y + max(2, round(2 * self.layout.scale)), int(self.layout.x0):int(math.ceil(self.layout.x1))] = self.ground_rgb

    def render(self, frames, t_frames, fps):
        x = np.full(t_frames.shape, self.xs[0])
        hgt = np.zeros(t_frames.shape)
        d = np.full(t_frames.shape, self.dirs[0])
        prev = -1.0
        for i, (t_plant, _) in enumerate(self.onsets):
            sw = min(0.3, 0.7 * (t_plant - prev)) if prev >= 0 else 0.3
            u = (t_frames - (t_plant - sw)) / sw
            swing = (u >= 0) & (u <= 1)
            after = t_frames > t_plant
            uu = u[swing]
            x[swing] = self.xs[i] + (self.xs[i + 1] - self.xs[i]) * (3 * uu ** 2 - 2 * uu ** 3)
            hgt[swing] = 4 * self.lift * uu * (1 - uu)   # lands with downward speed
            d[swing | after] = self.dirs[i + 1]
            x[after] = self.xs[i + 1]
            prev = t_plant
        for t_plant, _ in self.onsets:
            k = int(round(t_plant * fps))
            if 0 <= k < len(hgt):
                hgt[k] = 0.0
        h = self.boot.shape[0]
        for k in range(len(frames)):
            spr = self.boot if d[k] > 0 else self.flip
            _paste(frames[k], spr, self.ground_y - h / 2 - hgt[k], x[k])

    def audio(self, rng, out, sample_rate):
        for t_s, inten in self.onsets:
            _add(out, _footstep_sound(rng, inten, sample_rate, self.sos), t_s, sample_rate)


class Scrape(Source):
    ATTACK_S, RELEASE_S = 0.012, 0.15

    def plan(self, rng, sched, seconds, rate_hz):
        L, s = self.layout, self.layout.scale
        self.surface_y = rng.uniform(0.8, 0.9) * L.S
        bw, bh = rng.uniform(10, 15) * s, rng.uniform(6, 9) * s
        col = rng.uniform(60, 230, 3)
        yy, xx = _grid(int(round(bh)), int(round(bw)))
        spr = np.ones((int(round(bh)), int(round(bw)), 4), np.float32)
        edge = (yy < 1) | (xx < 1) | (yy > bh - 1) | (xx > bw - 1)
        spr[..., :3] = np.where(edge[..., None], col * 0.4, col * (0.9 + 0.1 * np.sin(xx * 1.3))[..., None])
        self.block = spr
        lo, hi = L.x0 + bw / 2, L.x1 - bw / 2
        self.segments = []      # (t_start, t_end, direction, peak px/s, mod Hz, mod phase)
        t = rng.uniform(HEAD_S, HEAD_S + 1.0 / rate_hz)
        x = rng.uniform(lo, hi)
        self.x_start = x
        v_ref = 60.0 * s
        while t < seconds - TAIL_S:
            t0 = sched.place(t, max_shift_s=0.3)
            if t0 is None:
                t += 0.3
                continue
            dur = rng.uniform(0.4, 1.3)
            room_r, room_l = hi - x, x - lo
            d = 1.0 if room_r >= room_l else -1.0
            room = max(room_r, room_l)
            peak = rng.uniform(0.5, 1.0) * v_ref
            # Mean speed of the profile is about 0.8 * peak; keep the block on its surface.
            peak = min(peak, room / (0.85 * dur))
            self.segments.append((t0, t0 + dur, d, peak, rng.uniform(0.7, 2.0), rng.uniform(0, 6.3)))
            x += d * peak * 0.8 * dur
            t = t0 + dur + rng.uniform(0.3, 1.0) * max(1.0, 1.3 / rate_hz - dur)
        self.onsets = [(seg[0], float(seg[3] / v_ref)) for seg in self.segments]
        self.v_ref = v_ref
        self.lo, self.hi = lo, hi
        self.surface_rgb = rng.uniform(0, 255, 3)
        from scipy.signal import butter
        fc = rng.uniform(900, 2500)
        self.sos = butter(2, [fc / 1.8, min(fc * 1.8, 7500)], "bandpass", fs=sched.sample_rate, output="sos")
        self.keepout = [(self.surface_y - bh - 6 * s, L.x0, L.S, L.x1)]

    def speed(self, t):
        """Signed speed (px/s) at times t: fast attack at motion start, slow wobble, smooth stop."""
        v = np.zeros(t.shape)
        for t0, t1, d, peak, f, ph in self.segments:
            m = (t >= t0) & (t < t1)
            tt = t[m]
            att = 1 - np.exp(-(tt - t0) / self.ATTACK_S)
            rel = np.clip((t1 - tt) / self.RELEASE_S, 0, 1)
            wob = 1 + 0.25 * np.sin(2 * np.pi * f * (tt - t0) + ph)
            v[m] = d * peak * att * rel * rel * (3 - 2 * rel) * wob
        return v

    def static(self, canvas):
        y = int(round(self.surface_y))
        h = max(3, round(3 * self.layout.scale))
        xs = slice(int(self.layout.x0), int(math.ceil(self.layout.x1)))
        stripes = (np.arange(xs.stop - xs.start) // 2 % 2)[None, :, None]
        canvas[y:y + h, xs] = self.surface_rgb * (0.75 + 0.25 * stripes)

    def _positions(self, t_end_s, rate):
        tt = np.arange(int(t_end_s * rate) + 1) / rate
        x = self.x_start + np.cumsum(self.speed(tt)) / rate
        return tt, np.clip(x, self.lo, self.hi)

    def render(self, frames, t_frames, fps):
        rate = 1000     # integrate motion at 1 kHz, sample at the frame times
        tt, x = self._positions(t_frames[-1] + 0.01, rate)
        xk = x[np.round(t_frames * rate).astype(int)]
        h = self.block.shape[0]
        for k in range(len(frames)):
            _paste(frames[k], self.block, self.surface_y - h / 2, xk[k])

    def audio(self, rng, out, sample_rate):
        from scipy.signal import sosfilt
        t = np.arange(len(out)) / sample_rate
        env = np.abs(self.speed(t)) / self.v_ref
        noise = sosfilt(self.sos, rng.standard_normal(len(out)))
        noise /= np.sqrt(np.mean(noise ** 2)) * 4 + 1e-12       # ~unit peak
        out += noise * env * _gain(1.0, -26.0, -6.0)


SOURCE_TYPES = {**{c: Ball for c in BALL_CLASSES}, **{c: Drum for c in DRUM_CLASSES},
                "footstep": Footstep, "scrape": Scrape}


# ----------------------------------------------------------------------------- distractors

class Distractor:
    """A grey outline shape drifting and rotating in the air: moves, never sounds."""

    def __init__(self, rng, S, keepout):
        s = S / 96
        self.kind = int(rng.integers(3))        # 0 square, 1 triangle, 2 ring
        self.r = rng.uniform(4, 8) * s
        self.amp = rng.uniform(3, 12, 2) * s
        self.w = rng.uniform(0.3, 1.5, 2) * 2 * np.pi
        self.ph = rng.uniform(0, 2 * np.pi, 2)
        self.spin = rng.uniform(-3, 3)
        g = rng.uniform(90, 210)
        self.rgb = (g, g, g)
        self.width = max(1.0, 1.3 * s)
        self.ok = False
        for _ in range(30):
            c = rng.uniform(0.08, 0.92, 2) * S
            ext = self.r + self.amp + 2
            if c[0] - ext[0] < 0 or c[0] + ext[0] > S * 0.75:
                continue
            if all(c[0] + ext[0] < y0 or c[0] - ext[0] > y1 or c[1] + ext[1] < x0 or c[1] - ext[1] > x1
                   for y0, x0, y1, x1 in keepout):
                self.c, self.ok = c, True
                break

    def _sprite(self, n: int, rot: float) -> np.ndarray:
        size = int(math.ceil(2 * self.r + 2 * self.width)) + 3
        yy, xx = _grid(size, size)
        ang = rot + 2 * np.pi * np.arange(n + 1) / n
        pts = [(size / 2 + self.r * np.sin(a), size / 2 + self.r * np.cos(a)) for a in ang]
        alpha = np.max([_segment_alpha(yy, xx, p0, p1, self.width)
                        for p0, p1 in zip(pts[:-1], pts[1:])], axis=0)
        spr = np.empty((size, size, 4), np.float32)
        spr[..., :3] = self.rgb
        spr[..., 3] = alpha
        return spr

    def render(self, frames, t_frames):
        # Rotations are quantised to 12 steps per symmetry period; sprites are cached.
        n = {0: 4, 1: 3, 2: 10}[self.kind]
        period = 2 * np.pi / n
        spin = 0.0 if self.kind == 2 else self.spin
        cache = {}
        for k, t in enumerate(t_frames):
            cy = self.c[0] + self.amp[0] * np.sin(self.w[0] * t + self.ph[0])
            cx = self.c[1] + self.amp[1] * np.sin(self.w[1] * t + self.ph[1])
            q = int(round(spin * t / period * 12)) % 12
            if q not in cache:
                cache[q] = self._sprite(n, q * period / 12)
            _paste(frames[k], cache[q], cy, cx)


def _render_shadow(rng, frames, t_frames, S):
    """A soft dark blob sliding over the background: visible motion, no sound."""
    s = S / 96
    ry, rx = rng.uniform(5, 10, 2) * s
    y = rng.uniform(0.1, 0.9) * S
    x0 = rng.uniform(-0.2, 1.2) * S
    vx = rng.uniform(-15, 15) * s
    h, w = int(4 * ry), int(4 * rx)
    yy, xx = _grid(h, w)
    blob = np.exp(-(((yy - h / 2) / ry) ** 2 + ((xx - w / 2) / rx) ** 2))
    dark = (1 - rng.uniform(0.2, 0.4) * blob)[..., None].astype(np.float32)
    for k, t in enumerate(t_frames):
        top, left = int(y - h / 2), int(x0 + vx * t - w / 2)
        y0, x0c, y1, x1 = max(top, 0), max(left, 0), min(top + h, S), min(left + w, S)
        if y0 < y1 and x0c < x1:
            frames[k, y0:y1, x0c:x1] *= dark[y0 - top:y1 - top, x0c - left:x1 - left]


# ----------------------------------------------------------------------------- clip

def _check_args(seconds, fps, size, sample_rate):
    if not (seconds > TAIL_S + HEAD_S):
        raise ValueError(f"seconds must be > {TAIL_S + HEAD_S}, got {seconds}")
    if size < MIN_SIZE or size % 2:
        raise ValueError(f"size must be an even number >= {MIN_SIZE}, got {size}")
    if fps < 1 or sample_rate < 8000:
        raise ValueError(f"bad fps {fps} or sample_rate {sample_rate}")
    if abs(seconds * fps - round(seconds * fps)) > 1e-6 or abs(seconds * sample_rate - round(seconds * sample_rate)) > 1e-6:
        raise ValueError(f"seconds={seconds} must be a whole number of frames and samples")


def make_clip(seed: int, seconds: float = 8.0, fps: int = 25, size: int = 96,
              sample_rate: int = 16000) -> Clip:
    """One clip, fully determined by (seed, seconds, fps, size, sample_rate)."""
    _check_args(seconds, fps, size, sample_rate)
    rng = np.random.default_rng(int(seed))
    S, scale = size, size / 96
    T, N = int(round(seconds * fps)), int(round(seconds * sample_rate))
    t_frames = np.arange(T) / fps

    # Plan: sources in random columns, the least flexible (balls) scheduled first.
    n_src = int(rng.integers(1, 4))
    classes = [CLASSES[i] for i in rng.integers(len(CLASSES), size=n_src)]
    widths = rng.uniform(0.8, 1.2, n_src)
    edges = np.concatenate([[0.0], np.cumsum(widths) / widths.sum()]) * S
    order = rng.permutation(n_src)
    total_rate = rng.uniform(0.8, 2.2)
    sched = Schedule(seconds, sample_rate)
    sources = []
    for i, cls in enumerate(classes):
        col = order[i]
        src = SOURCE_TYPES[cls](cls, i, Layout(S, scale, edges[col], edges[col + 1]))
        sources.append(src)
    for src in sorted(sources, key=lambda s: s.cls not in BALL_CLASSES):
        src.plan(rng, sched, seconds, total_rate / n_src)

    # Frames: static layer (background, floors, pads), then moving things, then camera.
    canvas = _background(rng, S)
    for src in sources:
        src.static(canvas)
    frames = np.empty((T, S, S, 3), np.float32)
    frames[:] = canvas
    if rng.random() < 0.5:
        _render_shadow(rng, frames, t_frames, S)
    keepout = [r for src in sources for r in src.keepout]
    for _ in range(int(rng.integers(1, 4))):
        d = Distractor(rng, S, keepout)
        if d.ok:
            d.render(frames, t_frames)
    for src in sources:
        src.render(frames, t_frames, fps)
    frames *= (1 + rng.normal(0, 0.015, (T, 1, 1, 1))).astype(np.float32)      # flicker
    # Camera noise: each frame takes a random window of one Gaussian pool (drawing
    # T*S*S*3 fresh normals would cost more than all the rendering).
    n_px = S * S * 3
    pool = rng.standard_normal(9 * n_px, dtype=np.float32) * np.float32(rng.uniform(1.0, 4.0))
    pool += np.float32(0.5)         # rounding offset for the uint8 cast below
    for k, o in enumerate(rng.integers(0, 8 * n_px, T)):
        frames[k] += pool[o:o + n_px].reshape(S, S, 3)
    if rng.random() < 0.3:      # 1-px camera shake on some frames
        shake = rng.integers(-1, 2, (T, 2)) * (rng.random((T, 1)) < 0.2)
        for k in np.nonzero(np.any(shake, 1))[0]:
            frames[k] = np.roll(frames[k], tuple(shake[k]), axis=(0, 1))
    np.clip(frames, 0, 255.49, out=frames)
    frames_u8 = frames.astype(np.uint8)

    # Audio: each source adds its sounds, then the noise floor, then one limiting gain.
    audio = np.zeros(N, np.float64)
    for src in sources:
        src.audio(rng, audio, sample_rate)
    floor_db = NOISE_FLOOR_DB + rng.uniform(-3, 3)
    audio += rng.standard_normal(N) * 10 ** (floor_db / 20)
    peak = np.max(np.abs(audio))
    if peak > PEAK_LIMIT:
        audio *= PEAK_LIMIT / peak

    events = sorted(({"time": float(t), "class": src.cls, "intensity": round(float(i), 4),
                      "source": src.index} for src in sources for t, i in src.onsets),
                    key=lambda e: e["time"])
    return Clip(int(seed), frames_u8, audio.astype(np.float32), events, fps, sample_rate, seconds)


# ----------------------------------------------------------------------------- splits / batches

def split_seeds(split: str, count: int, start: int = 0) -> list[int]:
    if split not in SPLIT_STARTS:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLIT_STARTS)}")
    if int(count) < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if start < 0 or start + count > SPLIT_SIZE:
        raise ValueError(f"seed range [{start}, {start + count}) is outside the split")
    base = SPLIT_STARTS[split]
    return list(range(base + start, base + start + int(count)))


_SHARED: dict = {}      # output arrays of make_arrays, inherited by forked workers


def _chunk(args):
    i0, seeds, seconds, fps, size, sample_rate = args
    events = []
    for j, seed in enumerate(seeds):
        c = make_clip(seed, seconds, fps, size, sample_rate)
        # Written straight into the shared output: nothing big goes through a pipe.
        _SHARED["frames"][i0 + j] = c.frames
        _SHARED["audio"][i0 + j] = c.audio
        events.append(c.events)
    return i0, events


def _shared_array(shape, dtype):
    import mmap
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    # Anonymous mmap is MAP_SHARED: writes by forked children are seen by the parent.
    return np.frombuffer(mmap.mmap(-1, max(n, 1)), dtype=dtype, count=int(np.prod(shape))).reshape(shape)


def make_arrays(split: str, count: int, seconds: float = 8.0, workers: int = 1, start: int = 0,
                fps: int = 25, size: int = 96, sample_rate: int = 16000, chunk: int = 8):
    """(frames uint8 [n,T,H,W,3], audio float32 [n,N], events list of lists) for the seeds
    split_seeds(split, count, start). Workers are forked processes that write their chunks
    of `chunk` clips into shared memory; only the event lists are sent back."""
    _check_args(seconds, fps, size, sample_rate)
    seeds = split_seeds(split, count, start)
    T, N = int(round(seconds * fps)), int(round(seconds * sample_rate))
    shared = workers > 1 and len(seeds) > chunk // 2
    alloc = _shared_array if shared else np.empty
    frames = alloc((len(seeds), T, size, size, 3), np.uint8)
    audio = alloc((len(seeds), N), np.float32)
    events = [None] * len(seeds)
    jobs = [(i, seeds[i:i + chunk], seconds, fps, size, sample_rate)
            for i in range(0, len(seeds), chunk)]
    drum_samples(sample_rate)       # load once before forking so workers share it
    _SHARED.update(frames=frames, audio=audio)
    try:
        if shared:
            with mp.get_context("fork").Pool(workers) as pool:
                results = list(pool.imap_unordered(_chunk, jobs))
        else:
            results = [_chunk(j) for j in jobs]
    finally:
        _SHARED.clear()
    for i0, ev in results:
        events[i0:i0 + len(ev)] = ev
    return frames, audio, events


# ----------------------------------------------------------------------------- files / CLI

CLIP_FILES = ("video.mp4", "audio.wav", "events.json")


# The video codec of a clip's video.mp4; h264_roundtrip reproduces what a decoder of it returns.
CLIP_H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18"]


def _ffmpeg(args, stdin_bytes) -> bytes:
    p = subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], input=stdin_bytes, capture_output=True)
    if p.returncode:
        raise RuntimeError(f"ffmpeg failed: {p.stderr.decode(errors='replace')[-800:]}")
    return p.stdout


def h264_roundtrip(frames: np.ndarray, fps: int) -> np.ndarray:
    """frames [T, H, W, 3] uint8 through the H.264 of write_clip's video.mp4 and back: the frames
    the TypeScript engine decodes from a clip file."""
    t, h, w, _ = frames.shape
    stream = _ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-",
                      *CLIP_H264, "-f", "h264", "-"], np.ascontiguousarray(frames).tobytes())
    out = np.frombuffer(_ffmpeg(["-f", "h264", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stream), np.uint8)
    if out.size != frames.size:
        raise RuntimeError(f"H.264 round trip returned {out.size // (h * w * 3)} of {t} frames")
    return out.reshape(frames.shape)


def jpeg_roundtrip(frames: np.ndarray, quality: int) -> np.ndarray:
    """frames [T, H, W, 3] uint8 through JPEG (4:2:0 chroma, the given quality) and back: the
    chroma loss, blocks and ringing of decoded video. On 64 test clips JPEG at quality 90 cost
    the shipped model what the H.264 of video.mp4 (CRF 18) costs it (models/README.md)."""
    import io
    from PIL import Image
    out = np.empty_like(frames)
    for k, im in enumerate(frames):
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, "JPEG", quality=int(quality), subsampling=2)
        buf.seek(0)
        out[k] = np.asarray(Image.open(buf).convert("RGB"))
    return out


def write_clip(clip: Clip, folder: Path, split: str, y4m: bool = False) -> None:
    import soundfile as sf
    folder.mkdir(parents=True, exist_ok=True)
    T, H, W, _ = clip.frames.shape
    raw = np.ascontiguousarray(clip.frames).tobytes()
    vin = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(clip.fps), "-i", "-"]
    # Write to temporary names and rename last, so a half-written clip is never "done".
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        wav = Path(tmp) / "audio.wav"
        sf.write(wav, clip.audio, clip.sample_rate, subtype="PCM_16")
        mp4 = Path(tmp) / "video.mp4"
        _ffmpeg([*vin, "-i", str(wav), "-map", "0:v", "-map", "1:a", *CLIP_H264, "-c:a", "aac", "-b:a", "128k",
                 "-movflags", "+faststart", str(mp4)], raw)
        if y4m:
            _ffmpeg([*vin, "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(Path(tmp) / "video.y4m")], raw)
            os.replace(Path(tmp) / "video.y4m", folder / "video.y4m")
        meta = {"seed": clip.seed, "split": split, "fps": clip.fps, "sampleRate": clip.sample_rate,
                "seconds": clip.seconds, "events": clip.events}
        (Path(tmp) / "events.json").write_text(json.dumps(meta, indent=1))
        os.replace(wav, folder / "audio.wav")
        os.replace(mp4, folder / "video.mp4")
        os.replace(Path(tmp) / "events.json", folder / "events.json")


def _clip_done(folder: Path, y4m: bool) -> bool:
    names = CLIP_FILES + (("video.y4m",) if y4m else ())
    return all((folder / n).exists() for n in names)


def _write_job(args):
    seed, split, out, seconds, size, y4m = args
    folder = Path(out) / f"{split}-{seed}"
    if _clip_done(folder, y4m):
        return 0
    write_clip(make_clip(seed, seconds, size=size), folder, split, y4m)
    return 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m foley.world", description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=sorted(SPLIT_STARTS))
    ap.add_argument("--count", type=int)
    ap.add_argument("--start", type=int, default=0, help="first seed offset inside the split")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 16))
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--y4m", action="store_true", help="also write video.y4m (Chromium fake camera)")
    ap.add_argument("--export-drums", type=Path, metavar="NPZ",
                    help="write the 4 resampled drum samples to NPZ and exit")
    a = ap.parse_args(argv)
    if a.export_drums:
        print(export_drums(a.export_drums))
        return 0
    if a.split is None or a.count is None or a.out is None:
        ap.error("--split, --count and --out are required (or --export-drums)")
    try:
        seeds = split_seeds(a.split, a.count, a.start)
        _check_args(a.seconds, 25, a.size, 16000)
    except ValueError as e:
        ap.error(str(e))
    drum_samples(16000)
    jobs = [(s, a.split, str(a.out), a.seconds, a.size, a.y4m) for s in seeds]
    t0 = time.time()
    if a.workers <= 1:
        made = sum(map(_write_job, jobs))
    else:
        with mp.get_context("fork").Pool(a.workers) as pool:
            made = sum(pool.imap_unordered(_write_job, jobs, chunksize=4))
    print(f"{made} clips written, {len(seeds) - made} already there, to {a.out} "
          f"in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
