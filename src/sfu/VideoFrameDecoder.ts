import '../media/node-av-setup.js';
import {
  AV_CODEC_ID_H264,
  AV_CODEC_ID_VP8,
  AV_PIX_FMT_RGB24,
  Codec,
  CodecContext,
  Frame,
  Packet,
  SoftwareScaleContext,
  SWS_AREA,
} from 'node-av';
import { Logger } from '../logger.js';
import { UnsupportedCodecError } from './errors.js';
import type { EncodedVideoFrame } from './rtp/EncodedVideoFrame.js';

const logger = new Logger('sfu:VideoFrameDecoder');

/**
 * A source at least this many times the model's size on both sides is decoded without the
 * in-loop deblocking filter: the area scaling to the model's size averages the block edges away,
 * and the filter is a large part of a big frame's decoding time (docs/experiments.md, section 37).
 */
export const SKIP_LOOP_FILTER_SCALE = 2;

export const DECODABLE_MIME_TYPES = ['video/VP8', 'video/H264'] as const;

/** A decoded picture, scaled to the model's input size, packed RGB. */
export interface DecodedVideoFrame {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** Size of the picture as published, before scaling. */
  sourceWidth: number;
  sourceHeight: number;
  rtpTimestamp: number;
  arrivalMs: number;
}

/**
 * Decodes whole VP8 or H.264 frames with FFmpeg (node-av's low-level codec API: no
 * demuxer, so no probing delay) and scales them to the model's size. A change of
 * resolution mid-stream rebuilds the scaler. Decode and scale run on libuv's
 * thread pool; calls are serialized by the caller. Large sources skip the loop filter
 * (SKIP_LOOP_FILTER_SCALE), from the frame after the one that showed their size.
 */
export class VideoFrameDecoder {
  readonly #ctx = new CodecContext();
  readonly #packet = new Packet();
  readonly #decoded = new Frame();
  readonly #scaled = new Frame();
  #scaler: SoftwareScaleContext | null = null;
  #scalerKey = '';
  #closed = false;
  #loopFilterSkipped = false;
  decodeErrors = 0;

  private constructor(
    readonly mimeType: string,
    readonly outWidth: number,
    readonly outHeight: number,
  ) {}

  static async create(mimeType: string, outWidth: number, outHeight: number): Promise<VideoFrameDecoder> {
    const codecId =
      mimeType.toLowerCase() === 'video/vp8'
        ? AV_CODEC_ID_VP8
        : mimeType.toLowerCase() === 'video/h264'
          ? AV_CODEC_ID_H264
          : null;
    if (codecId === null) throw new UnsupportedCodecError(mimeType, DECODABLE_MIME_TYPES);
    const codec = Codec.findDecoder(codecId);
    if (!codec) throw new UnsupportedCodecError(mimeType, DECODABLE_MIME_TYPES);
    const decoder = new VideoFrameDecoder(mimeType, outWidth, outHeight);
    decoder.#ctx.allocContext3(codec);
    decoder.#ctx.threadCount = 1; // one frame in, one frame out: no frame-threading delay
    const rc = await decoder.#ctx.open2(codec, null);
    if (rc < 0)
      throw new UnsupportedCodecError(`${mimeType} (decoder open failed: ${rc})`, DECODABLE_MIME_TYPES);
    decoder.#packet.alloc();
    decoder.#decoded.alloc();
    decoder.#scaled.alloc();
    return decoder;
  }

  /** Decodes one frame; returns null when the decoder produced nothing (error or delay). */
  async decode(frame: EncodedVideoFrame): Promise<DecodedVideoFrame | null> {
    if (this.#closed) return null;
    this.#packet.data = frame.data;
    this.#packet.pts = BigInt(frame.rtpTimestamp);
    const sent = await this.#ctx.sendPacket(this.#packet);
    if (this.#closed) return null;
    if (sent < 0) {
      this.decodeErrors++;
      return null;
    }
    let result: DecodedVideoFrame | null = null;
    for (;;) {
      const received = await this.#ctx.receiveFrame(this.#decoded);
      if (this.#closed || received < 0) break;
      result = await this.#scale(frame);
    }
    return result;
  }

  async #scale(frame: EncodedVideoFrame): Promise<DecodedVideoFrame | null> {
    const src = this.#decoded;
    const key = `${src.width}x${src.height}:${src.format}`;
    if (key !== this.#scalerKey) {
      this.#scaler?.freeContext();
      this.#scaler = new SoftwareScaleContext();
      this.#scaler.getContext(
        src.width,
        src.height,
        src.format as never,
        this.outWidth,
        this.outHeight,
        AV_PIX_FMT_RGB24,
        SWS_AREA,
      );
      if (this.#scalerKey !== '') logger.debug(`resolution change: ${this.#scalerKey} -> ${key}`);
      this.#scalerKey = key;
      this.#setLoopFilter(
        src.width >= SKIP_LOOP_FILTER_SCALE * this.outWidth &&
          src.height >= SKIP_LOOP_FILTER_SCALE * this.outHeight,
      );
    }
    this.#scaled.unref();
    this.#scaled.width = this.outWidth;
    this.#scaled.height = this.outHeight;
    this.#scaled.format = AV_PIX_FMT_RGB24;
    this.#scaled.allocBuffer();
    await this.#scaler!.scaleFrame(this.#scaled, src);
    if (this.#closed) return null;
    return {
      rgb: new Uint8Array(this.#scaled.toBuffer()),
      width: this.outWidth,
      height: this.outHeight,
      sourceWidth: src.width,
      sourceHeight: src.height,
      rtpTimestamp: frame.rtpTimestamp,
      arrivalMs: frame.arrivalMs,
    };
  }

  /** Whether the decoder skips the loop filter (the source is large: SKIP_LOOP_FILTER_SCALE). */
  get loopFilterSkipped(): boolean {
    return this.#loopFilterSkipped;
  }

  #setLoopFilter(skip: boolean): void {
    if (skip === this.#loopFilterSkipped) return;
    const rc = this.#ctx.setOption('skip_loop_filter', skip ? 'all' : 'default');
    if (rc < 0) {
      logger.debug(`cannot set skip_loop_filter (${rc}); the loop filter stays on`);
      return;
    }
    this.#loopFilterSkipped = skip;
  }

  /** Idempotent. In-flight decodes resolve to null. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Native buffers are freed by their finalizers; a pending native call may still
    // hold them, so don't free explicitly here.
    this.#scaler = null;
  }
}
