/**
 * Mel-keyed gate: attenuates a vocoded waveform wherever the mel it was vocoded from sits at
 * its log floor. On near-silent, unchanging mel frames the vocoder outputs the same frame every
 * hop, so "silence" carries a tone at the mel frame rate and its harmonics; the gate pushes that
 * below hearing without touching the sound around events.
 *
 * Per mel frame: its level (power mean over bins) in dB above the floor (the manifest's
 * melLogFloor) maps to a gain between `depthDb` (at or below `closeAboveFloorDb`) and 0 dB (at
 * or above `openAboveFloorDb`). The gate opens `lookAheadFrames` early, because the vocoder's
 * receptive field starts an event's waveform before its mel rises, and closes at most
 * `releaseDbPerFrame` per frame so decays are not cut. Gains are interpolated per sample
 * between frame centres (frame i covers samples [i·hop, (i+1)·hop)).
 */

export interface MelGateGeometry {
  melBins: number;
  hopSamples: number;
  /** Power floor of the log-mel: ln(max(mel, melLogFloor)). */
  melLogFloor: number;
  /** normalized = (ln mel + melNormOffset) / melNormScale. */
  melNormOffset: number;
  melNormScale: number;
}

export interface MelGateParams {
  /** Frame level (dB above the mel floor) at or below which the gain is `depthDb`. */
  closeAboveFloorDb: number;
  /** Frame level (dB above the mel floor) at or above which the gain is 0 dB. */
  openAboveFloorDb: number;
  /** Gain of a closed gate, dB (< 0). */
  depthDb: number;
  /** Frames before a frame's level rises that the gate already follows it. */
  lookAheadFrames: number;
  /** Largest gain drop from one frame to the next, dB. */
  releaseDbPerFrame: number;
}

export const DEFAULT_MEL_GATE: Readonly<MelGateParams> = Object.freeze({
  closeAboveFloorDb: 2,
  openAboveFloorDb: 8,
  depthDb: -30,
  lookAheadFrames: 2,
  releaseDbPerFrame: 3,
});

function checkParams(p: MelGateParams): void {
  if (!(p.openAboveFloorDb > p.closeAboveFloorDb)) {
    throw new RangeError(
      `[mel-gate] openAboveFloorDb must exceed closeAboveFloorDb, got ${p.openAboveFloorDb} and ${p.closeAboveFloorDb}`,
    );
  }
  if (!(p.depthDb < 0)) throw new RangeError(`[mel-gate] depthDb must be < 0, got ${p.depthDb}`);
  if (!Number.isInteger(p.lookAheadFrames) || p.lookAheadFrames < 0) {
    throw new RangeError(`[mel-gate] lookAheadFrames must be an integer >= 0, got ${p.lookAheadFrames}`);
  }
  if (!(p.releaseDbPerFrame > 0)) {
    throw new RangeError(`[mel-gate] releaseDbPerFrame must be > 0, got ${p.releaseDbPerFrame}`);
  }
}

/** Each frame's level, dB above the mel floor, of a normalized log-mel [melBins, frames]. */
export function melLevelsAboveFloorDb(mel: Float32Array, frames: number, g: MelGateGeometry): Float32Array {
  if (mel.length !== g.melBins * frames) {
    throw new RangeError(
      `[mel-gate] mel holds ${mel.length} values, expected melBins ${g.melBins} × frames ${frames}`,
    );
  }
  const floorDb = 10 * Math.log10(g.melLogFloor);
  const levels = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let power = 0;
    for (let b = 0; b < g.melBins; b++)
      power += Math.exp(mel[b * frames + i]! * g.melNormScale - g.melNormOffset);
    levels[i] = 10 * Math.log10(power / g.melBins) - floorDb;
  }
  return levels;
}

/** Per-frame gain (dB) of the gate for frame levels in dB above the mel floor. */
export function melGateGainsDb(
  levelsAboveFloorDb: Float32Array,
  p: MelGateParams = DEFAULT_MEL_GATE,
): Float32Array {
  checkParams(p);
  const n = levelsAboveFloorDb.length;
  const span = p.openAboveFloorDb - p.closeAboveFloorDb;
  const target = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const open = Math.min(1, Math.max(0, (levelsAboveFloorDb[i]! - p.closeAboveFloorDb) / span));
    target[i] = open >= 1 ? 0 : (1 - open) * p.depthDb;
  }
  const gains = new Float32Array(n);
  let previous = p.depthDb;
  for (let i = 0; i < n; i++) {
    let ahead = target[i]!;
    for (let k = 1; k <= p.lookAheadFrames && i + k < n; k++) ahead = Math.max(ahead, target[i + k]!);
    previous = Math.max(ahead, previous - p.releaseDbPerFrame);
    gains[i] = previous;
  }
  return gains;
}

/**
 * A per-frame value at sample `s` (frame i covers samples [i·hop, (i+1)·hop)): linear between
 * frame centres, held before the first centre and after the last.
 */
export function frameValueAtSample(perFrame: Float32Array, hop: number, s: number): number {
  const position = (s + 0.5) / hop - 0.5;
  const i = Math.floor(position);
  if (i < 0) return perFrame[0]!;
  if (i >= perFrame.length - 1) return perFrame[perFrame.length - 1]!;
  const t = position - i;
  return perFrame[i]! * (1 - t) + perFrame[i + 1]! * t;
}

/**
 * The waveform (frames·hop samples) vocoded from `mel` [melBins, frames], gated; a new array.
 * Gains are linear between frame centres and held before the first and after the last.
 */
export function applyMelGate(
  waveform: Float32Array,
  mel: Float32Array,
  frames: number,
  g: MelGateGeometry,
  p: MelGateParams = DEFAULT_MEL_GATE,
): Float32Array {
  if (waveform.length !== frames * g.hopSamples) {
    throw new RangeError(
      `[mel-gate] waveform holds ${waveform.length} samples, expected frames ${frames} × hop ${g.hopSamples}`,
    );
  }
  const gainsDb = melGateGainsDb(melLevelsAboveFloorDb(mel, frames, g), p);
  const gains = gainsDb.map((db) => 10 ** (db / 20));
  const hop = g.hopSamples;
  const out = new Float32Array(waveform.length);
  for (let s = 0; s < waveform.length; s++) out[s] = waveform[s]! * frameValueAtSample(gains, hop, s);
  return out;
}
