"""Held-out worlds (foley.heldout): deterministic, onsets inside the clip and apart, contact at
each onset in the world's own physics, sound attacks at the onsets, and the clip file format."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import world  # noqa: E402
from foley.heldout import WORLDS, clutter, common, render3d, sounds  # noqa: E402

GENERATORS = {"clutter": clutter, "render3d": render3d, "sounds": sounds}
SECONDS = 2.0


def clips(name, n=3):
    return [GENERATORS[name].make_clip(s, SECONDS) for s in common.clip_seeds(name, n)]


@pytest.fixture(scope="module")
def made():
    return {name: clips(name) for name in WORLDS}


@pytest.mark.parametrize("name", WORLDS)
def test_a_clip_is_a_function_of_its_seed(name, made):
    a = made[name][0]
    b = GENERATORS[name].make_clip(a.seed, SECONDS)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio) and a.events == b.events
    assert not np.array_equal(a.frames, made[name][1].frames)


@pytest.mark.parametrize("name", WORLDS)
def test_clips_have_the_training_worlds_shapes(name, made):
    for c in made[name]:
        assert c.frames.shape == (50, 96, 96, 3) and c.frames.dtype == np.uint8
        assert c.audio.shape == (32000,) and c.audio.dtype == np.float32
        assert np.max(np.abs(c.audio)) <= world.PEAK_LIMIT + 1e-6


@pytest.mark.parametrize("name", WORLDS)
def test_onsets_lie_inside_the_clip_and_apart(name, made):
    events = [e for c in made[name] for e in c.events]
    assert events, "three clips without a single event"
    for c in made[name]:
        times = [e["time"] for e in c.events]
        assert times == sorted(times)
        assert all(0.1 <= t <= SECONDS - 0.3 for t in times)
        assert all(b - a >= world.MIN_GAP_S - 1e-9 for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("name", ["clutter", "render3d"])
def test_each_onset_is_a_contact_and_the_nearest_frame_is_near_it(name, made):
    fps = 25
    for c in made[name]:
        for src in c.sources:
            gap = src.gap_px if name == "clutter" else src.gap_m
            for t, _ in src.onsets:
                assert abs(gap(t)) < (0.05 if name == "clutter" else 1e-3)
                # Away from contact the object is off the surface: the onset is where it lands.
                assert gap(t - 0.1) > gap(t) + 1e-3
                # The frame nearest the onset is within half a frame of it, so it shows the object
                # no further from the surface than it travels in half a frame.
                k = round(t * fps)
                assert abs(k / fps - t) <= 0.5 / fps + 1e-9
                speed = abs(gap(t - 0.5 / fps) - gap(t)) / (0.5 / fps)
                assert gap(k / fps) <= speed * 0.5 / fps + 0.05


def test_unseen_sounds_keep_the_training_worlds_pictures_and_onsets(made):
    for c in made["sounds"]:
        pictures = world.make_clip(c.seed, SECONDS)
        assert np.array_equal(c.frames, pictures.frames)
        assert [e["time"] for e in c.events] == [e["time"] for e in pictures.events]
        assert all(e["class"] == "unknown" and e["sound"] in sounds.SOUNDS for e in c.events)


@pytest.mark.parametrize("name", WORLDS)
def test_every_onset_starts_a_sound(name, made):
    sr = 16000
    rises = []
    for c in made[name]:
        for e in c.events:
            i = int(round(e["time"] * sr))
            before = np.sqrt(np.mean(c.audio[i - 400:i - 80] ** 2))
            after = np.sqrt(np.mean(c.audio[i:i + 320] ** 2))
            rises.append(after / before)
    # A quiet hit in the ring of a loud one (a bell, a metal ball) rises less; most rise a lot.
    assert min(rises) > 1.2 and np.median(rises) > 5


@pytest.mark.parametrize("name", WORLDS)
def test_the_cli_writes_clip_folders_the_eval_reads(name, tmp_path):
    module = GENERATORS[name]
    assert module.main(["--count", "1", "--seconds", str(SECONDS), "--out", str(tmp_path)]) == 0
    (folder,) = tmp_path.iterdir()
    assert folder.name == f"{name}-{common.clip_seeds(name, 1)[0]}"
    assert {p.name for p in folder.iterdir()} == set(world.CLIP_FILES)
    meta = json.loads((folder / "events.json").read_text())
    assert meta["split"] == f"heldout-{name}" and meta["fps"] == 25
    assert all({"time", "class"} <= set(e) for e in meta["events"])


def test_held_out_seeds_are_outside_every_training_split():
    for name in WORLDS:
        seeds = common.clip_seeds(name, 100)
        assert min(seeds) >= max(world.SPLIT_STARTS.values()) + world.SPLIT_SIZE
    with pytest.raises(ValueError, match="unknown held-out world"):
        common.clip_seeds("train", 1)
