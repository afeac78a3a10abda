"""World family (foley.family): deterministic clips of the world's classes, contact at each drop's
onsets, silent floaters that never touch, both camera styles, and a data set built from it."""
import ast
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import data, family, world  # noqa: E402

SECONDS = 2.0


@pytest.fixture(scope="module")
def clips():
    return [family.make_clip(s, SECONDS, world_share=0.0) for s in family.family_seeds(4)]


def test_a_clip_is_a_function_of_its_seed(clips):
    a = clips[0]
    b = family.make_clip(a.seed, SECONDS, world_share=0.0)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio) and a.events == b.events
    assert not np.array_equal(a.frames, clips[1].frames)


def test_clips_have_the_training_worlds_shapes_classes_and_onset_rules(clips):
    for c in clips:
        assert c.frames.shape == (50, 96, 96, 3) and c.frames.dtype == np.uint8
        assert c.audio.shape == (32000,) and np.max(np.abs(c.audio)) <= world.PEAK_LIMIT + 1e-6
        times = [e["time"] for e in c.events]
        assert times == sorted(times)
        assert all(world.HEAD_S <= t <= SECONDS - world.TAIL_S for t in times)
        assert all(b - a >= world.MIN_GAP_S - 1e-9 for a, b in zip(times, times[1:]))
        assert all(e["class"] in world.CLASSES for e in c.events)


def test_sound_attacks_at_the_onsets():
    # A quiet bounce may fall in a metal ball's or a cymbal's ringing tail, as in the world: most must stand out.
    ratios = []
    for seed in family.family_seeds(3, 7):
        c = family.make_clip(seed, 4.0, world_share=0.0)
        for e in c.events:
            i = int(round(e["time"] * c.sample_rate))
            before = np.sqrt(np.mean(c.audio[max(i - 480, 0): i - 80] ** 2))
            after = np.sqrt(np.mean(c.audio[i: i + 400] ** 2))
            ratios.append(after / before)
    assert len(ratios) >= 10
    assert np.mean(np.array(ratios) > 2) >= 0.75, sorted(ratios)[:5]


def test_drops_touch_the_floor_at_their_onsets_and_floaters_never_do():
    rng = np.random.default_rng(3)
    sched = world.Schedule(8.0, 16000)
    drop = family.Dropper(rng, 0.0, 0.0)
    drop.plan(rng, sched, 8.0, 1.0)
    assert drop.onsets
    for t, _ in drop.onsets:
        x, h, _, contact = drop.state(t + 1e-4)
        assert h < 1e-3 and contact
        assert drop.state(t - 0.06)[1] > 0.01       # in the air just before
    sank = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        f = family.Floater(rng, 0.0, 0.0)
        f.plan(rng, sched, 8.0, 1.0)
        assert f.cls is None and not f.onsets
        heights = np.array([f.height(t) for t in np.arange(0.0, 8.0, 0.01)])
        assert heights.min() >= 0.02, (seed, heights.min())           # never on the floor
        if f.sink:
            sank += 1
            assert heights.min() < f.gap + 0.01                       # it does come close
    assert 0 < sank < 12


@pytest.mark.parametrize("camera", [family.FlatCamera, family.PerspectiveCamera])
def test_both_cameras_project_the_floor_below_what_is_above_it(camera):
    cam = camera(np.random.default_rng(0), 96)
    (floor, above), _ = cam.project(np.array([[0.0, 0.0, 0.0], [0.0, 0.3, 0.0]]), 1.0)
    assert floor[0] > above[0]                      # rows grow downwards
    bg = cam.background(1.0)
    assert bg.shape == (96, 96, 3) and np.isfinite(bg).all()


def test_the_family_never_imports_the_held_out_worlds():
    tree = ast.parse(Path(family.__file__).read_text())
    names = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    names += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [n for n in names if "heldout" in n]


def test_a_data_set_of_family_clips(tmp_path):
    seeds = family.family_seeds(2, 100)
    folder = data.build_set(tmp_path / "set", "family", 2, SECONDS, 1, seeds=seeds, make=family.make_clip)
    cs = data.ClipSet(folder)
    assert cs.count == 2 and cs.meta["seeds"] == seeds
    want = family.make_clip(seeds[1], SECONDS)
    assert np.array_equal(cs.frames[1], want.frames) and cs.events[1] == want.events
    assert json.loads((folder / "meta.json").read_text())["split"] == "family"
