"""foley.finetune (the trainer behind `foley train`): on the tiny random bundle and a few world
clips it writes a new bundle that differs from the start one only in the models it trained
(a causal video encoder declared in the manifest and recovered as causal), resumes from its checkpoint, and names a bundle without an audio encoder, missing data and an
existing output instead of training. A run that trains is its own process, as `foley train` runs
it: its torch threads and signal handlers stay out of the test process, which forks workers
in later tests; the refusals, which stop before training, run in this process."""
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from foley import data, export, finetune, weights, world  # noqa: E402
from foley.audio import SAMPLE_RATE, MelFrontend  # noqa: E402
from foley.contact_gate import GATE_SHAPE, write_gate  # noqa: E402
from foley.finetune import augment_frames, freeze_tail, onset_labels  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


@pytest.fixture(scope="module")
def gated_start(start, tmp_path_factory) -> Path:
    """The start bundle with a contact gate in its manifest."""
    bundle = tmp_path_factory.mktemp("gated") / "tiny"
    shutil.copytree(start, bundle)
    dim = json.loads((bundle / "manifest.json").read_text())["features"]["dim"]
    write_gate(bundle, {"weights": [0.1] * dim, "bias": 0.0, **GATE_SHAPE})
    return bundle


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    return data.build_set(tmp_path_factory.mktemp("footage") / "data", "train", 3, 2.0, 1)


TRAINING = Path(__file__).resolve().parents[1]


def args(start: Path, footage: Path, tmp: Path, out: str, *extra: str) -> list[str]:
    return ["--bundle", str(start), "--data", str(footage), "--run", str(tmp / "run"), "--out", str(tmp / out),
            "--steps", "3", "--batch", "2", *extra]


def run(start: Path, footage: Path, tmp: Path, out: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foley.finetune", *args(start, footage, tmp, out, *extra)],
                          cwd=TRAINING, capture_output=True, text=True, timeout=300)


def initializers(path: Path) -> dict:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def test_writes_a_bundle_with_only_the_trained_models_changed_and_resumes_from_its_checkpoint(start, footage, tmp_path, capsys):
    flags = ("--train-video", "--augment", "--causal-video", "--frozen-tail", "0.5", "--contact-gate", "--onset-loss", "0.1")
    first = run(start, footage, tmp_path, "mine", *flags)
    assert first.returncode == 0, first.stderr
    lines = [json.loads(x) for x in first.stdout.splitlines() if x.startswith("{")]
    assert [x["stage"] for x in lines if x["event"] == "stage"] == ["recover", "features", "latents", "onsets", "train",
                                                                     "contact-gate", "export"]
    assert lines[-1]["event"] == "done" and lines[-1]["stepsDone"] == 3 and lines[-1]["stoppedBy"] == "steps"
    out = tmp_path / "mine"
    man = json.loads((out / "manifest.json").read_text())
    assert man["name"] == "mine" and man["description"].startswith("profile tiny ")
    info = json.loads((out / "finetune.json").read_text())
    assert info["trained"] == ["unet_student", "video_encoder"] and info["augment"] is True and info["causalVideo"] is True
    assert info["frozenTail"] == 0.5 and info["onsetLoss"] == 0.1
    # The contact gate is fitted on the trained encoder's features of the footage.
    assert len(man["contactGate"]["weights"]) == man["features"]["dim"] and info["contactGate"]["fitLoss"] > 0
    # The onset probe trains beside the encoder and is not exported.
    assert sorted(p.name for p in out.glob("*.onnx")) == sorted(p.name for p in start.glob("*.onnx"))
    assert man["features"]["contextFrames"] == 5 and man["features"]["rightContextFrames"] == 0
    assert all(p["max_relative_error"] < 1e-4 for p in info["parity"].values())
    assert (out / "train" / "ae_encoder.pt").exists() and (out / "reference.json").exists()
    before, after = initializers(start / "unet_student.onnx"), initializers(out / "unet_student.onnx")
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    video_before, video_after = initializers(start / "video_encoder.onnx"), initializers(out / "video_encoder.onnx")
    assert any(not np.array_equal(video_before[k], video_after[k]) for k in video_before)
    for name in ("vocoder.onnx", "unet_teacher.onnx", "align_classifier.onnx"):
        assert (out / name).read_bytes() == (start / name).read_bytes()

    # Resumed at its last step: nothing left to train, the same weights exported again.
    # (a refusal in this process: no second start-up of torch)
    capsys.readouterr()
    assert finetune.main(args(start, footage, tmp_path, "again", *flags[:-2], "--resume")) == 2
    assert "onset_probe" in capsys.readouterr().err
    again_run = run(start, footage, tmp_path, "again", *flags, "--resume")
    assert again_run.returncode == 0, again_run.stderr
    assert "resumed at step 3 of 3" in again_run.stdout
    again = initializers(tmp_path / "again" / "unet_student.onnx")
    assert all(np.array_equal(after[k], again[k]) for k in after)

    # The causal encoder is recovered as causal: it computes what its ONNX file computes.
    mods, _ = weights.recover_modules(out, check=False)
    assert mods["video_encoder"].video.causal
    specs = export.io_specs(len(world.CLASSES), True)
    parity = export.parity(mods["video_encoder"], "video_encoder", specs["video_encoder"], out / "video_encoder.onnx",
                           torch.Generator().manual_seed(1))
    assert parity["max_relative_error"] < 1e-4


def test_scratch_starts_the_picture_to_sound_parts_from_random_weights_and_keeps_the_audio_codec(gated_start, footage, tmp_path, capsys):
    start = gated_start
    scratch = run(start, footage, tmp_path, "scratch", "--train-video", "--scratch", "--seed", "5")
    assert scratch.returncode == 0, scratch.stderr
    out = tmp_path / "scratch"
    man = json.loads((out / "manifest.json").read_text())
    assert man["sampling"]["cgScale"] == 0.0 and "from random weights" in man["description"]
    assert "contactGate" not in man      # the start bundle's gate read the encoder this run replaced
    assert json.loads((out / "finetune.json").read_text())["scratch"] is True
    # Three steps from the start bundle would leave each weight where it was; a new draw is unrelated to it.
    for name in ("unet_student.onnx", "video_encoder.onnx"):
        before, after = initializers(start / name), initializers(out / name)
        key = max(before, key=lambda k: before[k].size)
        assert abs(np.corrcoef(before[key].ravel(), after[key].ravel())[0, 1]) < 0.5, name
    for name in ("vocoder.onnx", "latent_decoder.onnx", "align_classifier.onnx"):
        assert (out / name).read_bytes() == (start / name).read_bytes()
    # Its checkpoint does not resume as a fine-tune.
    capsys.readouterr()
    assert finetune.main(args(start, footage, tmp_path, "mixed", "--train-video", "--resume")) == 2
    assert "scratch" in capsys.readouterr().err and not (tmp_path / "mixed").exists()


def test_a_time_cap_stops_training_and_still_writes_the_bundle_of_the_student_alone(gated_start, footage, tmp_path):
    capped = run(gated_start, footage, tmp_path, "capped", "--time-cap-s", "1e-6")
    assert capped.returncode == 0, capped.stderr
    done = json.loads(capped.stdout.strip().splitlines()[-1])
    assert done["stoppedBy"] == "time-cap" and done["stepsDone"] == 0
    assert json.loads((tmp_path / "capped" / "finetune.json").read_text())["trained"] == ["unet_student"]
    # The student alone leaves the video encoder, so the start bundle's gate still reads it.
    gate = json.loads((tmp_path / "capped" / "manifest.json").read_text())["contactGate"]
    assert gate == json.loads((gated_start / "manifest.json").read_text())["contactGate"]


def test_names_what_is_wrong_instead_of_training(start, footage, tmp_path, capsys):
    # In this process: each case stops before training, so no torch threads or signal handlers change.
    def refused(bundle: Path, data_dir: Path, out: str, *extra: str) -> tuple[int, str]:
        capsys.readouterr()
        code = finetune.main(["--bundle", str(bundle), "--data", str(data_dir), "--run", str(tmp_path / "run"),
                              "--out", str(tmp_path / out), "--steps", "3", "--batch", "2", *extra])
        return code, capsys.readouterr().err

    code, err = refused(TINY, footage, "x")
    assert code == 3 and "ae_encoder.pt" in err
    code, err = refused(start, tmp_path / "nowhere", "x")
    assert code == 4 and err.startswith("[data:")
    (tmp_path / "taken").mkdir()
    code, err = refused(start, footage, "taken")
    assert code == 2 and "already exists" in err
    assert not (tmp_path / "x").exists()

    for flag in (["--causal-video"], ["--frozen-tail", "0.5"], ["--scratch"], ["--onset-loss", "0.1"]):
        code, err = refused(start, footage, "y", *flag)
        assert code == 2 and "--train-video" in err, flag
    code, err = refused(start, footage, "y", "--train-video", "--frozen-tail", "2")
    assert code == 2 and "--frozen-tail in [0, 1]" in err
    assert not (tmp_path / "y").exists() and not (tmp_path / "run").exists()


def test_augmentation_mirrors_and_recolours_within_the_pixel_range():
    # Pixel value 50 + 20 * column: a mirror reverses the ramp, gain and offset keep it linear.
    ramp = 50 + 20 * torch.arange(5, dtype=torch.float32)
    frames = ramp[None, None, None, :, None].expand(16, 3, 6, 5, 3).to(torch.uint8)
    before = frames.clone()
    a = augment_frames(frames, torch.Generator().manual_seed(0))
    assert a.shape == frames.shape and torch.equal(a, augment_frames(frames, torch.Generator().manual_seed(0)))
    assert torch.equal(frames, before)                  # works on its own copy (it changes values in place)
    assert a.min() >= 0 and a.max() <= 255
    row = a[:, 0, 0]                                    # [16, 5 columns, 3 channels]
    steps = row[:, 1:] - row[:, :-1]
    mirrored = (steps < 0).all(dim=(1, 2))
    assert ((steps > 0).all(dim=(1, 2)) | mirrored).all()        # every sample one linear ramp
    assert 0 < int(mirrored.sum()) < 16
    gains = steps.abs().mean(1) / 20                                # per sample and channel
    assert (gains > 0.69).all() and (gains < 1.31).all() and gains.std() > 0.05


def test_a_frozen_tail_repeats_the_present_frame_in_a_share_of_the_windows():
    values = 40 * torch.arange(50.0)[:, None] + torch.arange(40.0)[None]     # window i, frame t: 40 i + t
    frames = values[:, :, None, None, None].expand(50, 40, 2, 2, 3).contiguous()
    out = freeze_tail(frames, torch.Generator().manual_seed(0), 0.5)
    value = out[:, :, 0, 0, 0] - 40 * torch.arange(50)[:, None]
    frozen = 0
    for row in value:
        present = int(row.argmax())
        assert torch.equal(row[: present + 1], torch.arange(present + 1, dtype=row.dtype))   # untouched up to the present
        assert (row[present:] == present).all()                                              # then the present repeated
        frozen += present < 39
    assert 10 < frozen < 40 and torch.equal(freeze_tail(frames, torch.Generator(), 0.0), frames)


def test_onset_labels_mark_the_frames_where_the_footage_sound_starts():
    # Two noise bursts, at 0.4 s (frame 10) and 1.2 s (frame 30), in near-silence.
    rng = np.random.default_rng(0)
    audio = 1e-4 * rng.standard_normal(2 * SAMPLE_RATE).astype(np.float32)
    for start in (0.4, 1.2):
        i = int(start * SAMPLE_RATE)
        audio[i: i + 1600] += 0.5 * rng.standard_normal(1600).astype(np.float32) * np.exp(-np.arange(1600) / 400)
    mel = MelFrontend()(torch.from_numpy(audio)[None])
    labels = onset_labels(SimpleNamespace(n=1, t=50, mel=mel))[0]
    ones = torch.nonzero(labels == 1).ravel().tolist()
    assert len(ones) == 2 and abs(ones[0] - 10) <= 1 and abs(ones[1] - 30) <= 1, ones
    for k in ones:
        assert labels[k - 1] == 0.5 and labels[k + 1] == 0.5
    assert int((labels > 0).sum()) == 6


def test_a_trained_bundle_keeps_the_start_sampling_but_the_second_pass_and_from_scratch_the_classifier():
    start = {"steps": 4, "cfgScale": 3.0, "cgScale": 3.0, "silentOpeningGain": 3, "silentOpeningMaxDbfs": -45}
    assert finetune.trained_sampling(start, False) == {"steps": 4, "cfgScale": 3.0, "cgScale": 3.0}
    assert finetune.trained_sampling(start, True) == {"steps": 4, "cfgScale": 3.0, "cgScale": 0.0}
    assert start["silentOpeningGain"] == 3


def test_the_features_reach_behind_as_far_as_a_kept_contact_detector_reads():
    class Video:
        context_frames, right_context_frames = 3, 2
    with_detector = {"features": {"dim": 8, "contextFrames": 11, "rightContextFrames": 2},
                     "models": {"contact_detector": {}}}
    assert finetune.features_reach(with_detector, Video) == {"dim": 8, "contextFrames": 11, "rightContextFrames": 2}
    without = {"features": {"dim": 8, "contextFrames": 11, "rightContextFrames": 2}, "models": {}}
    assert finetune.features_reach(without, Video)["contextFrames"] == 3
    narrower = {"features": {"dim": 8, "contextFrames": 2, "rightContextFrames": 2}, "models": {"contact_detector": {}}}
    assert finetune.features_reach(narrower, Video)["contextFrames"] == 3
