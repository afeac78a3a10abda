/**
 * Contact gate: opens the audio where the video shows a contact, closes it elsewhere.
 *
 * Away from events a diffusion student lays a low sound bed where things move and lets strikes
 * ring on; an onset detector (and a listener) hears onsets in that bed. The manifest's
 * contactGate gives a per-frame contact probability p: a linear probe on the video features
 * (fitted on footage against its own audio's onsets) or a contact detector on the frames'
 * motion (`source`). Each local maximum of p at or above the threshold opens the gate at its
 * frame's start, less `leadMs` (an onset a little ahead of its frame keeps its transient): a
 * `rampMs` attack to 0 dB, `holdMs` at 0 dB, then a fall of
 * `releaseDbPer10ms` down to `depthDb`. With weak openings, a peak at or above their threshold
 * but under the gate's opens the same shape capped at their gain. Openings overlap by taking the
 * highest gain. Stateless per window: a window's gains depend only on its own frames' features, so a
 * caller passes the frames before (context) and after (guard) that the gate should see.
 */
import type { ContactGateSpec } from '../models/manifest.js';

/**
 * Per-frame contact probability of feature rows [frames, rowDim]: the linear probe on the row's
 * features (a `features` gate: rowDim is features.dim, or one more when the rows carry the
 * detector's column, which the probe skips), or the detector's column, the row's last (a
 * `detector` gate: manifest featureRowDim).
 */
export function contactProbabilities(
  rows: Float32Array,
  rowDim: number,
  gate: ContactGateSpec,
): Float32Array {
  const probeDim = gate.source === 'features' ? gate.weights.length : rowDim;
  if (rows.length % rowDim !== 0 || (rowDim !== probeDim && rowDim !== probeDim + 1)) {
    const weights =
      gate.source === 'features' ? `the gate ${gate.weights.length} weights` : 'a detector gate';
    throw new RangeError(
      `[contact-gate] features hold ${rows.length} values and ${weights}; expected a multiple of dim ${rowDim}${gate.source === 'features' ? ` and ${rowDim} or ${rowDim - 1} weights` : ''}`,
    );
  }
  const frames = rows.length / rowDim;
  const probs = new Float32Array(frames);
  if (gate.source === 'detector') {
    for (let t = 0; t < frames; t++) probs[t] = rows[(t + 1) * rowDim - 1]!;
    return probs;
  }
  for (let t = 0; t < frames; t++) {
    let z = gate.bias;
    for (let d = 0; d < probeDim; d++) z += gate.weights[d]! * rows[t * rowDim + d]!;
    probs[t] = 1 / (1 + Math.exp(-z));
  }
  return probs;
}

/** Openings closer than this (frames) are one contact: the highest is kept (foley.probe's peaks). */
export const MIN_OPENING_GAP_FRAMES = 3;

/**
 * Frames where the gate opens, ascending: local maxima of p (rising into it, not rising out of
 * it) at or above threshold, the highest of any closer than MIN_OPENING_GAP_FRAMES.
 */
export function contactOpenings(probs: Float32Array, threshold: number): number[] {
  const peaks: number[] = [];
  for (let t = 0; t < probs.length; t++) {
    const p = probs[t]!;
    const before = t > 0 ? probs[t - 1]! : 0;
    const after = t + 1 < probs.length ? probs[t + 1]! : 0;
    if (p >= threshold && p > before && p >= after) peaks.push(t);
  }
  const kept: number[] = [];
  for (const t of peaks.sort((a, b) => probs[b]! - probs[a]! || a - b)) {
    if (kept.every((k) => Math.abs(k - t) >= MIN_OPENING_GAP_FRAMES)) kept.push(t);
  }
  return kept.sort((a, b) => a - b);
}

/**
 * Feature rows [frames, rowDim] with the detector's column (the last) replaced by 1 at its
 * openings (contactOpenings at threshold) and 0 elsewhere: what a student trained with
 * foley.contact_student --column openings reads (manifest sampling.contactOpenings). A new array.
 */
export function withOpeningsColumn(rows: Float32Array, rowDim: number, threshold: number): Float32Array {
  const frames = rows.length / rowDim;
  const column = new Float32Array(frames);
  for (let t = 0; t < frames; t++) column[t] = rows[(t + 1) * rowDim - 1]!;
  const out = rows.slice();
  for (let t = 0; t < frames; t++) out[(t + 1) * rowDim - 1] = 0;
  for (const t of contactOpenings(column, threshold)) out[(t + 1) * rowDim - 1] = 1;
  return out;
}

/**
 * Per-sample gain (dB) over frames·samplesPerFrame samples, opened at the given frames, each to
 * its `openDb` (0 dB unless given; a weak opening's gain: the same shape capped there).
 */
export function contactGainsDb(
  openings: readonly number[],
  frames: number,
  samplesPerFrame: number,
  sampleRate: number,
  gate: ContactGateSpec,
  openDb: readonly number[] = [],
): Float32Array {
  const n = frames * samplesPerFrame;
  const gains = new Float32Array(n).fill(gate.depthDb);
  const ramp = (gate.rampMs / 1000) * sampleRate;
  const hold = (gate.holdMs / 1000) * sampleRate;
  const fallPerSample = (gate.releaseDbPer10ms * 100) / sampleRate;
  const span = Math.ceil(hold + -gate.depthDb / fallPerSample) + 1;
  const lead = Math.round((gate.leadMs / 1000) * sampleRate);
  openings.forEach((frame, i) => {
    const top = openDb[i] ?? 0;
    const start = frame * samplesPerFrame - lead;
    for (let s = Math.max(0, start); s < Math.min(n, start + span); s++) {
      const k = s - start;
      const g = Math.min(
        top,
        k < ramp
          ? gate.depthDb * (1 - k / ramp)
          : k < hold
            ? 0
            : Math.max(gate.depthDb, -(k - hold) * fallPerSample),
      );
      if (g > gains[s]!) gains[s] = g;
    }
  });
  return gains;
}

/**
 * Per-sample gain (dB) of per-frame probabilities: the openings are found once, at the weak
 * threshold where the gate has one, and those under the gate's threshold open to the weak gain.
 * So a weak peak closer than MIN_OPENING_GAP_FRAMES to a higher one gives way to it, and the
 * full openings are those of the gate's threshold alone.
 */
export function contactGateGainsDb(
  probs: Float32Array,
  samplesPerFrame: number,
  sampleRate: number,
  gate: ContactGateSpec,
): Float32Array {
  const openings = contactOpenings(probs, gate.weak?.threshold ?? gate.threshold);
  const openDb = openings.map((t) => (probs[t]! >= gate.threshold ? 0 : (gate.weak?.gainDb ?? 0)));
  return contactGainsDb(openings, probs.length, samplesPerFrame, sampleRate, gate, openDb);
}

/** The waveform of feature rows [frames, rowDim] (frames·samplesPerFrame samples), gated; a new array. */
export function applyContactGate(
  waveform: Float32Array,
  features: Float32Array,
  dim: number,
  samplesPerFrame: number,
  sampleRate: number,
  gate: ContactGateSpec,
): Float32Array {
  const frames = features.length / dim;
  if (waveform.length !== frames * samplesPerFrame) {
    throw new RangeError(
      `[contact-gate] waveform holds ${waveform.length} samples, expected frames ${frames} × ${samplesPerFrame}`,
    );
  }
  const gainsDb = contactGateGainsDb(
    contactProbabilities(features, dim, gate),
    samplesPerFrame,
    sampleRate,
    gate,
  );
  // Runs per live chunk: the closed gain (most samples) is converted once, not per sample.
  const closed = 10 ** (gate.depthDb / 20);
  const out = new Float32Array(waveform.length);
  for (let s = 0; s < waveform.length; s++) {
    const db = gainsDb[s]!;
    out[s] = waveform[s]! * (db === gate.depthDb ? closed : 10 ** (db / 20));
  }
  return out;
}
