"""2-D drawing for the held-out worlds' own renderers: anti-aliased polygons and bilinear
camera resampling (foley.world draws with its own sprites; nothing here is shared with it)."""
from __future__ import annotations

import numpy as np

SUPERSAMPLE = 3


def polygon_coverage(points: np.ndarray, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """Fraction [h, w] of each pixel of the box (y0, x0, h, w) inside the polygon points [n, 2]
    (y, x), even-odd rule on SUPERSAMPLE² sub-pixels."""
    k = SUPERSAMPLE
    ys = y0 + (np.arange(h * k) + 0.5) / k
    xs = x0 + (np.arange(w * k) + 0.5) / k
    yy, xx = ys[:, None], xs[None, :]
    inside = np.zeros((h * k, w * k), bool)
    p = np.asarray(points, np.float64)
    for (ya, xa), (yb, xb) in zip(p, np.roll(p, -1, axis=0)):
        if ya == yb:
            continue
        crosses = (ya > yy) != (yb > yy)
        x_at = xa + (yy - ya) * (xb - xa) / (yb - ya)
        inside ^= crosses & (xx < x_at)
    return inside.reshape(h, k, w, k).mean(axis=(1, 3)).astype(np.float32)


def fill_polygon(frame: np.ndarray, points, rgb, alpha: float = 1.0) -> None:
    p = np.asarray(points, np.float64)
    H, W = frame.shape[:2]
    y0, x0 = max(int(np.floor(p[:, 0].min())), 0), max(int(np.floor(p[:, 1].min())), 0)
    y1, x1 = min(int(np.ceil(p[:, 0].max())) + 1, H), min(int(np.ceil(p[:, 1].max())) + 1, W)
    if y0 >= y1 or x0 >= x1:
        return
    a = polygon_coverage(p, y0, x0, y1 - y0, x1 - x0)[..., None] * alpha
    d = frame[y0:y1, x0:x1]
    d += a * (np.asarray(rgb, np.float32) - d)


def rect(cy: float, cx: float, h: float, w: float) -> np.ndarray:
    return np.array([[cy - h / 2, cx - w / 2], [cy - h / 2, cx + w / 2], [cy + h / 2, cx + w / 2], [cy + h / 2, cx - w / 2]])


def rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


def camera_view(canvas: np.ndarray, cy: float, cx: float, span: float, out_size: int) -> np.ndarray:
    """The square window of `span` canvas pixels centred at (cy, cx), resampled bilinearly to
    out_size² (span < out_size zooms in)."""
    from scipy.ndimage import map_coordinates
    g = cy - span / 2 + (np.arange(out_size) + 0.5) * span / out_size - 0.5
    h = cx - span / 2 + (np.arange(out_size) + 0.5) * span / out_size - 0.5
    yy, xx = np.meshgrid(g, h, indexing="ij")
    return np.stack([map_coordinates(canvas[..., c], [yy, xx], order=1, mode="nearest") for c in range(3)], -1)


def to_view(y: float, x: float, cy: float, cx: float, span: float, out_size: int) -> tuple[float, float]:
    """Canvas point -> output pixel coordinates of camera_view's window."""
    k = out_size / span
    return (y - (cy - span / 2)) * k, (x - (cx - span / 2)) * k
