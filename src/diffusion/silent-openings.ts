/**
 * Gate openings the student left silent, and their second pass (manifest
 * sampling.silentOpeningGain): on scenes it does not know, the contact-reading student often
 * makes no sound where the detector sees a contact, and the gate then opens on silence. Such a
 * window is sampled again with the detector's column raised around those openings; only the
 * stretch of mel around each is taken from the second pass, so the rest stays as sampled.
 */
import { detectOnsets, type MelGeometry } from '../dsp/onset-detection.js';

/** An opening with an onset of the decoded mel this close (the scorer's window) has its sound. */
export const SILENT_OPENING_TOLERANCE_MS = 50;
/** ...and whose vocoded sound from this before its frame... */
export const SILENT_OPENING_LEVEL_BEFORE_MS = 10;
/** ...to this after it stays under the bundle's silentOpeningMaxDbfs is silent. */
export const SILENT_OPENING_LEVEL_AFTER_MS = 100;
/** Video frames either side of a silent opening whose column the second pass raises. */
export const SILENT_OPENING_REACH_FRAMES = 2;
/** The stretch of mel taken from the second pass: from this before the opening's frame... */
export const SILENT_OPENING_SPLICE_BEFORE_MS = 30;
/** ...to this after it, */
export const SILENT_OPENING_SPLICE_AFTER_MS = 150;
/** with linear crossfades of this many mel frames at both ends. */
export const SILENT_OPENING_FADE_MEL_FRAMES = 2;

/**
 * The openings (video frames, ascending) with no onset of the normalized log-mel [melBins,
 * melFrames] within SILENT_OPENING_TOLERANCE_MS of the frame's time and whose vocoded sound
 * (the waveform the mel was vocoded to), from SILENT_OPENING_LEVEL_BEFORE_MS before the frame to
 * SILENT_OPENING_LEVEL_AFTER_MS after it, stays under `maxDbfs`: a contact whose sound the onset detector merely misses keeps it.
 */
export function silentOpenings(
  openings: readonly number[],
  fps: number,
  mel: Float32Array,
  melFrames: number,
  waveform: Float32Array,
  maxDbfs: number,
  g: MelGeometry,
): number[] {
  if (openings.length === 0) return [];
  const onsets = detectOnsets(mel, melFrames, g);
  const tolerance = SILENT_OPENING_TOLERANCE_MS / 1000;
  return openings.filter((frame) => {
    const t = frame / fps;
    if (onsets.some((onset) => Math.abs(onset - t) <= tolerance)) return false;
    const from = Math.max(0, Math.round((t - SILENT_OPENING_LEVEL_BEFORE_MS / 1000) * g.sampleRate));
    const to = Math.min(
      waveform.length,
      Math.round((t + SILENT_OPENING_LEVEL_AFTER_MS / 1000) * g.sampleRate),
    );
    let sum = 0;
    for (let s = from; s < to; s++) sum += waveform[s]! * waveform[s]!;
    return to <= from || 10 * Math.log10(sum / (to - from) + 1e-12) < maxDbfs;
  });
}

/**
 * Feature rows [frames, rowDim] with the last column (the detector's, as the student reads it)
 * multiplied by `gain` within SILENT_OPENING_REACH_FRAMES of each given frame; negative values
 * (the unknown marker) are left as they are. A new array.
 */
export function raiseColumnAround(
  rows: Float32Array,
  rowDim: number,
  frames: readonly number[],
  gain: number,
): Float32Array {
  const total = rows.length / rowDim;
  const raise = new Uint8Array(total);
  for (const f of frames) {
    for (let t = f - SILENT_OPENING_REACH_FRAMES; t <= f + SILENT_OPENING_REACH_FRAMES; t++) {
      if (t >= 0 && t < total) raise[t] = 1;
    }
  }
  const out = rows.slice();
  for (let t = 0; t < total; t++) {
    const i = (t + 1) * rowDim - 1;
    if (raise[t] && out[i]! >= 0) out[i] = out[i]! * gain;
  }
  return out;
}

/**
 * The mel [melBins, melFrames] with the stretch around each opening (video frames) taken from
 * `second`: from SILENT_OPENING_SPLICE_BEFORE_MS before the frame's time to
 * SILENT_OPENING_SPLICE_AFTER_MS after it, crossfaded over SILENT_OPENING_FADE_MEL_FRAMES at both
 * ends (overlapping stretches take the larger weight). A new array.
 */
export function spliceMelAround(
  first: Float32Array,
  second: Float32Array,
  melBins: number,
  melFrames: number,
  openings: readonly number[],
  fps: number,
  melFramesPerSecond: number,
): Float32Array {
  if (second.length !== first.length || first.length !== melBins * melFrames) {
    throw new RangeError(
      `[silent-openings] mels of ${first.length} and ${second.length} values, expected ${melBins} × ${melFrames}`,
    );
  }
  const weight = new Float32Array(melFrames);
  const fade = SILENT_OPENING_FADE_MEL_FRAMES;
  for (const f of openings) {
    const at = (f / fps) * melFramesPerSecond;
    const from = Math.round(at - (SILENT_OPENING_SPLICE_BEFORE_MS / 1000) * melFramesPerSecond);
    const to = Math.round(at + (SILENT_OPENING_SPLICE_AFTER_MS / 1000) * melFramesPerSecond);
    // Full weight on [from, to], falling linearly over `fade` frames either side.
    for (let i = Math.max(0, from - fade); i <= Math.min(melFrames - 1, to + fade); i++) {
      const w = Math.min(1, (i - from + fade + 1) / (fade + 1), (to + fade + 1 - i) / (fade + 1));
      weight[i] = Math.max(weight[i]!, w);
    }
  }
  const out = first.slice();
  for (let b = 0; b < melBins; b++) {
    for (let i = 0; i < melFrames; i++) {
      const w = weight[i]!;
      if (w > 0)
        out[b * melFrames + i] = first[b * melFrames + i]! * (1 - w) + second[b * melFrames + i]! * w;
    }
  }
  return out;
}
