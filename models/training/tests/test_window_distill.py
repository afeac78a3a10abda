"""foley.window_distill: its live and low-preset windows are the whole window's frames with the
features the live path has and the frozen student's ε for the last frames as target; a short run on
the tiny random bundle writes a bundle whose student alone differs, and an existing output is refused."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foley import data, nets, window_distill  # noqa: E402
from foley.diffusion import Schedule, ddim_step, halved_grid, pair_step_target, trailing_timesteps  # noqa: E402
from foley.window_distill import (  # noqa: E402
    LIVE_TAIL_FRAMES,
    LIVE_WINDOW_FRAMES,
    LOW_TAIL_FRAMES,
    LOW_WINDOW_FRAMES,
    PERTURBED_SHARE,
    crops_of,
    frozen_ahead_features,
    low_crops_of,
    perturbed,
    teacher_eps,
)

TRAINING = Path(__file__).resolve().parents[1]


def test_crops_are_the_live_windows_of_the_whole_one():
    g = torch.Generator().manual_seed(1)
    b, c, w, f, d = 3, 4, 40, 16, 8
    zt, fv = torch.randn(b, c, w, f, generator=g), torch.randn(b, w, d, generator=g)
    target, t = torch.randn(b, c, w, f, generator=g), torch.tensor([10, 500, 900])
    ends = torch.tensor([[20, 40], [33, 21], [40, 40]])
    z, feats, tc, tgt = crops_of(zt, fv, t, target, ends)
    assert z.shape == (6, c, LIVE_WINDOW_FRAMES, f) and tgt.shape == (6, c, LIVE_TAIL_FRAMES, f)
    for k, (i, e) in enumerate([(0, 20), (0, 40), (1, 33), (1, 21), (2, 40), (2, 40)]):
        assert torch.equal(z[k], zt[i, :, e - LIVE_WINDOW_FRAMES:e])
        assert torch.equal(feats[k, :-1], fv[i, e - LIVE_WINDOW_FRAMES:e - 1])
        assert torch.equal(feats[k, -1], fv[i, e - 2])  # the guard's last feature repeats the one before
        assert torch.equal(tgt[k], target[i, :, e - LIVE_TAIL_FRAMES:e])
        assert tc[k] == t[i]


class Frames:
    """The part of foley.train.Store that frozen_ahead_features reads."""

    def __init__(self, frames):
        self.frames = frames

    def frames_at(self, idx, start, w):
        return torch.stack([self.frames[i, s: s + w] for i, s in zip(idx.tolist(), start.tolist())])


def test_frozen_ahead_features_are_the_clip_end_rule_at_the_present():
    torch.manual_seed(0)
    video = nets.VideoEncoder().eval()
    clips = torch.rand(2, 12, 96, 96, 3) * 255  # pixel values: a random encoder barely reacts to [0, 1]
    with torch.no_grad():
        whole = video.clip_features(clips)
        ahead = frozen_ahead_features(video, Frames(clips), torch.tensor([0, 1, 1]), torch.tensor([11, 11, 7]))
        cut = video.clip_features(clips[1:, :8])
    r = video.right_context_frames
    assert ahead.shape == (3, r + 1, nets.FEATURE_DIM)
    # At a clip's last frame nothing lies ahead: the whole clip's features.
    assert torch.allclose(ahead[0], whole[0, -(r + 1):], atol=1e-5)
    assert torch.allclose(ahead[1], whole[1, -(r + 1):], atol=1e-5)
    # Mid-clip: the features of the clip cut at the present, not the whole clip's.
    assert torch.allclose(ahead[2], cut[0, -(r + 1):], atol=1e-5)
    assert (ahead[2, -1] - whole[1, 7]).abs().max() > 1e-4
    assert torch.allclose(ahead[2, 0], whole[1, 7 - r], atol=1e-5)  # it saw no frame past the present


def test_low_crops_take_the_frozen_features_up_to_the_present_and_repeat_it_in_the_guard():
    g = torch.Generator().manual_seed(2)
    b, c, w, f, d, r = 2, 4, 30, 16, 8, 2
    zt, fv = torch.randn(b, c, w, f, generator=g), torch.randn(b, w, d, generator=g)
    target, t = torch.randn(b, c, w, f, generator=g), torch.tensor([250, 750])
    ends = torch.tensor([[16], [30]])
    ahead = torch.randn(2, r + 1, d, generator=g)
    z, feats, tc, tgt = low_crops_of(zt, fv, ahead, t, target, ends)
    assert z.shape == (2, c, LOW_WINDOW_FRAMES, f) and tgt.shape == (2, c, LOW_TAIL_FRAMES, f)
    for k, (i, e) in enumerate([(0, 16), (1, 30)]):
        present = LOW_WINDOW_FRAMES - 3
        assert torch.equal(z[k], zt[i, :, e - LOW_WINDOW_FRAMES:e])
        assert torch.equal(feats[k, :present - r], fv[i, e - LOW_WINDOW_FRAMES:e - LOW_WINDOW_FRAMES + present - r])
        assert torch.equal(feats[k, present - r:present + 1], ahead[k])
        assert torch.equal(feats[k, present + 1], ahead[k, -1]) and torch.equal(feats[k, -1], ahead[k, -1])
        assert torch.equal(tgt[k], target[i, :, e - LOW_TAIL_FRAMES:e]) and tc[k] == t[i]


class Recorder(torch.nn.Module):
    """A stand-in ε-net: ε = z·t + the features' row sums, so cond and uncond rows differ."""

    def forward(self, z, t, f):
        return z * t[:, None, None, None] + f.sum(-1)[:, None, :, None]


def test_the_guided_target_is_the_engines_cfg_combination():
    g = torch.Generator().manual_seed(2)
    zt, fv, t = torch.randn(2, 4, 8, 16, generator=g), torch.randn(2, 8, 5, generator=g), torch.tensor([3, 7])
    net = Recorder()
    cond, uncond = net(zt, t.float(), fv), net(zt, t.float(), torch.zeros_like(fv))
    assert torch.equal(teacher_eps(net, zt, t, fv, None), cond)
    # src/diffusion/guidance.ts: e = (1 + ω)·ε(c) − ω·ε(∅)
    assert torch.allclose(teacher_eps(net, zt, t, fv, 3.0), 4.0 * cond - 3.0 * uncond)


def test_one_step_on_the_pair_target_lands_where_two_teacher_steps_do():
    sched = Schedule()
    g = torch.Generator().manual_seed(3)
    t, t_mid, t_next = halved_grid(2, 64, g)
    # The 2-step grid (999, 499) and its midpoints on the 4-step grid (749, 249), ending at the end (-1).
    assert set(t.tolist()) == {999, 499} and trailing_timesteps(4) == [999, 749, 499, 249]
    assert torch.equal(t_mid, torch.where(t == 999, 749, 249)) and torch.equal(t_next, torch.where(t == 999, 499, -1))
    zt = torch.randn(64, 4, 8, 16, generator=g)

    def teacher(z, tt):  # a stand-in ε that depends on z and t
        return 0.5 * z * (tt.float() / 1000)[:, None, None, None] + 0.1
    target = pair_step_target(teacher, zt, t, t_mid, t_next, sched)
    for i in (0, 1, 63):
        ti, tm, tn = int(t[i]), int(t_mid[i]), int(t_next[i])
        two = ddim_step(zt[i:i + 1], teacher(zt[i:i + 1], t[i:i + 1]), ti, tm, sched)
        two = ddim_step(two, teacher(two, t_mid[i:i + 1]), tm, tn, sched)
        assert torch.allclose(ddim_step(zt[i:i + 1], target[i:i + 1], ti, tn, sched), two, atol=1e-4)


def test_feature_noise_perturbs_half_the_windows_video_features_and_keeps_the_contact_column():
    g = torch.Generator().manual_seed(4)
    fv = torch.randn(400, 6, 9, generator=g)
    spread = torch.linspace(0.5, 4.0, 8)
    out = perturbed(fv, spread, 0.3, g)
    assert torch.equal(out[..., 8], fv[..., 8])  # the contact column
    moved = (out != fv).any(-1).any(-1)
    assert abs(moved.float().mean().item() - PERTURBED_SHARE) < 0.1
    assert torch.equal(out[~moved], fv[~moved])
    noise = (out - fv)[moved][..., :8].reshape(-1, 8)
    assert torch.allclose(noise.std(0), 0.3 * spread, rtol=0.15)


def test_guidance_folding_writes_a_bundle_that_samples_without_cfg(start, tmp_path, capsys):
    footage = data.build_set(tmp_path / "data", "train", 2, 2.0, 1)
    more = data.build_set(tmp_path / "more", "val", 3, 2.0, 1)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "foley.window_distill", "--bundle", str(start), "--data", str(footage),
           "--more-data", str(more), "--more-data", str(more), "--out", str(out), "--steps", "2", "--batch", "4",
           "--crops", "2", "--guidance", "--threads", "1"]
    r = subprocess.run(cmd, cwd=TRAINING, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    start_sampling = json.loads((start / "manifest.json").read_text())["sampling"]
    man = json.loads((out / "manifest.json").read_text())
    assert start_sampling["cfgScale"] > 0 and man["sampling"]["cfgScale"] == 0.0
    assert {k: v for k, v in man["sampling"].items() if k != "cfgScale"} == \
        {k: v for k, v in start_sampling.items() if k != "cfgScale"}
    record = json.loads((out / "window-distill.json").read_text())
    assert record["guidanceFolded"] == start_sampling["cfgScale"]
    # Each listed folder gets an equal share of every step's whole windows; one listed twice is
    # read once and gets both shares.
    assert [(x["segments"], x["windowsPerStep"]) for x in record["sets"]] == [(2, 2), (3, 2)]
    assert record["segments"] == 5
    assert "CFG" in man["description"]
    # folding twice is refused: the new bundle has no guidance left to fold
    # (in this process: a refusal needs no second start-up of torch)
    capsys.readouterr()
    assert window_distill.main(["--bundle", str(out), "--data", str(footage), "--out", str(tmp_path / "twice"),
                                "--steps", "1", "--batch", "2", "--guidance"]) == 2
    assert "no guidance to fold" in capsys.readouterr().err
    assert not (tmp_path / "twice").exists()


def test_a_short_run_replaces_the_student_only(start, tmp_path, capsys):
    footage = data.build_set(tmp_path / "data", "train", 2, 2.0, 1)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "foley.window_distill", "--bundle", str(start), "--data", str(footage),
           "--out", str(out), "--steps", "2", "--batch", "2", "--crops", "2", "--low-crops", "2", "--low-batch", "2",
           "--halve-steps", "--init", str(start), "--feature-noise", "0.3", "--threads", "1"]
    r = subprocess.run(cmd, cwd=TRAINING, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["event"] == "done"
    for name in ("video_encoder.onnx", "vocoder.onnx", "latent_decoder.onnx", "unet_teacher.onnx"):
        assert (out / name).read_bytes() == (start / name).read_bytes(), name
    assert (out / "unet_student.onnx").read_bytes() != (start / "unet_student.onnx").read_bytes()
    record = json.loads((out / "window-distill.json").read_text())
    assert record["recipe"].startswith("window-consistency") and record["lowCrops"] == 2
    assert record["halvedSteps"] == {"from": 4, "to": 2} and record["init"] == str(start)
    assert record["featureNoise"] == 0.3
    man = json.loads((out / "manifest.json").read_text())
    start_sampling = json.loads((start / "manifest.json").read_text())["sampling"]
    assert man["sampling"] == {**start_sampling, "steps": 2}
    assert man["description"].startswith("profile tiny ") and "window-distilled" in man["description"]
    assert "4 steps halved to 2" in man["description"]
    capsys.readouterr()
    assert window_distill.main(cmd[3:-2]) == 2     # its arguments, less --threads 1
    assert "already exists" in capsys.readouterr().err
    # An odd step count cannot be halved; named before the footage is read.
    odd = tmp_path / "odd"
    shutil.copytree(out, odd)
    man["sampling"]["steps"] = 3
    (odd / "manifest.json").write_text(json.dumps(man))
    assert window_distill.main(["--bundle", str(odd), "--data", str(tmp_path / "missing"), "--out",
                                str(tmp_path / "x"), "--halve-steps"]) == 2
    assert "needs an even number" in capsys.readouterr().err
    # An --init bundle that cannot be read is named, and nothing is written.
    assert window_distill.main(["--bundle", str(start), "--data", str(footage), "--out", str(tmp_path / "y"),
                                "--init", str(tmp_path / "missing"), "--steps", "1", "--batch", "2"]) == 3
    assert "[init:" in capsys.readouterr().err and not (tmp_path / "y").exists()
