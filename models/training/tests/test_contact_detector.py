"""foley.contact_detector: the detector's reach is the video encoder's (t-3 .. t+2), it sees
motion and not the picture, it trains on a set's event times, and the command exports it into a
bundle (ONNX checked against PyTorch) with a gate that reads it, and names bad input."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from foley import contact_detector, data
from foley.contact_detector import MotionContactDetector

TINY = Path(__file__).resolve().parents[3] / "models" / "tiny-random"


DETAIL = [(False, False, False, 0, False, False), (True, False, False, 0, False, False),
          (False, True, False, 0, False, False), (False, False, True, 0, False, False),
          (True, False, True, 0, False, False), (False, False, False, 2, False, False),
          (True, False, False, 2, False, False), (False, False, False, 0, True, False),
          (False, False, True, 0, True, False), (False, False, False, 2, True, False),
          (False, False, False, 0, True, True), (True, False, False, 0, False, True)]


def assert_reach(net: MotionContactDetector, frames: torch.Tensor, t: int, behind: int, ahead: int) -> None:
    """Output frame t moves when frame t - behind or t + ahead changes, and not one frame further out."""
    with torch.no_grad():   # logits: a random net moves them too little for the sigmoid's float32 steps
        base = net.logits(net.grey(frames))[0, t]
        for k, inside in ((t - behind - 1, False), (t - behind, True), (t + ahead, True), (t + ahead + 1, False)):
            changed = frames.clone()
            changed[0, k] = 255 - changed[0, k]
            moved = float((net.logits(net.grey(changed))[0, t] - base).abs())
            assert (moved > 0) == inside, (k, moved)


@pytest.mark.parametrize("fusion,full_res,space_to_depth,stabilize,local_temporal,colour", DETAIL)
def test_output_frame_t_sees_frames_t_minus_3_to_t_plus_2_only(fusion, full_res, space_to_depth, stabilize, local_temporal, colour):
    torch.manual_seed(0)
    net = MotionContactDetector(4, fusion, full_res, space_to_depth, stabilize, local_temporal=local_temporal,
                                colour=colour).eval()
    assert_reach(net, torch.randint(0, 256, (1, 16, 96, 96, 3), dtype=torch.uint8), 8, 3, 2)


@pytest.mark.parametrize("local_temporal", [False, True])
def test_history_reaches_that_many_frames_further_back_and_no_further_ahead(local_temporal):
    torch.manual_seed(0)
    net = MotionContactDetector(4, local_temporal=local_temporal, history=4).eval()
    assert net.context_frames == 7
    assert_reach(net, torch.randint(0, 256, (1, 20, 96, 96, 3), dtype=torch.uint8), 12, 7, 2)


@pytest.mark.parametrize("reach,places", [("wide", {(0, 0), (0, 1), (1, 0), (1, 1)}), ("narrow", {(0, 0)})])
def test_reach_bounds_the_square_each_place_of_the_last_map_sees(reach, places):
    torch.manual_seed(0)
    net = MotionContactDetector(4, local_temporal=True, reach=reach).eval()
    maps = torch.zeros(1, 3, 48, 48)
    with torch.no_grad():
        base = net.cnn(maps)
        maps[0, :, 0, 0] = 1.0
        moved = (net.cnn(maps) - base).abs().sum(1)[0]
    assert {tuple(p) for p in (moved > 0).nonzero().tolist()} == places


def test_a_history_and_narrow_net_trains_saves_loads_and_exports_with_its_parity_checked(tmp_path, capsys):
    clips = data.build_set(tmp_path / "clips", "train", 2, 2.0, 1)
    assert contact_detector.main(["--data", str(clips), "--out", str(tmp_path / "h.pt"), "--steps", "2",
                                  "--width", "4", "--local-temporal", "--history", "3", "--reach", "narrow"]) == 0
    net = contact_detector.load(tmp_path / "h.pt")
    assert net.history == 3 and net.context_frames == 6 and net.reach == "narrow"
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--weights", str(tmp_path / "h.pt")]) == 0
    features = json.loads((bundle / "manifest.json").read_text())["features"]
    before = json.loads((TINY / "manifest.json").read_text())["features"]
    assert before["contextFrames"] < 6     # else the test shows nothing
    assert features["contextFrames"] == 6
    assert features["rightContextFrames"] == before.get("rightContextFrames", before["contextFrames"])
    back, = contact_detector.recover_members(bundle / "contact_detector.onnx")
    assert back.history == 3 and back.reach == "narrow"
    frames = torch.randint(0, 256, (1, 14, 96, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(back(frames), net(frames), atol=1e-6)


def test_a_history_added_to_a_trained_net_starts_at_what_the_net_read_and_trains_on(tmp_path, capsys):
    torch.manual_seed(0)
    net = MotionContactDetector(4, local_temporal=True).eval()
    for p in net.parameters():     # off a fresh net's start, where a zero layer could hide
        p.data += 0.1 * torch.randn_like(p)
    longer = contact_detector.with_history(net, 5)
    assert longer.history == 5
    frames = torch.randint(0, 256, (1, 16, 96, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(longer(frames), net(frames))
    with pytest.raises(ValueError, match="already"):
        contact_detector.with_history(longer, 2)
    narrow = MotionContactDetector(4, local_temporal=True, reach="narrow")
    assert contact_detector.with_history(narrow, 2).reach == "narrow"
    rebuilt = contact_detector.as_space_to_depth(longer)
    assert (rebuilt.history, rebuilt.space_to_depth) == (5, True)
    contact_detector.save(net, tmp_path / "n.pt")
    clips = data.build_set(tmp_path / "clips", "train", 2, 2.0, 1)
    assert contact_detector.main(["--data", str(clips), "--out", str(tmp_path / "h.pt"), "--steps", "2",
                                  "--init", str(tmp_path / "n.pt"), "--history", "5"]) == 0
    trained = contact_detector.load(tmp_path / "h.pt")
    assert trained.history == 5 and any(bool(p.detach().ne(0).any()) for p in trained.past.parameters())


@pytest.mark.parametrize("fusion,full_res,space_to_depth,stabilize,local_temporal,colour", DETAIL)
def test_a_still_picture_reads_the_same_whatever_it_shows(fusion, full_res, space_to_depth, stabilize, local_temporal, colour):
    torch.manual_seed(0)
    net = MotionContactDetector(4, fusion, full_res, space_to_depth, stabilize, local_temporal=local_temporal,
                                colour=colour).eval()
    a = torch.full((1, 12, 96, 96, 3), 30, dtype=torch.uint8)
    b = torch.randint(0, 256, (1, 1, 96, 96, 3), dtype=torch.uint8).expand(1, 12, 96, 96, 3).contiguous()
    with torch.no_grad():
        assert torch.allclose(net(a), net(b))


def test_trains_on_event_times_and_exports_into_a_bundle(tmp_path, capsys):
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    assert contact_detector.main(["--data", str(footage), "--out", str(tmp_path / "d.pt"), "--steps", "3"]) == 0
    assert "labels from events" in capsys.readouterr().out
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    original = tmp_path / "original"        # a bundle the copy shares its manifest with (cp -l)
    original.mkdir()
    (original / "manifest.json").hardlink_to(bundle / "manifest.json")
    assert contact_detector.main(["--bundle", str(bundle), "--weights", str(tmp_path / "d.pt")]) == 0
    assert (original / "manifest.json").read_text() == (TINY / "manifest.json").read_text()
    man = json.loads((bundle / "manifest.json").read_text())
    assert man["contactGate"]["source"] == "detector" and "weights" not in man["contactGate"]
    spec = man["models"]["contact_detector"]
    assert (bundle / spec["file"]).is_file() and spec["outputs"][0]["name"] == "contact"
    # Exported with its convolutions and grey frames as MatMuls (foley.conv_matmul): nothing left to rewrite.
    import onnx
    from foley.conv_matmul import channel_sums_as_matmuls, convs_as_matmuls
    exported = onnx.load(str(bundle / spec["file"]))
    assert "MatMul" in {n.op_type for n in exported.graph.node}
    assert convs_as_matmuls(exported) == 0 and channel_sums_as_matmuls(exported) == 0
    capsys.readouterr()
    assert contact_detector.main(["--bundle", str(tmp_path / "nowhere"), "--random"]) == 4
    assert capsys.readouterr().err.startswith("[bundle:")
    assert contact_detector.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.pt")]) == 4
    assert capsys.readouterr().err.startswith("[data:")


def two_seeds(tmp_path: Path, footage: Path) -> list[Path]:
    """Two tiny local-temporal detectors trained on `footage` at seeds 0 and 1."""
    paths = [tmp_path / f"d{seed}.pt" for seed in (0, 1)]
    for seed, path in zip((0, 1), paths):
        assert contact_detector.main(["--data", str(footage), "--out", str(path), "--steps", "2", "--width", "4",
                                      "--local-temporal", "--seed", str(seed)]) == 0
    return paths


def test_several_weights_are_read_as_one_ensemble_scored_and_exported_with_its_parity_checked(tmp_path, capsys):
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    paths = two_seeds(tmp_path, footage)
    nets = [contact_detector.load(p) for p in paths]
    ens = contact_detector.load_detector(paths)
    frames = torch.randint(0, 256, (1, 12, 96, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        one, other = nets[0](frames), nets[1](frames)
        assert not torch.equal(one, other), "seeds 0 and 1 trained the same net"
        assert torch.allclose(ens(frames), (one + other) / 2)
    assert contact_detector.load_detector(paths[:1]).__class__ is MotionContactDetector
    capsys.readouterr()
    assert contact_detector.main(["--score", str(footage), "--weights", *map(str, paths), "--count", "2"]) == 0
    assert '"0.9"' in capsys.readouterr().out
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--weights", *map(str, paths)]) == 0
    import onnxruntime as ort
    spec = json.loads((bundle / "manifest.json").read_text())["models"]["contact_detector"]
    got = ort.InferenceSession(str(bundle / spec["file"])).run(["contact"], {"frames": frames.numpy()})[0]
    assert abs(got - ((one + other) / 2).numpy()).max() < 1e-4
    import onnx
    graph = onnx.load(str(bundle / spec["file"])).graph
    cast = next(n for n in graph.node if "frames" in n.input and n.op_type == "Cast")
    assert sum(cast.output[0] in n.input for n in graph.node) == 1, "each member made its own grey frames"
    with pytest.raises(SystemExit) as refused:
        contact_detector.main(["--bundle", str(bundle), "--weights", str(paths[0]), str(tmp_path / "no.pt")])
    assert refused.value.code == 2 and "--weights" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        contact_detector.main(["--score", str(footage), "--weights", str(paths[0]), str(bundle / spec["file"])])
    assert refused.value.code == 2 and "scored alone" in capsys.readouterr().err


class FixedReads(torch.nn.Module):
    """A stand-in detector: reads `still` on a still picture, and `reads` on frames that move."""

    def __init__(self, still: float, reads: torch.Tensor):
        super().__init__()
        self.still, self.reads = still, reads

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        moving = bool((frames[:, 1:] != frames[:, :1]).any())
        return self.reads[None, : frames.shape[1]] if moving else torch.full(frames.shape[:2], self.still)


def test_rest_moved_brings_a_still_picture_to_the_old_read_and_leaves_the_reads_above_the_knee():
    from foley.contact_detector import RestMoved, still_read
    reads = torch.linspace(0.01, 0.99, 99)
    net = RestMoved(FixedReads(0.17, reads), still=0.17, rest=0.11, knee=0.3).eval()
    assert abs(still_read(net) - 0.11) < 1e-6
    moving = torch.randint(0, 256, (1, 99, 8, 8, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    with torch.no_grad():
        got = net(moving)[0]
    above, under = reads >= 0.3, reads < 0.17
    assert torch.allclose(got[above], reads[above], atol=1e-6)
    assert bool((got[~above] < reads[~above] + 1e-7).all()) and bool((torch.diff(got) > 0).all())   # order kept
    lg = lambda q: torch.log(q) - torch.log1p(-q)
    assert torch.allclose(lg(got[under]) - lg(reads[under]), torch.full((int(under.sum()),), lg(torch.tensor(0.11)) - lg(torch.tensor(0.17))), atol=1e-4)


def test_rest_like_exports_a_detector_that_reads_the_old_detectors_value_on_a_still_picture(tmp_path, capsys):
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    weights = tmp_path / "d.pt"
    assert contact_detector.main(["--data", str(footage), "--out", str(weights), "--steps", "2", "--width", "4",
                                  "--local-temporal"]) == 0
    old = tmp_path / "old"
    shutil.copytree(TINY, old)
    assert contact_detector.main(["--bundle", str(old), "--random", "--width", "8"]) == 0
    import onnxruntime as ort
    still = torch.full((1, 12, 96, 96, 3), 120, dtype=torch.uint8)
    want = ort.InferenceSession(str(old / "contact_detector.onnx")).run(["contact"], {"frames": still.numpy()})[0][0, 6]
    with torch.no_grad():
        plain_still = float(contact_detector.load(weights)(still)[0, 6])
    knee = str(max(plain_still, float(want)) + 0.01)
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    capsys.readouterr()
    assert contact_detector.main(["--bundle", str(bundle), "--weights", str(weights), "--rest-like",
                                  str(old / "contact_detector.onnx"), "--rest-knee", knee]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    got = ort.InferenceSession(str(bundle / "contact_detector.onnx")).run(["contact"], {"frames": still.numpy()})[0][0, 6]
    assert abs(printed["stillRead"] - want) < 1e-5 and abs(got - want) < 1e-5
    assert printed["stillReadBefore"] == pytest.approx(plain_still, abs=1e-6)
    assert contact_detector.main(["--bundle", str(bundle), "--weights", str(weights),
                                  "--rest-like", str(tmp_path / "none.onnx"), "--rest-knee", "0.9"]) == 4
    assert "none.onnx] no such file" in capsys.readouterr().err
    assert contact_detector.main(["--bundle", str(bundle), "--weights", str(weights),
                                  "--rest-like", str(old / "contact_detector.onnx")]) == 2
    assert "--rest-knee above the still reads" in capsys.readouterr().err
    assert contact_detector.main(["--score", str(footage), "--weights", str(weights), "--rest-knee", "0.5"]) == 2
    assert "go with --bundle" in capsys.readouterr().err


def test_saved_weights_carry_their_shape_and_the_first_versions_files_still_load(tmp_path):
    torch.manual_seed(0)
    net = MotionContactDetector(8, fusion=True).eval()
    contact_detector.save(net, tmp_path / "fused.pt")
    frames = torch.randint(0, 256, (1, 10, 96, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(contact_detector.load(tmp_path / "fused.pt")(frames), net(frames))
    torch.save(MotionContactDetector().state_dict(), tmp_path / "first.pt")
    assert not contact_detector.load(tmp_path / "first.pt").fusion
    # Saved before stabilization: the shift buffers are not in the file, and a plain net loads it.
    before = {"config": {"width": 4, "fusion": False, "full_res": False, "space_to_depth": False},
              "state": MotionContactDetector(4).state_dict()}
    assert not any(k in before["state"] for k in ("shift_cost", "no_shift"))
    torch.save(before, tmp_path / "before.pt")
    assert contact_detector.load(tmp_path / "before.pt").stabilize == 0
    full = MotionContactDetector(4, full_res=True).eval()
    contact_detector.save(full, tmp_path / "full.pt")
    loaded = contact_detector.load(tmp_path / "full.pt")
    with torch.no_grad():
        assert loaded.full_res and torch.equal(loaded(frames), full(frames))
    steady = MotionContactDetector(4, stabilize=3, stabilize_min_change=0.03).eval()
    contact_detector.save(steady, tmp_path / "steady.pt")
    loaded = contact_detector.load(tmp_path / "steady.pt")
    with torch.no_grad():
        assert (loaded.stabilize, loaded.stabilize_min_change) == (3, 0.03)
        assert torch.equal(loaded(frames), steady(frames))
    local = MotionContactDetector(4, local_temporal=True).eval()
    contact_detector.save(local, tmp_path / "local.pt")
    loaded = contact_detector.load(tmp_path / "local.pt")
    with torch.no_grad():
        assert loaded.local_temporal and torch.equal(loaded(frames), local(frames))
    packed = MotionContactDetector(4, space_to_depth=True).eval()
    contact_detector.save(packed, tmp_path / "packed.pt")
    loaded = contact_detector.load(tmp_path / "packed.pt")
    with torch.no_grad():
        assert loaded.space_to_depth and torch.equal(loaded(frames), packed(frames))


def test_full_res_keeps_the_pixel_detail_that_half_res_averages_away():
    torch.manual_seed(0)
    for full_res, size in ((False, 48), (True, 96)):
        net = MotionContactDetector(4, full_res=full_res).eval()
        frames = torch.zeros(1, 2, 96, 96, 3, dtype=torch.uint8)
        frames[0, 1, 40, 41] = 255          # one pixel lights up
        with torch.no_grad():
            g = net.grey(frames)
        assert g.shape[-2:] == (size, size)
        assert float(g[0, 1].max()) == pytest.approx(1.0 if full_res else 0.25, abs=1e-3)


def test_scores_clip_folders_with_and_without_a_frozen_look_ahead(tmp_path, capsys):
    from foley import generalization
    folder = generalization.write_clips("in_world", 2, tmp_path, seconds=2.0)
    torch.manual_seed(0)
    contact_detector.save(MotionContactDetector(4, fusion=True).eval(), tmp_path / "d.pt")
    for extra in ([], ["--frozen-ahead"]):
        assert contact_detector.main(["--score", str(folder), "--weights", str(tmp_path / "d.pt"), *extra]) == 0
        row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert row["frozen_ahead"] == bool(extra)
        assert all(0.0 <= row[th]["f1"] <= 1.0 and row[th]["onsets_per_event"] >= 0 for th in ("0.5", "0.8"))


def test_score_finds_every_event_of_a_detector_that_peaks_on_them_and_freezes_only_the_frames_ahead(tmp_path):
    from foley import generalization
    from foley.data import FPS
    folder = generalization.write_clips("in_world", 2, tmp_path, seconds=4.0)
    clips = generalization.clip_folders(folder, 2)
    events = [set(int(round(s * FPS)) for s in generalization.event_times(f)) for f in clips]
    assert all(events)
    calls = iter(events)

    def at_events(frames):     # whole clip [1, T, ...] -> 1 on the event frames
        on = next(calls)
        return torch.tensor([[float(t in on) for t in range(frames.shape[1])]])

    rows = contact_detector.score(at_events, clips)
    assert all(rows[th] == {"f1": 1.0, "onsets_per_event": 1.0} for th in rows)

    calls = iter(events)

    def at_events_frozen(windows):   # one window per frame t: t-3 .. t, then t repeated
        on = next(calls)
        assert torch.equal(windows[:, 4], windows[:, 3]) and torch.equal(windows[:, 5], windows[:, 3])
        assert torch.equal(windows[1:, 2], windows[:-1, 3]) and torch.equal(windows[3:, 0], windows[:-3, 3])
        out = torch.zeros(windows.shape[0], windows.shape[1])
        out[:, 3] = torch.tensor([float(t in on) for t in range(windows.shape[0])])
        return out

    rows = contact_detector.score(at_events_frozen, clips, frozen_ahead=True)
    assert all(rows[th] == {"f1": 1.0, "onsets_per_event": 1.0} for th in rows)


def test_a_full_res_detector_exports_with_its_parity_checked(tmp_path):
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--random", "--width", "4", "--full-res"]) == 0
    assert (bundle / contact_detector.FILE).is_file()


def test_space_to_depth_hands_the_cnn_each_pixels_motion_at_the_half_res_grid():
    net = MotionContactDetector(4, space_to_depth=True).eval()
    assert net.cnn[0].in_channels == 12 and MotionContactDetector(4, True, space_to_depth=True).cnn[0].in_channels == 48
    frames = torch.zeros(1, 2, 96, 96, 3, dtype=torch.uint8)
    frames[0, 1, 40, 41] = 255          # one pixel lights up: full strength in one packed channel
    with torch.no_grad():
        x = torch.nn.functional.pixel_unshuffle(net.motion(net.grey(frames)).flatten(0, 1), 2)
    assert x.shape == (2, 12, 48, 48)
    assert torch.count_nonzero(x[1, :, 20, 20]) == 3 and torch.count_nonzero(x[1]) == 3


def test_a_space_to_depth_detector_exports_with_its_parity_checked_and_not_beside_full_res(tmp_path, capsys):
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--random", "--width", "4", "--space-to-depth"]) == 0
    assert (bundle / contact_detector.FILE).is_file()
    capsys.readouterr()
    assert contact_detector.main(["--bundle", str(bundle), "--random", "--full-res", "--space-to-depth"]) == 2
    assert "[args]" in capsys.readouterr().err
    with pytest.raises(ValueError):
        MotionContactDetector(4, full_res=True, space_to_depth=True)


def test_stabilize_takes_a_shaking_cameras_motion_out_of_the_difference_and_keeps_an_objects():
    gen = torch.Generator().manual_seed(0)
    scene = torch.rand(1, 1, 64, 64, generator=gen)
    shakes = [(0, 0), (2, -1), (1, 0), (2, 2), (0, 1), (1, -1)]    # within the radius from frame to frame
    g = torch.stack([torch.roll(scene, s, (2, 3))[0, 0, 8:56, 8:56] for s in shakes])[None].clone()
    for k in range(6):                                              # a bright square moving right, on top
        g[0, k, 20:26, 10 + 3 * k:16 + 3 * k] = 1.0
    rows = torch.ones(48, dtype=torch.bool)
    rows[17:29] = False                                             # away from the square (and the shift's reach)
    inner = rows.clone()
    inner[:2] = inner[-2:] = False                                  # and from the border the shift uncovers
    plain = (g - MotionContactDetector(4).previous(g))[0, 1:]
    steady = (g - MotionContactDetector(4, stabilize=2).previous(g))[0, 1:]
    assert float(plain[:, rows].abs().mean()) > 0.2                 # the whole textured picture moves
    assert float(steady[:, inner][:, :, 2:-2].abs().mean()) < 0.01   # the camera's motion is gone off the border
    assert float((steady[:, 20:26] > 0.3).sum()) > 6 * 4 * 3        # the square's leading edge still moves


def test_a_minimum_change_keeps_a_translated_noise_pattern_from_moving_the_camera():
    gen = torch.Generator().manual_seed(1)
    pool = 0.5 + 0.01 * torch.randn(64, 64, generator=gen)          # one noise pattern, as the world's pool windows
    offsets = [(0, 0), (2, 1), (0, 3), (3, 2)]                     # within the radius from frame to frame
    g = torch.stack([torch.roll(pool, o, (0, 1))[8:56, 8:56] for o in offsets])[None].clone()
    prev = torch.cat([g[:, :1], g[:, :-1]], 1)
    moved = MotionContactDetector(4, stabilize=3).previous(g)
    assert float((moved - prev).abs().amax()) > 0                    # without it the pattern is lined up
    kept = MotionContactDetector(4, stabilize=3, stabilize_min_change=0.03).previous(g)
    assert torch.equal(kept, prev)
    scene = torch.rand(1, 1, 64, 64, generator=gen)                  # a textured scene shaken: still lined up
    shaken = torch.stack([torch.roll(scene, o, (2, 3))[0, 0, 8:56, 8:56] for o in offsets])[None]
    steady = shaken - MotionContactDetector(4, stabilize=3, stabilize_min_change=0.03).previous(shaken)
    assert float(steady[0, 1:, 4:-4, 4:-4].abs().mean()) < 0.01


def test_a_stabilized_detector_exports_with_its_parity_checked(tmp_path):
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--random", "--width", "4", "--stabilize", "2",
                                  "--stabilize-min-change", "0.03"]) == 0
    assert (bundle / contact_detector.FILE).is_file()


def test_local_temporal_relates_places_before_pooling_exports_and_not_beside_fusion(tmp_path):
    # Something at one place in two frames, or at two places: each frame's pooled vector is the
    # same either way, what the local mix pools is not.
    torch.manual_seed(0)
    net = MotionContactDetector(4, local_temporal=True).eval()
    stays, moves = torch.zeros(1, 4, 16, 6, 6), torch.zeros(1, 4, 16, 6, 6)
    stays[0, 0, :, 1, 1] = stays[0, 1, :, 1, 1] = moves[0, 0, :, 1, 1] = moves[0, 1, :, 4, 4] = 1.0
    assert torch.equal(stays.amax((3, 4)), moves.amax((3, 4)))
    with torch.no_grad():
        mix = lambda x: net.local(torch.cat([x[:, k] for k in range(4)], 1)).amax((2, 3))
        assert not torch.allclose(mix(stays), mix(moves))
    with pytest.raises(ValueError, match="choose one"):
        MotionContactDetector(4, fusion=True, local_temporal=True)
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--random", "--width", "4", "--local-temporal"]) == 0
    assert (bundle / contact_detector.FILE).is_file()


def test_zoom_out_shrinks_the_motion_onto_a_plain_canvas_of_the_crops_edge_colour():
    gen = torch.Generator().manual_seed(3)
    crop = torch.full((6, 48, 48), 0.2)
    crop[:, 20:28, 20:28] = torch.linspace(0.3, 0.9, 6)[:, None, None]   # a square that brightens
    out = contact_detector.zoomed_out(crop, gen)
    assert out.shape == crop.shape
    moving = (out[-1] - out[0]).abs() > 1e-6
    assert 0 < int(moving.sum()) < int(((crop[-1] - crop[0]).abs() > 1e-6).sum())   # smaller, still there
    assert torch.allclose(out[:, ~moving], torch.tensor(0.2))                         # the rest: the edge colour


@pytest.mark.parametrize("bad", [["--zoom-out", "1.5"], ["--freeze-share", "-0.1"], ["--steps", "0"], ["--width", "0"],
                                 ["--stabilize", "-1"], ["--history", "17"]])
def test_out_of_range_arguments_are_named_before_any_work(tmp_path, capsys, bad):
    assert contact_detector.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.pt"), *bad]) == 2
    assert "[args]" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_trains_on_several_sets_of_one_clip_length_and_names_sets_that_differ(tmp_path, capsys):
    a = data.build_set(tmp_path / "a", "train", 2, 2.0, 1)
    b = data.build_set(tmp_path / "b", "val", 1, 2.0, 1)
    assert contact_detector.main(["--data", str(a), str(b), "--out", str(tmp_path / "d.pt"), "--steps", "2"]) == 0
    assert "3 clips of 50 frames" in capsys.readouterr().out
    longer = data.build_set(tmp_path / "longer", "val", 1, 3.0, 1)
    assert contact_detector.main(["--data", str(a), str(longer), "--out", str(tmp_path / "e.pt"), "--steps", "2"]) == 4
    err = capsys.readouterr().err
    assert err.startswith("[data]") and "50 frames" in err and "75 frames" in err
    assert not (tmp_path / "e.pt").exists()


def test_trains_a_space_to_depth_detector_from_grey_kept_as_bytes(tmp_path, capsys):
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    out = tmp_path / "s2d.pt"
    assert contact_detector.main(["--data", str(footage), "--out", str(out), "--steps", "2", "--width", "4",
                                  "--space-to-depth"]) == 0
    net = contact_detector.load(out)
    assert net.space_to_depth and all(torch.isfinite(p).all() for p in net.parameters())


def test_colour_sees_a_change_of_hue_that_grey_misses_and_trains_saves_and_exports(tmp_path, capsys):
    # A square turning from red to a blue of the same grey: no grey motion, colour motion.
    frames = torch.full((1, 6, 96, 96, 3), 60, dtype=torch.uint8)
    frames[0, :, 40:56, 40:56] = torch.tensor([200, 66, 60], dtype=torch.uint8)
    frames[0, 3:, 40:56, 40:56] = torch.tensor([74, 96, 236], dtype=torch.uint8)   # 299 R + 587 G + 114 B kept
    grey, colour = MotionContactDetector(4), MotionContactDetector(4, colour=True)
    assert float(grey.motion(grey.grey(frames))[0, 3].abs().max()) < 1e-3
    maps = colour.motion(colour.grey(frames))[0, 3]
    assert maps.shape[0] == 9 and float(maps[3:].abs().max()) > 1.0
    with pytest.raises(ValueError, match="colour"):
        MotionContactDetector(4, stabilize=2, colour=True)
    assert contact_detector.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.pt"), "--colour",
                                  "--zoom-out", "0.5"]) == 2
    assert "--colour" in capsys.readouterr().err
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    out = tmp_path / "colour.pt"
    assert contact_detector.main(["--data", str(footage), "--out", str(out), "--steps", "2", "--width", "4",
                                  "--colour", "--local-temporal"]) == 0
    net = contact_detector.load(out)
    assert net.colour and net.local_temporal and all(torch.isfinite(p).all() for p in net.parameters())
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--weights", str(out)]) == 0
    assert (bundle / contact_detector.FILE).is_file()


def test_flow_reads_a_stop_keeps_the_reach_and_a_still_picture_and_mirrors_with_its_x_negated(tmp_path, capsys):
    # A bright square sliding right 2 grey pixels a frame at 24x24, then stopping: the fine
    # scale's x displacement reads the slide and its change jumps at the stop.
    net = MotionContactDetector(4, local_temporal=True, flow=True).eval()
    g = torch.zeros(1, 8, 48, 48)
    for t in range(8):
        x = 8 + 4 * min(t, 4)
        g[0, t, 16:28, x:x + 12] = 1.0
    fine, coarse = net.flow_maps(g)
    assert fine.shape == (1, 8, 4, 24, 24) and coarse.shape == (1, 8, 4, 12, 12)
    dx = fine[0, :, 1, 11].amax(-1)                     # the strongest rightward displacement in the square's row
    assert all(float(dx[t]) > 0.5 for t in (1, 2, 3, 4)) and all(float(dx[t]) < 0.1 for t in (6, 7))
    assert float(fine[0, 5, 3, 11].amin()) < -0.3        # the stop
    mirror = torch.ones(4)
    mirror[contact_detector.FLOW_X] = -1
    for a, b in zip(net.flow_maps(g.flip(-1)), (fine, coarse)):
        assert torch.allclose(a, b.flip(-1) * mirror[:, None, None], atol=1e-5)
    frames = torch.randint(0, 256, (1, 16, 96, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        base = net.logits(net.grey(frames))[0, 8]
        for k, inside in ((4, False), (5, True), (10, True), (11, False)):
            changed = frames.clone()
            changed[0, k] = 255 - changed[0, k]
            assert (float((net.logits(net.grey(changed))[0, 8] - base).abs()) > 0) == inside, k
        flat = torch.full((1, 12, 96, 96, 3), 30, dtype=torch.uint8)
        still = torch.randint(0, 256, (1, 1, 96, 96, 3), dtype=torch.uint8).expand(1, 12, 96, 96, 3).contiguous()
        assert torch.allclose(net(flat), net(still))
    with pytest.raises(ValueError, match="flow"):
        MotionContactDetector(4, stabilize=2, flow=True)
    for other in (["--fusion"], ["--zoom-out", "0.5"]):
        assert contact_detector.main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.pt"), "--flow",
                                      *other]) == 2
        assert "--flow" in capsys.readouterr().err


def test_trains_on_stored_flow_maps_saves_and_exports_a_flow_detector(tmp_path, capsys):
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    out = tmp_path / "flow.pt"
    assert contact_detector.main(["--data", str(footage), "--out", str(out), "--steps", "2", "--width", "4",
                                  "--local-temporal", "--flow"]) == 0
    net = contact_detector.load(out)
    assert net.flow and all(torch.isfinite(p).all() for p in net.parameters())
    with pytest.raises(ValueError, match="found once"):
        contact_detector.train([footage], 1, width=4, flow=True, zoom_out=0.5)
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    assert contact_detector.main(["--bundle", str(bundle), "--weights", str(out)]) == 0   # parity checked there
    assert (bundle / contact_detector.FILE).is_file()


def test_distils_an_ensemble_into_one_net_that_starts_from_a_member(tmp_path, capsys):
    footage = data.build_set(tmp_path / "footage", "train", 2, 2.0, 1)
    paths = two_seeds(tmp_path, footage)
    student = tmp_path / "student.pt"
    assert contact_detector.main(["--data", str(footage), "--out", str(student), "--steps", "30", "--lr", "1e-2",
                                  "--init", str(paths[0]), "--teacher", *map(str, paths)]) == 0
    net, init, ens = contact_detector.load(student), contact_detector.load(paths[0]), contact_detector.load_detector(paths)
    assert net.cnn[0].out_channels == 4 and net.local_temporal, "the configuration is the init's, not --width's"
    frames = torch.from_numpy(np.array(data.ClipSet(footage).frames[:2]))
    with torch.no_grad():
        target = ens(frames)
        assert (net(frames) - target).abs().mean() < (init(frames) - target).abs().mean()
    capsys.readouterr()
    assert contact_detector.main(["--data", str(footage), "--out", str(student), "--teacher", str(tmp_path / "no.pt")]) == 4
    assert capsys.readouterr().err.startswith("[weights:")
    with pytest.raises(contact_detector.DetectorsDiffer):     # 48x48 grey beside 96x96
        contact_detector.DetectorEnsemble([init, MotionContactDetector(4, full_res=True)])
    contact_detector.DetectorEnsemble([init, MotionContactDetector(4, flow=True)])    # flow maps come from the grey


def test_an_exported_ensembles_nets_come_back_from_its_onnx_and_training_starts_from_one(tmp_path, capsys):
    paths = []
    for seed in (0, 1):     # untrained nets of their own seeds: what comes back is told apart by its weights
        torch.manual_seed(seed)
        paths.append(tmp_path / f"d{seed}.pt")
        contact_detector.save(MotionContactDetector(4, local_temporal=True), paths[-1])
    bundle = tmp_path / "tiny"
    shutil.copytree(TINY, bundle)
    # As the default is exported: an ensemble behind RestMoved (which adds no weights; moved
    # towards the first net's own still read, so only the wrapper is new).
    first = tmp_path / "first"
    first.mkdir()
    (first / "manifest.json").write_text((TINY / "manifest.json").read_text())
    assert contact_detector.main(["--bundle", str(first), "--weights", str(paths[0])]) == 0
    assert contact_detector.main(["--bundle", str(bundle), "--weights", *map(str, paths), "--rest-like",
                                  str(first / "contact_detector.onnx"), "--rest-knee", "0.99"]) == 0
    onnx_path = bundle / "contact_detector.onnx"
    nets = contact_detector.recover_members(onnx_path)
    assert len(nets) == 2
    frames = torch.randint(0, 256, (1, 12, 96, 96, 3), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    with torch.no_grad():
        for net, path in zip(nets, paths):
            saved = contact_detector.load(path)
            assert net.local_temporal and net.cnn[0].out_channels == 4
            assert torch.allclose(net.logits(net.grey(frames)), saved.logits(saved.grey(frames)), atol=1e-6)
            assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), saved.state_dict().values()))
    # Training starts from member 1, rebuilt to read the 96x96 maps.
    footage = data.build_set(tmp_path / "footage", "train", 1, 2.0, 1)
    out = tmp_path / "s2d.pt"
    capsys.readouterr()
    assert contact_detector.main(["--data", str(footage), "--out", str(out), "--steps", "1", "--init", str(onnx_path),
                                  "--member", "1", "--space-to-depth", "--lr", "1e-9"]) == 0
    tuned = contact_detector.load(out)
    assert tuned.space_to_depth and tuned.local_temporal and tuned.cnn[0].in_channels == 12
    assert torch.allclose(tuned.proj.weight, nets[1].proj.weight, atol=1e-6), "a near-zero rate leaves the start"
    assert contact_detector.main(["--data", str(footage), "--out", str(out), "--init", str(onnx_path), "--member", "2"]) == 2
    assert "holds 2 net(s)" in capsys.readouterr().err
    assert contact_detector.main(["--data", str(footage), "--out", str(out), "--member", "1"]) == 2
    assert "give --data and --init" in capsys.readouterr().err
    assert contact_detector.main(["--data", str(footage), "--out", str(out), "--init", str(TINY / "video_encoder.onnx")]) == 4
    assert "no contact detector weights" in capsys.readouterr().err
    # A fusion net's first convolution reads 12 channels too: refused by name, not rebuilt as space-to-depth.
    import onnx
    from onnx import numpy_helper
    torch.manual_seed(0)
    fused_state = MotionContactDetector(4, fusion=True).state_dict()
    graph = onnx.helper.make_graph([], "fused", [], [], [numpy_helper.from_array(v.numpy(), name=f"net.{k}")
                                                           for k, v in fused_state.items() if k != "luma"])
    fused = tmp_path / "fused.onnx"
    onnx.save(onnx.helper.make_model(graph), str(fused))
    with pytest.raises(contact_detector.NotRecoverable, match="not a grey detector"):
        contact_detector.recover_members(fused)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(onnx_path.read_bytes()[:1000])
    assert contact_detector.main(["--data", str(footage), "--out", str(out), "--init", str(broken)]) == 4
    assert "not a readable ONNX file" in capsys.readouterr().err


def test_a_net_rebuilt_for_space_to_depth_reads_what_it_read_where_each_2x2_block_is_one_colour():
    torch.manual_seed(0)
    net = MotionContactDetector(4, local_temporal=True).eval()
    wide = contact_detector.as_space_to_depth(net)
    assert wide.space_to_depth and wide.grey_size == 96
    small = torch.randint(0, 256, (1, 12, 48, 48, 3), dtype=torch.uint8)
    blocky = small.repeat_interleave(2, 2).repeat_interleave(2, 3)     # each 48x48 pixel as a 2x2 block
    fine = torch.randint(0, 256, (1, 12, 96, 96, 3), dtype=torch.uint8)     # detail the 48x48 net averages away
    with torch.no_grad():
        same, differ = ((wide.logits(wide.grey(x)) - net.logits(net.grey(x))).abs().max() for x in (blocky, fine))
    assert same < 1e-7 and differ > 1e-5, (same, differ)
    with pytest.raises(ValueError):
        contact_detector.as_space_to_depth(MotionContactDetector(4, colour=True))
