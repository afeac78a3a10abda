"""The diffusion process: schedule, noising, DDIM sampling with double guidance (eq. 8),
and progressive distillation. Networks are passed in, as model_fn / cond_fn."""
import numpy as np
import torch

TRAIN_STEPS = 1000


def alphas_cumprod(beta_start: float = 0.00085, beta_end: float = 0.012) -> np.ndarray:
    """Scaled-linear schedule (as in latent diffusion)."""
    betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, TRAIN_STEPS, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def trailing_timesteps(steps: int, train_steps: int = TRAIN_STEPS) -> list[int]:
    """t_i = floor(T (N - i) / N) - 1 (models/README.md)."""
    return [train_steps * (steps - i) // steps - 1 for i in range(steps)]


class Schedule:
    def __init__(self, device="cpu"):
        self.np = alphas_cumprod()
        self.ac = torch.tensor(self.np, dtype=torch.float32, device=device)

    def q_sample(self, z0, t, noise):
        a = self.ac[t].view(-1, 1, 1, 1)
        return a.sqrt() * z0 + (1 - a).sqrt() * noise

    def alpha(self, t: int) -> float:
        return float(self.np[t]) if t >= 0 else 1.0


def guided_eps(unet, clf, z, t: int, feats, cfg: float, cg: float, schedule: Schedule):
    """ε̂ = (1+ω) ε(z,t,E) − ω ε(z,t,∅) − γ √(1−ᾱ_t) ∇ log P(y|z,t,E)   (eq. 8)."""
    b = z.shape[0]
    tt = torch.full((b,), float(t), device=z.device)
    if cfg != 0:
        eps_both = unet(torch.cat([z, z]), torch.cat([tt, tt]), torch.cat([feats, torch.zeros_like(feats)]))
        eps_c, eps_u = eps_both.chunk(2)
        eps = (1 + cfg) * eps_c - cfg * eps_u
    else:
        eps = unet(z, tt, feats)
    if cg != 0 and clf is not None:
        with torch.enable_grad():
            zg = z.detach().requires_grad_(True)
            logp = torch.nn.functional.logsigmoid(clf(zg, tt, feats)).sum()
            grad = torch.autograd.grad(logp, zg)[0]
        eps = eps - cg * (1 - schedule.alpha(t)) ** 0.5 * grad
    return eps


def ddim_step(z, eps, t: int, t_prev: int, schedule: Schedule):
    a, a_prev = schedule.alpha(t), schedule.alpha(t_prev)
    x0 = (z - (1 - a) ** 0.5 * eps) / a ** 0.5
    return a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps


def restart_noised(z_prev, t: int, t_prev: int, noise, schedule: Schedule):
    """z at t from z at t_prev by the forward process: √(ᾱ_t/ᾱ_prev)·z + √(1 − ᾱ_t/ᾱ_prev)·noise."""
    r = schedule.alpha(t) / schedule.alpha(t_prev)
    return r ** 0.5 * z_prev + (1 - r) ** 0.5 * noise


@torch.no_grad()
def sample(unet, clf, feats, noise, steps: int, cfg: float, cg: float, schedule: Schedule,
           cg_max_timestep: int = TRAIN_STEPS - 1, restarts: int = 0,
           restart_max_timestep: int = TRAIN_STEPS - 1, restart_noise=None):
    """DDIM (η=0) over trailing timesteps, starting from `noise` (the z_T). The classifier term
    acts only at timesteps <= cg_max_timestep: near t = T its gradient is of pure noise.

    Restarts (restart sampling, Xu et al. 2023, one step long): a step t -> t_prev with
    t <= restart_max_timestep and t_prev > 0 is taken `restarts` more times, each from its own
    result noised back to t with fresh noise `restart_noise(k)` (k counts restarts in order;
    default torch.randn). The few-step student gets a second look at the events it placed."""
    ts = trailing_timesteps(steps)
    z = noise
    k = 0
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        g = cg if t <= cg_max_timestep else 0.0
        z_t = z
        for r in range(1 + (restarts if t <= restart_max_timestep and t_prev >= 0 else 0)):
            if r:
                n = restart_noise(k) if restart_noise is not None else torch.randn_like(z)
                z_t = restart_noised(z, t, t_prev, n, schedule)
                k += 1
            z = ddim_step(z_t, guided_eps(unet, clf, z_t, t, feats, cfg, g, schedule), t, t_prev, schedule)
    return z


def pair_step_target(teacher_eps, z_t, t, t_mid, t_next, schedule: Schedule):
    """The ε that takes z_t to t_next in one DDIM step where the teacher's two steps t -> t_mid ->
    t_next land (per row; t_next -1 is the end, ᾱ = 1). `teacher_eps(z, t)` is the teacher's ε."""
    ac = torch.cat([schedule.ac, torch.ones(1, device=z_t.device)])  # index -1 -> ᾱ = 1

    def step(z, eps, ta, tb):
        a = ac[ta].view(-1, 1, 1, 1)
        ab = ac[tb].view(-1, 1, 1, 1)
        x0 = (z - (1 - a).sqrt() * eps) / a.sqrt()
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    z_mid = step(z_t, teacher_eps(z_t, t), t, t_mid)
    z_target = step(z_mid, teacher_eps(z_mid, t_mid), t_mid, t_next)
    a = ac[t].view(-1, 1, 1, 1)
    an = ac[t_next].view(-1, 1, 1, 1)
    denom = (1 - an).sqrt() - an.sqrt() * (1 - a).sqrt() / a.sqrt()
    return (z_target - an.sqrt() / a.sqrt() * z_t) / denom  # also right when ᾱ_next = 1


def halved_grid(student_steps: int, b: int, gen: torch.Generator | None = None, device="cpu"):
    """(t, t_mid, t_next) for b rows on the `student_steps` grid; the teacher's 2N grid nests it."""
    ts = trailing_timesteps(student_steps)
    idx = torch.randint(0, student_steps, (b,), generator=gen).to(device)
    t = torch.tensor(ts, device=device)[idx]
    t_next = torch.tensor(ts[1:] + [-1], device=device)[idx]
    t_mid = torch.tensor(trailing_timesteps(2 * student_steps)[1::2], device=device)[idx]
    return t, t_mid, t_next


def distill_loss(student, teacher, z0, feats, student_steps: int, schedule: Schedule):
    """Progressive distillation (Salimans & Ho 2022), ε-parameterized.

    The student takes one DDIM step t -> t'' on the `student_steps` grid and must land where two
    teacher steps t -> t' -> t'' land. Conditions are dropped as in training so CFG still works.
    """
    t, t_mid, t_next = halved_grid(student_steps, z0.shape[0], device=z0.device)
    noise = torch.randn_like(z0)
    z_t = schedule.q_sample(z0, t, noise)
    with torch.no_grad():
        eps_target = pair_step_target(lambda z, tt: teacher(z, tt.float(), feats), z_t, t, t_mid, t_next, schedule)
    pred = student(z_t, t.float(), feats)
    return torch.mean((pred - eps_target) ** 2)
