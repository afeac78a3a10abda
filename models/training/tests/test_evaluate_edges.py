import numpy as np
import torch

from foley import evaluate
from foley.audio import HOP
from foley.nets import VideoEncoder, edge_guarded


def test_video_frames_repeat_the_first_and_last_frame_over_the_encoder_reach():
    frames = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((5, 2, 2, 3), np.uint8)
    left, right = VideoEncoder.context_frames, VideoEncoder.right_context_frames
    out = edge_guarded(torch.from_numpy(frames)[None], left, right)[0].numpy()
    assert out.shape[0] == 5 + left + right
    assert (out[:left] == 0).all() and (out[-right:] == 4).all()
    assert (out[left: left + 5] == frames).all()


def test_edge_guarded_repeats_edge_frames_on_both_sides():
    x = torch.arange(6.0).view(1, 3, 2)
    out = edge_guarded(x, 2)
    assert out.shape == (1, 7, 2)
    assert out[0, :2].tolist() == [[0.0, 1.0]] * 2 and out[0, -2:].tolist() == [[4.0, 5.0]] * 2


def test_guarded_render_renders_the_guards_and_returns_the_clip_samples_only():
    mel = torch.randn(64, 20)
    seen = {}

    def render(m):
        seen["frames"] = m.shape[1]
        # A waveform whose samples name their mel frame: the cut must keep frames 0..19 of `mel`.
        return torch.arange(m.shape[1]).repeat_interleave(HOP).float()

    wav = evaluate.guarded_render(render, mel)
    g = evaluate.GUARD * 4
    assert seen["frames"] == 20 + 2 * g
    assert wav.shape[0] == 20 * HOP
    assert wav[0] == g and wav[-1] == g + 19


def test_clip_features_take_the_video_as_frozen_past_the_clip_ends():
    torch.manual_seed(0)
    enc = VideoEncoder(width=4).eval()
    frames = torch.randint(0, 255, (1, 12, 16, 16, 3), dtype=torch.uint8)
    with torch.no_grad():
        got = enc.clip_features(frames)
        # Ten frozen frames each side: every output frame's reach lies inside the frozen video.
        frozen = torch.cat([frames[:, :1].repeat(1, 10, 1, 1, 1), frames, frames[:, -1:].repeat(1, 10, 1, 1, 1)], 1)
        want = enc(frozen)[:, 10:22]
        zero_padded = enc(frames)
    assert got.shape == (1, 12, want.shape[2])
    assert torch.allclose(got, want, atol=1e-5)
    # Against zero padding the edge features differ, so the test can tell the two rules apart.
    assert not torch.allclose(got[:, -1], zero_padded[:, -1], atol=1e-3)
