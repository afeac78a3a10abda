"""foley.generalization end to end on the tiny random bundle: clips written, `foley eval` run,
ceilings computed, the "generalization" key and REPORT.md section written without touching the rest."""
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import generalization  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


def test_writes_a_row_per_world_and_only_its_own_parts_of_the_bundle_report(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    (bundle / "eval.json").write_text(json.dumps({"ablation": {"kept": 1}}, indent=1))
    (bundle / "REPORT.md").write_text("# Evaluation\n\nearlier text\n")
    original = tmp_path / "original"        # a bundle the copy shares its files with (cp -l)
    original.mkdir()
    for name in ("eval.json", "REPORT.md"):
        (original / name).hardlink_to(bundle / name)
    for _ in range(2):      # a rerun replaces its section
        gen = generalization.run(bundle, 1, tmp_path / "data", ["in_world", "family", "sounds"], "cmd", seconds=2.0)
    ev = json.loads((bundle / "eval.json").read_text())
    assert ev["ablation"] == {"kept": 1}
    assert ev["generalization"] == json.loads(json.dumps(gen))
    for name in ("in_world", "family", "sounds"):
        r = ev["generalization"]["worlds"][name]
        assert r["clips"] == 1 and r["events"] >= 1
        assert 0 <= r["onset_f1"] <= 1 and 0 < r["ceiling_onset_f1"] <= 1
        assert r["onsets_per_event"] >= 0 and r["align_acc"] is None
    assert ev["generalization"]["worlds"]["sounds"]["class_accuracy"] is None
    md = (bundle / "REPORT.md").read_text()
    assert md.startswith("# Evaluation\n\nearlier text\n")
    assert md.count(generalization.REPORT_HEADING) == 1
    assert "| sounds (unseen sounds) | 1 |" in md and "| family (training family, unseen seeds) | 1 |" in md
    assert "- family:" not in md        # the held-out targets are not judged on the training family
    assert json.loads((original / "eval.json").read_text()) == {"ablation": {"kept": 1}}
    assert (original / "REPORT.md").read_text() == "# Evaluation\n\nearlier text\n"


def test_the_ground_truth_ceiling_of_the_training_world_is_near_perfect(tmp_path):
    folder = generalization.write_clips("in_world", 3, tmp_path, seconds=4.0)
    c = generalization.ceiling(generalization.clip_folders(folder, 3))
    assert c["onset_f1"] > 0.9 and 0.9 < c["onsets_per_event"] < 1.1


def test_align_acc_comes_from_the_bundles_refit_judge_on_the_rendered_and_the_own_audio(tmp_path):
    import torch
    from foley import nets, weights
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    # A judge that calls every window aligned: Align Acc, its ceiling and its floor are 1 over the
    # clip's windows, and it decides no target (it calls the moved audio aligned too).
    judge = nets.EvalAlignClassifier()
    with torch.no_grad():
        judge.head.weight.zero_()
        judge.head.bias.fill_(5.0)
    weights.save_refit_part(bundle / weights.REFIT_DIR, "eval_align", judge.state_dict(), {})
    gen = generalization.run(bundle, 1, tmp_path / "data", ["sounds"], "cmd", seconds=3.0)
    r = gen["worlds"]["sounds"]
    assert r["align_acc"] == 1.0 and r["ceiling_align_acc"] == 1.0 and r["floor_align_acc"] == 1.0 and r["align_windows"] == 2
    assert r["targets_met"]["align_acc"] is None
    md = (bundle / "REPORT.md").read_text()
    assert generalization.ALIGN_ACC_REFIT in md and "| 1.000 (1.000 / 1.000) |" in md
    assert "Align Acc not judged (1.000; the judge gives the clips' own audio 1.000 and moved 1.000)" in md
    # Double guidance against CFG alone: each render with its own settings (the classifier off, another
    # seed), paired per clip; a judge that calls everything aligned finds no difference.
    import numpy as np
    folder = tmp_path / "data" / "sounds"
    renders = {}
    for name, settings in (("double", {"seed": 0}), ("cfg", {"seed": 0, "cgScale": 0}), ("seed1", {"seed": 1})):
        generalization.render_clips(folder, bundle, 1, tmp_path / name, settings=settings)
        renders[name] = np.fromfile(next((tmp_path / name).glob("*.f32")), dtype=np.float32)
    assert not np.array_equal(renders["double"], renders["cfg"]) and not np.array_equal(renders["double"], renders["seed1"])
    c = generalization.guidance_comparison(folder, bundle, 1, judge, [0, 1], tmp_path / "guidance")
    assert c["double"] == c["cfg"] == 1.0 and c["difference"] == 0.0 and c["windows"] == 4 and c["seeds"] == [0, 1]
    assert not any((tmp_path / "guidance").iterdir())          # the renders are not kept
    section = generalization.report_section({**gen, "guidance_comparison": {"sounds": c}})
    assert "| sounds | 1 | 4 | 1.0000 | 1.0000 | +0.0000" in section and "- sounds: double beats CFG NOT met" in section
    assert "| 1.000 / 1.000 |" in section and "so its verdicts are weak evidence" in section
    # Another judge on the kept renders (--judge-only): its opposite verdict reaches the row, and
    # the rest of the row is the kept eval's.
    with torch.no_grad():
        judge.head.bias.fill_(-5.0)
    weights.save_refit_part(bundle / weights.REFIT_DIR, "eval_align", judge.state_dict(), {})
    again = generalization.run(bundle, 1, tmp_path / "data", ["sounds"], "cmd", seconds=3.0, judge_only=True)["worlds"]["sounds"]
    assert again["align_acc"] == 0.0 and again["ceiling_align_acc"] == 0.0 and again["floor_align_acc"] == 0.0
    # A judge that fails the clips' own audio decides no target.
    assert again["targets_met"]["align_acc"] is None
    assert again["onset_f1"] == r["onset_f1"] and again["events"] == r["events"]


def test_judge_only_without_an_earlier_run_names_what_is_missing(tmp_path):
    import pytest
    with pytest.raises(FileNotFoundError, match=r"sounds\.renders/eval\.json is missing"):
        generalization.run(TINY, 1, tmp_path / "data", ["sounds"], "cmd", judge_only=True)


def test_a_comparison_not_re_run_is_kept_and_named_as_the_earlier_runs(tmp_path):
    c = {"clips": 1, "windows": 4, "seeds": [0], "double": 0.5, "cfg": 0.5, "difference": 0.0, "difference_ci95": [0.0, 0.0]}
    (tmp_path / "eval.json").write_text(json.dumps({"generalization": {"command": "earlier cmd",
                                                                        "guidance_comparison": {"sounds": c}}}))
    gen = {"command": "new cmd", "clips_per_world": 1, "clip_seconds": 3.0, "settings": "", "worlds": {},
           "targets": generalization.TARGETS, "align_judge": None, "align_acc_note": ""}
    generalization.write_bundle_report(tmp_path, dict(gen))
    kept = json.loads((tmp_path / "eval.json").read_text())["generalization"]
    assert kept["guidance_comparison"] == {"sounds": c} and kept["guidance_comparison_from"] == "earlier cmd"
    assert "kept from an earlier run of the bundle as it was then, `earlier cmd`" in (tmp_path / "REPORT.md").read_text()
    # kept again by a third run: still named as the run that made it
    generalization.write_bundle_report(tmp_path, dict(gen, command="third cmd"))
    assert json.loads((tmp_path / "eval.json").read_text())["generalization"]["guidance_comparison_from"] == "earlier cmd"


def test_a_judge_decides_the_target_only_where_it_tells_own_audio_from_moved_audio():
    model = {"clips": 1, "referenceOnsets": 2, "onsetF1": 0.9, "meanAbsOffsetMs": 10.0, "onsetsPerEvent": 1.0,
             "classAccuracy": 1.0}
    ceil = {"onset_f1": 1.0, "onsets_per_event": 1.0}

    def verdict(render, own, moved):
        align = {"align_acc": render, "ceiling_align_acc": own, "floor_align_acc": moved, "windows": 6}
        return generalization.world_row("clutter", model, ceil, align)["targets_met"]["align_acc"]
    assert verdict(0.95, 0.95, 0.10) is True
    assert verdict(0.85, 0.95, 0.10) is False
    assert verdict(0.95, 0.95, generalization.JUDGE_FLOOR_MAX + 0.01) is None     # accepts moved audio
    assert verdict(0.95, 0.85, 0.10) is None                                        # misjudges own audio
    assert verdict(0.95, 0.95, None) is None                                        # no floor measured


def test_the_contact_detectors_own_peaks_are_scored_at_the_gates_threshold_beside_the_render(tmp_path):
    import numpy as np
    import onnxruntime as ort
    from foley import contact_detector, metrics
    from foley.probe import probe_onsets
    folders = generalization.clip_folders(generalization.write_clips("in_world", 2, tmp_path / "data", seconds=3.0), 2)
    assert generalization.detector_peaks(folders, TINY) is None        # a bundle whose gate reads no detector
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--random", "--width", "4"]) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["contactGate"]["threshold"] = 0.0      # a random detector's peaks, wherever they are
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    peaks = generalization.detector_peaks(folders, bundle)
    session = ort.InferenceSession(str(bundle / "contact_detector.onnx"), providers=["CPUExecutionProvider"])
    scores = [metrics.onset_scores(generalization.event_times(f), probe_onsets(
        session.run(None, {"frames": generalization.decode_frames(f / "video.mp4")[None]})[0][0], 0.0)) for f in folders]
    assert peaks["threshold"] == 0.0 and peaks["f1"] == round(float(np.mean([s["f1"] for s in scores])), 4) > 0
    assert peaks["onsets_per_event"] == round(sum(s["n_est"] for s in scores) / sum(s["n_ref"] for s in scores), 3)
    model = {"clips": 2, "referenceOnsets": 4, "onsetF1": 0.5, "meanAbsOffsetMs": 10.0, "onsetsPerEvent": 1.0,
             "classAccuracy": 1.0}
    row = generalization.world_row("clutter", model, {"onset_f1": 0.5, "onsets_per_event": 1.0}, None, peaks)
    assert row["detector_peaks_f1"] == peaks["f1"] and row["detector_peaks_of_ceiling"] == peaks["f1"] / 0.5
    gen = {"command": "cmd", "clips_per_world": 2, "clip_seconds": 3.0, "settings": "", "worlds": {"clutter": row},
           "targets": generalization.TARGETS, "align_judge": None, "align_acc_note": ""}
    assert f"clutter {peaks['f1']:.3f} ({peaks['f1'] / 0.5:.3f} of its ceiling" in generalization.report_section(gen)
    no_peaks = generalization.world_row("clutter", model, {"onset_f1": 0.5, "onsets_per_event": 1.0})
    assert "own peaks" not in generalization.report_section({**gen, "worlds": {"clutter": no_peaks}})
