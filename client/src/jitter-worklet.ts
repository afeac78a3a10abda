/**
 * AudioWorklet: the OBS page's jitter buffer. Decoded PCM arrives in 20 ms blocks tagged
 * with their stream position (Ogg granule). Playback starts once `targetMs` is buffered and
 * then holds the fill at the target: a fill above it plays up to MAX_RATE_DEVIATION faster,
 * one below it slower (linear interpolation), so jitter bursts drain instead of adding delay
 * for good. A fill past target + `maxExtraMs` drops its oldest audio at once; an underrun
 * plays silence and re-primes. Every ~50 ms it posts the fill, the stream position it is
 * playing at which context frame, and (when recording) what it played.
 */
declare const sampleRate: number;
declare const currentFrame: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: unknown);
}
declare function registerProcessor(name: string, ctor: unknown): void;

export interface JitterBufferOptions {
  targetMs: number;
  maxExtraMs: number;
  record: boolean;
}

/** Main thread → worklet. */
export type JitterBufferInput = { reset: true } | { pcm: Float32Array; granule: number };

/** Worklet → main thread, every REPORT_MS. */
export interface JitterBufferReport {
  case: 'report';
  /** Context frame of the first sample of the last render quantum. */
  frame: number;
  /** Stream position (granule) that sample played; null when it played silence. */
  granule: number | null;
  bufferedMs: number;
  /** Fill averaged over ~FILL_AVERAGE_S: what the buffer adds. */
  averageFillMs: number;
  playbackRate: number;
  underruns: number;
  droppedMs: number;
  playing: boolean;
  level: { rms: number; peak: number };
}

/** What was played, RECORD_QUANTA render quanta at a time (record option). */
export interface JitterBufferRecording {
  case: 'recorded';
  startFrame: number;
  samples: Float32Array;
  /** Per render quantum: the granule its first sample played (NaN: silence) and the rate. */
  granules: Float64Array;
  rates: Float32Array;
}

const REPORT_MS = 50;
const RECORD_QUANTA = 32;
/** Largest playback-rate change used to hold the fill, as a fraction (inaudible for foley). */
const MAX_RATE_DEVIATION = 0.04;
/** Fill error at which the rate change is at its largest, ms. */
const FULL_CORRECTION_MS = 25;
/** Fill errors smaller than this are left alone, ms (the 20 ms block arrivals make the fill a sawtooth). */
const DEAD_BAND_MS = 2;
const FILL_AVERAGE_S = 0.25;

class JitterBufferProcessor extends AudioWorkletProcessor {
  readonly #ring = new Float32Array(sampleRate * 2);
  /** Absolute sample counts: the ring index is the count modulo its length. */
  #read = 0;
  #write = 0;
  /** Granule of ring sample count 0 (the first sample pushed after a reset). */
  #granuleBase: number | null = null;
  #primed = false;
  readonly #opts: JitterBufferOptions;
  #averageFill = 0;
  #rate = 1;
  #levelPeak = 0;
  #levelSumSq = 0;
  #levelCount = 0;
  #underruns = 0;
  #dropped = 0;
  #recorded: Float32Array[] = [];
  #recordedGranules: number[] = [];
  #recordedRates: number[] = [];
  #recordStartFrame = -1;

  constructor(options: { processorOptions: JitterBufferOptions }) {
    super();
    this.#opts = options.processorOptions;
    this.#averageFill = (this.#opts.targetMs * sampleRate) / 1000;
    this.port.onmessage = (event: MessageEvent<JitterBufferInput>) => {
      const data = event.data;
      if ('reset' in data) {
        this.#read = 0;
        this.#write = 0;
        this.#granuleBase = null;
        this.#primed = false;
        return;
      }
      this.#push(data.pcm, data.granule);
    };
  }

  get #buffered(): number {
    return this.#write - this.#read;
  }

  #push(pcm: Float32Array, granule: number): void {
    if (this.#granuleBase === null) this.#granuleBase = granule - this.#write;
    const cap = this.#ring.length;
    for (let i = 0; i < pcm.length; i++) this.#ring[(this.#write + i) % cap] = pcm[i]!;
    this.#write += pcm.length;
    const targetSamples = (this.#opts.targetMs * sampleRate) / 1000;
    const maxSamples = ((this.#opts.targetMs + this.#opts.maxExtraMs) * sampleRate) / 1000;
    if (this.#buffered > maxSamples) {
      const drop = this.#buffered - targetSamples;
      this.#read += drop;
      this.#dropped += drop;
      this.#averageFill = targetSamples;
    }
  }

  /** Playback rate that moves the average fill toward the target. */
  #nextRate(): number {
    const errorMs = (this.#averageFill * 1000) / sampleRate - this.#opts.targetMs;
    if (Math.abs(errorMs) < DEAD_BAND_MS) return 1;
    const correction = Math.max(-1, Math.min(1, errorMs / FULL_CORRECTION_MS));
    return 1 + correction * MAX_RATE_DEVIATION;
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0]![0]!;
    const n = out.length;
    const cap = this.#ring.length;
    const startFrame = currentFrame;
    if (!this.#primed && this.#buffered >= (this.#opts.targetMs * sampleRate) / 1000) this.#primed = true;
    const rate = this.#primed ? this.#nextRate() : 1;
    // Interpolation reads one sample past the last position.
    if (this.#primed && this.#buffered < n * rate + 1) {
      this.#primed = false;
      this.#underruns++;
    }
    let granule: number | null = null;
    if (this.#primed) {
      granule = (this.#granuleBase ?? 0) + this.#read;
      const base = this.#read;
      for (let i = 0; i < n; i++) {
        const pos = base + i * rate;
        const k = Math.floor(pos);
        const frac = pos - k;
        const a = this.#ring[k % cap]!;
        out[i] = frac === 0 ? a : a + (this.#ring[(k + 1) % cap]! - a) * frac;
      }
      this.#read = base + n * rate;
      this.#rate = rate;
      const fillAlpha = n / (FILL_AVERAGE_S * sampleRate);
      this.#averageFill += (this.#buffered - this.#averageFill) * fillAlpha;
    } else {
      out.fill(0);
      this.#rate = 1;
    }
    for (let c = 1; c < outputs[0]!.length; c++) outputs[0]![c]!.set(out);
    for (let i = 0; i < n; i++) {
      const v = Math.abs(out[i]!);
      if (v > this.#levelPeak) this.#levelPeak = v;
      this.#levelSumSq += v * v;
    }
    this.#levelCount += n;
    if (this.#opts.record) this.#record(startFrame, out, granule, rate);
    if (this.#levelCount >= (sampleRate * REPORT_MS) / 1000) {
      const report: JitterBufferReport = {
        case: 'report',
        frame: startFrame,
        granule,
        bufferedMs: (this.#buffered * 1000) / sampleRate,
        averageFillMs: (this.#averageFill * 1000) / sampleRate,
        playbackRate: this.#rate,
        underruns: this.#underruns,
        droppedMs: (this.#dropped * 1000) / sampleRate,
        playing: this.#primed,
        level: { rms: Math.sqrt(this.#levelSumSq / this.#levelCount), peak: this.#levelPeak },
      };
      this.port.postMessage(report);
      this.#levelPeak = 0;
      this.#levelSumSq = 0;
      this.#levelCount = 0;
    }
    return true;
  }

  #record(startFrame: number, out: Float32Array, granule: number | null, rate: number): void {
    if (this.#recordStartFrame < 0) this.#recordStartFrame = startFrame;
    this.#recorded.push(out.slice());
    this.#recordedGranules.push(granule ?? Number.NaN);
    this.#recordedRates.push(rate);
    if (this.#recorded.length < RECORD_QUANTA) return;
    const total = this.#recorded.reduce((sum, b) => sum + b.length, 0);
    const samples = new Float32Array(total);
    let o = 0;
    for (const b of this.#recorded) {
      samples.set(b, o);
      o += b.length;
    }
    const message: JitterBufferRecording = {
      case: 'recorded',
      startFrame: this.#recordStartFrame,
      samples,
      granules: Float64Array.from(this.#recordedGranules),
      rates: Float32Array.from(this.#recordedRates),
    };
    this.port.postMessage(message, [samples.buffer, message.granules.buffer, message.rates.buffer]);
    this.#recorded = [];
    this.#recordedGranules = [];
    this.#recordedRates = [];
    this.#recordStartFrame = -1;
  }
}

registerProcessor('jitter-buffer', JitterBufferProcessor);
