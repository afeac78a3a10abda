"""Mel front end and inverse STFT as fixed-weight convolutions.

Both are plain conv ops so the ONNX export computes exactly what training used.
"""
import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

SAMPLE_RATE = 16000
HOP = 160
WIN = 640
N_FFT = 1024
N_MELS = 64
FMIN, FMAX = 20.0, 8000.0
LOG_FLOOR = 1e-5
NORM_OFFSET, NORM_SCALE = 4.5, 4.0
PAD = (WIN - HOP) // 2  # 240: frame i is centred on sample HOP*i + HOP/2


def audio_geometry() -> dict:
    return {
        "sampleRate": SAMPLE_RATE, "hopSamples": HOP, "winSamples": WIN, "fftSize": N_FFT,
        "melBins": N_MELS, "fminHz": FMIN, "fmaxHz": FMAX, "melLogFloor": LOG_FLOOR,
        "melNormOffset": NORM_OFFSET, "melNormScale": NORM_SCALE,
    }


def _hz_to_mel(f):
    """Slaney mel scale (librosa's default, htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank() -> np.ndarray:
    """[64, 513] Slaney-normalized triangular filters, equal to librosa.filters.mel with the same
    arguments (tested); written out so training needs no librosa (the GPU image lacks it)."""
    fft_hz = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2: N_MELS + 2] - mel_hz[:N_MELS]))[:, None]
    return weights.astype(np.float32)


def _dft_basis(n_fft: int, win: int, bins: int, scale: torch.Tensor | None = None,
               like: torch.Tensor | None = None) -> torch.Tensor:
    """[2*bins, 1, win] windowed cos/-sin basis, built from aranges so an ONNX file stores no table.

    `like` (any input tensor) adds an exact zero that ties the basis to the input, so the exporter
    cannot fold it into a stored constant.
    """
    zero = (like.reshape(-1)[:1] * 0).sum() if like is not None else 0.0
    device = like.device if like is not None else None
    n = torch.arange(win, dtype=torch.float32, device=device) + zero
    k = torch.arange(bins, dtype=torch.float32, device=device)[:, None] + zero
    window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / win)  # periodic Hann
    # k·n is an exact integer in float32; reducing it mod n_fft keeps cos/sin accurate.
    phase = 2 * math.pi * torch.remainder(k * n, float(n_fft)) / n_fft
    cos, sin = torch.cos(phase) * window, -torch.sin(phase) * window
    if scale is not None:
        cos, sin = cos * scale, sin * scale
    return torch.cat([cos, sin])[:, None, :]


class MelFrontend(nn.Module):
    """waveform [B, N] -> normalized log-mel [B, 64, N / 160]."""

    def __init__(self):
        super().__init__()
        self.register_buffer("fb", torch.from_numpy(mel_filterbank()))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = F.pad(waveform[:, None, :], (PAD, PAD))
        spec = F.conv1d(x, _dft_basis(N_FFT, WIN, N_FFT // 2 + 1, like=waveform.detach()).to(x.device), stride=HOP)
        half = spec.shape[1] // 2
        power = spec[:, :half] ** 2 + spec[:, half:] ** 2
        mel = torch.matmul(self.fb, power)
        return (torch.log(torch.clamp(mel, min=LOG_FLOOR)) + NORM_OFFSET) / NORM_SCALE


class InverseStft(nn.Module):
    """Complex frames (real, imag) [B, 321, F] -> waveform [B, F * 160], frames aligned as in MelFrontend."""

    def __init__(self, n_fft: int = WIN, hop: int = HOP):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.bins = n_fft // 2 + 1

    def forward(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        k = torch.arange(self.bins, dtype=torch.float32, device=real.device)[:, None]
        scale = torch.where((k == 0) | (k == self.n_fft // 2), 1.0, 2.0) / self.n_fft
        basis = _dft_basis(self.n_fft, self.n_fft, self.bins, scale, like=real.detach()).to(real.device)
        n = torch.arange(self.n_fft, dtype=torch.float32, device=real.device)
        win_sq = ((0.5 - 0.5 * torch.cos(2 * math.pi * n / self.n_fft)) ** 2)[None, None, :]
        frames = real.shape[-1]
        y = F.conv_transpose1d(torch.cat([real, imag], dim=1), basis, stride=self.hop)
        ones = torch.ones_like(real[:, :1, :])
        env = F.conv_transpose1d(ones, win_sq, stride=self.hop)
        y = y / torch.clamp(env, min=1e-3)
        pad = (self.n_fft - self.hop) // 2
        return y[:, 0, pad: pad + frames * self.hop]


def stft_mag(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=window, return_complex=True)
    return spec.abs()


def multi_resolution_stft_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    loss = pred.new_zeros(())
    for n_fft, hop in ((256, 64), (512, 128), (1024, 256), (2048, 512)):
        p, t = stft_mag(pred, n_fft, hop), stft_mag(target, n_fft, hop)
        sc = torch.linalg.norm(t - p) / (torch.linalg.norm(t) + 1e-7)
        mag = F.l1_loss(torch.log(p + 1e-5), torch.log(t + 1e-5))
        loss = loss + sc + mag
    return loss / 4


def griffin_lim(mel_norm: np.ndarray, iters: int = 32) -> np.ndarray:
    """Baseline vocoder (what the official Diff-Foley code uses): mel -> linear -> Griffin-Lim."""
    import librosa
    mel = np.exp(mel_norm * NORM_SCALE - NORM_OFFSET)
    y = librosa.feature.inverse.mel_to_audio(
        mel, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, win_length=WIN, center=True,
        power=2.0, n_iter=iters, fmin=FMIN, fmax=FMAX)
    frames = mel_norm.shape[-1]
    out = np.zeros(frames * HOP, dtype=np.float32)
    # librosa centres frame i on sample HOP*i; ours is HOP*i + HOP/2.
    shift = HOP // 2
    y = y[: frames * HOP - shift]
    out[shift: shift + len(y)] = y
    return out


def mel_sanity(seconds: float = 0.5) -> float:
    """Max deviation of MelFrontend from librosa on a test tone (used by tests)."""
    import librosa
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    y = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    ours = MelFrontend()(torch.from_numpy(y)[None])[0].numpy()
    ref = librosa.feature.melspectrogram(
        y=np.pad(y, (PAD + 192, PAD + 192)), sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, win_length=WIN,
        center=False, power=2.0, n_mels=N_MELS, fmin=FMIN, fmax=FMAX, window="hann")
    ref = (np.log(np.maximum(ref, LOG_FLOOR)) + NORM_OFFSET) / NORM_SCALE
    n = min(ref.shape[1], ours.shape[1])
    return float(np.abs(ref[:, :n] - ours[:, :n]).max())


def frame_time_s(frame: np.ndarray | int) -> np.ndarray:
    return (HOP * np.asarray(frame) + HOP / 2) / SAMPLE_RATE
