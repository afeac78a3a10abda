"""Compression augmentation of training frames (train_codec_p): the engine reads decoded video,
so part of the training clips carry a codec's losses. Chosen per clip, independent of workers."""
import json

import numpy as np

from foley import data, world


def _raw(folder):
    meta = json.loads((folder / "meta.json").read_text())
    return [world.make_clip(s, seconds=meta["seconds"]).frames for s in meta["seeds"]]


def test_compressed_clips_differ_from_the_raw_frames_by_a_codec_sized_error(tmp_path):
    folder = data.build_set(tmp_path / "train", "train", 4, 2.0, workers=2, codec_p=1.0)
    st = data.ClipSet(folder)
    assert st.meta["codecP"] == 1.0
    for got, raw in zip(st.frames, _raw(folder)):
        err = np.abs(got.astype(float) - raw).mean()
        assert 0.5 < err < 20, err


def test_without_compression_the_frames_are_the_generated_ones(tmp_path):
    folder = data.build_set(tmp_path / "train", "train", 3, 2.0, workers=1)
    for got, raw in zip(data.ClipSet(folder).frames, _raw(folder)):
        assert np.array_equal(got, raw)


def test_which_clips_are_compressed_does_not_depend_on_the_workers(tmp_path):
    a = data.ClipSet(data.build_set(tmp_path / "a", "train", 6, 2.0, workers=1, codec_p=0.5))
    b = data.ClipSet(data.build_set(tmp_path / "b", "train", 6, 2.0, workers=3, codec_p=0.5))
    assert np.array_equal(np.asarray(a.frames), np.asarray(b.frames))
    changed = [not np.array_equal(f, r) for f, r in zip(a.frames, _raw(tmp_path / "a"))]
    assert any(changed) and not all(changed)


def test_a_set_is_rebuilt_when_the_compression_share_changes(tmp_path):
    plain = np.asarray(data.ClipSet(data.build_set(tmp_path / "s", "train", 2, 2.0, workers=1)).frames).copy()
    again = data.ClipSet(data.build_set(tmp_path / "s", "train", 2, 2.0, workers=1, codec_p=1.0))
    assert again.meta["codecP"] == 1.0 and not np.array_equal(np.asarray(again.frames), plain)


def test_h264_roundtrip_gives_the_frames_decoded_from_the_clip_file(tmp_path):
    import subprocess
    clip = world.make_clip(2_000_000, seconds=2.0)
    world.write_clip(clip, tmp_path / "c", "test")
    raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(tmp_path / "c" / "video.mp4"), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    from_file = np.frombuffer(raw, np.uint8).reshape(-1, *clip.frames.shape[1:])[: len(clip.frames)]
    ours = world.h264_roundtrip(clip.frames, clip.fps)
    assert ours.shape == clip.frames.shape
    assert np.abs(ours.astype(float) - from_file).mean() < 0.5
    assert np.abs(ours.astype(float) - clip.frames).mean() > 0.5
