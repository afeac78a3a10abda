"""foley.finetune (the trainer behind `foley train`): on the tiny random bundle and a few world
clips it writes a new bundle that differs from the start one only in its student UNet, resumes
from its checkpoint, and names a bundle without an audio encoder, missing data and an existing
output instead of training."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import data, finetune, weights  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


@pytest.fixture(scope="module")
def start(tmp_path_factory) -> Path:
    """The tiny bundle with a (random) audio encoder in train/, as --refit leaves one."""
    bundle = tmp_path_factory.mktemp("start") / "tiny"
    shutil.copytree(TINY, bundle)
    mods, _ = weights.recover_modules(bundle, check=False)
    weights.save_refit_part(bundle / weights.REFIT_DIR, "ae_encoder", mods["latent_decoder"].ae.enc.state_dict(), {})
    return bundle


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    return data.build_set(tmp_path_factory.mktemp("footage") / "data", "train", 3, 2.0, 1)


def run(start: Path, footage: Path, tmp: Path, out: str, *extra: str) -> int:
    return finetune.main(["--bundle", str(start), "--data", str(footage), "--run", str(tmp / "run"),
                          "--out", str(tmp / out), "--steps", "3", "--batch", "2", *extra])


def initializers(path: Path) -> dict:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def test_writes_a_bundle_with_only_the_trained_models_changed_and_resumes_from_its_checkpoint(start, footage, tmp_path, capsys):
    assert run(start, footage, tmp_path, "mine", "--train-video") == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [x["stage"] for x in lines if x["event"] == "stage"] == ["recover", "features", "latents", "train", "export"]
    assert lines[-1]["event"] == "done" and lines[-1]["stepsDone"] == 3 and lines[-1]["stoppedBy"] == "steps"
    out = tmp_path / "mine"
    man = json.loads((out / "manifest.json").read_text())
    assert man["name"] == "mine" and man["description"].startswith("profile tiny ")
    info = json.loads((out / "finetune.json").read_text())
    assert info["trained"] == ["unet_student", "video_encoder"]
    assert all(p["max_relative_error"] < 1e-4 for p in info["parity"].values())
    assert (out / "train" / "ae_encoder.pt").exists() and (out / "reference.json").exists()
    before, after = initializers(start / "unet_student.onnx"), initializers(out / "unet_student.onnx")
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    video_before, video_after = initializers(start / "video_encoder.onnx"), initializers(out / "video_encoder.onnx")
    assert any(not np.array_equal(video_before[k], video_after[k]) for k in video_before)
    for name in ("vocoder.onnx", "unet_teacher.onnx", "align_classifier.onnx"):
        assert (out / name).read_bytes() == (start / name).read_bytes()

    # Resumed at its last step: nothing left to train, the same weights exported again.
    assert run(start, footage, tmp_path, "again", "--train-video", "--resume") == 0
    assert "resumed at step 3 of 3" in capsys.readouterr().out
    again = initializers(tmp_path / "again" / "unet_student.onnx")
    assert all(np.array_equal(after[k], again[k]) for k in after)


def test_a_time_cap_stops_training_and_still_writes_the_bundle_of_the_student_alone(start, footage, tmp_path, capsys):
    assert run(start, footage, tmp_path, "capped", "--time-cap-s", "1e-6") == 0
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert done["stoppedBy"] == "time-cap" and done["stepsDone"] == 0
    assert json.loads((tmp_path / "capped" / "finetune.json").read_text())["trained"] == ["unet_student"]


def test_names_what_is_wrong_instead_of_training(start, footage, tmp_path, capsys):
    assert run(TINY, footage, tmp_path, "x") == 3
    assert "ae_encoder.pt" in capsys.readouterr().err
    assert run(start, tmp_path / "nowhere", tmp_path, "x") == 4
    assert "[data:" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert run(start, footage, tmp_path, "taken") == 2
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

