/**
 * AudioWorklet: a small jitter buffer. Decoded PCM arrives in ~20 ms blocks; playback
 * starts once `targetMs` is buffered, an underrun plays silence and re-primes, and a
 * buffer that grows past target + `maxExtraMs` drops its oldest audio so delay never
 * builds up. Posts level and fill every ~50 ms, and (when recording) what it played.
 */
declare const sampleRate: number;
declare const currentFrame: number;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: unknown);
}
declare function registerProcessor(name: string, ctor: unknown): void;

interface Options { targetMs: number; maxExtraMs: number; record: boolean }

class JitterBufferProcessor extends AudioWorkletProcessor {
  #ring = new Float32Array(sampleRate * 2);
  #read = 0;
  #write = 0;
  #primed = false;
  #opts: Options;
  #levelPeak = 0;
  #levelSumSq = 0;
  #levelCount = 0;
  #underruns = 0;
  #dropped = 0;
  #rec: Float32Array[] = [];
  #recStartFrame = -1;

  constructor(options: { processorOptions: Options }) {
    super();
    this.#opts = options.processorOptions;
    this.port.onmessage = (event: MessageEvent) => {
      const data = event.data as { pcm?: Float32Array; reset?: boolean };
      if (data.reset) { this.#read = this.#write = 0; this.#primed = false; return; }
      if (data.pcm) this.#push(data.pcm);
    };
  }

  get #buffered(): number {
    return this.#write - this.#read;
  }

  #push(pcm: Float32Array): void {
    const cap = this.#ring.length;
    for (let i = 0; i < pcm.length; i++) this.#ring[(this.#write + i) % cap] = pcm[i]!;
    this.#write += pcm.length;
    const maxSamples = ((this.#opts.targetMs + this.#opts.maxExtraMs) * sampleRate) / 1000;
    if (this.#buffered > maxSamples) {
      const drop = this.#buffered - Math.round((this.#opts.targetMs * sampleRate) / 1000);
      this.#read += drop;
      this.#dropped += drop;
    }
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0]![0]!;
    const cap = this.#ring.length;
    if (!this.#primed && this.#buffered >= (this.#opts.targetMs * sampleRate) / 1000) this.#primed = true;
    if (this.#primed && this.#buffered < out.length) { this.#primed = false; this.#underruns++; }
    if (this.#primed) {
      for (let i = 0; i < out.length; i++) out[i] = this.#ring[(this.#read + i) % cap]!;
      this.#read += out.length;
    } else {
      out.fill(0);
    }
    for (let c = 1; c < outputs[0]!.length; c++) outputs[0]![c]!.set(out);
    for (let i = 0; i < out.length; i++) {
      const v = Math.abs(out[i]!);
      if (v > this.#levelPeak) this.#levelPeak = v;
      this.#levelSumSq += v * v;
    }
    this.#levelCount += out.length;
    if (this.#opts.record) {
      if (this.#recStartFrame < 0) this.#recStartFrame = currentFrame;
      this.#rec.push(out.slice());
      if (this.#rec.length >= 32) this.#flushRecording();
    }
    if (this.#levelCount >= sampleRate / 20) {
      this.port.postMessage({
        level: { rms: Math.sqrt(this.#levelSumSq / this.#levelCount), peak: this.#levelPeak },
        bufferedMs: (this.#buffered * 1000) / sampleRate,
        underruns: this.#underruns,
        droppedMs: (this.#dropped * 1000) / sampleRate,
        playing: this.#primed,
      });
      this.#levelPeak = 0; this.#levelSumSq = 0; this.#levelCount = 0;
    }
    return true;
  }

  #flushRecording(): void {
    const total = this.#rec.reduce((n, b) => n + b.length, 0);
    const samples = new Float32Array(total);
    let o = 0;
    for (const b of this.#rec) { samples.set(b, o); o += b.length; }
    this.port.postMessage({ recorded: { startFrame: this.#recStartFrame, samples } }, [samples.buffer]);
    this.#rec = [];
    this.#recStartFrame = -1;
  }
}

registerProcessor('jitter-buffer', JitterBufferProcessor);
