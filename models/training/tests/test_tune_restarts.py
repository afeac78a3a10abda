"""The tuner's restart pick, with generation and scoring replaced by their variants' figures."""
import json

import pytest

from foley import evaluate as E

CFG = {"val_clips": 4, "clip_seconds": 8.0, "student_steps": 4}
TUNED_BEFORE_RESTARTS = {
    "cfg_scale": 3.0, "cg_scale": 3.0, "cg_temperature": 1.0, "cg_window": 32, "cg_max_timestep": 600,
    "trials": [{"cfg": 3.0, "cg": 3.0, "cg_max_timestep": 600, "clips": 4, "seeds": [99, 1],
                "onset_f1": 0.90, "align_acc": 0.98, "class_accuracy": 0.90}],
}


@pytest.fixture
def fake_sampling(monkeypatch):
    """generate returns the variant; score gives F1 from `f1_by_restarts`; records the variants."""
    seen, f1_by_restarts = [], {}
    monkeypatch.setattr(E, "Family", lambda cfg, run: None)
    monkeypatch.setattr(E, "test_clips", lambda split, n, seconds: list(range(n)))
    monkeypatch.setattr(E, "generate", lambda fam, clips, v, seed: seen.append(v) or v)
    monkeypatch.setattr(E, "score", lambda fam, clips, v: {
        "onset_f1": f1_by_restarts.get(v.get("restarts", 0), 0.5), "align_acc": 0.98, "class_accuracy": 0.90})
    return seen, f1_by_restarts


@pytest.mark.parametrize("f1s, picked", [({1: 0.95, 2: 0.93}, (1, 800)), ({1: 0.85, 2: 0.89}, (0, 999))])
def test_a_sampling_json_tuned_before_restarts_keeps_its_guidance_and_gets_the_restart_pick(tmp_path, fake_sampling, f1s, picked):
    seen, f1_by_restarts = fake_sampling
    f1_by_restarts.update(f1s)
    (tmp_path / "sampling.json").write_text(json.dumps(TUNED_BEFORE_RESTARTS))
    out = E.tune_guidance(CFG, tmp_path)
    assert (out["restarts"], out["restart_max_timestep"]) == picked  # restarts 0 keeps the recorded F1 0.90
    assert (out["cfg_scale"], out["cg_scale"], out["cg_max_timestep"]) == (3.0, 3.0, 600)
    # Only the restart candidates ran, each at the tuned ω, γ and classifier timestep, on both seeds.
    assert [(v["restarts"], v["restart_max_t"]) for v in seen] == [c for c in E.RESTART_CANDIDATES for _ in E.TUNE_SEEDS]
    assert all((v["cfg"], v["cg"], v["cg_max_t"]) == (3.0, 3.0, 600) for v in seen)
    saved = json.loads((tmp_path / "sampling.json").read_text())
    assert saved["restarts"] == picked[0] and len(saved["trials"]) == 1 + len(E.RESTART_CANDIDATES)
    seen.clear()
    assert E.tune_guidance(CFG, tmp_path)["restarts"] == picked[0] and seen == []  # tuned: nothing runs again


def test_a_sampling_json_without_the_picked_forms_trial_runs_it_before_the_restart_candidates(tmp_path, fake_sampling):
    seen, f1_by_restarts = fake_sampling
    f1_by_restarts.update({0: 0.96, 1: 0.95, 2: 0.93})
    (tmp_path / "sampling.json").write_text(json.dumps({**TUNED_BEFORE_RESTARTS, "trials": []}))
    out = E.tune_guidance(CFG, tmp_path)
    assert [v.get("restarts", 0) for v in seen] == [0, 0] + [c[0] for c in E.RESTART_CANDIDATES for _ in E.TUNE_SEEDS]
    assert out["restarts"] == 0
