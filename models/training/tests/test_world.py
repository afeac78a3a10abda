"""Tests for the procedural foley world (foley.world). Small clips keep this under ~30 s."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import world  # noqa: E402
from foley.world import CLASSES, MIN_GAP_S, make_arrays, make_clip, split_seeds  # noqa: E402


def detect_onsets_s(y: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """The project's onset detector (owned by metrics.py; copied here to check the ceiling)."""
    import librosa
    y = np.pad(y.astype(np.float32), 240)
    mel = librosa.feature.melspectrogram(y=y, sr=sample_rate, n_fft=1024, win_length=640,
                                         hop_length=160, n_mels=64, fmin=20, fmax=8000,
                                         center=False)
    s_db = 10 * np.log10(np.maximum(mel, 1e-5))
    env = librosa.onset.onset_strength(S=s_db, lag=1, max_size=1, center=False)
    frames = librosa.onset.onset_detect(onset_envelope=env, sr=sample_rate, hop_length=160)
    return (160 * frames + 80) / sample_rate


def test_deterministic_and_seed_dependent():
    a, b, c = make_clip(123, 2.0), make_clip(123, 2.0), make_clip(124, 2.0)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio)
    assert a.events == b.events
    assert not np.array_equal(a.frames, c.frames)


def test_shapes_and_ranges():
    c = make_clip(7, 2.0)
    assert c.frames.shape == (50, 96, 96, 3) and c.frames.dtype == np.uint8
    assert c.audio.shape == (32000,) and c.audio.dtype == np.float32
    assert np.max(np.abs(c.audio)) <= world.PEAK_LIMIT + 1e-6
    big = make_clip(7, 0.8, size=128)
    assert big.frames.shape == (20, 128, 128, 3)


def test_event_ordering_spacing_and_rate():
    seconds = 4.0
    rates = []
    for seed in range(2_000_000, 2_000_030):
        ev = make_clip(seed, seconds).events
        t = np.array([e["time"] for e in ev])
        assert np.all(np.diff(t) >= MIN_GAP_S - 1e-9)
        assert np.all(t >= world.HEAD_S) and np.all(t <= seconds - world.TAIL_S)
        for e in ev:
            assert set(e) == {"time", "class", "intensity", "source"}
            assert e["class"] in CLASSES and 0.0 <= e["intensity"] <= 1.0
            assert isinstance(e["source"], int)
        rates.append(len(t) / seconds)
    assert 0.7 <= np.mean(rates) <= 2.5


def test_every_class_reachable():
    seen = set()
    for seed in range(200):
        seen |= {e["class"] for e in make_clip(seed, 3.0).events}
        if seen == set(CLASSES):
            break
    assert seen == set(CLASSES)


def test_impacts_are_visible_at_the_onset_frame():
    # Balls reach the floor and sticks hit pads (with a flash) on the frame nearest the
    # onset: frame-difference energy there is well above the clip's typical level.
    ratios = []
    for seed in range(2_000_000, 2_000_012):
        c = make_clip(seed, 4.0)
        f = c.frames.astype(np.float32)
        diff = np.concatenate([[0.0], np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))])
        for e in c.events:
            if e["class"] in world.BALL_CLASSES or e["class"] in world.DRUM_CLASSES:
                k = int(round(e["time"] * c.fps))
                if 1 <= k < len(diff) - 1:
                    ratios.append(max(diff[k], diff[k + 1]) / np.median(diff[1:]))
    assert len(ratios) > 10
    assert np.median(ratios) > 1.3


def test_ground_truth_onset_f1_ceiling():
    import mir_eval
    scores = []
    for seed in range(2_000_000, 2_000_020):
        c = make_clip(seed, 4.0)
        ref = np.array([e["time"] for e in c.events])
        est = detect_onsets_s(c.audio)
        scores.append(mir_eval.onset.f_measure(ref, est, window=0.05)[0] if len(ref)
                      else float(len(est) == 0))
    assert np.mean(scores) >= 0.9, scores


def test_make_arrays_matches_make_clip():
    frames, audio, events = make_arrays("val", 3, seconds=1.0, workers=2, start=5, chunk=2)
    assert frames.shape == (3, 25, 96, 96, 3) and audio.shape == (3, 16000)
    c = make_clip(1_000_006, 1.0)
    assert np.array_equal(frames[1], c.frames) and np.array_equal(audio[1], c.audio)
    assert events[1] == c.events


def test_invalid_arguments():
    with pytest.raises(ValueError, match="unknown split"):
        split_seeds("dev", 3)
    with pytest.raises(ValueError, match="count"):
        split_seeds("train", 0)
    with pytest.raises(ValueError, match="size"):
        make_clip(0, 1.0, size=64)
    with pytest.raises(SystemExit):
        world.main(["--split", "test", "--count", "0", "--out", "/tmp/x"])
    assert split_seeds("test", 2) == [2_000_000, 2_000_001]


def test_drums_npz_roundtrip(tmp_path, monkeypatch):
    path = world.export_drums(tmp_path / "drums.npz")
    monkeypatch.setenv("FOLEY_DRUMS_NPZ", str(path))
    world.drum_samples.cache_clear()
    try:
        d = world.drum_samples(16000)
        assert set(d) == set(world.DRUM_CLASSES)
        assert all(x.dtype == np.float32 and 0.9 < np.max(np.abs(x)) <= 1.0 for x in d.values())
        monkeypatch.setenv("FOLEY_DRUMS_NPZ", str(tmp_path / "missing.npz"))
        world.drum_samples.cache_clear()
        with pytest.raises(FileNotFoundError, match="FOLEY_DRUMS_NPZ"):
            world.drum_samples(16000)
    finally:
        world.drum_samples.cache_clear()


def test_cli_writes_readable_clip(tmp_path, capsys):
    args = ["--split", "test", "--count", "1", "--out", str(tmp_path), "--workers", "1",
            "--seconds", "2", "--y4m"]
    assert world.main(args) == 0
    folder = tmp_path / "test-2000000"
    meta = json.loads((folder / "events.json").read_text())
    assert meta["seed"] == 2_000_000 and meta["fps"] == 25 and meta["sampleRate"] == 16000
    assert meta["events"] == make_clip(2_000_000, 2.0).events
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(folder / "video.mp4")],
        check=True, capture_output=True, text=True).stdout)
    kinds = {s["codec_type"]: s for s in probe["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and kinds["video"]["pix_fmt"] == "yuv420p"
    assert kinds["video"]["width"] == 96 and kinds["audio"]["codec_name"] == "aac"
    assert (folder / "video.y4m").read_bytes().startswith(b"YUV4MPEG2")
    import soundfile as sf
    audio, sr = sf.read(folder / "audio.wav")
    assert sr == 16000 and len(audio) == 32000
    capsys.readouterr()
    assert world.main(args) == 0        # resumable: a complete folder is skipped
    assert "0 clips written" in capsys.readouterr().out
