/**
 * Encodes a mono float waveform to AAC or Opus packets at 48 kHz with node-av: the
 * waveform is cut into frames, resampled by an aresample filter and re-chunked to the
 * encoder's frame size (1024 for AAC, 960 = 20 ms for Opus).
 */
import './node-av-setup.js';
import { Encoder, FilterAPI } from 'node-av/api';
import {
  AV_CHANNEL_LAYOUT_MONO,
  AV_SAMPLE_FMT_FLT,
  FF_ENCODER_AAC,
  FF_ENCODER_LIBOPUS,
} from 'node-av/constants';
import { Frame, type Packet } from 'node-av/lib';

export type AudioCodecName = 'aac' | 'opus';

export const OUTPUT_SAMPLE_RATE = 48000;

const FRAME_SIZE: Record<AudioCodecName, number> = { aac: 1024, opus: 960 };
/** Sample formats the encoders take: native AAC wants planar float, libopus packed float. */
const SAMPLE_FORMAT: Record<AudioCodecName, string> = { aac: 'fltp', opus: 'flt' };

/** Float32 mono samples -> node-av audio frame with pts in samples. */
function floatFrame(samples: Float32Array, sampleRate: number, pts: number): Frame {
  const buffer = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  return Frame.fromAudioBuffer(buffer, {
    nbSamples: samples.length,
    format: AV_SAMPLE_FMT_FLT,
    sampleRate,
    channelLayout: AV_CHANNEL_LAYOUT_MONO,
    timeBase: { num: 1, den: sampleRate },
    pts: BigInt(pts),
  });
}

/**
 * An encoder for the codec, not yet initialized: add it to a Muxer (which sets the
 * global-header flag) before `encodeWaveform`. The caller closes it.
 */
export async function createAudioEncoder(codec: AudioCodecName): Promise<Encoder> {
  return Encoder.create(codec === 'aac' ? FF_ENCODER_AAC : FF_ENCODER_LIBOPUS, {
    timeBase: { num: 1, den: OUTPUT_SAMPLE_RATE },
    bitrate: codec === 'aac' ? '96k' : '64k',
  } as Parameters<typeof Encoder.create>[1]);
}

/**
 * Resamples and encodes a waveform that arrives in pieces: `push` returns the packets
 * ready so far, `flush` the rest at the end. Packets are in order; the caller frees them.
 */
export class WaveformEncoder {
  private readonly filter: FilterAPI;
  private readonly frameSize: number;
  /** Input samples pushed so far: the pts of the next input frame. */
  private pushed = 0;
  private closed = false;

  constructor(
    private readonly encoder: Encoder,
    codec: AudioCodecName,
    private readonly sampleRate: number,
  ) {
    this.frameSize = FRAME_SIZE[codec];
    this.filter = FilterAPI.create(
      `aresample=${OUTPUT_SAMPLE_RATE},aformat=sample_fmts=${SAMPLE_FORMAT[codec]}:channel_layouts=mono,asetnsamples=n=${this.frameSize}:p=0`,
    );
  }

  push(samples: Float32Array): Packet[] {
    const packets: Packet[] = [];
    try {
      const step = Math.max(1, Math.round(this.sampleRate / 10)); // 100 ms of input per filter call
      for (let start = 0; start < samples.length; start += step) {
        const piece = samples.subarray(start, Math.min(start + step, samples.length));
        const input = floatFrame(piece, this.sampleRate, this.pushed);
        this.pushed += piece.length;
        try {
          this.encodeFrames(this.filter.processAllSync(input), packets);
        } finally {
          input.free();
        }
      }
    } catch (error) {
      for (const p of packets) p.free();
      throw error;
    }
    return packets;
  }

  /** Drains the filter and the encoder; closes the filter. */
  flush(): Packet[] {
    const packets: Packet[] = [];
    try {
      this.encodeFrames(this.filter.flushFramesSync(), packets);
      packets.push(...this.encoder.encodeAllSync(null));
    } catch (error) {
      for (const p of packets) p.free();
      throw error;
    } finally {
      this.close();
    }
    return packets;
  }

  /** Frees the filter (the encoder is the caller's). Safe to call twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.filter.close();
  }

  private encodeFrames(frames: Iterable<Frame>, into: Packet[]): void {
    for (const f of frames) {
      try {
        into.push(...this.encoder.encodeAllSync(f));
      } finally {
        f.free();
      }
    }
  }
}

/** Resamples and encodes the whole waveform; returns every packet in order (caller frees them). */
export function encodeWaveform(
  encoder: Encoder,
  codec: AudioCodecName,
  waveform: Float32Array,
  sampleRate: number,
): Packet[] {
  const streaming = new WaveformEncoder(encoder, codec, sampleRate);
  const packets: Packet[] = [];
  try {
    packets.push(...streaming.push(waveform));
    packets.push(...streaming.flush());
  } catch (error) {
    for (const p of packets) p.free();
    throw error;
  } finally {
    streaming.close();
  }
  return packets;
}
