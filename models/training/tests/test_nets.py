import torch
import torch.nn.functional as F

from foley import nets


def _classifier_and_inputs(seed: int, timesteps: list, frames: int):
    """A width-32 classifier and random (z_t, t, features) for len(timesteps) inputs; z_t needs grad."""
    torch.manual_seed(seed)
    b = len(timesteps)
    return (nets.AlignClassifier(32), torch.randn(b, 4, frames, 16, requires_grad=True),
            torch.tensor(timesteps), torch.randn(b, frames, 64))


def test_align_classifier_exported_gradient_equals_autograd():
    clf, z, t, f = _classifier_and_inputs(0, [0.0, 400.0, 999.0], 12)
    logit, grad = nets.AlignClassifierWithGrad(clf)(z, t, f)
    ref = torch.autograd.grad(F.logsigmoid(clf(z, t, f)).sum(), z)[0]
    assert torch.allclose(logit, clf(z, t, f))
    assert (grad - ref).abs().max() / ref.abs().max() < 1e-5


def test_guidance_classifier_divides_the_logit_and_its_exported_gradient_follows():
    clf, z, t, f = _classifier_and_inputs(1, [10.0, 900.0], 8)
    before = clf(z, t, f).detach()
    warm = nets.for_guidance(clf, 20.0)
    assert torch.allclose(warm(z, t, f), before / 20.0, atol=1e-6)
    assert torch.allclose(clf(z, t, f), before)  # the original is untouched
    assert nets.for_guidance(clf, 1.0) is clf
    _, grad = nets.AlignClassifierWithGrad(warm)(z, t, f)
    ref = torch.autograd.grad(F.logsigmoid(clf(z, t, f) / 20.0).sum(), z)[0]
    assert (grad - ref).abs().max() / ref.abs().max() < 1e-5


def test_windowed_classifier_gives_one_logit_per_window_and_the_summed_gradient():
    clf, z, t, f = _classifier_and_inputs(2, [100.0, 600.0], 70)
    win = nets.for_guidance(clf, 1.0, 32)
    logits = win(z, t, f)
    assert logits.shape == (2, 3)  # 32 + 32 + 6 frames
    pool = nets.window_pooling(70, 32, z)
    assert torch.allclose(pool.sum(dim=0), torch.ones(3))
    assert torch.allclose(pool[64:, 2], torch.full((6,), 1 / 6))
    whole = nets.for_guidance(clf, 1.0, 1000)(z, t, f)  # one window longer than the input
    assert torch.allclose(whole[:, 0], clf(z, t, f), atol=1e-6)
    got_logits, grad = nets.AlignClassifierWithGrad(win)(z, t, f)
    ref = torch.autograd.grad(F.logsigmoid(logits).sum(), z)[0]
    assert torch.allclose(got_logits, logits, atol=1e-6)
    assert (grad - ref).abs().max() / ref.abs().max() < 1e-5
    # Pooled per window, the gradient is not the whole-input one.
    whole_grad = torch.autograd.grad(F.logsigmoid(clf(z, t, f)).sum(), z)[0]
    assert (grad - whole_grad).abs().max() > 1e-3 * whole_grad.abs().max()


def test_unet_keeps_latent_shape_for_any_multiple_of_four_frames():
    unet = nets.UNet((16, 24, 32)).eval()
    for frames in (8, 20, 100):
        z = torch.randn(2, 4, frames, 16)
        eps = unet(z, torch.tensor([1.0, 500.0]), torch.randn(2, frames, 64))
        assert eps.shape == z.shape


def test_unet_output_depends_on_video_features():
    torch.manual_seed(0)
    unet = nets.UNet((16, 24, 32)).eval()
    z = torch.randn(1, 4, 16, 16)
    a = unet(z, torch.tensor([10.0]), torch.zeros(1, 16, 64))
    b = unet(z, torch.tensor([10.0]), torch.randn(1, 16, 64))
    assert (a - b).abs().max() > 1e-4


def test_video_encoder_gives_one_feature_per_frame():
    enc = nets.VideoEncoder(64, 8)
    frames = torch.randint(0, 256, (2, 10, 96, 96, 3), dtype=torch.uint8)
    assert enc(frames).shape == (2, 10, 64)


def test_latent_autoencoder_shapes_follow_the_manifest_layout():
    ae = nets.LatentAutoencoder(8)
    z = ae.encode(torch.randn(1, 64, 80))
    assert z.shape == (1, 4, 20, 16)
    assert ae.decode(z).shape == (1, 64, 80)


def test_cavp_loss_is_lower_for_aligned_pairs_after_a_few_steps():
    torch.manual_seed(0)
    model = nets.Cavp(64, 8)
    frames = torch.randint(0, 256, (4, 8, 96, 96, 3), dtype=torch.uint8)
    mel = torch.randn(4, 64, 32)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    first = None
    for _ in range(15):
        loss, _, _ = nets.cavp_loss(model, frames, mel)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first


@torch.no_grad()
def test_video_encoder_reach_is_what_the_manifest_declares():
    """Output frame t moves with input frame t+d exactly for d in [-context_frames, right_context_frames]:
    the live path trusts look-ahead features only that far from the last frame that arrived."""
    torch.manual_seed(0)
    enc = nets.VideoEncoder(64, 8).eval()
    frames = torch.randint(0, 256, (1, 15, 96, 96, 3), dtype=torch.uint8)
    base = enc(frames)[0]
    reach = set()
    for d in range(-5, 6):
        changed = frames.clone()
        changed[0, 7 + d] = 255 - changed[0, 7 + d]
        if (enc(changed)[0, 7] - base[7]).abs().max() > 1e-6:
            reach.add(d)
    assert reach == set(range(-nets.VideoEncoder.context_frames, nets.VideoEncoder.right_context_frames + 1))


def test_a_causal_video_encoder_sees_no_frame_ahead_and_keeps_its_past_taps():
    torch.manual_seed(0)
    enc = nets.VideoEncoder(nets.FEATURE_DIM, 8).eval()
    frames = torch.randint(0, 256, (1, 12, 96, 96, 3), dtype=torch.uint8)
    before = enc.temporal.weight.detach().clone()
    enc.make_causal()
    assert (enc.context_frames, enc.right_context_frames) == (nets.VideoEncoder.CAUSAL_CONTEXT, 0)
    assert torch.equal(enc.temporal.weight[..., 2:], before[..., :3]) and not enc.temporal.weight[..., :2].any()
    changed = frames.clone()
    changed[:, 7:] = 255 - changed[:, 7:]
    with torch.no_grad():
        a, b = enc.clip_features(frames), enc.clip_features(changed)
    assert a.shape == (1, 12, nets.FEATURE_DIM)
    assert torch.allclose(a[:, :7], b[:, :7]) and not torch.allclose(a[:, 7], b[:, 7])
    # A non-causal encoder's frame 5 sees frame 7.
    plain = nets.VideoEncoder(nets.FEATURE_DIM, 8).eval()
    with torch.no_grad():
        assert not torch.allclose(plain.clip_features(frames)[:, 5], plain.clip_features(changed)[:, 5])
