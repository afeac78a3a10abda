"""The LDM and distillation draw z0 from whole-clip latents (train.latents_for): windows and
split & merge must take latent frames and video features from the same clip and time."""
from types import SimpleNamespace

import torch

from foley.train import Store, ldm_batch


def _store(n, t):
    st = SimpleNamespace(n=n, t=t)
    st.starts = lambda b, w, gen: Store.starts(st, b, w, gen)
    return st


def test_windows_gather_latents_and_features_of_the_same_frames():
    n, t, w, b = 5, 40, 12, 16
    # Latent value = clip * 1000 + frame, features likewise: each gathered frame names its source.
    lat = (torch.arange(n)[:, None] * 1000 + torch.arange(t)[None]).float()[:, None, :, None].expand(n, 4, t, 16).contiguous()
    feats = (torch.arange(n)[:, None] * 1000 + torch.arange(t)[None]).float()[:, :, None].expand(n, t, 8).contiguous()
    ctx = SimpleNamespace(device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    z0, fv = ldm_batch(ctx, _store(n, t), gen, feats, lat, b, w, split_merge_p=0.5)
    assert z0.shape == (b, 4, w, 16) and fv.shape == (b, w, 8)
    assert torch.equal(z0[:, 0, :, 0], fv[:, :, 0])
    src = z0[:, 0, :, 0]
    clip, frame = src // 1000, src % 1000
    # Consecutive frames of one clip, except that a merged window jumps once (to another clip,
    # or to another time of the same one).
    breaks = ~((clip[:, 1:] == clip[:, :-1]) & (frame[:, 1:] - frame[:, :-1] == 1))
    assert breaks.sum(1).max() == 1 and (breaks.sum(1) == 0).sum() > 0
