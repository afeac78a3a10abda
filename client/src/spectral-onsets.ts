/**
 * A streaming spectrogram and onset detector for the overlay: PCM in, one column of band
 * levels per hop out, and onsets as peaks of the spectral flux (the summed rise of the band
 * levels over the previous frame), picked the way librosa's peak_pick does (a local maximum
 * over a short window, above the local mean by a margin, a least gap between onsets), with
 * one hop of look-ahead so it runs as the audio arrives. No DOM: it runs in tests.
 */
import { fft } from '../../src/dsp/fft.js';

export interface SpectralOnsetOptions {
  sampleRate: number;
  /** FFT size, samples (a power of two). */
  fftSize: number;
  /** Samples between frames. */
  hopSamples: number;
  /** Spectrogram rows: log-spaced bands between minHz and maxHz. */
  bands: number;
  minHz: number;
  maxHz: number;
  /** Band levels are clipped to [floorDb, 0] dBFS (silence does not flicker). */
  floorDb: number;
  /** Flux must exceed its local mean by this much (mean rise per band, dB). */
  onsetMarginDb: number;
  /** A frame quieter than this (loudest band, dBFS) is no onset. */
  onsetMinLevelDb: number;
  /** Frames before the peak it must be the maximum of (the frame after counts too). */
  preMaxFrames: number;
  /** Frames before the peak its local mean is taken over. */
  preAverageFrames: number;
  /** Least gap between two onsets, frames. */
  minGapFrames: number;
}

/** 10 ms frames at 48 kHz, 32 bands from 60 Hz to 16 kHz. */
export const DEFAULT_SPECTRAL_ONSET_OPTIONS: Readonly<SpectralOnsetOptions> = Object.freeze({
  sampleRate: 48000,
  fftSize: 1024,
  hopSamples: 480,
  bands: 32,
  minHz: 60,
  maxHz: 16000,
  floorDb: -80,
  onsetMarginDb: 3,
  onsetMinLevelDb: -50,
  preMaxFrames: 3,
  preAverageFrames: 10,
  minGapFrames: 5,
});

export interface SpectralColumn {
  /** Frame index since the start: its centre is sample index * hopSamples + fftSize / 2. */
  index: number;
  /** Band levels, dBFS, lowest band first. */
  bandsDb: Float32Array;
}

export interface SpectralUpdate {
  columns: SpectralColumn[];
  /** Frame indices of onsets decided by this push (each at most one hop behind the newest column). */
  onsets: number[];
}

export class SpectralOnsetTracker {
  readonly options: SpectralOnsetOptions;
  readonly #window: Float64Array;
  /** FFT bins of each band: [first, end). */
  readonly #bandBins: Array<[number, number]>;
  readonly #re: Float64Array;
  readonly #im: Float64Array;
  /** Samples not yet framed; the first is sample #bufferStart of the stream. */
  #pending = new Float32Array(0);
  #frames = 0;
  #previousDb: Float32Array | null = null;
  /** Recent flux and loudest band level, newest last. */
  #flux: number[] = [];
  #peakDb: number[] = [];
  #lastOnset = Number.NEGATIVE_INFINITY;

  constructor(options: Partial<SpectralOnsetOptions> = {}) {
    const o = { ...DEFAULT_SPECTRAL_ONSET_OPTIONS, ...options };
    if ((o.fftSize & (o.fftSize - 1)) !== 0 || o.fftSize < 64)
      throw new RangeError(`[SpectralOnsetTracker] fftSize ${o.fftSize} is not a power of two >= 64`);
    if (!(o.hopSamples > 0 && o.hopSamples <= o.fftSize))
      throw new RangeError(
        `[SpectralOnsetTracker] hopSamples ${o.hopSamples} is not in 1..fftSize (${o.fftSize})`,
      );
    if (!(o.minHz > 0 && o.maxHz > o.minHz && o.maxHz <= o.sampleRate / 2))
      throw new RangeError(
        `[SpectralOnsetTracker] band range ${o.minHz}..${o.maxHz} Hz must be rising and within 0..${o.sampleRate / 2} Hz`,
      );
    this.options = o;
    this.#window = Float64Array.from(
      { length: o.fftSize },
      (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / o.fftSize),
    );
    this.#re = new Float64Array(o.fftSize);
    this.#im = new Float64Array(o.fftSize);
    const binHz = o.sampleRate / o.fftSize;
    this.#bandBins = [];
    for (let b = 0; b < o.bands; b++) {
      const lo = o.minHz * (o.maxHz / o.minHz) ** (b / o.bands);
      const hi = o.minHz * (o.maxHz / o.minHz) ** ((b + 1) / o.bands);
      const first = Math.max(1, Math.round(lo / binHz));
      this.#bandBins.push([first, Math.max(first + 1, Math.round(hi / binHz))]);
    }
  }

  /** Frames made so far. */
  get frames(): number {
    return this.#frames;
  }

  /** Frame index of the frame centred nearest to stream sample `sample`. */
  frameOfSample(sample: number): number {
    return Math.round((sample - this.options.fftSize / 2) / this.options.hopSamples);
  }

  /** Stream sample at the centre of frame `index`. */
  sampleOfFrame(index: number): number {
    return index * this.options.hopSamples + this.options.fftSize / 2;
  }

  /** Appends PCM (mono, at sampleRate); returns the columns it completed and the onsets decided. */
  push(pcm: Float32Array): SpectralUpdate {
    const { fftSize, hopSamples } = this.options;
    const joined = new Float32Array(this.#pending.length + pcm.length);
    joined.set(this.#pending);
    joined.set(pcm, this.#pending.length);
    const update: SpectralUpdate = { columns: [], onsets: [] };
    let start = 0;
    for (; start + fftSize <= joined.length; start += hopSamples) {
      const column = this.#frame(joined.subarray(start, start + fftSize));
      update.columns.push(column);
      const onset = this.#decide();
      if (onset !== null) update.onsets.push(onset);
    }
    this.#pending = joined.slice(start);
    return update;
  }

  #frame(samples: Float32Array): SpectralColumn {
    const { fftSize, floorDb, bands } = this.options;
    const re = this.#re;
    const im = this.#im;
    for (let i = 0; i < fftSize; i++) {
      re[i] = samples[i]! * this.#window[i]!;
      im[i] = 0;
    }
    fft(re, im);
    // A full-scale sine's bin magnitude is fftSize / 4 with a Hann window: that is 0 dBFS.
    const fullScale = fftSize / 4;
    const bandsDb = new Float32Array(bands);
    let flux = 0;
    let loudest = floorDb;
    for (let b = 0; b < bands; b++) {
      const [first, end] = this.#bandBins[b]!;
      let power = 0;
      for (let k = first; k < end; k++) power += re[k]! * re[k]! + im[k]! * im[k]!;
      const db = Math.max(floorDb, Math.min(0, 10 * Math.log10(power / fullScale ** 2 + 1e-20)));
      bandsDb[b] = db;
      if (db > loudest) loudest = db;
      if (this.#previousDb) flux += Math.max(0, db - this.#previousDb[b]!);
    }
    this.#previousDb = bandsDb;
    this.#flux.push(flux / bands);
    this.#peakDb.push(loudest);
    const keep = this.options.preAverageFrames + 2;
    if (this.#flux.length > keep) {
      this.#flux.shift();
      this.#peakDb.shift();
    }
    return { index: this.#frames++, bandsDb };
  }

  /** Whether the frame before the newest is an onset (the newest is its one frame of look-ahead). */
  #decide(): number | null {
    const n = this.#flux.length;
    if (n < 2) return null;
    const candidate = this.#frames - 2;
    const at = n - 2;
    const value = this.#flux[at]!;
    const o = this.options;
    if (this.#peakDb[at]! < o.onsetMinLevelDb) return null;
    if (candidate - this.#lastOnset < o.minGapFrames) return null;
    for (let i = Math.max(0, at - o.preMaxFrames); i < n; i++) if (this.#flux[i]! > value) return null;
    let sum = 0;
    let count = 0;
    for (let i = Math.max(0, at - o.preAverageFrames); i < n; i++) {
      sum += this.#flux[i]!;
      count++;
    }
    if (value < sum / count + o.onsetMarginDb) return null;
    this.#lastOnset = candidate;
    return candidate;
  }
}
