"""foley.contact_student: a UNet made to read the contact column is unchanged until trained and
never hears a zero column; a short run on the tiny bundle writes a bundle whose student alone
changed, declares the wider input, recovers with ONNX parity and fine-tunes with foley train;
bad starts are refused; the openings column is what the engine finds; a student that reads
the column goes on, against itself reading the detector it learned."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import contact_detector, data, export, nets, weights  # noqa: E402

TRAINING = Path(__file__).resolve().parents[1]


def test_the_contact_column_adds_nothing_until_trained_and_nothing_when_zero():
    torch.manual_seed(0)
    plain = nets.UNet(widths=(16, 16, 16)).eval()
    reads = nets.UNet(widths=(16, 16, 16))
    reads.load_state_dict(plain.state_dict())
    reads.enable_contact_input().eval()
    assert reads.input_feature_dim == nets.FEATURE_DIM + 1 and plain.input_feature_dim == nets.FEATURE_DIM
    z, t, f = torch.randn(2, 4, 8, 16), torch.tensor([10.0, 700.0]), torch.randn(2, 8, nets.FEATURE_DIM)
    p = torch.rand(2, 8, 1)
    with torch.no_grad():
        assert torch.equal(reads(z, t, torch.cat([f, p], -1)), plain(z, t, f))
        for param in reads.contact.parameters():
            param.normal_()
        assert not torch.allclose(reads(z, t, torch.cat([f, p], -1)), plain(z, t, f))
        # p = 0 (no contact, or a dropped condition's zero row) adds nothing
        assert torch.allclose(reads(z, t, torch.cat([f, torch.zeros_like(p)], -1)), plain(z, t, f), atol=1e-6)
        assert torch.allclose(export.with_zero_contact(reads)(z, t, f), plain(z, t, f), atol=1e-6)


def test_the_unknown_marker_covers_a_share_of_windows_right_edges_only():
    from foley.contact_student import CONTACT_UNKNOWN, MAX_UNKNOWN_FRAMES, mark_unknown_edge
    rows = torch.rand(400, 20, 5)
    marked = mark_unknown_edge(rows, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(marked[..., :-1], rows[..., :-1])
    unknown = marked[..., -1] == CONTACT_UNKNOWN
    hit = unknown.any(1)
    assert 0.2 < hit.float().mean() < 0.4
    for b in hit.nonzero()[:, 0].tolist():
        k = int(unknown[b].sum())
        assert 1 <= k <= MAX_UNKNOWN_FRAMES and unknown[b, -k:].all()    # a suffix: the window's present
    assert torch.equal(marked[~hit, :, -1], rows[~hit, :, -1])
    assert torch.equal(mark_unknown_edge(rows, 0.0, torch.Generator().manual_seed(0)), rows)


def test_feature_shift_reads_a_share_of_windows_features_off_in_time_and_nothing_else():
    from foley.contact_student import SHIFT_FRAMES, shifted_features
    feats = torch.arange(3 * 60, dtype=torch.float32).view(3, 60, 1).expand(3, 60, 4).contiguous()
    b, w = 400, 10
    src_idx = torch.randint(0, 3, (b, 1)).expand(b, w)
    src_t = torch.randint(12, 39, (b, 1)) + torch.arange(w)[None]     # no shift reaches past the clip
    fv = feats[src_idx, src_t]
    out = shifted_features(fv, feats, src_idx, src_t, 0.3, torch.Generator().manual_seed(0))
    moved = (out != fv).any(-1).any(-1)
    assert 0.2 < moved.float().mean() < 0.4
    off = out[..., 0] - feats[src_idx, src_t][..., 0]          # how far off each row was read
    assert (off[moved] == off[moved][:, :1]).all()             # one offset per window
    assert ((off[moved].abs() >= SHIFT_FRAMES[0]) & (off[moved].abs() <= SHIFT_FRAMES[1])).all()
    assert (off[moved] > 0).any() and (off[moved] < 0).any()
    assert torch.equal(out[~moved], fv[~moved])
    assert torch.equal(shifted_features(fv, feats, src_idx, src_t, 0.0, torch.Generator().manual_seed(0)), fv)


class StillStore:
    """The part of foley.train.Store that still_rows reads."""

    def __init__(self, frames):
        self.frames, self.n, self.t = frames, frames.shape[0], frames.shape[1]

    def frames_at(self, idx, start, w):
        return torch.stack([self.frames[i, s: s + w] for i, s in zip(idx.tolist(), start.tolist())])


def test_still_rows_are_repeated_pictures_features_and_the_detectors_read_a_quarter_blank():
    from foley.contact_detector import MotionContactDetector
    from foley.contact_student import still_rows
    torch.manual_seed(0)
    video, det = nets.VideoEncoder().eval(), MotionContactDetector(4).eval()
    frames = torch.randint(0, 256, (3, 10, 96, 96, 3), dtype=torch.uint8)
    rows = still_rows(video, (det,), StillStore(frames), 8, torch.Generator().manual_seed(1))
    assert rows.shape == (8, nets.FEATURE_DIM + 1)
    g = torch.Generator().manual_seed(1)
    idx, at = torch.randint(0, 3, (6,), generator=g), torch.randint(0, 10, (6,), generator=g)
    reach = 2 * video.context_frames + 1

    def expected(picture):
        still = picture[None, None].expand(1, reach, -1, -1, -1).contiguous()
        return torch.cat([video.clip_features(still)[0, reach // 2], det(still)[0, reach // 2, None]])
    with torch.no_grad():
        assert torch.allclose(rows[0], expected(frames[idx[0], at[0]]), atol=1e-5)
        assert torch.allclose(rows[5], expected(frames[idx[5], at[5]]), atol=1e-5)
        assert torch.allclose(rows[6], expected(torch.zeros(96, 96, 3, dtype=torch.uint8)), atol=1e-5)   # black
        assert not torch.allclose(rows[7, :-1], rows[6, :-1])                                             # a colour
    # A second detector reads the same pictures into a column of its own.
    other = MotionContactDetector(8).eval()
    both = still_rows(video, (det, other), StillStore(frames), 8, torch.Generator().manual_seed(1))
    assert both.shape == (8, nets.FEATURE_DIM + 2) and torch.allclose(both[:, :-1], rows, atol=1e-6)
    with torch.no_grad():
        black = torch.zeros(1, reach, 96, 96, 3, dtype=torch.uint8)
        assert torch.allclose(both[6, -1], other(black)[0, reach // 2], atol=1e-6)


def start_with_detector(start: Path, tmp_path: Path) -> Path:
    bundle = tmp_path / "start"
    shutil.copytree(start, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--random", "--width", "4"]) == 0
    return bundle


def args(bundle: Path, footage: Path, out: Path, tmp_path: Path, *extra: str, family: list[Path] | None = None) -> list[str]:
    return ["--bundle", str(bundle), "--data", str(footage), "--family", *map(str, family or [footage]),
            "--run", str(tmp_path / "run"), "--out", str(out), "--steps", "2", "--batch", "2", *extra]


def run(bundle: Path, footage: Path, out: Path, tmp_path: Path, *extra: str,
        family: list[Path] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "foley.contact_student",
           *args(bundle, footage, out, tmp_path, "--threads", "1", *extra, family=family)]
    return subprocess.run(cmd, cwd=TRAINING, capture_output=True, text=True, timeout=300)


def test_a_short_run_writes_a_student_that_reads_the_contact_column(start, tmp_path, capsys):
    bundle = start_with_detector(start, tmp_path)
    footage = data.build_set(tmp_path / "data", "train", 2, 2.0, 1)
    out = tmp_path / "out"
    other = data.build_set(tmp_path / "other", "val", 1, 2.0, 1)
    r = run(bundle, footage, out, tmp_path, "--unknown-edge", "0.5", "--column", "openings", family=[footage, other])
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout.strip().splitlines()[-1])
    assert done["event"] == "done" and done["familySegments"] == 3        # both family sets, read as one
    assert len(list((tmp_path / "run").glob("family-features-*.pt"))) == 1
    assert len(list((tmp_path / "run").glob("family2-features-*.pt"))) == 1
    from foley.contact_student import cache_tags
    assert (tmp_path / "run" / f"world-contact-{cache_tags(bundle)['contact']}.pt").exists()  # named by the detector
    for name in ("video_encoder.onnx", "contact_detector.onnx", "vocoder.onnx", "unet_teacher.onnx"):
        assert (out / name).read_bytes() == (bundle / name).read_bytes(), name
    man = json.loads((out / "manifest.json").read_text())
    width = {i["name"]: i for i in man["models"]["unet_student"]["inputs"]}["video_features"]["shape"][-1]
    teacher = {i["name"]: i for i in man["models"]["unet_teacher"]["inputs"]}["video_features"]["shape"][-1]
    assert (width, teacher) == (man["features"]["dim"] + 1, man["features"]["dim"])
    assert man["contactGate"]["source"] == "detector" and man["sampling"]["contactUnknown"] == -1.0
    assert man["sampling"]["contactOpenings"] == man["contactGate"]["threshold"]     # --column openings
    record = json.loads((out / "contact-student.json").read_text())
    assert record["recipe"].startswith("contact-conditioned") and record["column"] == "openings"
    # The weights come back from the ONNX file (a later fine-tune starts from them), parity checked.
    mods, report = weights.recover_modules(out)
    assert mods["unet_student"].contact is not None and report["unet_student"]["unset"] == []
    assert report["unet_student"]["max_relative_error"] < export.PARITY_TOL
    # foley train's fine-tune (with its flags) gives such a student the column too, keeps the
    # detector that makes it and fits a features gate.
    tuned = subprocess.run([sys.executable, "-m", "foley.finetune", "--bundle", str(out), "--data", str(footage),
                            "--run", str(tmp_path / "ft"), "--out", str(tmp_path / "tuned"), "--steps", "2",
                            "--batch", "2", "--threads", "1", "--train-video", "--augment", "--onset-loss", "0.1",
                            "--contact-gate"], cwd=TRAINING, capture_output=True, text=True, timeout=300)
    assert tuned.returncode == 0, tuned.stderr
    assert '"stage": "contact"' in tuned.stdout and (tmp_path / "ft" / "contact.pt").exists()
    assert weights.recover_modules(tmp_path / "tuned", check=False)[0]["unet_student"].contact is not None
    tuned_man = json.loads((tmp_path / "tuned" / "manifest.json").read_text())
    assert tuned_man["contactGate"]["source"] == "features" and len(tuned_man["contactGate"]["weights"]) == man["features"]["dim"]
    assert tuned_man["models"]["contact_detector"] == man["models"]["contact_detector"]
    assert tuned_man["sampling"]["contactOpenings"] == man["sampling"]["contactOpenings"]
    assert (tmp_path / "tuned" / "contact_detector.onnx").read_bytes() == (out / "contact_detector.onnx").read_bytes()
    assert json.loads((tmp_path / "tuned" / "finetune.json").read_text())["contactGate"]["fitLoss"] > 0
    # Window distillation with guidance folded in keeps the column and the marker; the low
    # preset's term, which recomputes the features alone, is refused for such a student.
    def distill(name: str, *extra: str) -> list[str]:
        return ["--bundle", str(out), "--data", str(footage), "--out", str(tmp_path / name), "--steps", "2",
                "--batch", "2", "--crops", "2", *extra]
    # Refusals run in this process (no second start-up of torch), without --threads so that this
    # process's torch is left as it is; the run itself in its own.
    from foley import contact_student, window_distill
    capsys.readouterr()
    assert window_distill.main(distill("wd-low", "--low-crops", "2")) == 2
    assert "contact detector's column" in capsys.readouterr().err and not (tmp_path / "wd-low").exists()
    folded = subprocess.run([sys.executable, "-m", "foley.window_distill", *distill("wd", "--guidance", "--threads", "1")],
                            cwd=TRAINING, capture_output=True, text=True, timeout=300)
    assert folded.returncode == 0, folded.stderr
    wd_man = json.loads((tmp_path / "wd" / "manifest.json").read_text())
    assert wd_man["sampling"]["cfgScale"] == 0.0 and wd_man["sampling"]["contactUnknown"] == -1.0
    assert wd_man["sampling"]["contactOpenings"] == man["sampling"]["contactOpenings"]
    assert wd_man["models"]["unet_student"] == man["models"]["unet_student"]
    record = json.loads((tmp_path / "wd" / "window-distill.json").read_text())
    assert record["contactColumn"] is True and record["unknownEdge"] == 0.3
    wd_mods, wd_report = weights.recover_modules(tmp_path / "wd")
    assert wd_mods["unet_student"].contact is not None and wd_report["unet_student"]["unset"] == []
    # Made twice: refused, as is an existing output.
    assert contact_student.main(args(out, footage, tmp_path / "twice", tmp_path)) == 2
    assert "already reads the contact column" in capsys.readouterr().err
    assert contact_student.main(args(bundle, footage, out, tmp_path)) == 2
    assert "already exists" in capsys.readouterr().err


def first_world_loss(r: subprocess.CompletedProcess) -> float:
    assert r.returncode == 0, r.stderr
    return next(json.loads(line)["worldLoss"] for line in r.stdout.splitlines() if '"progress"' in line)


def test_a_student_that_reads_the_column_goes_on_with_the_detector_it_learned(start, tmp_path, capsys):
    bundle = start_with_detector(start, tmp_path)
    footage = data.build_set(tmp_path / "data", "train", 2, 2.0, 1)
    first = tmp_path / "first"
    assert run(bundle, footage, first, tmp_path, "--unknown-edge", "0.5").returncode == 0
    # Another detector (of another width) stands for the one the student learned.
    learned = tmp_path / "learned"
    shutil.copytree(start, learned)
    assert contact_detector.main(["--bundle", str(learned), "--random", "--width", "8"]) == 0
    shares = ("--unknown-edge", "0.5", "--still-share", "0.5")
    # Going on with the bundle's own detector: the frozen start and the student read the same rows,
    # so the world half starts at no loss; with the learned one it does not (the run folder is
    # shared: each start detector's columns are cached apart).
    same = run(first, footage, tmp_path / "same", tmp_path, *shares, "--start-detector", str(first / "contact_detector.onnx"))
    assert first_world_loss(same) == 0.0
    on = tmp_path / "on"
    moved = run(first, footage, on, tmp_path, *shares, "--start-detector", str(learned / "contact_detector.onnx"))
    assert first_world_loss(moved) > 0.0
    record = json.loads((on / "contact-student.json").read_text())
    assert record["startDetector"] == str(learned / "contact_detector.onnx") and record["stillShare"] == 0.5
    assert (on / "contact_detector.onnx").read_bytes() == (first / "contact_detector.onnx").read_bytes()
    man = json.loads((on / "manifest.json").read_text())
    assert man["models"]["unet_student"] == json.loads((first / "manifest.json").read_text())["models"]["unet_student"]
    assert "as it read contact_detector.onnx's" in man["description"]
    mods, report = weights.recover_modules(on)
    assert mods["unet_student"].contact is not None and report["unet_student"]["max_relative_error"] < export.PARITY_TOL
    # Refused: a student that does not read the column, an openings reader, a missing file.
    from foley import contact_student
    capsys.readouterr()
    det = str(learned / "contact_detector.onnx")
    assert contact_student.main(args(bundle, footage, tmp_path / "r1", tmp_path, "--start-detector", det)) == 2
    assert "this one does not" in capsys.readouterr().err
    assert contact_student.main(args(first, footage, tmp_path / "r2", tmp_path, "--start-detector", det,
                                     "--column", "openings")) == 2
    assert "not its openings" in capsys.readouterr().err
    assert contact_student.main(args(first, footage, tmp_path / "r3", tmp_path, "--start-detector",
                                     str(tmp_path / "none.onnx"))) == 3
    assert "none.onnx] no such file" in capsys.readouterr().err
    assert not any((tmp_path / n).exists() for n in ("r1", "r2", "r3"))


def test_a_run_folders_caches_are_named_by_the_files_they_come_from(tmp_path):
    from foley.contact_student import cache_tags
    bundle = tmp_path / "b"
    (bundle / weights.REFIT_DIR).mkdir(parents=True)
    for name, body in (("video_encoder.onnx", b"v"), (f"{weights.REFIT_DIR}/{weights.REFIT_FILES['ae_encoder']}", b"a"),
                       (contact_detector.FILE, b"d")):
        (bundle / name).write_bytes(body)
    before = cache_tags(bundle)
    assert len(set(before.values())) == 3
    (bundle / contact_detector.FILE).write_bytes(b"another detector")
    after = cache_tags(bundle)
    assert after["contact"] != before["contact"]
    assert (after["features"], after["latents"]) == (before["features"], before["latents"])


def test_arguments_out_of_range_are_named_before_any_work(start, tmp_path, capsys):
    from foley import contact_student
    base = ["--bundle", str(start), "--data", str(tmp_path), "--family", str(tmp_path), "--run", str(tmp_path / "run"),
            "--out", str(tmp_path / "out")]
    for bad in (["--steps", "0"], ["--unknown-edge", "1.5"], ["--lr", "0"], ["--feature-shift", "-0.1"]):
        assert contact_student.main(base + bad) == 2
        assert capsys.readouterr().err.startswith("error: [args]")
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()


def test_a_bundle_without_a_detector_is_refused(start, tmp_path, capsys):
    from foley import contact_student
    footage = data.build_set(tmp_path / "data", "train", 1, 2.0, 1)
    assert contact_student.main(args(start, footage, tmp_path / "out", tmp_path)) == 3
    assert "contact_detector.onnx" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_family_sets_are_read_as_one_and_sets_of_other_lengths_are_named(tmp_path):
    from foley.contact_student import FamilySets
    from foley.finetune import FinetuneError, load_data
    a = load_data(data.build_set(tmp_path / "a", "train", 2, 2.0, 1), torch.device("cpu"))
    b = load_data(data.build_set(tmp_path / "b", "val", 1, 2.0, 1), torch.device("cpu"))
    both = FamilySets([a, b])
    assert (both.n, both.t) == (3, a.t)
    idx, start = both.starts(400, 8, torch.Generator().manual_seed(0))
    assert set(idx.tolist()) == {0, 1, 2} and int(start.max()) <= a.t - 8
    longer = load_data(data.build_set(tmp_path / "c", "val", 1, 3.0, 1), torch.device("cpu"))
    with pytest.raises(FinetuneError, match="50 frames.*75 frames") as refused:
        FamilySets([a, longer])
    assert refused.value.code == 4


def test_the_openings_column_marks_the_gates_openings_as_the_engine_finds_them():
    from foley.contact_student import openings_column
    probs = torch.tensor([
        [0.0, 0.9, 0.5, 0.0, 0.95, 0.95, 0.2, 0.86, 0.0, 0.0],   # a plateau opens at its first frame
        [0.9, 0.8, 0.87, 0.0, 0.0, 0.0, 0.0, 0.86, 0.0, 0.9],    # two frames apart, the higher is kept; ends may peak
        [0.5, 0.6, 0.7, 0.8, 0.84, 0.2, 0.1, 0.1, 0.1, 0.1],      # under the threshold: nothing
    ])
    out = openings_column(probs, 0.85)
    assert out[0].nonzero().flatten().tolist() == [1, 4, 7]
    assert out[1].nonzero().flatten().tolist() == [0, 9]
    assert out[2].sum() == 0 and set(out.unique().tolist()) <= {0.0, 1.0}
    # test/dsp/contact-gate.test.ts's column: the engine opens at frames 0, 4 and 9.
    engine = torch.tensor([[0.9, 0.1, 0.5, 0.85, 0.95, 0.1, 0.82, 0.1, 0.79, 0.9, 0.9]])
    assert openings_column(engine, 0.8)[0].nonzero().flatten().tolist() == [0, 4, 9]


def test_the_openings_column_is_what_a_declaring_bundle_reads_and_needs_a_detector_gate(start, tmp_path, capsys):
    from foley import contact_student
    from foley.contact_student import student_column
    probs = torch.tensor([[0.1, 0.9, 0.2, 0.95, 0.1]])
    assert student_column(probs, {"sampling": {"contactOpenings": 0.92}}).tolist() == [[0.0, 0.0, 0.0, 1.0, 0.0]]
    assert student_column(probs, {"sampling": {}}) is probs
    # A start whose gate reads the features has no threshold for the openings.
    bundle = start_with_detector(start, tmp_path)
    man = json.loads((bundle / "manifest.json").read_text())
    man["contactGate"] = {**man["contactGate"], "source": "features", "weights": [0.0] * man["features"]["dim"], "bias": 0.0}
    (bundle / "manifest.json").write_text(json.dumps(man))
    footage = data.build_set(tmp_path / "data", "train", 1, 2.0, 1)
    capsys.readouterr()
    assert contact_student.main(args(bundle, footage, tmp_path / "refused", tmp_path, "--column", "openings")) == 3
    assert "--column openings needs a contactGate with source 'detector'" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
