"""Held-out world (a): unseen backgrounds and objects.

Cluttered textured rooms (overlapping patches and value noise, a shelf-like floor band), boxes
and irregular polygons dropped and bouncing (rotating in flight, the lowest corner lands on the
floor at the onset), boxes slid into a wall, blocks struck by a mallet; camera pan, zoom and
shake, light changes and floating shapes that never touch anything. Sounds are the training
world's modal impacts (its sound library), so only the pictures are new.

    python -m foley.heldout.clutter --count 60 --out data/heldout/clutter
"""
from __future__ import annotations

import sys

import numpy as np

from .. import world
from . import common, raster

CANVAS = 120         # scene pixels; the camera shows a 96..120 px window of it, resampled to 96
GRAVITY_PX = 420.0   # px/s²: a 1 m drop is about 40 px
FLOOR_Y = 98.0


def _texture(rng, n: int) -> np.ndarray:
    """Cluttered background: smooth value noise under 25-60 random patches."""
    from scipy.ndimage import zoom
    base = rng.uniform(30, 220, 3)
    noise = zoom(rng.standard_normal((8, 8, 3)), (n / 8, n / 8, 1), order=3)[:n, :n]
    img = np.clip(base + 35 * noise, 0, 255).astype(np.float32)
    for _ in range(int(rng.integers(25, 60))):
        cy, cx = rng.uniform(0, n, 2)
        h, w = rng.uniform(3, 22, 2)
        rgb = rng.uniform(0, 255, 3)
        shape = rng.integers(3)
        if shape == 0:
            pts = raster.rect(cy, cx, h, w)
        elif shape == 1:
            pts = raster.rotate(raster.rect(0, 0, h, w), rng.uniform(0, np.pi)) + [cy, cx]
        else:
            a = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            pts = np.stack([cy + h * np.sin(a), cx + w * np.cos(a)], 1)
        raster.fill_polygon(img, pts, rgb, alpha=float(rng.uniform(0.5, 1.0)))
    return img


def _floor(rng, img: np.ndarray) -> None:
    top = FLOOR_Y
    rgb = rng.uniform(40, 200, 3)
    img[int(top):] = rgb
    stripes = (np.arange(img.shape[1]) // int(rng.integers(4, 10))) % 2
    img[int(top):, :] *= (1 - 0.15 * stripes)[None, :, None]
    img[int(top):int(top) + 1] *= 0.6   # the floor's edge


def _shape(rng, kind: str, size: float) -> np.ndarray:
    if kind == "box":
        return raster.rect(0, 0, size * rng.uniform(0.7, 1.0), size * rng.uniform(0.9, 1.5))
    n = int(rng.integers(5, 9))
    a = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = size / 2 * rng.uniform(0.55, 1.0, n)
    return np.stack([r * np.sin(a), r * np.cos(a)], 1)


class Drop:
    """A box or irregular polygon let go above the floor: bounces with restitution e, spinning
    in flight; every landing whose next flight is long enough is an onset."""

    def __init__(self, rng, book: common.OnsetBook, x: float, seconds: float):
        self.kind = "box" if rng.random() < 0.5 else "polygon"
        self.material = str(rng.choice(world.BALL_CLASSES))
        self.pts = _shape(rng, self.kind, rng.uniform(12, 20))
        self.rgb = rng.uniform(20, 240, 3)
        self.x, self.spin = x, rng.uniform(-6, 6)
        self.onsets: list[tuple[float, float]] = []
        for _ in range(30):
            height, e = rng.uniform(15, 70), rng.uniform(0.35, 0.6)
            t_first = rng.uniform(common.HEAD_S, seconds - common.TAIL_S)
            times, speeds = self._bounces(t_first, height, e, seconds)
            if book.fits(times):
                self.t_release = t_first - np.sqrt(2 * height / GRAVITY_PX)
                self.height, self.e = height, e
                v_max = np.sqrt(2 * GRAVITY_PX * 70)
                self.times = book.take(times)
                self.speeds = speeds
                self.onsets = [(t, float(np.clip(v / v_max, 0.2, 1.0))) for t, v in zip(self.times, speeds)]
                return

    @staticmethod
    def _bounces(t_first, height, e, seconds):
        v = np.sqrt(2 * GRAVITY_PX * height)
        times, speeds, t = [t_first], [v], t_first
        while True:
            v *= e
            flight = 2 * v / GRAVITY_PX
            if flight < common.MIN_GAP_S + 0.03 or t + flight > seconds - common.TAIL_S:
                break
            t += flight
            times.append(t)
            speeds.append(v)
        return times, speeds

    def height_at(self, t: float) -> float:
        """Height of the lowest point above the floor (px)."""
        if t <= self.times[0]:
            return self.height - 0.5 * GRAVITY_PX * max(t - self.t_release, 0.0) ** 2
        for k, t0 in enumerate(self.times):
            t1 = self.times[k + 1] if k + 1 < len(self.times) else None
            if t1 is None or t < t1:
                if t1 is None:
                    return 0.0
                tau, v_up = t - t0, self.speeds[k] * self.e
                return max(v_up * tau - 0.5 * GRAVITY_PX * tau * tau, 0.0)
        return 0.0

    def points_at(self, t: float) -> np.ndarray:
        airborne_s = min(max(t - self.t_release, 0.0), self.times[-1] - self.t_release)
        p = raster.rotate(self.pts, self.spin * airborne_s)
        return p + [FLOOR_Y - self.height_at(t) - p[:, 0].max(), self.x]

    def gap_px(self, t: float) -> float:
        return FLOOR_Y - self.points_at(t)[:, 0].max()

    def draw(self, img, t):
        p = self.points_at(t)
        raster.fill_polygon(img, p, self.rgb * 0.55)
        raster.fill_polygon(img, (p - p.mean(0)) * 0.8 + p.mean(0), self.rgb)


class Slide:
    """A box sliding along the floor under friction into a wall: one onset at the hit."""

    def __init__(self, rng, book, x_wall: float, seconds: float, from_left: bool):
        self.material = str(rng.choice(["wood_ball", "metal_ball"]))
        self.h, self.w = rng.uniform(8, 14), rng.uniform(10, 18)
        self.rgb, self.wall_rgb = rng.uniform(20, 240, 3), rng.uniform(20, 240, 3)
        self.x_wall, self.dir = x_wall, (1 if from_left else -1)
        self.decel = rng.uniform(20, 60)
        self.v_hit = rng.uniform(25, 70)
        self.onsets = []
        for _ in range(30):
            t = rng.uniform(common.HEAD_S + 0.5, seconds - common.TAIL_S)
            if book.fits([t]):
                self.t_hit = book.take([t])[0]
                self.onsets = [(self.t_hit, float(np.clip(self.v_hit / 70, 0.2, 1.0)))]
                return

    def x_at(self, t: float) -> float:
        """Centre of the box's face that hits the wall: x_wall at the onset."""
        tau = t - self.t_hit
        if tau < 0:
            dist = self.v_hit * -tau + 0.5 * self.decel * tau * tau
            return self.x_wall - self.dir * dist
        v_back = 0.25 * self.v_hit
        stop = v_back / (4 * self.decel)
        tau = min(tau, stop)
        return self.x_wall - self.dir * (v_back * tau - 2 * self.decel * tau * tau)

    def gap_px(self, t: float) -> float:
        return abs(self.x_wall - self.x_at(t))

    def draw(self, img, t):
        raster.fill_polygon(img, raster.rect(FLOOR_Y - 20, self.x_wall + self.dir * 2, 40, 4), self.wall_rgb)
        face = self.x_at(t)
        p = raster.rect(FLOOR_Y - self.h / 2, face - self.dir * self.w / 2, self.h, self.w)
        raster.fill_polygon(img, p, self.rgb * 0.6)
        raster.fill_polygon(img, (p - p.mean(0)) * 0.75 + p.mean(0), self.rgb)


class Strike:
    """A mallet coming down on a block on the floor, lifted between blows."""

    def __init__(self, rng, book, x: float, seconds: float):
        self.material = str(rng.choice(["metal_ball", "wood_ball", "glass_ball"]))
        self.x, self.block_h, self.block_w = x, rng.uniform(6, 12), rng.uniform(12, 20)
        self.lift, self.swing_s = rng.uniform(12, 25), rng.uniform(0.15, 0.3)
        self.rgb, self.head_rgb = rng.uniform(20, 240, 3), rng.uniform(20, 240, 3)
        times, self.onsets = common.schedule_blows(rng, book, self.swing_s, seconds)
        if times is not None:
            self.times = times

    def lift_at(self, t: float) -> float:
        """Height of the mallet head over the block (px): 0 at each blow, falling fast into it."""
        return common.lift_between_blows(self.times, self.swing_s, self.lift, t)

    def gap_px(self, t: float) -> float:
        return self.lift_at(t)

    def draw(self, img, t):
        top = FLOOR_Y - self.block_h
        raster.fill_polygon(img, raster.rect(FLOOR_Y - self.block_h / 2, self.x, self.block_h, self.block_w), self.rgb)
        head_bottom = top - self.lift_at(t)
        raster.fill_polygon(img, raster.rect(head_bottom - 15, self.x + 1, 30, 2.5), (90, 60, 30))
        raster.fill_polygon(img, raster.rect(head_bottom - 3.5, self.x, 7, 12), self.head_rgb)


class Floater:
    """An irregular outline drifting high above the floor: motion that never sounds."""

    def __init__(self, rng):
        self.pts = _shape(rng, "polygon", rng.uniform(8, 16))
        self.c = np.array([rng.uniform(15, 55), rng.uniform(20, 100)])
        self.amp, self.w = rng.uniform(4, 14, 2), rng.uniform(0.3, 1.6, 2) * 2 * np.pi
        self.ph, self.spin = rng.uniform(0, 2 * np.pi, 2), rng.uniform(-2, 2)
        self.rgb = rng.uniform(20, 240, 3)

    def draw(self, img, t):
        c = self.c + self.amp * np.sin(self.w * t + self.ph)
        raster.fill_polygon(img, raster.rotate(self.pts, self.spin * t) + c, self.rgb, alpha=0.85)


def make_clip(seed: int, seconds: float = 8.0, fps: int = 25, size: int = 96, sample_rate: int = 16000) -> world.Clip:
    common.check_args(seconds, fps, size, sample_rate)
    rng = np.random.default_rng(int(seed))
    book = common.OnsetBook(seconds, sample_rate)
    T, N = int(round(seconds * fps)), int(round(seconds * sample_rate))

    n_src = int(rng.integers(1, 4))
    lanes = rng.permutation([28.0, 60.0, 92.0])[:n_src]
    sources = []
    for x in lanes:
        kind = rng.choice(["drop", "drop", "slide", "strike"])
        if kind == "drop":
            sources.append(Drop(rng, book, x, seconds))
        elif kind == "slide":
            left = bool(rng.random() < 0.5)
            sources.append(Slide(rng, book, x + (12 if left else -12), seconds, left))
        else:
            sources.append(Strike(rng, book, x, seconds))
    sources = [s for s in sources if s.onsets]
    floaters = [Floater(rng) for _ in range(int(rng.integers(1, 3)))]

    room = _texture(rng, CANVAS)
    _floor(rng, room)
    pan = rng.uniform(-10, 10, (2, 2))            # camera centre drift: start and end offsets
    spans = rng.uniform(96, 118, 2)               # zoom: window size at start and end
    shake = rng.normal(0, 0.8, (T, 2)) * (rng.random((T, 1)) < 0.3) * (rng.random() < 0.6)
    light = 1 + rng.uniform(-0.25, 0.25) * np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * np.arange(T) / fps + rng.uniform(0, 6.3))
    frames = np.empty((T, size, size, 3), np.uint8)
    views = []
    for k in range(T):
        t, u = k / fps, k / max(T - 1, 1)
        img = room.copy()
        for f in floaters:
            f.draw(img, t)
        for s in sources:
            s.draw(img, t)
        cy, cx = CANVAS / 2 + (1 - u) * pan[0] + u * pan[1] + shake[k]
        span = (1 - u) * spans[0] + u * spans[1]
        view = raster.camera_view(img, cy, cx, span, size) * light[k]
        view += rng.normal(0, 2.0, view.shape)
        frames[k] = np.clip(view + 0.5, 0, 255.49).astype(np.uint8)
        views.append((cy, cx, span))

    audio = np.zeros(N, np.float64)
    events = []
    for i, s in enumerate(sources):
        for t, intensity in s.onsets:
            snd = world._ball_sound(rng, s.material, rng.uniform(0.8, 1.6), intensity, sample_rate)
            common.add_sound(audio, snd, t, sample_rate)
            events.append({"time": float(t), "class": s.material, "intensity": round(intensity, 4), "source": i,
                           "action": type(s).__name__.lower()})
    events.sort(key=lambda e: e["time"])
    clip = world.Clip(int(seed), frames, common.finish_audio(rng, audio), events, fps, sample_rate, seconds)
    clip.sources = sources           # the physics, for tests: gap_px(t) is 0 at each onset
    return clip


def main(argv=None) -> int:
    return common.cli("clutter", make_clip, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
