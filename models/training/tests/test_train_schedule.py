"""train_loop's learning-rate schedule: under a stage's time cap it must still warm up and anneal
to zero, whatever the step rate (a GPU call's LDM stops on its cap, not its step count)."""
import time
from types import SimpleNamespace

import torch

from foley.train import train_loop


def _run(monkeypatch, stage_seconds, steps, sleep):
    """Runs train_loop on a one-parameter problem; returns its info and the rate of every step."""
    w = torch.nn.Parameter(torch.zeros(1))
    lrs = []
    step_of_adamw = torch.optim.AdamW.step

    def recording_step(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        return step_of_adamw(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)

    def step(_):
        time.sleep(sleep)
        return (w - 1).pow(2).sum(), ""

    ctx = SimpleNamespace(cfg={"stage_seconds": stage_seconds, "distill_rounds": [4]})
    info = train_loop(ctx, "ldm", [w], steps, 1e-2, step, log_every=10 ** 9)
    return info, lrs


def test_time_capped_stage_warms_up_and_anneals_to_zero(monkeypatch):
    info, lrs = _run(monkeypatch, {"ldm": 2.0}, steps=100_000, sleep=0.01)
    assert info["steps_done"] < 1000  # stopped by the cap
    peak = max(lrs)
    assert peak > 0.9e-2, "the warm-up never reached the peak rate"
    assert lrs.index(peak) < len(lrs) // 3
    assert lrs[-1] < 0.05 * peak, f"ended at {lrs[-1]:.2e}, not annealed"


def test_uncapped_stage_follows_its_steps(monkeypatch):
    info, lrs = _run(monkeypatch, {}, steps=200, sleep=0.0)
    assert info["steps_done"] == 200
    assert lrs[0] < 0.2e-2 and max(lrs) > 0.99e-2 and lrs[-1] < 1e-5
