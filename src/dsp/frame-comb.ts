/**
 * Frame-rate comb: removes the vocoder's tone at the mel frame rate from quiet stretches.
 *
 * Where the mel hardly changes, the vocoder repeats nearly the same waveform every hop, which
 * sounds as harmonics of the frame rate (hop 160 at 16 kHz: 100 Hz, 200 Hz, …). A second-order
 * comb at the hop, c[n] = (x[n] − 2·x[n−hop] + x[n−2·hop]) / 2, has zeros at every multiple of
 * the frame rate and also cancels a tone whose level ramps linearly from hop to hop (a fading
 * tail). It is blended in by the level of the sound that goes out: the mel's level plus what
 * the gates before the comb took off that frame (the decoded mel does not know them). Fully
 * where a frame is at most `fullBelowDb` above the mel floor, not at all from `offAboveDb`, so
 * event sounds pass untouched. A frame's weight already follows the next frame's level,
 * because the vocoder starts an event's waveform before its mel rises. Causal: each sample
 * reads only the two hops before it.
 */

import { frameValueAtSample, type MelGateGeometry, melLevelsAboveFloorDb } from './mel-gate.js';

export interface FrameCombParams {
  /** Frame level (dB above the mel floor) at or below which the comb replaces the waveform. */
  fullBelowDb: number;
  /** Frame level (dB above the mel floor) at or above which the waveform passes unchanged. */
  offAboveDb: number;
}

export const DEFAULT_FRAME_COMB: Readonly<FrameCombParams> = Object.freeze({
  fullBelowDb: 30,
  offAboveDb: 40,
});

/** Per-frame comb weight in [0, 1] for frame levels in dB above the mel floor. */
export function frameCombWeights(
  levelsAboveFloorDb: Float32Array,
  p: FrameCombParams = DEFAULT_FRAME_COMB,
): Float32Array {
  if (!(p.offAboveDb > p.fullBelowDb)) {
    throw new RangeError(
      `[frame-comb] offAboveDb must exceed fullBelowDb, got ${p.offAboveDb} and ${p.fullBelowDb}`,
    );
  }
  const n = levelsAboveFloorDb.length;
  const span = p.offAboveDb - p.fullBelowDb;
  const own = (i: number) => Math.min(1, Math.max(0, (p.offAboveDb - levelsAboveFloorDb[i]!) / span));
  const weights = new Float32Array(n);
  for (let i = 0; i < n; i++) weights[i] = i + 1 < n ? Math.min(own(i), own(i + 1)) : own(i);
  return weights;
}

/**
 * Each frame's level of `waveform` in dB above the mel floor: the mel's level, plus the gain the
 * gates applied to that frame when `ungated` (the vocoder's output) is given.
 */
export function outputLevelsAboveFloorDb(
  waveform: Float32Array,
  mel: Float32Array,
  frames: number,
  g: MelGateGeometry,
  ungated?: Float32Array,
): Float32Array {
  const levels = melLevelsAboveFloorDb(mel, frames, g);
  if (!ungated) return levels;
  if (ungated.length !== waveform.length) {
    throw new RangeError(
      `[frame-comb] the ungated waveform holds ${ungated.length} samples, the gated one ${waveform.length}`,
    );
  }
  const hop = g.hopSamples;
  for (let i = 0; i < frames; i++) {
    let out = 0;
    let before = 0;
    for (let s = i * hop; s < (i + 1) * hop; s++) {
      out += waveform[s]! ** 2;
      before += ungated[s]! ** 2;
    }
    // A frame the gates silenced (or that was silent) reads as the floor.
    levels[i] = before > 0 && out > 0 ? levels[i]! + 10 * Math.log10(out / before) : 0;
  }
  return levels;
}

/**
 * The waveform (frames·hop samples) vocoded from `mel` [melBins, frames], and gated from
 * `ungated` if given, with the comb blended in by its level; a new array. Weights are linear
 * between frame centres and held before the first and after the last; the comb fades in over
 * the waveform's third and fourth hops, once it has two hops of history.
 */
export function applyFrameComb(
  waveform: Float32Array,
  mel: Float32Array,
  frames: number,
  g: MelGateGeometry,
  options: { ungated?: Float32Array; params?: FrameCombParams } = {},
): Float32Array {
  if (waveform.length !== frames * g.hopSamples) {
    throw new RangeError(
      `[frame-comb] waveform holds ${waveform.length} samples, expected frames ${frames} × hop ${g.hopSamples}`,
    );
  }
  const levels = outputLevelsAboveFloorDb(waveform, mel, frames, g, options.ungated);
  const weights = frameCombWeights(levels, options.params ?? DEFAULT_FRAME_COMB);
  const hop = g.hopSamples;
  const out = new Float32Array(waveform.length);
  for (let s = 0; s < waveform.length; s++) {
    let w = frameValueAtSample(weights, hop, s);
    // Without two hops of history the comb would halve the waveform: it fades in over the
    // two hops after them instead (a live stream's first chunk has no guard before it).
    if (s < 4 * hop) w *= Math.max(0, (s - 2 * hop) / (2 * hop));
    const x = waveform[s]!;
    if (w === 0) {
      out[s] = x;
      continue;
    }
    const x1 = s >= hop ? waveform[s - hop]! : 0;
    const x2 = s >= 2 * hop ? waveform[s - 2 * hop]! : 0;
    out[s] = (1 - w) * x + (w * (x - 2 * x1 + x2)) / 2;
  }
  return out;
}
