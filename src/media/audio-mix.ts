/**
 * Keeps a video's own audio under its foley (`foley render --mix DB`): the input's audio
 * track is decoded as it is needed (mono float32, resampled to the foley's rate), scaled by
 * DB relative to its original level and added to the foley at 0 dB. A peak limiter on the sum
 * keeps every sample within LIMITER_CEILING, so the 16-bit or encoded output never clips.
 */
import './node-av-setup.js';
import { existsSync } from 'node:fs';
import { Decoder, Demuxer, FilterAPI } from 'node-av/api';
import { InvalidStateError, MediaInputError } from '../errors.js';

/** The limiter's output never exceeds this magnitude (−0.2 dBFS, headroom for the codecs). */
export const LIMITER_CEILING = 0.977;
/** Time for the limiter's gain to recover 63% of the way back to 1 after a peak. */
export const LIMITER_RELEASE_MS = 50;

/**
 * A peak limiter with instant attack (a sample over the ceiling sets the gain to bring it to
 * the ceiling exactly) and exponential release, so no sample leaves over the ceiling and
 * quiet passages come back to unity gain. State runs across calls: feed it contiguous audio.
 */
export class PeakLimiter {
  #gain = 1;
  readonly #releaseCoefficient: number;

  constructor(
    sampleRate: number,
    readonly ceiling = LIMITER_CEILING,
    releaseMs = LIMITER_RELEASE_MS,
  ) {
    this.#releaseCoefficient = Math.exp(-1000 / (releaseMs * sampleRate));
  }

  /** Limits `samples` in place and returns them. */
  process(samples: Float32Array): Float32Array {
    for (let i = 0; i < samples.length; i++) {
      const peak = Math.abs(samples[i]!);
      const allowed = peak > this.ceiling ? this.ceiling / peak : 1;
      this.#gain =
        allowed < this.#gain ? allowed : allowed - (allowed - this.#gain) * this.#releaseCoefficient;
      samples[i] = samples[i]! * this.#gain;
    }
    return samples;
  }
}

/** Linear amplitude factor of a gain in dB. */
export function dbToGain(db: number): number {
  return 10 ** (db / 20);
}

export interface OriginalAudioMixOptions {
  /** The foley's sample rate; the original audio is resampled to it. */
  sampleRate: number;
  /** Level of the original audio relative to its own, dB (0 = as recorded, −12 = quieter). */
  gainDb: number;
}

/**
 * Mixes the original audio of `input` under foley that arrives in contiguous pieces from
 * sample 0. Decoding keeps pace with the foley, so memory stays flat in the clip's length.
 * Original audio shorter than the foley is followed by silence; longer is cut at its end.
 */
export class OriginalAudioMixer {
  readonly #frames: Iterator<unknown>;
  readonly #gain: number;
  readonly #limiter: PeakLimiter;
  readonly #release: () => Promise<void>;
  #pending = new Float32Array(0);
  #pendingAt = 0;
  #ended = false;
  #closed = false;

  private constructor(
    frames: Iterator<unknown>,
    options: OriginalAudioMixOptions,
    release: () => Promise<void>,
  ) {
    this.#frames = frames;
    this.#gain = dbToGain(options.gainDb);
    this.#limiter = new PeakLimiter(options.sampleRate);
    this.#release = release;
  }

  /** Opens `input`'s audio track; a MediaInputError when there is none or it cannot be decoded. */
  static async open(input: string, options: OriginalAudioMixOptions): Promise<OriginalAudioMixer> {
    if (!Number.isFinite(options.gainDb))
      throw new RangeError(`[mix] gainDb must be a finite number of dB, got ${options.gainDb}`);
    if (!existsSync(input)) throw new MediaInputError(`[media:${input}] does not exist`);
    let demuxer: Demuxer;
    try {
      demuxer = await Demuxer.open(input);
    } catch (error) {
      throw new MediaInputError(`[media:${input}] cannot open as media: ${(error as Error).message}`, {
        cause: error,
      });
    }
    let decoder: Decoder | undefined;
    let filter: FilterAPI | undefined;
    const release = async (): Promise<void> => {
      filter?.close();
      decoder?.close();
      await demuxer.close();
    };
    try {
      const stream = demuxer.audio();
      if (!stream)
        throw new MediaInputError(
          `[media:${input}, --mix] the input has no audio track to keep under the foley; drop --mix or give a video with sound`,
        );
      try {
        decoder = Decoder.createSync(stream, { exitOnError: true });
      } catch (error) {
        throw new MediaInputError(`[media:${input}, --mix] no decoder for the audio track`, { cause: error });
      }
      filter = FilterAPI.create(
        `aresample=${options.sampleRate},aformat=sample_fmts=flt:channel_layouts=mono`,
        { threads: 1 },
      );
      const frames = filter.framesSync(decoder.framesSync(demuxer.packetsSync(stream.index)));
      return new OriginalAudioMixer(frames[Symbol.iterator](), options, release);
    } catch (error) {
      await release();
      throw error;
    }
  }

  /** The next `foley.length` samples of the mix (a new array; `foley` is left as it was). */
  mix(foley: Float32Array): Float32Array {
    if (this.#closed) throw new InvalidStateError('[mix] mix() after close()');
    const out = new Float32Array(foley);
    let filled = 0;
    while (filled < out.length) {
      if (this.#pendingAt >= this.#pending.length && !this.#decodeNext()) break;
      const take = Math.min(out.length - filled, this.#pending.length - this.#pendingAt);
      for (let i = 0; i < take; i++) out[filled + i]! += this.#gain * this.#pending[this.#pendingAt + i]!;
      filled += take;
      this.#pendingAt += take;
    }
    return this.#limiter.process(out);
  }

  /** Releases the decoder and the input; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = new Float32Array(0);
    await this.#release();
  }

  /** Decodes the next frame of original audio into `#pending`; false at the track's end. */
  #decodeNext(): boolean {
    while (!this.#ended) {
      let next: IteratorResult<unknown>;
      try {
        next = this.#frames.next();
      } catch (error) {
        throw new MediaInputError(`[mix] decoding the original audio failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (next.done) {
        this.#ended = true;
        break;
      }
      const frame = next.value as { toBuffer(): Buffer; free(): void } | null;
      if (!frame) continue;
      const bytes = frame.toBuffer();
      frame.free();
      const samples = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(samples.buffer).set(bytes);
      if (samples.length === 0) continue;
      this.#pending = samples;
      this.#pendingAt = 0;
      return true;
    }
    return false;
  }
}
