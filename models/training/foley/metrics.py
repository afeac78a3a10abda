"""Scores shared with `foley eval` (definitions in models/README.md)."""
import librosa
import numpy as np
from scipy import linalg

from .audio import HOP, NORM_OFFSET, NORM_SCALE, SAMPLE_RATE, frame_time_s

WINDOW_S = 0.05


def onset_envelope(mel_norm: np.ndarray) -> np.ndarray:
    s_db = 10.0 * (mel_norm * NORM_SCALE - NORM_OFFSET) / np.log(10.0)
    return librosa.onset.onset_strength(S=s_db, lag=1, max_size=1, center=False)


def detect_onsets(mel_norm: np.ndarray) -> np.ndarray:
    """Onset times (s) from a normalized log-mel [64, F]."""
    env = onset_envelope(mel_norm)
    frames = librosa.onset.onset_detect(onset_envelope=env, sr=SAMPLE_RATE, hop_length=HOP)
    return frame_time_s(frames)


def onset_scores(ref_s: np.ndarray, est_s: np.ndarray) -> dict:
    """mir_eval F1 at ±50 ms, and the offsets (est − ref) of the matched pairs in ms."""
    import mir_eval  # here, not at the top: it imports scipy.stats, about 1 s of every command's start

    ref_s, est_s = np.asarray(ref_s, float), np.asarray(est_s, float)
    f, p, r = mir_eval.onset.f_measure(ref_s, est_s, window=WINDOW_S)
    matches = mir_eval.util.match_events(ref_s, est_s, WINDOW_S)
    offsets = [1000.0 * (est_s[j] - ref_s[i]) for i, j in matches]
    return {"f1": f, "precision": p, "recall": r, "offsets_ms": offsets, "n_ref": len(ref_s), "n_est": len(est_s)}


def onset_frame(time_s: float) -> int:
    return int(round((time_s * SAMPLE_RATE - HOP / 2) / HOP))


def event_crops(mel_norm: np.ndarray, times_s, crop: int = 32, pre: int = 2) -> np.ndarray:
    """[n, 64, crop] mel crops starting `pre` frames before each onset, zero-padded at the edges."""
    out = np.zeros((len(times_s), mel_norm.shape[0], crop), np.float32)
    for i, t in enumerate(times_s):
        start = onset_frame(t) - pre
        lo, hi = max(0, start), min(mel_norm.shape[1], start + crop)
        if hi > lo:
            out[i, :, lo - start: hi - start] = mel_norm[:, lo:hi]
    return out


def inception_score(probs: np.ndarray) -> float:
    py = probs.mean(0, keepdims=True)
    kl = (probs * (np.log(probs + 1e-12) - np.log(py + 1e-12))).sum(1)
    return float(np.exp(kl.mean()))


def mean_kl(p_ref: np.ndarray, p_gen: np.ndarray) -> float:
    return float((p_ref * (np.log(p_ref + 1e-12) - np.log(p_gen + 1e-12))).sum(1).mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))
