"""Tonal floor of a render: the strongest tonal component in its silent stretches, in dB below
the render's peak, and the strongest one at a multiple of the mel frame rate (100 Hz).

Silent stretches are the 50 ms frames more than `--silence-db` below the loudest frame's RMS;
their samples are joined (each run Hann-tapered at its ends) and analysed with a Hann window of
`--fft` samples (Welch average). A tonal component is a spectral peak standing `--prominence-db`
above the median level of the bins around it; its level is the amplitude of the sine it reads as.

    python -m foley.tonal_floor render.wav [--json]
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

FRAME_RATE_HZ = 100.0    # mel hop 160 at 16 kHz


def silent_samples(x: np.ndarray, sr: int, silence_db: float, frame_s: float = 0.05) -> np.ndarray:
    n = int(frame_s * sr)
    frames = x[: len(x) // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames ** 2, axis=1) + 1e-20)
    quiet = 20 * np.log10(rms / rms.max()) < silence_db
    runs, start = [], None
    for i, q in enumerate(np.append(quiet, False)):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if i - start >= 3:       # at least 150 ms
                seg = frames[start:i].ravel()
                taper = np.minimum(1, np.minimum(np.arange(len(seg)), np.arange(len(seg))[::-1]) / (0.01 * sr))
                runs.append(seg * taper)
            start = None
    return np.concatenate(runs) if runs else np.zeros(0)


def tonal_floor(x: np.ndarray, sr: int, silence_db: float = -40.0, fft: int = 4096, prominence_db: float = 10.0) -> dict:
    peak = float(np.max(np.abs(x)))
    quiet = silent_samples(x, sr, silence_db)
    if len(quiet) < fft:
        raise ValueError(f"only {len(quiet) / sr:.2f} s of silence below {silence_db} dB; need {fft / sr:.2f} s")
    w = np.hanning(fft)
    hop = fft // 2
    spectra = [np.abs(np.fft.rfft(quiet[i:i + fft] * w)) for i in range(0, len(quiet) - fft + 1, hop)]
    amp = np.sqrt(np.mean(np.square(spectra), axis=0)) * 2 / w.sum()   # a sine of amplitude A reads A
    freqs = np.fft.rfftfreq(fft, 1 / sr)
    level_db = 20 * np.log10(amp / peak + 1e-30)
    from scipy.ndimage import median_filter
    background = median_filter(level_db, size=31, mode="nearest")
    is_peak = (level_db > np.roll(level_db, 1)) & (level_db >= np.roll(level_db, -1)) & (level_db - background > prominence_db)
    is_peak[:3] = False
    idx = np.nonzero(is_peak)[0]
    if len(idx) == 0:
        return {"silence_s": len(quiet) / sr, "peak": peak, "tones": [], "strongest": None,
                "strongest_frame_rate_harmonic": None, "noise_floor_db_below_peak": float(np.median(level_db))}
    order = idx[np.argsort(level_db[idx])[::-1]]
    tones = [{"hz": float(freqs[i]), "db_below_peak": float(level_db[i]),
              "frame_rate_harmonic": bool(abs(freqs[i] / FRAME_RATE_HZ - round(freqs[i] / FRAME_RATE_HZ)) * FRAME_RATE_HZ
                                          <= sr / fft and round(freqs[i] / FRAME_RATE_HZ) >= 1)}
             for i in order[:12]]
    harmonic = next((t for t in tones if t["frame_rate_harmonic"]), None)
    return {"silence_s": len(quiet) / sr, "peak": peak, "tones": tones, "strongest": tones[0],
            "strongest_frame_rate_harmonic": harmonic, "noise_floor_db_below_peak": float(np.median(level_db))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m foley.tonal_floor", description=__doc__.split("\n")[0])
    p.add_argument("wav")
    p.add_argument("--silence-db", type=float, default=-40.0)
    p.add_argument("--fft", type=int, default=4096)
    p.add_argument("--prominence-db", type=float, default=10.0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    import soundfile as sf
    x, sr = sf.read(a.wav, dtype="float64", always_2d=True)
    r = tonal_floor(x.mean(axis=1), sr, a.silence_db, a.fft, a.prominence_db)
    if a.json:
        print(json.dumps(r, indent=1))
    else:
        print(f"{a.wav}: {r['silence_s']:.2f} s of silence (frames < {a.silence_db} dB), median floor "
              f"{r.get('noise_floor_db_below_peak', float('nan')):.1f} dB below peak")
        for t in r["tones"]:
            print(f"  {t['hz']:7.1f} Hz  {t['db_below_peak']:6.1f} dB{'  (x 100 Hz)' if t['frame_rate_harmonic'] else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
