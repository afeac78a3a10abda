"""The networks of the model family. Processes (training, sampling) live elsewhere.

Tensor layouts follow models/README.md: mel [B, 64, F]; latent [B, C'=4, T, M/r=16];
video frames uint8 [B, T, H, W, 3]; CAVP features [B, T, D].
"""
import copy
import math

import torch
from torch import nn
import torch.nn.functional as F

from .audio import InverseStft, N_MELS, WIN

LATENT_CHANNELS = 4
LATENT_MELS = 16
MEL_PER_LATENT = 4
FEATURE_DIM = 64


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def groups(ch: int) -> int:
    return 8 if ch % 8 == 0 else 1


# ---------------------------------------------------------------- CAVP ---

def edge_guarded(x: torch.Tensor, before: int, after: int | None = None) -> torch.Tensor:
    """[B, T, ...] with its first frame repeated `before` times and its last `after` times
    (default: as many as before)."""
    after = before if after is None else after
    rest = x.shape[2:]
    return torch.cat([x[:, :1].expand(-1, before, *rest), x, x[:, -1:].expand(-1, after, *rest)], 1)


class VideoEncoder(nn.Module):
    """CAVP video encoder: per-frame CNN on (frame, frame difference), then a temporal conv.

    Output frame t sees input frames t-3 .. t+2 (difference: 1 back; temporal conv: 2 each side).
    """

    context_frames = 3  # reach on either side (the larger one, behind)
    right_context_frames = 2  # reach ahead: what a live look-ahead must wait for
    causal = False
    CAUSAL_CONTEXT = 5  # a causal encoder's reach behind: temporal conv 4, difference 1

    def __init__(self, dim: int = FEATURE_DIM, width: int = 16):
        super().__init__()
        w = width
        # The 96x96 input is pooled to 48x48 first: a sound-making contact is a coarse event,
        # and the CNN is the largest cost of the live path.
        self.cnn = nn.Sequential(
            nn.Conv2d(6, w, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w, w * 2, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w * 2, w * 4, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w * 4, w * 4, 3, padding=1), nn.SiLU(),
        )
        self.proj = nn.Linear(w * 8, dim * 2)
        self.temporal = nn.Conv1d(dim * 2, dim * 2, 5, padding=2)
        self.out = nn.Sequential(nn.SiLU(), nn.Conv1d(dim * 2, dim, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[0], frames.shape[1]
        x = frames.float().permute(0, 1, 4, 2, 3) / 255.0  # [B, T, 3, H, W]
        x = F.avg_pool2d(x.flatten(0, 1), 2).view(b, t, 3, x.shape[-2] // 2, x.shape[-1] // 2)
        diff = x - torch.cat([x[:, :1], x[:, :-1]], dim=1)
        x = torch.cat([x - 0.5, diff * 4.0], dim=2).flatten(0, 1)
        h = self.cnn(x)
        h = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        h = self.proj(h).view(b, t, -1).transpose(1, 2)
        g = F.silu(h)
        h = h + self.temporal(F.pad(g, (4, 0)) if self.causal else g)
        return self.out(h).transpose(1, 2)

    def make_causal(self, keep_weights: bool = True) -> "VideoEncoder":
        """Output frame t sees frames t-5 .. t only: nothing ahead, for a live path that does not
        wait for the future. keep_weights: the temporal taps at and behind t keep their values,
        those ahead are dropped (the rest of the network is unchanged)."""
        if not self.causal:
            if keep_weights:
                with torch.no_grad():
                    w = self.temporal.weight
                    w.copy_(torch.cat([torch.zeros_like(w[..., :2]), w[..., :3]], -1))
            self.temporal.padding = (0,)
            self.causal = True
            self.context_frames, self.right_context_frames = self.CAUSAL_CONTEXT, 0
        return self

    def clip_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Features of whole clips [B, T, H, W, 3], the video taken as frozen past their ends: a
        feature computed against the zero padding reads as motion (a contact sounded in the last
        80 ms). Training, evaluation and the live path all use this rule."""
        left, right, t = self.context_frames, self.right_context_frames, frames.shape[1]
        return self(edge_guarded(frames, left, right))[:, left: left + t]


class AudioEncoder(nn.Module):
    """CAVP audio encoder: mel [B, 64, 4T] -> features [B, T, D] at the video frame rate."""

    def __init__(self, dim: int = FEATURE_DIM, width: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(N_MELS, width, 5, padding=2), nn.SiLU(),
            nn.Conv1d(width, width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv1d(width, width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv1d(width, width, 5, padding=2), nn.SiLU(),
            nn.Conv1d(width, dim, 1),
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.net(mel).transpose(1, 2)


class Cavp(nn.Module):
    def __init__(self, dim: int = FEATURE_DIM, video_width: int = 16):
        super().__init__()
        self.video = VideoEncoder(dim, video_width)
        self.audio = AudioEncoder(dim)
        self.log_temp_semantic = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.log_temp_temporal = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


def info_nce(a: torch.Tensor, v: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over the last-but-one axis; a, v [..., N, D]."""
    a = F.normalize(a, dim=-1)
    v = F.normalize(v, dim=-1)
    logits = torch.matmul(v, a.transpose(-1, -2)) * log_scale.exp().clamp(max=100)
    target = torch.arange(logits.shape[-1], device=logits.device).expand(logits.shape[:-1])
    flat = logits.reshape(-1, logits.shape[-1])
    tgt = target.reshape(-1)
    flat_t = logits.transpose(-1, -2).reshape(-1, logits.shape[-1])
    return 0.5 * (F.cross_entropy(flat, tgt) + F.cross_entropy(flat_t, tgt))


def cavp_loss(model: Cavp, frames: torch.Tensor, mel: torch.Tensor, segment_frames: int = 4) -> tuple:
    """L = L_S + λ L_T (eq. 1, 2), λ = 1.

    Semantic: clip-pooled features contrasted across the batch (other videos are negatives).
    Temporal: segment-pooled features contrasted across segments of the same clip.
    """
    return cavp_feature_loss(model, model.video(frames), model.audio(mel), segment_frames)


def cavp_feature_loss(model: Cavp, ev: torch.Tensor, ea: torch.Tensor, segment_frames: int = 4) -> tuple:
    """cavp_loss on video and audio features [B, T, D] already computed (a frozen side precomputed)."""
    loss_s = info_nce(ea.mean(1), ev.mean(1), model.log_temp_semantic)
    b, t, d = ev.shape
    s = t // segment_frames
    seg_v = ev[:, : s * segment_frames].reshape(b, s, segment_frames, d).mean(2)
    seg_a = ea[:, : s * segment_frames].reshape(b, s, segment_frames, d).mean(2)
    loss_t = info_nce(seg_a, seg_v, model.log_temp_temporal)
    return loss_s + loss_t, loss_s.detach(), loss_t.detach()


# --------------------------------------------------------- autoencoder ---

class ResBlock2d(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(groups(ch), ch), nn.Conv2d(ch, ch, 3, padding=1)
        self.n2, self.c2 = nn.GroupNorm(groups(ch), ch), nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        h = self.c1(F.silu(self.n1(x)))
        return x + self.c2(F.silu(self.n2(h)))


class LatentAutoencoder(nn.Module):
    """mel [B, 64, F] <-> latent [B, 4, F/4, 16] (time before mel, as the latent layout says).

    `scale` normalizes latents to unit variance for the diffusion; it is set after training.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.enc = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), ResBlock2d(w),
            nn.Conv2d(w, w * 2, 4, stride=2, padding=1), ResBlock2d(w * 2),
            nn.Conv2d(w * 2, w * 2, 4, stride=2, padding=1), ResBlock2d(w * 2),
            nn.GroupNorm(8, w * 2), nn.SiLU(), nn.Conv2d(w * 2, LATENT_CHANNELS, 3, padding=1),
        )
        self.dec = nn.Sequential(
            nn.Conv2d(LATENT_CHANNELS, w * 2, 3, padding=1), ResBlock2d(w * 2), ResBlock2d(w * 2),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w * 2, w, 3, padding=1), ResBlock2d(w),
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, w // 2, 3, padding=1), ResBlock2d(w // 2),
            nn.GroupNorm(groups(w // 2), w // 2), nn.SiLU(), nn.Conv2d(w // 2, 1, 3, padding=1),
        )
        self.register_buffer("scale", torch.ones(()))

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        z = self.enc(mel.transpose(1, 2)[:, None])  # [B, 1, F, 64] -> [B, 4, F/4, 16]
        return z * self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(z / self.scale)[:, 0].transpose(1, 2)


class LatentDecoder(nn.Module):
    """Export wrapper: latent -> mel."""

    def __init__(self, ae: LatentAutoencoder):
        super().__init__()
        self.ae = ae

    def forward(self, latent):
        return self.ae.decode(latent)


# ----------------------------------------------------------------- UNet ---

class ResBlock1d(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, feat_dim: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(groups(cin), cin), nn.Conv1d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.feat = nn.Conv1d(feat_dim, cout, 1)  # frame-aligned video features, added to the maps
        self.n2, self.c2 = nn.GroupNorm(groups(cout), cout), nn.Conv1d(cout, cout, 3, padding=1)
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb, feat):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.emb(emb)[:, :, None] + self.feat(feat)
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class CrossAttention(nn.Module):
    def __init__(self, ch: int, ctx_dim: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups(ch), ch)
        self.q = nn.Linear(ch, ch)
        self.kv = nn.Linear(ctx_dim, ch * 2)
        self.o = nn.Linear(ch, ch)

    def forward(self, x, ctx):
        b, c, t = x.shape
        q = self.q(self.norm(x).transpose(1, 2))
        k, v = self.kv(ctx).chunk(2, dim=-1)
        h, d = self.heads, c // self.heads
        q = q.view(b, t, h, d).transpose(1, 2)
        k = k.view(b, -1, h, d).transpose(1, 2)
        v = v.view(b, -1, h, d).transpose(1, 2)
        att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d), dim=-1)
        out = torch.matmul(att, v).transpose(1, 2).reshape(b, t, c)
        return x + self.o(out).transpose(1, 2)


# Hidden width of the contact column's map into the features (UNet.enable_contact_input).
CONTACT_HIDDEN = 32


class UNet(nn.Module):
    """ε-predictor on the latent seen as a 1-D sequence of C'·M/r channels over time.

    Conditioning: cross-attention to the CAVP features (as in the paper) at the two coarser
    levels, plus each frame's feature added to the feature maps at every level (that is what
    carries sync).
    """

    def __init__(self, widths=(128, 192, 256), feat_dim: int = FEATURE_DIM):
        super().__init__()
        cin = LATENT_CHANNELS * LATENT_MELS
        emb = widths[0] * 2
        self.emb_dim = widths[0]
        self.time_mlp = nn.Sequential(nn.Linear(widths[0], emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = nn.Conv1d(cin, widths[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.down_attn = nn.ModuleList()
        self.downsample = nn.ModuleList()
        ch = widths[0]
        for i, w in enumerate(widths):
            self.down_blocks.append(ResBlock1d(ch, w, emb, feat_dim))
            self.down_attn.append(CrossAttention(w, feat_dim) if i > 0 else nn.Identity())
            ch = w
            if i < len(widths) - 1:
                self.downsample.append(nn.Conv1d(w, w, 4, stride=2, padding=1))
        self.mid1 = ResBlock1d(ch, ch, emb, feat_dim)
        self.mid_attn = CrossAttention(ch, feat_dim)
        self.mid2 = ResBlock1d(ch, ch, emb, feat_dim)
        self.up_blocks = nn.ModuleList()
        self.up_attn = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up_blocks.append(ResBlock1d(ch + w, w, emb, feat_dim))
            self.up_attn.append(CrossAttention(w, feat_dim) if i > 0 else nn.Identity())
            ch = w
            if i > 0:
                self.upsample.append(nn.ConvTranspose1d(w, widths[i - 1], 4, stride=2, padding=1))
                ch = widths[i - 1]
        self.out = nn.Sequential(nn.GroupNorm(groups(ch), ch), nn.SiLU(), nn.Conv1d(ch, cin, 3, padding=1))
        self.levels = len(widths)
        self.feat_dim = feat_dim
        self.contact = None

    def enable_contact_input(self) -> "UNet":
        """Makes the UNet read one more feature column, the contact detector's per-frame
        probability p, mapped to a vector added to the video features (p = 0, as in a dropped
        condition, adds nothing). The last layer starts at zero, so the UNet is unchanged until
        trained (foley.contact_student)."""
        self.contact = nn.Sequential(nn.Linear(1, CONTACT_HIDDEN, bias=False), nn.SiLU(),
                                     nn.Linear(CONTACT_HIDDEN, self.feat_dim, bias=False))
        nn.init.zeros_(self.contact[2].weight)
        return self

    @property
    def input_feature_dim(self) -> int:
        """Columns of video_features: the features, and the contact column when it reads one."""
        return self.feat_dim + (1 if self.contact is not None else 0)

    def forward(self, z_t: torch.Tensor, timestep: torch.Tensor, video_features: torch.Tensor) -> torch.Tensor:
        b, c, t, m = z_t.shape
        if self.contact is not None:
            video_features = video_features[..., :self.feat_dim] + self.contact(video_features[..., self.feat_dim:])
        x = z_t.permute(0, 1, 3, 2).reshape(b, c * m, t)
        emb = self.time_mlp(timestep_embedding(timestep, self.emb_dim))
        feat = video_features.transpose(1, 2)  # [B, D, T]
        feats = [feat]
        for _ in range(self.levels - 1):
            feats.append(F.avg_pool1d(feats[-1], 2))
        h = self.stem(x)
        skips = []
        for i in range(self.levels):
            h = self.down_blocks[i](h, emb, feats[i])
            if i > 0:
                h = self.down_attn[i](h, video_features)
            skips.append(h)
            if i < self.levels - 1:
                h = self.downsample[i](h)
        h = self.mid1(h, emb, feats[-1])
        h = self.mid_attn(h, video_features)
        h = self.mid2(h, emb, feats[-1])
        for j in range(self.levels):
            i = self.levels - 1 - j
            h = self.up_blocks[j](torch.cat([h, skips[i]], dim=1), emb, feats[i])
            if i > 0:
                h = self.up_attn[j](h, video_features)
                h = self.upsample[j](h)
        out = self.out(h)
        return out.reshape(b, c, m, t).permute(0, 1, 3, 2)


# ------------------------------------------------- alignment classifier ---

class AlignClassifier(nn.Module):
    """P(aligned | z_t, t, E_v). No normalization layers: the gradient graph stays simple."""

    def __init__(self, width: int = 128, feat_dim: int = FEATURE_DIM):
        super().__init__()
        cin = LATENT_CHANNELS * LATENT_MELS
        self.emb_dim = 64
        self.time = nn.Sequential(nn.Linear(64, width), nn.SiLU(), nn.Linear(width, width))
        self.inp = nn.Conv1d(cin + feat_dim, width, 3, padding=1)
        self.c1 = nn.Conv1d(width, width, 5, padding=2)
        self.c2 = nn.Conv1d(width, width, 5, padding=4, dilation=2)
        self.c3 = nn.Conv1d(width, width, 3, padding=1)
        self.head = nn.Linear(width, 1)
        # Trained with one logit per input (None). For guidance, `for_guidance` sets a window of
        # latent frames: one logit per window, so a misaligned second is not averaged away.
        self.window: int | None = None

    def forward(self, z_t, timestep, video_features):
        b, c, t, m = z_t.shape
        x = z_t.permute(0, 1, 3, 2).reshape(b, c * m, t)
        x = torch.cat([x, video_features.transpose(1, 2)], dim=1)
        e = self.time(timestep_embedding(timestep, self.emb_dim))[:, :, None]
        h = F.silu(self.inp(x) + e)
        h = h + F.silu(self.c1(h))
        h = h + F.silu(self.c2(h))
        h = F.silu(self.c3(h))
        return self.output(self.window_logits(h)[0])

    def window_logits(self, h):
        """Logits [b, windows] of the last features h [b, width, t], with the pooling matrix."""
        pool = window_pooling(h.shape[2], self.window, h)
        return self.head((h @ pool).transpose(1, 2))[..., 0], pool

    def output(self, logits):
        """[b] as trained (one window), [b, windows] when a window is set."""
        return logits[:, 0] if self.window is None else logits


def window_pooling(t: int, window: int | None, like: torch.Tensor) -> torch.Tensor:
    """[t, windows] matrix whose columns average consecutive `window` frames (the last window
    may be shorter); one column averaging all t when window is None. Built from an arange so
    the exported graph keeps a dynamic frame count."""
    if window is None:
        return torch.ones(t, 1, dtype=like.dtype, device=like.device) / t
    k = torch.div(torch.arange(t, device=like.device), window, rounding_mode="floor")
    member = (k[:, None] == torch.arange(torch.div(t + window - 1, window, rounding_mode="floor"), device=like.device)[None]).to(like.dtype)
    return member / member.sum(dim=0, keepdim=True)


def for_guidance(clf: AlignClassifier, temperature: float = 1.0, window: int | None = None) -> AlignClassifier:
    """A copy of `clf` for eq. 8: logit divided by `temperature` (the head scaled), P = σ(l / T),
    and one logit per `window` latent frames (log P summed over windows in guided_eps).

    Pooled over a whole 8 s clip the classifier's logits on the student's samples run 9 to 22:
    ∇ log σ(l) vanished even where one second was misaligned, and eq. 8 added nothing to CFG.
    """
    if temperature == 1.0 and window == clf.window:
        return clf
    out = copy.deepcopy(clf)
    out.window = window
    with torch.no_grad():
        out.head.weight /= temperature
        out.head.bias /= temperature
    return out


class AlignClassifierWithGrad(nn.Module):
    """Export wrapper: logit(s) and ∇_{z_t} Σ log σ(logit), both computed in the graph.

    The backward pass is written out with forward ops (conv_transpose1d for each conv) because
    the ONNX exporter does not trace autograd; tests check it against torch.autograd.
    """

    def __init__(self, clf: AlignClassifier):
        super().__init__()
        self.clf = clf

    def forward(self, z_t, timestep, video_features):
        c = self.clf
        b, ch, t, m = z_t.shape
        x = torch.cat([z_t.permute(0, 1, 3, 2).reshape(b, ch * m, t), video_features.transpose(1, 2)], dim=1)
        e = c.time(timestep_embedding(timestep, c.emb_dim))[:, :, None]
        a0 = c.inp(x) + e
        h0 = F.silu(a0)
        a1 = c.c1(h0)
        h1 = h0 + F.silu(a1)
        a2 = c.c2(h1)
        h2 = h1 + F.silu(a2)
        a3 = c.c3(h2)
        h3 = F.silu(a3)
        logits, pool = c.window_logits(h3)  # [b, windows], [t, windows]

        def dsilu(a):
            s = torch.sigmoid(a)
            return s * (1 + a * (1 - s))

        g = torch.sigmoid(-logits)  # d log σ(l_k) / dl_k
        dh3 = c.head.weight[0][None, :, None] * (g @ pool.T)[:, None, :]
        da3 = dh3 * dsilu(a3)
        dh2 = F.conv_transpose1d(da3, c.c3.weight, padding=1)
        dh1 = dh2 + F.conv_transpose1d(dh2 * dsilu(a2), c.c2.weight, padding=4, dilation=2)
        dh0 = dh1 + F.conv_transpose1d(dh1 * dsilu(a1), c.c1.weight, padding=2)
        dx = F.conv_transpose1d(dh0 * dsilu(a0), c.inp.weight, padding=1)
        grad = dx[:, : ch * m].reshape(b, ch, m, t).permute(0, 1, 3, 2)
        return c.output(logits), grad


# -------------------------------------------------------------- vocoder ---

class ConvNeXtBlock(nn.Module):
    def __init__(self, ch: int, mult: int = 3):
        super().__init__()
        self.dw = nn.Conv1d(ch, ch, 7, padding=3, groups=ch)
        self.norm = nn.LayerNorm(ch)
        self.pw1 = nn.Linear(ch, ch * mult)
        self.pw2 = nn.Linear(ch * mult, ch)
        self.gamma = nn.Parameter(torch.full((ch,), 0.1))

    def forward(self, x):
        h = self.dw(x).transpose(1, 2)
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class Vocoder(nn.Module):
    """Vocos-style: mel -> per-frame magnitude and phase -> inverse STFT (fixed conv)."""

    def __init__(self, width: int = 192, blocks: int = 6):
        super().__init__()
        self.bins = WIN // 2 + 1
        self.inp = nn.Conv1d(N_MELS, width, 7, padding=3)
        self.blocks = nn.Sequential(*[ConvNeXtBlock(width) for _ in range(blocks)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, self.bins * 2)
        self.istft = InverseStft()

    def forward(self, mel):
        h = self.blocks(self.inp(mel)).transpose(1, 2)
        out = self.head(self.norm(h)).transpose(1, 2)
        log_mag, phase = out[:, : self.bins], out[:, self.bins:]
        mag = torch.exp(torch.clamp(log_mag, max=6.0))
        return self.istft(mag * torch.cos(phase), mag * torch.sin(phase))


# ------------------------------------------------ evaluation classifiers ---

class EvalAudioClassifier(nn.Module):
    """Event class from a mel crop [B, 64, 32] around an onset. Trained on ground truth only."""

    def __init__(self, classes: int, width: int = 128, emb: int = 128):
        # emb stays 128 in every bundle: the manifest fixes the embedding size.
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(N_MELS, width, 3, padding=1), nn.BatchNorm1d(width), nn.SiLU(),
            nn.Conv1d(width, width, 3, padding=1, stride=2), nn.BatchNorm1d(width), nn.SiLU(),
            nn.Conv1d(width, width, 3, padding=1, stride=2), nn.BatchNorm1d(width), nn.SiLU(),
        )
        self.emb = nn.Linear(width * 2, emb)
        self.cls = nn.Linear(emb, classes)

    def forward(self, mel):
        h = self.net(mel)
        e = F.silu(self.emb(torch.cat([h.mean(2), h.amax(2)], dim=1)))
        return self.cls(e), e


class EvalAlignClassifier(nn.Module):
    """Align Acc judge: is this mel window aligned with these frames? Own video encoder, trained
    on ground-truth audio with shifted and swapped negatives; never used for guidance."""

    def __init__(self, width: int = 96):
        super().__init__()
        self.video = nn.Sequential(
            nn.Conv2d(6, 24, 5, stride=2, padding=2), nn.SiLU(),
            nn.Conv2d(24, 48, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(48, 64, 3, stride=2, padding=1), nn.SiLU(),
        )
        self.vproj = nn.Linear(128, width)
        self.audio = nn.Sequential(
            nn.Conv1d(N_MELS, width, 5, padding=2), nn.SiLU(),
            nn.Conv1d(width, width, 4, stride=4), nn.SiLU(),
        )
        self.joint = nn.Sequential(
            nn.Conv1d(width * 2, width, 3, padding=1), nn.SiLU(),
            nn.Conv1d(width, width, 3, padding=2, dilation=2), nn.SiLU(),
        )
        self.head = nn.Linear(width * 2, 1)

    def forward(self, mel, frames):
        b, t = frames.shape[:2]
        x = frames.float().permute(0, 1, 4, 2, 3) / 255.0
        x = F.avg_pool2d(x.flatten(0, 1), 2).view(b, t, 3, x.shape[-2] // 2, x.shape[-1] // 2)
        diff = x - torch.cat([x[:, :1], x[:, :-1]], dim=1)
        h = self.video(torch.cat([x - 0.5, diff * 4], dim=2).flatten(0, 1))
        hv = self.vproj(torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1)).view(b, t, -1).transpose(1, 2)
        ha = self.audio(mel)
        j = self.joint(torch.cat([ha, hv], dim=1))
        return self.head(torch.cat([j.mean(2), j.amax(2)], dim=1))[:, 0]


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
