"""Held-out world (b): an unseen render style, a small ray-cast 3-D scene in numpy.

Perspective camera orbiting slowly, a checkered ground plane, Lambert shading under a moving
sun with cast shadows; balls dropped and bouncing on the ground, a hammer head striking a block;
a ball floating across the air that never touches anything. Sounds are the training world's
modal impacts (its sound library); the picture style is new.

    python -m foley.heldout.render3d --count 60 --out data/heldout/render3d
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .. import world
from . import common

GRAVITY = 9.81         # m/s²
SUPERSAMPLE = 1
FOV_DEG = 45.0


@dataclass
class Sphere:
    center: np.ndarray
    radius: float
    rgb: np.ndarray


@dataclass
class Box:
    lo: np.ndarray
    hi: np.ndarray
    rgb: np.ndarray


def _hit_sphere(o, d, s: Sphere):
    oc = o - s.center
    b = (d * oc).sum(-1)
    c = (oc * oc).sum(-1) - s.radius ** 2
    disc = b * b - c
    t = -b - np.sqrt(np.maximum(disc, 0))
    t = np.where((disc >= 0) & (t > 1e-4), t, np.inf)
    return t


def _hit_box(o, d, bx: Box):
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
        t0, t1 = (bx.lo - o) * inv, (bx.hi - o) * inv
    near = np.minimum(t0, t1).max(-1)
    far = np.maximum(t0, t1).min(-1)
    return np.where((far >= near) & (near > 1e-4), near, np.inf)


def _box_normal(p, bx: Box):
    c, half = (bx.lo + bx.hi) / 2, (bx.hi - bx.lo) / 2
    q = (p - c) / half
    axis = np.abs(q).argmax(-1)
    n = np.zeros_like(p)
    np.put_along_axis(n, axis[:, None], np.sign(np.take_along_axis(q, axis[:, None], -1)), -1)
    return n


def render(eye, target, sun, spheres, boxes, ground_rgb, size) -> np.ndarray:
    """One frame [size, size, 3] float: ground plane y = 0, spheres and boxes, Lambert shading
    with ambient light, shadows cast by every object onto everything."""
    n = size * SUPERSAMPLE
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    half = np.tan(np.radians(FOV_DEG) / 2)
    s = (np.arange(n) + 0.5) / n * 2 - 1
    yy, xx = np.meshgrid(-s * half, s * half, indexing="ij")
    d = fwd + xx.reshape(-1, 1) * right + yy.reshape(-1, 1) * up
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    o = np.broadcast_to(eye, d.shape)

    objects = [(_hit_sphere, sp) for sp in spheres] + [(_hit_box, bx) for bx in boxes]
    with np.errstate(divide="ignore"):
        t_ground = np.where(d[:, 1] < -1e-6, -eye[1] / d[:, 1], np.inf)
    t_best, which = t_ground, np.full(len(d), -1)
    for k, (hit, obj) in enumerate(objects):
        t = hit(o, d, obj)
        closer = t < t_best
        t_best, which = np.where(closer, t, t_best), np.where(closer, k, which)
    p = o + d * np.where(np.isfinite(t_best), t_best, 0)[:, None]
    normal = np.zeros_like(p)
    albedo = np.zeros_like(p)
    ground = (which == -1) & np.isfinite(t_best)
    normal[ground] = [0, 1, 0]
    checker = ((np.floor(p[:, 0] * 2.5) + np.floor(p[:, 2] * 2.5)) % 2)[:, None]
    albedo[ground] = (ground_rgb[0] + (ground_rgb[1] - ground_rgb[0]) * checker)[ground]
    for k, (hit, obj) in enumerate(objects):
        m = which == k
        if not m.any():
            continue
        if isinstance(obj, Sphere):
            normal[m] = (p[m] - obj.center) / obj.radius
        else:
            normal[m] = _box_normal(p[m], obj)
        albedo[m] = obj.rgb
    lit = np.clip((normal * sun).sum(-1), 0, None)
    shadow_o = p + normal * 1e-3
    shadow_d = np.broadcast_to(sun, p.shape)
    blocked = np.zeros(len(p), bool)
    for hit, obj in objects:
        blocked |= np.isfinite(hit(shadow_o, shadow_d, obj))
    shade = 0.3 + 0.7 * lit * ~blocked
    sky = np.array([150.0, 185.0, 225.0]) * (0.8 + 0.2 * np.clip(d[:, 1:2], 0, 1))
    rgb = np.where(np.isfinite(t_best)[:, None], albedo * shade[:, None], sky)
    return rgb.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE, 3).mean((1, 3))


class DroppedBall:
    """A ball let go above the ground: bounces with restitution e; each landing whose next
    flight is long enough is an onset (centre height = radius exactly at the onset)."""

    def __init__(self, rng, book, xz, seconds):
        self.material = str(rng.choice(world.BALL_CLASSES))
        self.radius, self.xz = rng.uniform(0.08, 0.16), np.asarray(xz)
        self.rgb = rng.uniform(40, 240, 3)
        self.onsets = []
        for _ in range(30):
            h, e = rng.uniform(0.3, 1.4), rng.uniform(0.4, 0.65)
            t_first = rng.uniform(common.HEAD_S, seconds - common.TAIL_S)
            v = np.sqrt(2 * GRAVITY * h)
            times, speeds, t = [t_first], [v], t_first
            while True:
                v *= e
                flight = 2 * v / GRAVITY
                if flight < common.MIN_GAP_S + 0.03 or t + flight > seconds - common.TAIL_S:
                    break
                t += flight
                times.append(t)
                speeds.append(v)
            if book.fits(times):
                self.h, self.e, self.speeds = h, e, speeds
                self.t_release = t_first - np.sqrt(2 * h / GRAVITY)
                self.times = book.take(times)
                v_max = np.sqrt(2 * GRAVITY * 1.4)
                self.onsets = [(t, float(np.clip(s / v_max, 0.2, 1.0))) for t, s in zip(self.times, speeds)]
                return

    def gap_m(self, t: float) -> float:
        if t <= self.times[0]:
            return self.h - 0.5 * GRAVITY * max(t - self.t_release, 0.0) ** 2
        for k, t0 in enumerate(self.times[:-1]):
            if t < self.times[k + 1]:
                tau, v_up = t - t0, self.speeds[k] * self.e
                return max(v_up * tau - 0.5 * GRAVITY * tau * tau, 0.0)
        return 0.0

    def shapes(self, t):
        c = np.array([self.xz[0], self.radius + self.gap_m(t), self.xz[1]])
        return [Sphere(c, self.radius, self.rgb)], []


class Hammer:
    """A hammer head (a box on a thin handle) coming down on a block, lifted between blows."""

    def __init__(self, rng, book, xz, seconds):
        self.material = str(rng.choice(["metal_ball", "wood_ball"]))
        self.xz, self.block_h = np.asarray(xz), rng.uniform(0.1, 0.25)
        self.lift, self.swing_s = rng.uniform(0.2, 0.45), rng.uniform(0.15, 0.3)
        self.block_rgb, self.head_rgb = rng.uniform(40, 240, 3), rng.uniform(40, 240, 3)
        times, self.onsets = common.schedule_blows(rng, book, self.swing_s, seconds)
        if times is not None:
            self.times = times

    def gap_m(self, t: float) -> float:
        return common.lift_between_blows(self.times, self.swing_s, self.lift, t)

    def shapes(self, t):
        x, z = self.xz
        block = Box(np.array([x - 0.15, 0.0, z - 0.15]), np.array([x + 0.15, self.block_h, z + 0.15]), self.block_rgb)
        y = self.block_h + self.gap_m(t)
        head = Box(np.array([x - 0.12, y, z - 0.06]), np.array([x + 0.12, y + 0.1, z + 0.06]), self.head_rgb)
        handle = Box(np.array([x - 0.015, y + 0.1, z - 0.015]), np.array([x + 0.015, y + 0.6, z + 0.015]), np.array([120.0, 80, 40]))
        return [], [block, head, handle]


class FloatingBall:
    """A ball gliding through the air well above the ground: moves, casts a shadow, never sounds."""

    def __init__(self, rng):
        self.r = rng.uniform(0.06, 0.12)
        self.a, self.b = rng.uniform(-1, 1, 3) * [1.0, 0.0, 0.6], rng.uniform(-1, 1, 3) * [1.0, 0.0, 0.6]
        self.y, self.rgb = rng.uniform(0.7, 1.3), rng.uniform(40, 240, 3)

    def shapes(self, t, seconds):
        u = t / seconds
        c = (1 - u) * self.a + u * self.b
        c[1] = self.y + 0.1 * np.sin(3 * t)
        return [Sphere(c, self.r, self.rgb)], []


def make_clip(seed: int, seconds: float = 8.0, fps: int = 25, size: int = 96, sample_rate: int = 16000) -> world.Clip:
    common.check_args(seconds, fps, size, sample_rate)
    rng = np.random.default_rng(int(seed))
    book = common.OnsetBook(seconds, sample_rate)
    T, N = int(round(seconds * fps)), int(round(seconds * sample_rate))
    spots = rng.permutation([[-0.6, 0.1], [0.0, -0.3], [0.6, 0.1], [0.0, 0.5]])[: int(rng.integers(1, 4))]
    sources = [(DroppedBall if rng.random() < 0.7 else Hammer)(rng, book, xz, seconds) for xz in spots]
    sources = [s for s in sources if s.onsets]
    floaters = [FloatingBall(rng) for _ in range(int(rng.integers(1, 3)))]
    ground = (rng.uniform(60, 200, 3), rng.uniform(60, 200, 3))
    yaw0, yaw1 = rng.uniform(-0.6, 0.6, 2)
    dist, height = rng.uniform(2.6, 3.4), rng.uniform(0.8, 1.6)
    sun_a0, sun_a1 = rng.uniform(0, 2 * np.pi, 2)
    sun_el = rng.uniform(0.5, 1.1)
    frames = np.empty((T, size, size, 3), np.uint8)
    target = np.array([0.0, 0.35, 0.0])
    for k in range(T):
        t, u = k / fps, k / max(T - 1, 1)
        yaw = (1 - u) * yaw0 + u * yaw1
        eye = np.array([dist * np.sin(yaw), height, dist * np.cos(yaw)])
        sa = (1 - u) * sun_a0 + u * sun_a1
        sun = np.array([np.cos(sun_el) * np.cos(sa), np.sin(sun_el), np.cos(sun_el) * np.sin(sa)])
        spheres, boxes = [], []
        for s in sources:
            sp, bx = s.shapes(t)
            spheres += sp
            boxes += bx
        for f in floaters:
            sp, bx = f.shapes(t, seconds)
            spheres += sp
        img = render(eye, target, sun, spheres, boxes, ground, size) + rng.normal(0, 1.5, (size, size, 3))
        frames[k] = np.clip(img + 0.5, 0, 255.49).astype(np.uint8)

    audio = np.zeros(N, np.float64)
    events = []
    for i, s in enumerate(sources):
        radius_rel = s.radius / 0.12 if isinstance(s, DroppedBall) else 1.5
        for t, intensity in s.onsets:
            common.add_sound(audio, world._ball_sound(rng, s.material, radius_rel, intensity, sample_rate), t, sample_rate)
            events.append({"time": float(t), "class": s.material, "intensity": round(intensity, 4), "source": i,
                           "action": "bounce" if isinstance(s, DroppedBall) else "strike"})
    events.sort(key=lambda e: e["time"])
    clip = world.Clip(int(seed), frames, common.finish_audio(rng, audio), events, fps, sample_rate, seconds)
    clip.sources = sources           # the physics, for tests: gap_m(t) is 0 at each onset
    return clip


def main(argv=None) -> int:
    return common.cli("render3d", make_clip, __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
