/**
 * AudioWorklet around the OBS page's JitterBuffer (jitter-buffer.ts): decoded PCM in,
 * one render quantum out per process(). Every ~50 ms it posts the fill, the stream
 * position it is playing at which context frame, and (when recording) what it played.
 */
import { JitterBuffer } from './jitter-buffer.js';

declare const sampleRate: number;
declare const currentFrame: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: unknown);
}
declare function registerProcessor(name: string, ctor: unknown): void;

export interface JitterWorkletOptions {
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
  /** Fill averaged over a fraction of a second: what the buffer adds. */
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

class JitterBufferProcessor extends AudioWorkletProcessor {
  readonly #buffer: JitterBuffer;
  readonly #record: boolean;
  #levelPeak = 0;
  #levelSumSq = 0;
  #levelCount = 0;
  #recorded: Float32Array[] = [];
  #recordedGranules: number[] = [];
  #recordedRates: number[] = [];
  #recordStartFrame = -1;

  constructor(options: { processorOptions: JitterWorkletOptions }) {
    super();
    const { targetMs, maxExtraMs, record } = options.processorOptions;
    this.#buffer = new JitterBuffer({ sampleRate, targetMs, maxExtraMs });
    this.#record = record;
    this.port.onmessage = (event: MessageEvent<JitterBufferInput>) => {
      const data = event.data;
      if ('reset' in data) this.#buffer.reset();
      else this.#buffer.push(data.pcm, data.granule);
    };
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0]![0]!;
    const startFrame = currentFrame;
    const { granule, rate } = this.#buffer.render(out);
    for (let c = 1; c < outputs[0]!.length; c++) outputs[0]![c]!.set(out);
    for (let i = 0; i < out.length; i++) {
      const v = Math.abs(out[i]!);
      if (v > this.#levelPeak) this.#levelPeak = v;
      this.#levelSumSq += v * v;
    }
    this.#levelCount += out.length;
    if (this.#record) this.#recordQuantum(startFrame, out, granule, rate);
    if (this.#levelCount >= (sampleRate * REPORT_MS) / 1000) {
      const b = this.#buffer;
      const report: JitterBufferReport = {
        case: 'report',
        frame: startFrame,
        granule,
        bufferedMs: b.bufferedMs,
        averageFillMs: b.averageFillMs,
        playbackRate: b.playbackRate,
        underruns: b.underruns,
        droppedMs: b.droppedMs,
        playing: b.playing,
        level: { rms: Math.sqrt(this.#levelSumSq / this.#levelCount), peak: this.#levelPeak },
      };
      this.port.postMessage(report);
      this.#levelPeak = 0;
      this.#levelSumSq = 0;
      this.#levelCount = 0;
    }
    return true;
  }

  #recordQuantum(startFrame: number, out: Float32Array, granule: number | null, rate: number): void {
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
