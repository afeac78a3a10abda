/**
 * Streaming 16 kHz → 48 kHz (×3) polyphase FIR upsampler: a windowed-sinc low-pass
 * at 7.6 kHz. State carries across calls so chunk edges are seamless. The filter is
 * linear-phase: output lags input by `delaySamples48k`.
 */
const FACTOR = 3;
const TAPS_PER_PHASE = 16;
const TAPS = FACTOR * TAPS_PER_PHASE;

function designTaps(): Float32Array[] {
  const cutoff = 7600 / 48000; // cycles per output sample
  const h = new Float64Array(TAPS);
  const mid = (TAPS - 1) / 2;
  let sum = 0;
  for (let i = 0; i < TAPS; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const w =
      0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (TAPS - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (TAPS - 1));
    h[i] = sinc * w;
    sum += h[i]!;
  }
  const phases: Float32Array[] = [];
  for (let p = 0; p < FACTOR; p++) {
    const taps = new Float32Array(TAPS_PER_PHASE);
    for (let k = 0; k < TAPS_PER_PHASE; k++) taps[k] = (h[p + k * FACTOR]! * FACTOR) / sum;
    phases.push(taps);
  }
  return phases;
}

const PHASES = designTaps();

export class Upsampler3x {
  /** Group delay, rounded to whole output samples. */
  static readonly delaySamples48k = Math.round((TAPS - 1) / 2);
  readonly #history = new Float32Array(TAPS_PER_PHASE);

  /** Returns 3 × input.length samples. */
  process(input: Float32Array): Float32Array {
    const out = new Float32Array(input.length * FACTOR);
    const hist = this.#history;
    for (let n = 0; n < input.length; n++) {
      hist.copyWithin(1, 0, TAPS_PER_PHASE - 1);
      hist[0] = input[n]!;
      for (let p = 0; p < FACTOR; p++) {
        const taps = PHASES[p]!;
        let acc = 0;
        for (let k = 0; k < TAPS_PER_PHASE; k++) acc += taps[k]! * hist[k]!;
        out[n * FACTOR + p] = acc;
      }
    }
    return out;
  }

  reset(): void {
    this.#history.fill(0);
  }
}
