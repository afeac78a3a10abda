import librosa
import numpy as np
import torch

from foley.audio import InverseStft, MelFrontend, _dft_basis, mel_filterbank, mel_sanity


def test_mel_filterbank_equals_librosa():
    ref = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=64, fmin=20, fmax=8000)
    assert np.abs(mel_filterbank() - ref).max() < 1e-6


def test_mel_frontend_matches_librosa_melspectrogram():
    assert mel_sanity() < 2e-4


def test_mel_frontend_gives_one_frame_per_hop():
    mel = MelFrontend()(torch.zeros(2, 16000))
    assert mel.shape == (2, 64, 100)


def test_inverse_stft_reconstructs_its_own_analysis():
    x = torch.randn(1, 8000, generator=torch.Generator().manual_seed(0))
    spec = torch.nn.functional.conv1d(torch.nn.functional.pad(x[:, None], (240, 240)), _dft_basis(640, 640, 321), stride=160)
    y = InverseStft()(spec[:, :321], spec[:, 321:])
    assert y.shape == x.shape
    assert (y - x)[:, 480:-480].abs().max() < 1e-4
