/**
 * Onset detection exactly as models/README.md defines it (and models/training/foley/metrics.py
 * computes it with librosa):
 *   S_dB = 10·(normalized·scale − offset)/ln 10
 *   env[i] = mean_f max(0, S_dB[f,i] − S_dB[f,i−1]), env[0] = 0
 *     (librosa onset_strength(S=S_dB, lag=1, max_size=1, center=False))
 *   peaks: librosa onset_detect defaults at sr 16000, hop 160: env normalized to [0,1],
 *     pre_max 3, post_max 1, pre_avg 10, post_avg 11, delta 0.07, wait 3 (numba peak_pick)
 *   onset time of frame i: (hop·i + hop/2)/sr
 */

export interface MelGeometry {
  melBins: number;
  melNormOffset: number;
  melNormScale: number;
  hopSamples: number;
  sampleRate: number;
}

export interface PeakPickParams {
  preMax: number;
  postMax: number;
  preAvg: number;
  postAvg: number;
  delta: number;
  wait: number;
}

/** librosa onset_detect's defaults for a sample rate and hop (30 ms / 100 ms windows). */
export function onsetDetectDefaults(sampleRate: number, hopSamples: number): PeakPickParams {
  const frames = (seconds: number) => Math.floor((seconds * sampleRate) / hopSamples);
  return {
    preMax: Math.ceil(frames(0.03)),
    postMax: Math.ceil(frames(0) + 1),
    preAvg: Math.ceil(frames(0.1)),
    postAvg: Math.ceil(frames(0.1) + 1),
    delta: 0.07,
    wait: Math.ceil(frames(0.03)),
  };
}

/** Onset strength envelope of a normalized log-mel [melBins, frames] (row-major). */
export function onsetEnvelope(mel: Float32Array, frames: number, g: MelGeometry): Float32Array {
  const env = new Float32Array(frames);
  const toDb = (v: number) => (10 * (v * g.melNormScale - g.melNormOffset)) / Math.LN10;
  for (let i = 1; i < frames; i++) {
    let sum = 0;
    for (let f = 0; f < g.melBins; f++) {
      const d = toDb(mel[f * frames + i]!) - toDb(mel[f * frames + i - 1]!);
      if (d > 0) sum += d;
    }
    env[i] = sum / g.melBins;
  }
  return env;
}

function maxOf(x: ArrayLike<number>, from: number, to: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let i = from; i < to; i++) if (x[i]! > m) m = x[i]!;
  return m;
}

function meanOf(x: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]!;
  return s / (to - from);
}

/** librosa.util.peak_pick (the numba implementation of librosa 0.10+), returning frame indices. */
export function peakPick(x: ArrayLike<number>, p: PeakPickParams): number[] {
  const n = x.length;
  const peaks: number[] = [];
  if (n === 0) return peaks;
  let first = x[0]! >= maxOf(x, 0, Math.min(p.postMax, n));
  first = first && x[0]! >= meanOf(x, 0, Math.min(p.postAvg, n)) + p.delta;
  if (first) peaks.push(0);
  let i = first ? p.wait + 1 : 1;
  while (i < n) {
    const localMax = maxOf(x, Math.max(0, i - p.preMax), Math.min(i + p.postMax, n));
    if (x[i]! !== localMax) {
      i++;
      continue;
    }
    const avg = meanOf(x, Math.max(0, i - p.preAvg), Math.min(i + p.postAvg, n));
    if (!(x[i]! >= avg + p.delta)) {
      i++;
      continue;
    }
    peaks.push(i);
    i += p.wait + 1;
  }
  return peaks;
}

/** librosa onset_detect(onset_envelope=env) with normalize=True and default parameters. */
export function detectOnsetFrames(env: Float32Array, sampleRate: number, hopSamples: number): number[] {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of env) {
    if (v < min) min = v;
  }
  const shifted = new Float32Array(env.length);
  for (let i = 0; i < env.length; i++) {
    shifted[i] = env[i]! - min;
    if (shifted[i]! > max) max = shifted[i]!;
  }
  const tiny = 1.1754943508222875e-38; // util.tiny(float32)
  for (let i = 0; i < env.length; i++) shifted[i] = shifted[i]! / (max + tiny);
  if (!shifted.some((v) => v !== 0) || !shifted.every((v) => Number.isFinite(v))) return [];
  return peakPick(shifted, onsetDetectDefaults(sampleRate, hopSamples));
}

/** Onset times (s) of a normalized log-mel [melBins, frames]. */
export function detectOnsets(mel: Float32Array, frames: number, g: MelGeometry): number[] {
  const env = onsetEnvelope(mel, frames, g);
  return detectOnsetFrames(env, g.sampleRate, g.hopSamples).map((i) => frameTimeSeconds(i, g));
}

export function frameTimeSeconds(frame: number, g: { hopSamples: number; sampleRate: number }): number {
  return (g.hopSamples * frame + g.hopSamples / 2) / g.sampleRate;
}

/** The mel frame whose centre is nearest an onset time: round((t·sr − hop/2)/hop). */
export function onsetFrame(timeSeconds: number, g: { hopSamples: number; sampleRate: number }): number {
  return Math.round((timeSeconds * g.sampleRate - g.hopSamples / 2) / g.hopSamples);
}
