import pytest

from foley.config import ConfigError, load_profile


def test_profiles_load():
    for name in ("quick", "full", "gpu", "tiny"):
        assert load_profile(name)["profile"] == name


@pytest.mark.parametrize("override, message", [
    (["ldm_window=30"], "multiple of 4"),
    (["cond_drop=1.5"], "outside"),
    (["nonsense=1"], "unknown config key"),
    (["ldm_steps=abc"], "not a JSON value"),
    (["ldm_steps=0"], "positive integer"),
    (["distill_rounds=[4, 8]"], "strictly decreasing"),
    (["student_steps=2"], "last distillation round"),
    (["ldm_window"], "key=value"),
    (["clf_window=4"], "must exceed clf_min_shift"),
    (["clf_window=120"], "longer than a clip"),
    (["clf_max_timestep=0"], "outside"),
])
def test_invalid_configs_get_a_clear_message(override, message):
    with pytest.raises(ConfigError, match=message):
        load_profile("quick", override)


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="quick"):
        load_profile("huge")


def test_run_command_refuses_an_invalid_config_with_exit_code_two(tmp_path, capsys):
    from foley.run import main
    assert main(["--profile", "quick", "--set", "cond_drop=2", "--runs-dir", str(tmp_path)]) == 2
    assert "cond_drop" in capsys.readouterr().err


def test_run_folder_made_with_another_config_is_not_reused(tmp_path, capsys):
    from foley.run import main
    from foley.run import parse, prepare_run
    prepare_run(parse(["--profile", "quick", "--name", "r", "--runs-dir", str(tmp_path)]))
    assert main(["--profile", "quick", "--name", "r", "--set", "ldm_steps=7", "--runs-dir", str(tmp_path), "--until", "train"]) == 2
    assert "different config" in capsys.readouterr().err


def test_run_folder_from_before_a_new_key_is_reused_only_at_its_default(tmp_path, capsys):
    import json
    from foley.run import main, parse, prepare_run
    _, run = prepare_run(parse(["--profile", "quick", "--name", "r", "--runs-dir", str(tmp_path)]))
    old = json.loads((run / "config.json").read_text())
    del old["clf_min_shift"]  # as written before that key existed
    (run / "config.json").write_text(json.dumps(old))
    prepare_run(parse(["--profile", "quick", "--name", "r", "--runs-dir", str(tmp_path)]))
    assert main(["--profile", "quick", "--name", "r", "--set", "clf_min_shift=2", "--runs-dir", str(tmp_path), "--until", "train"]) == 2
    assert "clf_min_shift" in capsys.readouterr().err


def test_a_stage_with_a_checkpoint_is_skipped(tmp_path, monkeypatch, capsys):
    from foley import train
    called = []
    monkeypatch.setitem(train.STAGES, "vocoder", (lambda ctx: called.append(1), ["data"]))
    (tmp_path / "vocoder.pt").write_bytes(b"x")
    train.run_stage("vocoder", load_profile("quick"), tmp_path, "cpu")
    assert called == []
    assert "done already" in capsys.readouterr().out


@pytest.mark.parametrize("override, frames, t_max", [([], 32, 999), (["clf_window=16", "clf_max_timestep=600"], 16, 600)])
def test_alignment_classifier_batches_follow_clf_window_and_max_timestep(tmp_path, monkeypatch, override, frames, t_max):
    import torch
    from foley import nets, train
    cfg = load_profile("quick", override + ["clf_batch=256"])
    ctx = train.Ctx(cfg, tmp_path, "cpu")

    class Clips:  # what _train_clf uses of a Store
        n, t = 5, 100
        starts = train.Store.starts
    ctx._stores["train"] = Clips()
    monkeypatch.setattr(train, "features_for", lambda *_: torch.randn(5, 100, nets.FEATURE_DIM))
    monkeypatch.setattr(train, "latents_for", lambda *_: torch.randn(5, nets.LATENT_CHANNELS, 100, nets.LATENT_MELS))
    seen = {}
    make = ctx.models["clf"]

    def spy():
        clf = make()
        forward = clf.forward
        clf.forward = lambda z, t, f: seen.update(z=z.shape, t=t, f=f.shape) or forward(z, t, f)
        return clf
    ctx.models["clf"] = spy
    monkeypatch.setattr(train, "train_loop", lambda ctx, stage, params, steps, lr, step: step(0))
    train._train_clf(ctx, "align_clf", "cavp")
    assert seen["z"][2] == frames and seen["f"][1] == frames  # quick's ldm_window is 32
    assert seen["t"].max() <= t_max and seen["t"].max() > t_max - 100
