import './node-av-setup.js';
import { AV_SAMPLE_FMT_FLT, Codec, CodecContext, Frame, Packet } from 'node-av';
import { EXIT_CODES, FoleyError } from '../errors.js';

export const OPUS_SAMPLE_RATE = 48000;
/** 20 ms at 48 kHz: one Opus packet. */
export const OPUS_FRAME_SAMPLES = 960;

const MONO = { nbChannels: 1, order: 1 /* AV_CHANNEL_ORDER_NATIVE */, mask: 4n /* AV_CH_FRONT_CENTER */ };

export class OpusEncoderError extends FoleyError {
  readonly code = 'OPUS';
  readonly exitCode = EXIT_CODES.opus.code;
}

/** One encoded 20 ms Opus packet. */
export interface OpusPacket {
  data: Buffer;
  /** Index of the packet's first sample on the 48 kHz output clock. */
  samplePosition: number;
}

/**
 * Mono 48 kHz Opus through libopus (node-av), 20 ms per packet.
 * Encoding 20 ms takes well under a millisecond, so it runs synchronously on the
 * caller's thread.
 */
export class OpusEncoder {
  readonly #ctx = new CodecContext();
  readonly #packet = new Packet();
  /** Samples the decoder must drop at the start (Ogg pre-skip). */
  readonly preSkipSamples: number;
  #closed = false;
  #position = 0;

  constructor(readonly bitrate = 48000) {
    const codec = Codec.findEncoderByName('libopus' as never);
    if (!codec)
      throw new OpusEncoderError('[opus] this FFmpeg build has no libopus encoder; reinstall node-av');
    this.#ctx.allocContext3(codec);
    this.#ctx.sampleRate = OPUS_SAMPLE_RATE;
    this.#ctx.sampleFormat = AV_SAMPLE_FMT_FLT;
    this.#ctx.channelLayout = MONO as never;
    this.#ctx.timeBase = { num: 1, den: OPUS_SAMPLE_RATE } as never;
    this.#ctx.bitRate = BigInt(bitrate);
    // No options dictionary: node-av 6.1.1 frees a Dictionary passed to open2 a second
    // time when it is collected (heap corruption). libopus' defaults are what we want
    // anyway: 20 ms frames, VBR, application "audio" (312 samples of look-ahead).
    const rc = this.#ctx.open2Sync(codec, null);
    if (rc < 0) throw new OpusEncoderError(`[opus] libopus open failed (${rc})`);
    this.#packet.alloc();
    // libopus reports its look-ahead as the first packet's negative pts (312 at 48 kHz).
    this.preSkipSamples = this.#ctx.delay > 0 ? this.#ctx.delay : 312;
  }

  /** Encodes exactly 960 samples (mono, float, −1..1); returns the packets that came out. */
  encode(pcm: Float32Array): OpusPacket[] {
    if (this.#closed) return [];
    if (pcm.length !== OPUS_FRAME_SAMPLES) {
      throw new OpusEncoderError(
        `[opus] expected ${OPUS_FRAME_SAMPLES} samples per frame, got ${pcm.length}`,
      );
    }
    const frame = Frame.fromAudioBuffer(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), {
      nbSamples: OPUS_FRAME_SAMPLES,
      format: AV_SAMPLE_FMT_FLT,
      sampleRate: OPUS_SAMPLE_RATE,
      channelLayout: MONO as never,
      timeBase: { num: 1, den: OPUS_SAMPLE_RATE },
      pts: BigInt(this.#position),
    });
    this.#position += OPUS_FRAME_SAMPLES;
    this.#ctx.sendFrameSync(frame);
    const out: OpusPacket[] = [];
    while (this.#ctx.receivePacketSync(this.#packet) >= 0) {
      const data = this.#packet.data;
      if (data)
        out.push({ data: Buffer.from(data), samplePosition: Number(this.#packet.pts) + this.preSkipSamples });
      this.#packet.unref();
    }
    return out;
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#packet.free();
    this.#ctx.freeContext();
  }
}
