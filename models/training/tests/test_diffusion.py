import torch

from foley import diffusion


def test_trailing_timesteps_follow_the_manifest_formula():
    assert diffusion.trailing_timesteps(4) == [999, 749, 499, 249]
    assert diffusion.trailing_timesteps(1) == [999]
    assert diffusion.trailing_timesteps(8)[::2] == diffusion.trailing_timesteps(4)


def test_ddim_with_the_true_noise_recovers_the_clean_latent():
    sched = diffusion.Schedule()
    z0 = torch.randn(1, 4, 8, 16)
    noise = torch.randn_like(z0)
    zt = sched.q_sample(z0, torch.tensor([749]), noise)
    out = diffusion.ddim_step(zt, noise, 749, -1, sched)
    assert torch.allclose(out, z0, atol=1e-4)


class _Const(torch.nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, z, t, feats):
        has_cond = (feats.abs().sum(dim=(1, 2)) > 0).float().view(-1, 1, 1, 1)
        return torch.full_like(z, self.value) * has_cond


def test_cfg_combines_conditional_and_unconditional_as_eq7():
    sched = diffusion.Schedule()
    unet = _Const(1.0)  # ε = 1 with features, 0 with the null (zero) features
    z = torch.zeros(1, 4, 8, 16)
    eps = diffusion.guided_eps(unet, None, z, 999, torch.ones(1, 8, 64), cfg=2.0, cg=0.0, schedule=sched)
    assert torch.allclose(eps, torch.full_like(z, 3.0))  # (1+ω)·1 − ω·0


class _CountingClassifier(torch.nn.Module):
    """Logit Σz, so ∇ log σ is nonzero everywhere; records the timesteps it was asked at."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, z, t, feats):
        self.seen.append(int(t[0]))
        return z.sum(dim=(1, 2, 3)) * 1e-3


def test_classifier_guidance_acts_only_at_timesteps_up_to_cg_max_timestep():
    sched = diffusion.Schedule()
    unet, clf = _Const(0.0), _CountingClassifier()
    noise = torch.randn(1, 4, 8, 16, generator=torch.Generator().manual_seed(3))
    feats = torch.ones(1, 8, 64)
    late = diffusion.sample(unet, clf, feats, noise.clone(), 4, 0.0, 5.0, sched, cg_max_timestep=600)
    assert clf.seen == [499, 249]
    everywhere = diffusion.sample(unet, clf, feats, noise.clone(), 4, 0.0, 5.0, sched)
    none = diffusion.sample(unet, None, feats, noise.clone(), 4, 0.0, 0.0, sched)
    assert clf.seen[2:] == [999, 749, 499, 249]
    assert not torch.allclose(late, none) and not torch.allclose(late, everywhere)


class _Recording(torch.nn.Module):
    """ε = z − 0.3 (the result depends on the path); records (t, z) of every call."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, z, t, feats):
        self.calls.append((int(t[0]), z.clone()))
        return z - 0.3


def test_restarts_redo_the_steps_up_to_their_timestep_from_their_result_noised_back():
    sched = diffusion.Schedule()
    noise = torch.randn(1, 4, 8, 16, generator=torch.Generator().manual_seed(3))
    feats = torch.ones(1, 8, 64)
    unet = _Recording()
    plain = diffusion.sample(unet, None, feats, noise.clone(), 4, 0.0, 0.0, sched)
    assert [t for t, _ in unet.calls] == [999, 749, 499, 249]
    fresh = [torch.full_like(noise, float(k)) for k in range(4)]
    asked = []
    unet = _Recording()
    out = diffusion.sample(unet, None, feats, noise.clone(), 4, 0.0, 0.0, sched, restarts=2,
                           restart_max_timestep=800, restart_noise=lambda k: asked.append(k) or fresh[k])
    # The last step (249 -> clean) is never restarted; 999 is above the restart timestep.
    assert [t for t, _ in unet.calls] == [999, 749, 749, 749, 499, 499, 499, 249]
    assert asked == [0, 1, 2, 3]
    # The first restart of step 749 starts from that step's result noised back to 749 with fresh[0].
    z_after = diffusion.ddim_step(unet.calls[1][1], unet.calls[1][1] - 0.3, 749, 499, sched)
    want = diffusion.restart_noised(z_after, 749, 499, fresh[0], sched)
    assert torch.allclose(unet.calls[2][1], want, atol=1e-6)
    assert not torch.allclose(out, plain)
    same = diffusion.sample(_Recording(), None, feats, noise.clone(), 4, 0.0, 0.0, sched, restarts=0, restart_max_timestep=800)
    assert torch.equal(same, plain)


def test_distill_loss_is_finite_and_trains_the_student():
    torch.manual_seed(0)
    from foley.nets import UNet
    teacher = UNet((16, 24, 32)).eval()
    student = UNet((16, 24, 32))
    student.load_state_dict(teacher.state_dict())
    sched = diffusion.Schedule()
    loss = diffusion.distill_loss(student, teacher, torch.randn(2, 4, 8, 16), torch.randn(2, 8, 64), 4, sched)
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
