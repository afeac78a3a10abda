/**
 * The OBS page's jitter buffer, without the AudioWorklet around it (so it runs in tests).
 * Decoded PCM arrives in blocks tagged with their stream position (Ogg granule). Playback
 * starts once `targetMs` is buffered and then holds the fill at the target: a fill above it
 * plays up to MAX_RATE_DEVIATION faster, one below it slower (linear interpolation), so a
 * jitter burst drains instead of adding delay for good. A fill past target + `maxExtraMs`
 * drops its oldest audio at once; an underrun plays silence and re-primes.
 */

export interface JitterBufferOptions {
  sampleRate: number;
  targetMs: number;
  maxExtraMs: number;
}

/** Largest playback-rate change used to hold the fill, as a fraction (inaudible for foley). */
export const MAX_RATE_DEVIATION = 0.04;
/** Fill error at which the rate change is at its largest, ms. */
const FULL_CORRECTION_MS = 25;
/** Fill errors smaller than this are left alone, ms (the 20 ms block arrivals make the fill a sawtooth). */
const DEAD_BAND_MS = 2;
/** Time constant of the fill average the rate follows, s. */
const FILL_AVERAGE_S = 0.25;

export class JitterBuffer {
  readonly #ring: Float32Array;
  readonly #rate: number;
  readonly #targetSamples: number;
  readonly #maxSamples: number;
  /** Absolute sample counts (read is fractional while the rate is not 1): ring index = count mod length. */
  #read = 0;
  #write = 0;
  /** Granule of ring sample count 0 (the first sample pushed after a reset). */
  #granuleBase: number | null = null;
  #primed = false;
  #averageFill: number;
  #playbackRate = 1;
  #underruns = 0;
  #dropped = 0;

  constructor(readonly options: JitterBufferOptions) {
    this.#rate = options.sampleRate;
    this.#targetSamples = (options.targetMs * options.sampleRate) / 1000;
    this.#maxSamples = ((options.targetMs + options.maxExtraMs) * options.sampleRate) / 1000;
    this.#ring = new Float32Array(Math.ceil(this.#maxSamples + options.sampleRate));
    this.#averageFill = this.#targetSamples;
  }

  get bufferedMs(): number {
    return ((this.#write - this.#read) * 1000) / this.#rate;
  }

  /** The fill averaged over ~FILL_AVERAGE_S, ms: what the buffer adds. */
  get averageFillMs(): number {
    return (this.#averageFill * 1000) / this.#rate;
  }

  get playbackRate(): number {
    return this.#playbackRate;
  }

  get underruns(): number {
    return this.#underruns;
  }

  get droppedMs(): number {
    return (this.#dropped * 1000) / this.#rate;
  }

  get playing(): boolean {
    return this.#primed;
  }

  /** Forgets everything buffered (a new stream follows). */
  reset(): void {
    this.#read = 0;
    this.#write = 0;
    this.#granuleBase = null;
    this.#primed = false;
  }

  /** Appends decoded audio whose first sample is stream position `granule`. */
  push(pcm: Float32Array, granule: number): void {
    if (this.#granuleBase === null) this.#granuleBase = granule - this.#write;
    const cap = this.#ring.length;
    for (let i = 0; i < pcm.length; i++) this.#ring[(this.#write + i) % cap] = pcm[i]!;
    this.#write += pcm.length;
    if (this.#write - this.#read > this.#maxSamples) {
      const drop = this.#write - this.#read - this.#targetSamples;
      this.#read += drop;
      this.#dropped += drop;
      this.#averageFill = this.#targetSamples;
    }
  }

  /** Playback rate that moves the average fill toward the target. */
  #nextRate(): number {
    const errorMs = ((this.#averageFill - this.#targetSamples) * 1000) / this.#rate;
    if (Math.abs(errorMs) < DEAD_BAND_MS) return 1;
    return 1 + Math.max(-1, Math.min(1, errorMs / FULL_CORRECTION_MS)) * MAX_RATE_DEVIATION;
  }

  /**
   * Fills `out` with the next output samples; returns the stream position its first sample
   * played (null: silence) and the rate it played at.
   */
  render(out: Float32Array): { granule: number | null; rate: number } {
    const n = out.length;
    const cap = this.#ring.length;
    if (!this.#primed && this.#write - this.#read >= this.#targetSamples) this.#primed = true;
    const rate = this.#primed ? this.#nextRate() : 1;
    // Interpolation reads one sample past the last position.
    if (this.#primed && this.#write - this.#read < n * rate + 1) {
      this.#primed = false;
      this.#underruns++;
    }
    if (!this.#primed) {
      out.fill(0);
      this.#playbackRate = 1;
      return { granule: null, rate: 1 };
    }
    const base = this.#read;
    for (let i = 0; i < n; i++) {
      const pos = base + i * rate;
      const k = Math.floor(pos);
      const frac = pos - k;
      const a = this.#ring[k % cap]!;
      out[i] = frac === 0 ? a : a + (this.#ring[(k + 1) % cap]! - a) * frac;
    }
    this.#read = base + n * rate;
    this.#playbackRate = rate;
    this.#averageFill += (this.#write - this.#read - this.#averageFill) * (n / (FILL_AVERAGE_S * this.#rate));
    return { granule: (this.#granuleBase ?? 0) + base, rate };
  }
}
