"""Generated data sets on disk: frames, audio and events of world clips as memory maps.

Layout of a set folder: frames.u8 [n, T, 96, 96, 3], audio.f32 [n, N], events.json,
meta.json (written last: its presence means the set is complete).
"""
import contextlib
import json
import multiprocessing as mp
import os
from pathlib import Path

import numpy as np

from . import world

FPS = 25
SIZE = 96
SAMPLE_RATE = 16000


def _shapes(count: int, seconds: float):
    t = int(round(seconds * FPS))
    return (count, t, SIZE, SIZE, 3), (count, int(round(seconds * SAMPLE_RATE)))


# JPEG qualities of the compression round trip (codec_p), drawn per clip: from about what the
# H.264 of the clip files costs (90) down to a low live bitrate.
CODEC_QUALITY = (50, 96)


def _work(args):
    folder, split, seeds, offset, count, seconds, codec_p, make = args
    fshape, ashape = _shapes(count, seconds)
    frames = np.memmap(folder / "frames.u8", dtype=np.uint8, mode="r+", shape=fshape)
    audio = np.memmap(folder / "audio.f32", dtype=np.float32, mode="r+", shape=ashape)
    events = []
    for i, seed in enumerate(seeds):
        clip = make(int(seed), seconds=seconds, fps=FPS, size=SIZE, sample_rate=SAMPLE_RATE)
        rng = np.random.default_rng([int(seed), 0xC0DEC])  # per clip, so any worker split gives the same set
        if rng.random() < codec_p:
            clip.frames = world.jpeg_roundtrip(clip.frames, int(rng.integers(*CODEC_QUALITY)))
        frames[offset + i] = clip.frames
        audio[offset + i] = clip.audio
        events.append(clip.events)
    frames.flush()
    audio.flush()
    return offset, events


def build_set(folder: Path, split: str, count: int, seconds: float, workers: int, codec_p: float = 0.0,
              seeds: list | None = None, make=world.make_clip) -> Path:
    """Generates the split's clips; a share codec_p of them (drawn per clip) has its frames
    compressed and decoded (world.jpeg_roundtrip), as the engine sees decoded video. Another
    generator (make, with its own seeds) may stand in for the world's, as foley.family does."""
    folder = Path(folder)
    if (folder / "meta.json").exists():
        meta = json.loads((folder / "meta.json").read_text())
        if (meta["count"] == count and meta["seconds"] == seconds and meta["split"] == split
                and meta.get("codecP", 0.0) == codec_p):
            return folder
    folder.mkdir(parents=True, exist_ok=True)
    fshape, ashape = _shapes(count, seconds)
    np.memmap(folder / "frames.u8", dtype=np.uint8, mode="w+", shape=fshape).flush()
    np.memmap(folder / "audio.f32", dtype=np.float32, mode="w+", shape=ashape).flush()
    seeds = world.split_seeds(split, count) if seeds is None else list(seeds)
    chunk = max(1, min(64, count // (workers * 4) or 1))
    jobs = [(folder, split, seeds[i: i + chunk], i, count, seconds, codec_p, make) for i in range(0, count, chunk)]
    events: list = [None] * count
    with contextlib.ExitStack() as stack:
        if workers <= 1:    # in process: no fork from a parent that may hold its threads' locks
            results = map(_work, jobs)
        else:
            results = stack.enter_context(mp.get_context("fork").Pool(workers)).imap_unordered(_work, jobs)
        for offset, evs in results:
            events[offset: offset + len(evs)] = evs
    (folder / "events.json").write_text(json.dumps(events))
    meta = {"split": split, "count": count, "seconds": seconds, "fps": FPS, "size": SIZE,
            "sampleRate": SAMPLE_RATE, "seeds": [int(s) for s in seeds], "classes": world.CLASSES,
            "codecP": codec_p, "codecQuality": list(CODEC_QUALITY)}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


class ClipSet:
    """Read access to a built set."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        if not (self.folder / "meta.json").exists():
            raise FileNotFoundError(f"data set {self.folder} is missing or incomplete (no meta.json)")
        self.meta = json.loads((self.folder / "meta.json").read_text())
        fshape, ashape = _shapes(self.meta["count"], self.meta["seconds"])
        self.frames = np.memmap(self.folder / "frames.u8", dtype=np.uint8, mode="r", shape=fshape)
        self.audio = np.memmap(self.folder / "audio.f32", dtype=np.float32, mode="r", shape=ashape)
        self.events = json.loads((self.folder / "events.json").read_text())
        self.count = fshape[0]
        self.frames_per_clip = fshape[1]

    def cached(self, name: str) -> Path:
        return self.folder / name


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2))
