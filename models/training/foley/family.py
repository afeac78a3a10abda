"""World family: the training world's sound classes under randomized looks, cameras, objects,
physics and distractors, drawn flat (a 2-D side view) or in perspective 3-D (a textured ground
plane, Lambert shading, cast shadows). Trained on so that video features key on contact, not on
one world's appearance.

Each clip draws a scene:
- style: 2-D side view (pan, zoom, roll) or 3-D perspective (orbit, height, field of view);
- background: value noise, gradients, stripes, checkers, tiles, random patches; a wall and a floor;
- light: colour, level, slow drift, switched steps and flashes (silent);
- actors (1-4): sounding ones are drops and throws that bounce (discs, boxes, irregular convex
  shapes, rotating in flight), tool strikes on a block, footsteps and slides; silent ones are the
  same shapes floating, or sinking towards the floor and rising again without touching;
- camera: shake, input frame rate (24-60 fps resampled to 25 as the engine's fps filter does),
  motion blur, white balance and gamma, sensor noise, lower resolution, JPEG compression;
- sound: the world's classes (modal impacts by material, the hydrogen kit's velocity layers,
  footsteps, scrapes) at varied level, distance (low-pass) and room (a decaying-noise reverb),
  over a coloured noise floor.

A share of clips (WORLD_SHARE) is the training world itself (train split), so what the model knows
is kept. Nothing here imports foley.heldout: the held-out worlds stay unseen by construction.

    python -m foley.family --count 600 --out ../../data/family --workers 2
"""
from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import world
from .world import Clip, Schedule, _grid

FAMILY_SEED_START = 70_000_000     # past the world's splits and the held-out worlds' seeds
EVAL_START = 100_000               # evaluation clips from this offset on; training sets stay below it
WORLD_SHARE = 0.3
FPS_IN = (24, 25, 30, 50, 60)
HYDROGEN_LAYERS = {"kick": "bd_0{}.flac", "snare": "jsnare_0{}.flac", "hihat": "hhclosed_0{}.flac",
                   "crash": "crash_0{}.flac"}
MATERIAL_RGB = {"wood_ball": (150, 95, 45), "metal_ball": (150, 152, 160), "glass_ball": (175, 225, 240),
                "rubber_ball": (220, 80, 30)}


def family_seeds(count: int, start: int = 0) -> list[int]:
    if count < 1 or start < 0:
        raise ValueError(f"count must be >= 1 and start >= 0, got {count}, {start}")
    return list(range(FAMILY_SEED_START + start, FAMILY_SEED_START + start + count))


# ----------------------------------------------------------------------------- drawing

def _fill_convex(frame: np.ndarray, pts: np.ndarray, rgb, alpha: float = 1.0, shade=None) -> None:
    """Anti-aliased fill of a convex polygon (screen points [n, 2] as (row, col)) into frame."""
    H, W = frame.shape[:2]
    y0, x0 = np.floor(pts.min(0) - 1).astype(int)
    y1, x1 = np.ceil(pts.max(0) + 1).astype(int)
    y0, x0, y1, x1 = max(y0, 0), max(x0, 0), min(y1, H), min(x1, W)
    if y0 >= y1 or x0 >= x1 or len(pts) < 3:
        return
    yy, xx = _grid(y1 - y0, x1 - x0)
    yy, xx = yy + y0, xx + x0
    # Orientation-free: the signed distance to every edge, the sign taken from the centroid.
    c = pts.mean(0)
    d = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    for p, q in zip(pts, np.roll(pts, -1, 0)):
        e = q - p
        n = np.array([-e[1], e[0]]) / (np.hypot(*e) + 1e-9)
        if np.dot(c - p, n) < 0:
            n = -n
        d = np.minimum(d, (yy - p[0]) * n[0] + (xx - p[1]) * n[1])
    a = np.clip(d + 0.5, 0, 1) * alpha
    col = np.asarray(rgb, np.float32) if shade is None else shade(yy, xx)
    dst = frame[y0:y1, x0:x1]
    dst += a[..., None] * (col - dst)


def _fill_disc(frame, cy, cx, ry, rx, rgb, alpha=1.0, light=None, soft=0.5) -> None:
    """Anti-aliased ellipse; with light (a 3-vector, +z towards the viewer) shaded as a sphere."""
    H, W = frame.shape[:2]
    y0, x0 = int(max(cy - ry - 2, 0)), int(max(cx - rx - 2, 0))
    y1, x1 = int(min(cy + ry + 2, H)), int(min(cx + rx + 2, W))
    if y0 >= y1 or x0 >= x1 or rx < 0.3 or ry < 0.3:
        return
    yy, xx = _grid(y1 - y0, x1 - x0)
    u, v = (xx + x0 - cx) / rx, (yy + y0 - cy) / ry
    r = np.sqrt(u * u + v * v)
    a = np.clip((1 - r) * min(rx, ry) / soft * 0.5 + 0.5, 0, 1) * alpha
    col = np.asarray(rgb, np.float32)
    if light is not None:
        nz = np.sqrt(np.clip(1 - r * r, 0, 1))
        lam = np.clip(u * light[0] - v * light[1] + nz * light[2], 0, 1)
        spec = lam ** 24
        col = col * (0.35 + 0.75 * lam)[..., None] + 120 * spec[..., None]
    dst = frame[y0:y1, x0:x1]
    dst += a[..., None] * (col - dst)


def _value_noise(rng, n: int, cells: int) -> np.ndarray:
    from scipy.ndimage import zoom
    g = rng.standard_normal((cells + 3, cells + 3))
    z = zoom(g, n / cells, order=3)[:n, :n]
    return (z - z.mean()) / (z.std() + 1e-6)


def _texture(rng, n: int) -> np.ndarray:
    """A random texture [n, n, 3] float32: noise, gradient, stripes, checker, tiles, patches."""
    c0 = rng.uniform(20, 235, 3)
    c1 = np.clip(c0 + rng.uniform(-120, 120, 3), 0, 255)
    yy, xx = _grid(n, n)
    kind = rng.integers(6)
    if kind == 0:
        w = 0.5 + 0.25 * (_value_noise(rng, n, int(rng.integers(3, 12))) + 0.5 * _value_noise(rng, n, int(rng.integers(12, 30))))
    elif kind == 1:
        a = rng.uniform(0, 2 * np.pi)
        w = (np.cos(a) * xx + np.sin(a) * yy) / n
    elif kind == 2:
        a, period = rng.uniform(0, np.pi), rng.uniform(3, 30)
        w = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) / period))
    elif kind == 3:
        cell = rng.uniform(3, 25)
        w = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(np.float32)
    elif kind == 4:     # tiles or planks: cells with their own shade and dark grout
        ch, cw = rng.uniform(4, 20), rng.uniform(4, 40)
        iy, ix = np.floor(yy / ch), np.floor((xx + (np.floor(yy / ch) % 2) * cw / 2) / cw)
        w = (np.sin(iy * 12.9898 + ix * 78.233) * 43758.5453) % 1.0
        grout = ((yy % ch) < 1) | (((xx + (iy % 2) * cw / 2) % cw) < 1)
        w = np.where(grout, -0.3, w)
    else:
        w = np.zeros((n, n), np.float32)
    img = (c0 + (c1 - c0) * np.clip(np.broadcast_to(w, (n, n)), -0.5, 1.5)[..., None]).astype(np.float32)
    for _ in range(int(rng.integers(0, 40)) if rng.random() < 0.5 else 0):   # clutter patches
        cy, cx = rng.uniform(0, n, 2)
        h, wd = rng.uniform(2, n / 5, 2)
        if rng.random() < 0.5:
            _fill_disc(img, cy, cx, h / 2, wd / 2, rng.uniform(0, 255, 3), float(rng.uniform(0.4, 1)))
        else:
            a = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            _fill_convex(img, np.stack([cy + h * np.sin(a), cx + wd * np.cos(a)], 1), rng.uniform(0, 255, 3),
                         float(rng.uniform(0.4, 1)))
    return np.clip(img, 0, 255)


def _sample(tex: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a wrapping texture at fractional (row, col) arrays."""
    n, m = tex.shape[:2]
    r0, c0 = np.floor(rows), np.floor(cols)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    r0, c0 = r0.astype(int) % n, c0.astype(int) % m
    r1, c1 = (r0 + 1) % n, (c0 + 1) % m
    return ((tex[r0, c0] * (1 - fc) + tex[r0, c1] * fc) * (1 - fr)
            + (tex[r1, c0] * (1 - fc) + tex[r1, c1] * fc) * fr)


# ----------------------------------------------------------------------------- cameras

class FlatCamera:
    """2-D side view: world (x, y) with y up; pan, zoom and roll drift over the clip."""

    def __init__(self, rng, S):
        self.S = S
        self.half = rng.uniform(0.75, 1.3)           # world units from the centre to the frame edge
        # The floor between 2/3 and 7/8 of the way down the frame.
        self.c0 = np.array([rng.uniform(-0.15, 0.15), self.half * rng.uniform(0.35, 0.75)])
        self.pan = rng.uniform(-0.06, 0.06, 2) * (rng.random() < 0.5)
        self.zoom_rate = rng.uniform(-0.04, 0.04) * (rng.random() < 0.4)
        self.roll = rng.uniform(-0.08, 0.08) * (rng.random() < 0.4)
        self.wall, self.floor = _texture(rng, 128), _texture(rng, 128)
        self.tex_scale = rng.uniform(40, 120)          # texture pixels per world unit
        self.depth_dim = 1.0

    def at(self, t):
        half = self.half * (1 + self.zoom_rate * t)
        c = self.c0 + self.pan * t
        return c, self.S / (2 * half), self.roll * math.sin(0.7 * t)

    def project(self, p, t):
        """World points [n, 3] (z ignored) -> screen (row, col) [n, 2] and pixels per unit [n]."""
        c, k, roll = self.at(t)
        dx, dy = p[:, 0] - c[0], p[:, 1] - c[1]
        cr, sr = math.cos(roll), math.sin(roll)
        col = self.S / 2 + k * (cr * dx - sr * dy)
        row = self.S / 2 - k * (sr * dx + cr * dy)
        return np.stack([row, col], 1), np.full(len(p), k)

    def background(self, t):
        c, k, roll = self.at(t)
        yy, xx = _grid(self.S, self.S)
        u, v = (xx - self.S / 2) / k, -(yy - self.S / 2) / k
        cr, sr = math.cos(roll), math.sin(roll)
        x, y = c[0] + cr * u + sr * v, c[1] - sr * u + cr * v
        x, y = np.broadcast_to(x, (self.S, self.S)), np.broadcast_to(y, (self.S, self.S))
        s = self.tex_scale
        img = np.where((y >= 0)[..., None], _sample(self.wall, -y * s, x * s), _sample(self.floor, -y * s, x * s))
        edge = np.clip(1 - np.abs(y) * k, 0, 1)[..., None]        # a dark line where wall meets floor
        return img * (1 - 0.5 * edge)

    def ground_scale(self, p, t):
        return np.full(len(p), 0.15)    # the floor seen nearly edge-on


class PerspectiveCamera:
    """3-D view of the ground plane y = 0 from above and in front, orbiting slowly."""

    def __init__(self, rng, S):
        self.S = S
        self.fov = math.radians(rng.uniform(35, 65))
        self.f = S / 2 / math.tan(self.fov / 2)
        self.dist = rng.uniform(1.3, 2.3)
        self.height = rng.uniform(0.35, 1.3)
        self.az0 = rng.uniform(-0.6, 0.6)
        self.orbit = rng.uniform(-0.05, 0.05) * (rng.random() < 0.6)
        self.target = np.array([0.0, rng.uniform(0.2, 0.45), 0.0])
        self.floor, self.wall = _texture(rng, 128), _texture(rng, 128)
        self.tex_scale = rng.uniform(15, 60)
        self.wall_z = rng.uniform(1.2, 3.0)
        sun_az, sun_el = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.3)
        self.sun = np.array([math.cos(sun_el) * math.cos(sun_az), math.sin(sun_el), math.cos(sun_el) * math.sin(sun_az)])
        self.fog = rng.uniform(0.0, 0.25)
        self._cache: dict = {}

    def pose(self, t):
        az = self.az0 + self.orbit * t
        C = np.array([self.dist * math.sin(az), self.height, -self.dist * math.cos(az)])
        fwd = self.target - C
        fwd /= np.linalg.norm(fwd)
        right = np.cross([0.0, 1.0, 0.0], fwd)
        right /= np.linalg.norm(right)
        return C, fwd, right, np.cross(fwd, right)

    def project(self, p, t):
        C, fwd, right, up = self.pose(t)
        d = p - C
        z = np.maximum(d @ fwd, 1e-3)
        return np.stack([self.S / 2 - self.f * (d @ up) / z, self.S / 2 + self.f * (d @ right) / z], 1), self.f / z

    def background(self, t):
        key = round(self.orbit * t, 4)
        if key in self._cache:
            return self._cache[key]
        C, fwd, right, up = self.pose(t)
        yy, xx = _grid(self.S, self.S)
        d = fwd + ((xx - self.S / 2) / self.f)[..., None] * right - ((yy - self.S / 2) / self.f)[..., None] * up
        dy = d[..., 1]
        s = self.tex_scale
        with np.errstate(divide="ignore", invalid="ignore"):
            tg = np.where(dy < -1e-4, -C[1] / dy, np.inf)                      # ground hit
            tw = np.where(d[..., 2] > 1e-4, (self.wall_z - C[2]) / d[..., 2], np.inf)   # back wall hit
        ground = tg < tw
        tt = np.where(ground, tg, tw)
        tt = np.where(np.isfinite(tt), tt, 50.0)
        P = C + tt[..., None] * d
        g = _sample(self.floor, P[..., 2] * s, P[..., 0] * s) * (0.55 + 0.45 * max(self.sun[1], 0))
        w = _sample(self.wall, -P[..., 1] * s, P[..., 0] * s) * (0.5 + 0.4 * max(-self.sun[2], 0) + 0.1)
        img = np.where(ground[..., None], g, w)
        img = img * (1 - self.fog) + self.fog * 200 * (1 - np.exp(-tt / 6))[..., None]
        if len(self._cache) < 256:
            self._cache[key] = img
        return img

    def ground_scale(self, p, t):
        # How flat a circle on the ground looks from here: the sine of the view's elevation.
        C = self.pose(t)[0]
        d = p - C
        return np.abs(d[:, 1]) / (np.linalg.norm(d, axis=1) + 1e-6)


# ----------------------------------------------------------------------------- actors

@dataclass
class Look:
    shape: str              # disc | box | poly
    size: float             # half-height in world units
    aspect: float
    rgb: np.ndarray
    poly: np.ndarray | None = None    # unit convex polygon (x, y) for "poly"


def _look(rng, material: str | None = None) -> Look:
    shape = ["disc", "box", "poly"][int(rng.choice(3, p=[0.45, 0.3, 0.25]))]
    base = np.array(MATERIAL_RGB[material]) if material and rng.random() < 0.6 else rng.uniform(20, 240, 3)
    rgb = np.clip(base * rng.uniform(0.75, 1.25, 3), 0, 255)
    poly = None
    if shape == "poly":
        a = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 9))))
        r = rng.uniform(0.7, 1.0, len(a))
        poly = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    return Look(shape, float(rng.uniform(0.08, 0.18)), float(rng.uniform(0.6, 1.6)), rgb, poly)


def _outline(look: Look, angle: float) -> np.ndarray:
    """The shape's outline in world (x, y) relative to its centre, rotated by angle."""
    h = look.size
    if look.shape == "box":
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * [h * look.aspect, h]
    elif look.shape == "poly":
        pts = look.poly * [h * look.aspect, h]
    else:
        a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        pts = np.stack([h * np.cos(a), h * np.sin(a)], 1)
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


class Actor:
    cls: str | None = None          # None: silent
    onsets: list

    def __init__(self, rng, x, z):
        self.x, self.z = x, z
        self.onsets = []

    def plan(self, rng, sched, seconds, rate):
        pass

    def draw(self, frame, cam, t, light, shadow_dark):
        pass

    def audio(self, rng, out, sr, sound):
        pass


def _draw_body(frame, cam, look: Look, x, y_bottom, z, angle, light, shadow_dark, t, squash=1.0):
    """A shape whose lowest point is y_bottom above the ground, and its shadow when shadow_dark > 0."""
    out = _outline(look, angle)
    out[:, 1] *= squash
    lowest = out[:, 1].min()
    pts3 = np.column_stack([x + out[:, 0], y_bottom - lowest + out[:, 1], np.full(len(out), z)])
    if shadow_dark > 0:
        g = np.array([[x, 0.0, z]])
        g_scr, g_k = cam.project(g, t)
        (gr, gc), k = g_scr[0], g_k[0]
        flat = cam.ground_scale(g, t)[0]
        spread = 1 + 2.5 * y_bottom
        r = look.size * max(look.aspect, 1) * k * spread
        _fill_disc(frame, gr, gc, max(r * flat, 0.6), r, (0, 0, 0), shadow_dark / spread, soft=1.5 + 2 * y_bottom * k * 0.05)
    scr, k = cam.project(pts3, t)
    if look.shape == "disc":
        c = scr.mean(0)
        rr = 0.5 * (scr[:, 0].max() - scr[:, 0].min())
        rc = 0.5 * (scr[:, 1].max() - scr[:, 1].min())
        _fill_disc(frame, c[0], c[1], rr, rc, look.rgb, light=light)
    else:
        lum = 0.6 + 0.4 * light[2]
        _fill_convex(frame, scr, look.rgb * lum)
        # A darker lower half reads as a lit solid in both views.
        mid = scr.mean(0)
        _fill_convex(frame, (scr - mid) * [0.5, 1.0] + mid + [0.25 * (scr[:, 0].max() - mid[0]), 0], look.rgb * lum * 0.75, 0.5)


class Dropper(Actor):
    """Drops (and throws) that bounce: contact at every onset, rotating in flight."""

    def plan(self, rng, sched, seconds, rate):
        self.cls = world.BALL_CLASSES[int(rng.integers(4))]
        self.look = _look(rng, self.cls)
        self.g = rng.uniform(3.0, 9.8) * 0.35       # world units/s², a slow-motion-ish variety
        e_lo, e_hi = world.MATERIALS[self.cls][4]
        self.drops = []
        t = rng.uniform(0.0, 1.0)
        while t < seconds - world.TAIL_S:
            h0 = rng.uniform(0.15, 0.7)
            fall = math.sqrt(2 * h0 / self.g)
            t_imp = sched.place(t + fall, max_shift_s=0.5)
            if t_imp is None:
                t += 0.5
                continue
            v = math.sqrt(2 * self.g * h0)
            e = rng.uniform(e_lo, e_hi)
            imps = [(t_imp, v)]
            while len(imps) < 6:
                vu = e * imps[-1][1]
                tn = sched.quantize(imps[-1][0] + 2 * vu / self.g)
                if 2 * vu / self.g < 0.18 or not sched.free(tn):
                    break
                imps.append((sched.take(tn), vu))
            vx = rng.uniform(-0.25, 0.25) if rng.random() < 0.5 else 0.0
            spin = rng.uniform(-6, 6) if self.look.shape != "disc" else 0.0
            x0 = self.x + rng.uniform(-0.15, 0.15)
            # held visible before the fall (on a shelf, in a hand) or appearing at its start
            self.drops.append((x0, t_imp - fall - (rng.uniform(0.1, 0.6) if rng.random() < 0.5 else 0.0), t_imp - fall, h0, imps, vx, spin))
            t = imps[-1][0] + rng.uniform(0.3, 1.0) * max(1.0, len(imps) / max(rate, 0.1) - (imps[-1][0] - t_imp))
        v_ref = math.sqrt(2 * self.g * 0.7)
        self.onsets = [(ti, float(min(v / v_ref, 1.0))) for d in self.drops for ti, v in d[4]]
        self.contacts = {round(ti, 4) for d in self.drops for ti, _ in d[4]}

    def state(self, t):
        for i, (x0, t_show, t_fall, h0, imps, vx, spin) in enumerate(self.drops):
            t_end = self.drops[i + 1][1] if i + 1 < len(self.drops) else math.inf
            if not (t_show <= t < t_end):
                continue
            if t < t_fall:
                return x0, h0, 0.0, False
            tf = t - t_fall
            x = x0 + vx * min(t - t_fall, imps[-1][0] - t_fall)
            if t < imps[0][0]:
                return x, h0 - 0.5 * self.g * tf * tf, spin * tf, False
            for j in range(len(imps) - 1):
                if imps[j][0] <= t < imps[j + 1][0]:
                    dt = t - imps[j][0]
                    return x, max(imps[j + 1][1] * dt - 0.5 * self.g * dt * dt, 0.0), spin * (imps[0][0] - t_fall) + spin * 0.5 * dt, dt < 0.02
            # Resting: a whole number of quarter turns so it lies flat.
            return x, 0.0, 0.0, t - imps[-1][0] < 0.02
        return None

    def draw(self, frame, cam, t, light, shadow_dark):
        s = self.state(t)
        if s is None:
            return
        x, h, ang, contact = s
        _draw_body(frame, cam, self.look, x, h, self.z, 0.0 if contact else ang, light, shadow_dark, t,
                   squash=0.8 if contact and self.look.shape == "disc" else 1.0)

    def audio(self, rng, out, sr, sound):
        rel = self.look.size / 0.08
        for t_s, inten in self.onsets:
            sound.add(out, world._ball_sound(rng, self.cls, max(rel, 0.5), inten, sr), t_s)


class Striker(Actor):
    """A tool on a pivot swinging onto a block: contact at every onset."""

    def plan(self, rng, sched, seconds, rate):
        self.cls = world.DRUM_CLASSES[int(rng.integers(4))] if rng.random() < 0.7 else world.BALL_CLASSES[int(rng.integers(4))]
        self.block = _look(rng, self.cls if self.cls in world.BALL_CLASSES else None)
        self.block.shape = "box"
        self.block.size = rng.uniform(0.07, 0.13)
        self.len = rng.uniform(0.3, 0.5)
        self.side = 1 if rng.random() < 0.5 else -1
        self.rest = rng.uniform(0.5, 1.2)       # raised angle above the block
        self.tool_rgb = rng.uniform(20, 240, 3)
        self.width = rng.uniform(0.02, 0.04)
        self.head = rng.uniform(0.0, 0.05)
        self.flash = rng.random() < 0.3
        self.onsets = [(t, float(rng.uniform(0.35, 1.0))) for t in world._regular_times(rng, sched, seconds, max(rate, 0.3), jitter=0.4)]

    def angle(self, t):
        """0 at contact, self.rest when raised: a fast fall into each onset and a slower lift."""
        a = self.rest
        for ts, _ in self.onsets:
            d = t - ts
            if -0.12 <= d < 0:
                a = min(a, self.rest * (-d / 0.12) ** 1.5)
            elif 0 <= d < 0.3:
                a = min(a, self.rest * (d / 0.3) ** 0.7)
        return a

    def draw(self, frame, cam, t, light, shadow_dark):
        top = 2 * self.block.size
        _draw_body(frame, cam, self.block, self.x, 0.0, self.z, 0.0, light, shadow_dark, t)
        hit = np.array([self.x, top, self.z])
        pivot = hit + [self.side * self.len, 0.02, 0.0]
        a = self.angle(t)
        tip = pivot + self.len * np.array([-self.side * math.cos(a), math.sin(a), 0.0])
        (p, q), k = cam.project(np.stack([pivot, tip]), t)
        world._draw_segment(frame, tuple(p), tuple(q), max(self.width * k[1], 1.0), self.tool_rgb,
                      max(self.head * k[1], 0.0), self.tool_rgb * 0.6)
        if self.flash and any(abs(t - ts) < 0.02 for ts, _ in self.onsets):
            c, k2 = cam.project(hit[None], t)
            _fill_disc(frame, c[0, 0], c[0, 1], 3 * self.block.size * k2[0], 3 * self.block.size * k2[0], (255, 250, 220), 0.5, soft=2)

    def audio(self, rng, out, sr, sound):
        for t_s, inten in self.onsets:
            if self.cls in world.DRUM_CLASSES:
                x = sound.drum(rng, self.cls) * world._gain(inten, -24.0, -2.0)
            else:
                x = world._ball_sound(rng, self.cls, 1.0, inten, sr)
            sound.add(out, x, t_s)


class Walker(Actor):
    """A foot lifted and set down, stepping along: contact at every onset."""
    cls = "footstep"

    def plan(self, rng, sched, seconds, rate):
        self.look = _look(rng)
        self.look.shape = "box" if rng.random() < 0.6 else "disc"
        self.look.aspect = rng.uniform(1.5, 2.5)
        self.look.size = rng.uniform(0.05, 0.09)
        self.stride = rng.uniform(0.08, 0.2) * (1 if rng.random() < 0.5 else -1)
        self.lift = rng.uniform(0.1, 0.25)
        times = world._regular_times(rng, sched, seconds, max(rate, 0.5), jitter=0.25)
        self.onsets = [(t, float(rng.uniform(0.4, 1.0))) for t in times]
        from scipy.signal import butter
        fc = rng.uniform(300, 1500)
        self.sos = butter(2, [fc / 2, min(fc * 2, 7000)], "bandpass", fs=16000, output="sos")

    def pose(self, t):
        ts = [o[0] for o in self.onsets]
        i = int(np.searchsorted(ts, t))     # steps done before t
        x = self.x - self.stride * len(ts) / 2 + self.stride * i
        if 0 < i < len(ts):
            a, b = ts[i - 1], ts[i]
            u = (t - a) / (b - a)
            # up quickly after a step, down onto the next one; on the ground in between
            h = self.lift * math.sin(math.pi * min(max((u - 0.3) / 0.7, 0), 1)) ** 0.8
            x += self.stride * min(max((u - 0.3) / 0.7, 0), 1)
            return x, h
        return x, 0.0

    def draw(self, frame, cam, t, light, shadow_dark):
        x, h = self.pose(t)
        _draw_body(frame, cam, self.look, x, h, self.z, 0.0, light, shadow_dark, t)

    def audio(self, rng, out, sr, sound):
        for t_s, inten in self.onsets:
            sound.add(out, world._footstep_sound(rng, inten, sr, self.sos), t_s)


class Slider(Actor):
    """A block pushed along the floor: the scrape sounds while it moves."""
    cls = "scrape"

    def plan(self, rng, sched, seconds, rate):
        self.look = _look(rng)
        self.look.shape = "box"
        self.look.size = rng.uniform(0.06, 0.12)
        self.segs = []
        t = rng.uniform(world.HEAD_S, world.HEAD_S + 1.0)
        x, d = self.x, 1.0
        while t < seconds - world.TAIL_S:
            t0 = sched.place(t, 0.3)
            if t0 is None:
                t += 0.3
                continue
            dur, speed = rng.uniform(0.3, 1.1), rng.uniform(0.3, 0.7)
            self.segs.append((t0, t0 + dur, d * speed))
            d = -d
            t = t0 + dur + rng.uniform(0.3, 1.2)
        self.onsets = [(s[0], float(min(abs(s[2]) / 0.7, 1.0))) for s in self.segs]
        from scipy.signal import butter
        fc = rng.uniform(900, 2500)
        self.sos = butter(2, [fc / 1.8, min(fc * 1.8, 7500)], "bandpass", fs=16000, output="sos")

    def speed(self, t):
        v = np.zeros_like(t)
        for t0, t1, s in self.segs:
            m = (t >= t0) & (t < t1)
            u = (t[m] - t0) / (t1 - t0)
            v[m] = s * (1 - np.exp(-(t[m] - t0) / 0.012)) * np.clip((1 - u) / 0.2, 0, 1)
        return v

    def draw(self, frame, cam, t, light, shadow_dark):
        tt = np.arange(0, t + 1e-9, 0.005)
        x = self.x + float(np.sum(self.speed(tt)) * 0.005)
        _draw_body(frame, cam, self.look, x, 0.0, self.z, 0.0, light, shadow_dark, t)

    def audio(self, rng, out, sr, sound):
        from scipy.signal import sosfilt
        t = np.arange(len(out)) / sr
        env = np.abs(self.speed(t)) / 0.7
        noise = sosfilt(self.sos, rng.standard_normal(len(out)))
        noise /= np.sqrt(np.mean(noise ** 2)) * 4 + 1e-12
        out += sound.level * noise * env * world._gain(1.0, -26.0, -6.0)


class Floater(Actor):
    """Silent: a shape drifting in the air, or sinking towards the floor and rising without touching."""

    def plan(self, rng, sched, seconds, rate):
        self.look = _look(rng, world.BALL_CLASSES[int(rng.integers(4))])
        self.sink = rng.random() < 0.4
        self.h0 = rng.uniform(0.2, 0.7)
        self.amp = rng.uniform(0.05, 0.3, 2)
        self.w = rng.uniform(0.3, 1.6, 2) * 2 * np.pi
        self.ph = rng.uniform(0, 2 * np.pi, 2)
        self.spin = rng.uniform(-3, 3) if self.look.shape != "disc" else 0.0
        self.gap = rng.uniform(0.02, 0.08)      # closest approach to the floor when sinking

    def height(self, t: float) -> float:
        """Height above the floor at time t: never below the gap."""
        if self.sink:
            h = self.gap + (self.h0 - self.gap) * 0.5 * (1 + math.cos(self.w[1] * t + self.ph[1]))
        else:
            h = self.h0 + self.amp[1] * math.sin(self.w[1] * t + self.ph[1])
        return max(h, self.gap)

    def draw(self, frame, cam, t, light, shadow_dark):
        x = self.x + self.amp[0] * math.sin(self.w[0] * t + self.ph[0])
        _draw_body(frame, cam, self.look, x, self.height(t), self.z, self.spin * t, light, shadow_dark, t)


SOUNDING = (Dropper, Striker, Walker, Slider)


# ----------------------------------------------------------------------------- sound

@functools.lru_cache(maxsize=2)
def drum_layers(sample_rate: int = 16000) -> dict:
    """Every velocity layer of the kit's four pieces (several recordings per class); the world's
    one sample per piece where the hydrogen kit is not installed."""
    import soundfile as sf
    out = {k: [v] for k, v in world.drum_samples(sample_rate).items()}
    if world.HYDROGEN_KIT.exists():
        for cls, pattern in HYDROGEN_LAYERS.items():
            for layer in range(1, 6):
                path = world.HYDROGEN_KIT / pattern.format(layer)
                if path.exists():
                    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
                    out[cls].append(world._trim_and_fade(world._resample(x.mean(axis=1), sr, sample_rate), sample_rate,
                                                         world.DRUM_MAX_S[cls]))
    return out


class Sound:
    """Per-clip sound: level, distance (low-pass) and room (reverb) shared by its events."""

    def __init__(self, rng, sr, n):
        from scipy.signal import butter
        self.sr, self.n = sr, n
        self.level = 10 ** (rng.uniform(-8, 3) / 20)
        self.sos = butter(2, rng.uniform(2500, 7000), "lowpass", fs=sr, output="sos") if rng.random() < 0.4 else None
        self.ir = None
        if rng.random() < 0.5:
            rt60 = rng.uniform(0.1, 0.6)
            m = int(rt60 * sr)
            t = np.arange(m) / sr
            self.ir = rng.standard_normal(m) * np.exp(-6.9 * t / rt60) * rng.uniform(0.02, 0.08)
            self.ir[0] = 1.0

    def drum(self, rng, cls):
        layers = drum_layers(self.sr)[cls]
        return layers[int(rng.integers(len(layers)))]

    def add(self, out, x, t_s):
        world._add(out, self.level * x, t_s, self.sr)

    def finish(self, audio):
        from scipy.signal import fftconvolve, sosfilt
        if self.sos is not None:
            audio = sosfilt(self.sos, audio)
        if self.ir is not None:
            audio = fftconvolve(audio, self.ir)[: len(audio)]
        return audio


def _noise_floor(rng, n):
    from scipy.signal import lfilter
    x = rng.standard_normal(n)
    if rng.random() < 0.5:      # reddish: a one-pole low-pass
        x = lfilter([1.0], [1.0, -rng.uniform(0.5, 0.97)], x)
        x /= x.std() + 1e-12
    return x * 10 ** (rng.uniform(-64, -48) / 20)


# ----------------------------------------------------------------------------- clip

def _frame_times(rng, seconds, fps=25):
    """Scene times of the engine's 25 fps frames for a camera at fps_in (nearest input frame)."""
    fps_in = int(rng.choice(FPS_IN))
    k = np.arange(int(round(seconds * fps)))
    return np.round(k / fps * fps_in) / fps_in, fps_in


def _light(rng, t):
    """Global light level per frame: drift, switched steps and flashes (all silent)."""
    g = 1 + 0.08 * np.sin(rng.uniform(0.1, 1.0) * t + rng.uniform(0, 6.3)) * (rng.random() < 0.5)
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 3))):
            g = g * np.where(t >= rng.uniform(0, t[-1]), rng.uniform(0.6, 1.4), 1.0)
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 4))):
            g = g * np.where(np.abs(t - rng.uniform(0, t[-1])) < 0.03, rng.uniform(1.3, 1.8), 1.0)
    return g * rng.uniform(0.7, 1.2)


def _camera_finish(rng, frames):
    """White balance, gamma, shake, sensor noise, resolution and compression, in place."""
    from PIL import Image
    T, S = frames.shape[:2]
    frames *= rng.uniform(0.85, 1.15, 3).astype(np.float32)
    np.clip(frames, 0, 255, out=frames)
    gamma = rng.uniform(0.75, 1.35)
    frames[:] = 255 * (frames / 255) ** gamma
    if rng.random() < 0.4:
        amp = int(rng.integers(1, 4))
        shake = rng.integers(-amp, amp + 1, (T, 2)) * (rng.random((T, 1)) < 0.5)
        for k in np.nonzero(np.any(shake, 1))[0]:
            frames[k] = np.roll(frames[k], tuple(shake[k]), axis=(0, 1))
    sigma = np.float32(rng.uniform(0.5, 5.0))
    for k in range(T):
        frames[k] += sigma * rng.standard_normal((S, S, 3), dtype=np.float32)
    np.clip(frames, 0, 255, out=frames)
    out = frames.round().astype(np.uint8)
    if rng.random() < 0.25:
        small = int(rng.integers(56, 88))
        for k in range(T):
            im = Image.fromarray(out[k]).resize((small, small), Image.BILINEAR)
            out[k] = np.asarray(im.resize((S, S), Image.BILINEAR))
    if rng.random() < 0.5:
        out = world.jpeg_roundtrip(out, int(rng.integers(40, 95)))
    return out


def make_clip(seed: int, seconds: float = 8.0, fps: int = 25, size: int = 96, sample_rate: int = 16000,
              world_share: float = WORLD_SHARE) -> Clip:
    """One family clip, fully determined by its arguments."""
    world._check_args(seconds, fps, size, sample_rate)
    rng = np.random.default_rng([int(seed), 0xFA411])
    if rng.random() < world_share:
        # The training world itself, at a train-split seed.
        return world.make_clip(int(seed) % world.SPLIT_SIZE, seconds, fps, size, sample_rate)
    S, N = size, int(round(seconds * sample_rate))
    perspective = rng.random() < 0.5
    cam = PerspectiveCamera(rng, S) if perspective else FlatCamera(rng, S)
    n_sound = int(rng.integers(1, 4))
    n_silent = int(rng.integers(0, 2)) + int(rng.random() < 0.2)
    sched = Schedule(seconds, sample_rate)
    total_rate = rng.uniform(0.8, 2.2)
    slots = rng.permutation(np.linspace(-0.55, 0.55, n_sound + n_silent)) + rng.uniform(-0.05, 0.05, n_sound + n_silent)
    actors: list[Actor] = []
    for i in range(n_sound + n_silent):
        kind = SOUNDING[int(rng.choice(4, p=[0.45, 0.25, 0.15, 0.15]))] if i < n_sound else Floater
        z = rng.uniform(-0.4, 0.5) if perspective else 0.0
        actors.append(kind(rng, float(slots[i]), float(z)))
    for a in sorted(actors, key=lambda a: not isinstance(a, Dropper)):      # the least flexible first
        a.plan(rng, sched, seconds, total_rate / n_sound)

    t_frames, fps_in = _frame_times(rng, seconds, fps)
    blur = rng.random() < 0.15
    shutter = rng.uniform(0.3, 1.0) / fps_in
    light_dir = rng.normal(0, 1, 3)
    light_dir[2] = abs(light_dir[2]) + 0.5
    light_dir /= np.linalg.norm(light_dir)
    shadow = float(rng.uniform(0.25, 0.6)) if perspective else (float(rng.uniform(0.1, 0.3)) if rng.random() < 0.3 else 0.0)
    tint = rng.uniform(0.8, 1.2, 3).astype(np.float32)
    gain = _light(rng, t_frames)
    order = sorted(actors, key=lambda a: -a.z)          # far to near
    frames = np.empty((len(t_frames), S, S, 3), np.float32)
    for k, t in enumerate(t_frames):
        subs = [t - shutter * j / 2 for j in range(3)] if blur else [t]
        acc = np.zeros((S, S, 3), np.float32)
        for ts in subs:
            img = cam.background(ts).astype(np.float32, copy=True)
            for a in order:
                a.draw(img, cam, ts, light_dir, shadow)
            acc += img
        frames[k] = acc * (gain[k] / len(subs)) * tint
    frames_u8 = _camera_finish(rng, frames)

    sound = Sound(rng, sample_rate, N)
    audio = np.zeros(N, np.float64)
    for a in actors:
        a.audio(rng, audio, sample_rate, sound)
    audio = sound.finish(audio) + _noise_floor(rng, N)
    peak = np.max(np.abs(audio))
    if peak > world.PEAK_LIMIT:
        audio *= world.PEAK_LIMIT / peak
    events = sorted(({"time": float(t), "class": a.cls, "intensity": round(float(i), 4), "source": j}
                     for j, a in enumerate(actors) if a.cls for t, i in a.onsets), key=lambda e: e["time"])
    return Clip(int(seed), frames_u8, audio.astype(np.float32), events, fps, sample_rate, seconds)


def main(argv=None) -> int:
    from . import data
    ap = argparse.ArgumentParser(prog="python -m foley.family", description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--start", type=int, default=0, help="first seed offset in the family's range")
    ap.add_argument("--out", type=Path, required=True, help="a data set folder (foley.data layout)")
    ap.add_argument("--clips", action="store_true", help="write clip folders (video.mp4, audio.wav, events.json) instead")
    ap.add_argument("--workers", type=int, default=data.default_workers())
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--world-share", type=float, default=WORLD_SHARE,
                    help=f"share of training-world clips (default {WORLD_SHARE}; 0 for evaluation clips)")
    a = ap.parse_args(argv)
    if not 0.0 <= a.world_share <= 1.0:
        ap.error(f"--world-share must be in [0, 1], got {a.world_share}")
    make = functools.partial(make_clip, world_share=a.world_share)
    try:
        seeds = family_seeds(a.count, a.start)
    except ValueError as e:
        ap.error(str(e))
    drum_layers(16000)
    t0 = time.time()
    if a.clips:
        for s in seeds:
            folder = a.out / f"family-{s}"
            if not world._clip_done(folder, False):
                world.write_clip(make(s, a.seconds), folder, "family")
    else:
        data.build_set(a.out, "family", a.count, a.seconds, a.workers, seeds=seeds, make=make)
    print(f"{a.count} family clips in {a.out} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
