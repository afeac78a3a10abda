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

/** Samples from an opening's attack start until its shape is back at the depth (hold, then release). */
function gateShapeSamples(gate: ContactGateSpec, sampleRate: number): number {
  return ((gate.holdMs + (-gate.depthDb / gate.releaseDbPer10ms) * 10) / 1000) * sampleRate;
}

/**
 * The threshold a peak at frame t must reach to open the gate fully: the gate's, or its
 * inexactThreshold on frames from `inexactFrom` on (read before their right context arrived).
 */
function fullThreshold(gate: ContactGateSpec, t: number, inexactFrom: number): number {
  return t >= inexactFrom && gate.inexactThreshold !== null ? gate.inexactThreshold : gate.threshold;
}

/**
 * The gate's openings of per-frame probabilities: at its weak threshold where it has one. Without
 * weak openings, a peak on a frame from `inexactFrom` on opens only at the gate's inexactThreshold.
 */
export function gateOpenings(
  probs: Float32Array,
  gate: ContactGateSpec,
  inexactFrom = Number.POSITIVE_INFINITY,
): number[] {
  const openings = contactOpenings(probs, gate.weak?.threshold ?? gate.threshold);
  if (gate.weak || gate.inexactThreshold === null) return openings;
  return openings.filter((t) => probs[t]! >= fullThreshold(gate, t, inexactFrom));
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
  const span = Math.ceil(gateShapeSamples(gate, sampleRate)) + 1;
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
 * full openings are those of the gate's threshold alone (its inexactThreshold from `inexactFrom` on).
 */
export function contactGateGainsDb(
  probs: Float32Array,
  samplesPerFrame: number,
  sampleRate: number,
  gate: ContactGateSpec,
  inexactFrom = Number.POSITIVE_INFINITY,
): Float32Array {
  const openings = gateOpenings(probs, gate, inexactFrom);
  const openDb = openings.map((t) =>
    probs[t]! >= fullThreshold(gate, t, inexactFrom) ? 0 : (gate.weak?.gainDb ?? 0),
  );
  return contactGainsDb(openings, probs.length, samplesPerFrame, sampleRate, gate, openDb);
}

/** Blocks the re-attack limit measures the level over, ms. */
export const REATTACK_BLOCK_MS = 5;

/** The highest p of the frame holding a block's centre and the frames either side of it. */
function nearestP(probs: Float32Array, blockIndex: number, block: number, samplesPerFrame: number): number {
  const frame = Math.floor(((blockIndex + 0.5) * block) / samplesPerFrame);
  let p = 0;
  for (let k = Math.max(0, frame - 1); k <= Math.min(probs.length - 1, frame + 1); k++)
    p = Math.max(p, probs[k]!);
  return p;
}

/**
 * Per-sample gain (linear, ≤ 1) that keeps a gated waveform from rising again after an
 * opening: from `afterMs` past the opening's attack start to the end of its shape (hold and
 * release down to the depth) or the next opening's attack, whichever is first, a block's level
 * may rise at most `riseDb` over the quietest block (as limited) since that start. With
 * `contactP` and the per-frame probabilities, a block whose frame (or a frame beside it) reads
 * p ≥ contactP is left alone and the quietest restarts from it: a contact the detector sees
 * (a quick second bounce its openings merged) keeps its attack. Gains are taken per block and
 * interpolated between block centres, so the limit adds no click of its own.
 */
export function reattackGains(
  gated: Float32Array,
  openings: readonly number[],
  samplesPerFrame: number,
  sampleRate: number,
  gate: ContactGateSpec,
  limit: NonNullable<ContactGateSpec['reattack']>,
  probs?: Float32Array,
): Float32Array {
  const block = Math.max(1, Math.round((REATTACK_BLOCK_MS / 1000) * sampleRate));
  const blocks = Math.floor(gated.length / block);
  const level = new Float64Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let sum = 0;
    for (let s = b * block; s < (b + 1) * block; s++) sum += gated[s]! * gated[s]!;
    level[b] = Math.sqrt(sum / block) + 1e-9;
  }
  const blockGain = new Float64Array(blocks).fill(1);
  const lead = Math.round((gate.leadMs / 1000) * sampleRate);
  const shapeSamples = gateShapeSamples(gate, sampleRate);
  const rise = 10 ** (limit.riseDb / 20);
  const after = (limit.afterMs / 1000) * sampleRate;
  // Blocks [from, to): a block's level may rise at most `riseBy` over the quietest since `from`.
  const limitRun = (from: number, to: number, riseBy: number): void => {
    let quietest = Number.POSITIVE_INFINITY;
    for (let b = Math.max(0, from); b < Math.min(blocks, to); b++) {
      if (probs && limit.contactP !== null && nearestP(probs, b, block, samplesPerFrame) >= limit.contactP) {
        quietest = level[b]!; // a contact of its own: its rise stays, and the quietest restarts from it
        continue;
      }
      const allowed = quietest * riseBy;
      if (level[b]! * blockGain[b]! > allowed) blockGain[b] = allowed / level[b]!;
      quietest = Math.min(quietest, level[b]! * blockGain[b]!);
    }
  };
  const closedRise = limit.closedRiseDb === null ? null : 10 ** (limit.closedRiseDb / 20);
  if (closedRise !== null) {
    const first = openings.length > 0 ? openings[0]! * samplesPerFrame - lead : Number.POSITIVE_INFINITY;
    limitRun(0, Math.floor(first / block), closedRise);
  }
  openings.forEach((frame, i) => {
    const attack = frame * samplesPerFrame - lead;
    const next =
      i + 1 < openings.length ? openings[i + 1]! * samplesPerFrame - lead : Number.POSITIVE_INFINITY;
    const shapeEnd = Math.min(attack + shapeSamples, next);
    limitRun(Math.ceil((attack + after) / block), Math.floor(shapeEnd / block), rise);
    if (closedRise !== null && shapeEnd < next) {
      limitRun(Math.ceil(shapeEnd / block), Math.floor(next / block), closedRise);
    }
  });
  const gains = new Float32Array(gated.length).fill(1);
  for (let s = 0; s < gated.length; s++) {
    const at = s / block - 0.5;
    const b = Math.floor(at);
    const lo = blockGain[Math.min(blocks - 1, Math.max(0, b))] ?? 1;
    const hi = blockGain[Math.min(blocks - 1, Math.max(0, b + 1))] ?? 1;
    gains[s] = lo + (hi - lo) * Math.min(1, Math.max(0, at - b));
  }
  return gains;
}

/**
 * A waveform of frames·samplesPerFrame samples gated by its frames' contact probabilities
 * (contactProbabilities of the window's feature rows, found once for the gate and its
 * re-attack limit); frames from `inexactFrom` on were read before their right context arrived.
 * A new array.
 */
export function applyContactGate(
  waveform: Float32Array,
  probs: Float32Array,
  samplesPerFrame: number,
  sampleRate: number,
  gate: ContactGateSpec,
  inexactFrom = Number.POSITIVE_INFINITY,
): Float32Array {
  const frames = probs.length;
  if (waveform.length !== frames * samplesPerFrame) {
    throw new RangeError(
      `[contact-gate] waveform holds ${waveform.length} samples, expected frames ${frames} × ${samplesPerFrame}`,
    );
  }
  const gainsDb = contactGateGainsDb(probs, samplesPerFrame, sampleRate, gate, inexactFrom);
  // Runs per live chunk: the closed gain (most samples) is converted once, not per sample.
  const closed = 10 ** (gate.depthDb / 20);
  const out = new Float32Array(waveform.length);
  for (let s = 0; s < waveform.length; s++) {
    const db = gainsDb[s]!;
    out[s] = waveform[s]! * (db === gate.depthDb ? closed : 10 ** (db / 20));
  }
  return out;
}

/**
 * The gate's re-attack limit (manifest contactGate.reattack) on a finished waveform, at the
 * gate's openings of the frames' probabilities (as applyContactGate finds them); the waveform
 * itself without one. Applied last, after the comb, so what it measures is what is heard.
 */
export function applyReattackLimit(
  waveform: Float32Array,
  probs: Float32Array,
  samplesPerFrame: number,
  sampleRate: number,
  gate: ContactGateSpec,
  inexactFrom = Number.POSITIVE_INFINITY,
): Float32Array {
  if (!gate.reattack) return waveform;
  const openings = gateOpenings(probs, gate, inexactFrom);
  const limit = reattackGains(waveform, openings, samplesPerFrame, sampleRate, gate, gate.reattack, probs);
  const out = new Float32Array(waveform.length);
  for (let s = 0; s < out.length; s++) out[s] = waveform[s]! * limit[s]!;
  return out;
}
