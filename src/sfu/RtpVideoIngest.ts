import type dgram from 'node:dgram';
import type { types as ms } from 'mediasoup';
import { Logger } from '../logger.js';
import { TypedEmitter } from '../typed-emitter.js';
import { AttachError, UnsupportedCodecError } from './errors.js';
import type { Depacketizer, EncodedVideoFrame } from './rtp/EncodedVideoFrame.js';
import { FrameAssembler } from './rtp/FrameAssembler.js';
import { h264PayloadFormat } from './rtp/H264PayloadFormat.js';
import { parseRtpPacket } from './rtp/RtpPacket.js';
import { vp8PayloadFormat } from './rtp/Vp8PayloadFormat.js';
import { bindUdpSocket } from './udpSocket.js';
import { DECODABLE_MIME_TYPES, type DecodedVideoFrame, VideoFrameDecoder } from './VideoFrameDecoder.js';

const logger = new Logger('sfu:RtpVideoIngest');

/** RTP clock of every video codec in WebRTC. */
export const VIDEO_CLOCK_RATE = 90000;
/** At most one keyframe request per this interval, ms. */
const KEYFRAME_REQUEST_INTERVAL_MS = 500;
/** Frames waiting for the decoder before the backlog is dropped for a keyframe. */
const MAX_DECODE_BACKLOG = 8;

/** A decoded frame with its media time (from RTP timestamps) and arrival time. */
export interface IngestFrame extends DecodedVideoFrame {
  /** Media time in ms since the first frame of this ingest (RTP clock). */
  mediaTimeMs: number;
}

export interface RtpVideoIngestStats {
  packetsReceived: number;
  framesAssembled: number;
  framesDecoded: number;
  framesDropped: number;
  keyframeRequests: number;
  decodeErrors: number;
  sourceWidth: number;
  sourceHeight: number;
}

export type RtpVideoIngestEvents = {
  frame: [IngestFrame];
  resolutionchange: [{ width: number; height: number }];
  /** The producer closed or the transport died; the ingest is closed. */
  close: [];
};

export interface RtpVideoIngestOptions {
  router: ms.Router;
  producer: ms.Producer;
  /** Size frames are scaled to (the model's input). */
  outWidth: number;
  outHeight: number;
  /** Local address the consumer sends RTP to. Default 127.0.0.1. */
  listenIp?: string;
}

/**
 * Where a video frame enters: a PlainTransport consumer of the producer sends RTP
 * to a local UDP socket; packets are reassembled into frames here (no demuxer, so
 * no probing delay and the exact arrival time of each frame), decoded with FFmpeg,
 * scaled, and emitted with their media time. Lost frames or decoder errors request a
 * keyframe from the publisher.
 */
export class RtpVideoIngest extends TypedEmitter<RtpVideoIngestEvents> {
  readonly #socket: dgram.Socket;
  readonly #transport: ms.PlainTransport;
  readonly #consumer: ms.Consumer;
  readonly #decoder: VideoFrameDecoder;
  readonly #depacketizer: Depacketizer;
  readonly #payloadType: number;
  #closed = false;
  #decodeQueue: EncodedVideoFrame[] = [];
  #decoding = false;
  #lastKeyframeRequestMs = -Infinity;
  #firstRtpTimestamp: number | null = null;
  readonly stats: RtpVideoIngestStats = {
    packetsReceived: 0,
    framesAssembled: 0,
    framesDecoded: 0,
    framesDropped: 0,
    keyframeRequests: 0,
    decodeErrors: 0,
    sourceWidth: 0,
    sourceHeight: 0,
  };

  private constructor(
    socket: dgram.Socket,
    transport: ms.PlainTransport,
    consumer: ms.Consumer,
    decoder: VideoFrameDecoder,
    depacketizer: Depacketizer,
  ) {
    super();
    this.#socket = socket;
    this.#transport = transport;
    this.#consumer = consumer;
    this.#decoder = decoder;
    this.#depacketizer = depacketizer;
    this.#payloadType = consumer.rtpParameters.codecs[0]!.payloadType;
    socket.on('message', (msg) => this.#onDatagram(msg));
    socket.on('error', (error) => logger.warn(`socket error: ${error.message}`));
    consumer.on('producerclose', () => this.close());
    consumer.on('transportclose', () => this.close());
  }

  static async create(options: RtpVideoIngestOptions): Promise<RtpVideoIngest> {
    const { router, producer, outWidth, outHeight } = options;
    const listenIp = options.listenIp ?? '127.0.0.1';
    if (producer.kind !== 'video') {
      throw new AttachError(
        `[sfu:ingest, producer:${producer.id}] expected a video producer, got kind "${producer.kind}"`,
      );
    }
    const mimeType = producer.rtpParameters.codecs[0]?.mimeType ?? 'none';
    const format =
      mimeType.toLowerCase() === 'video/vp8'
        ? vp8PayloadFormat
        : mimeType.toLowerCase() === 'video/h264'
          ? h264PayloadFormat
          : null;
    if (!format) throw new UnsupportedCodecError(mimeType, DECODABLE_MIME_TYPES);

    const decoder = await VideoFrameDecoder.create(mimeType, outWidth, outHeight);
    const socket = await bindUdpSocket(listenIp);
    // Loopback bursts of a keyframe can exceed the default buffer.
    try {
      socket.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      /* keep default */
    }

    let transport: ms.PlainTransport | undefined;
    try {
      transport = await router.createPlainTransport({ listenIp, rtcpMux: true, comedia: false });
      await transport.connect({ ip: listenIp, port: socket.address().port });
      const codecs = router.rtpCapabilities
        .codecs!.filter((c) => c.mimeType.toLowerCase() === mimeType.toLowerCase())
        .map((c) => ({ ...c, rtcpFeedback: [] }));
      const consumer = await transport.consume({
        producerId: producer.id,
        rtpCapabilities: { codecs, headerExtensions: [] },
        paused: true,
      });
      const ingest = new RtpVideoIngest(socket, transport, consumer, decoder, new FrameAssembler(format));
      await consumer.resume();
      ingest.requestKeyframe();
      return ingest;
    } catch (error) {
      transport?.close();
      socket.close();
      decoder.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get mimeType(): string {
    return this.#decoder.mimeType;
  }

  /** Asks the publisher for a keyframe, at most once per 500 ms. */
  requestKeyframe(): void {
    const now = performance.now();
    if (this.#closed || now - this.#lastKeyframeRequestMs < KEYFRAME_REQUEST_INTERVAL_MS) return;
    this.#lastKeyframeRequestMs = now;
    this.stats.keyframeRequests++;
    this.#consumer
      .requestKeyFrame()
      .catch((error: Error) => logger.debug(`keyframe request failed: ${error.message}`));
  }

  #onDatagram(datagram: Buffer): void {
    if (this.#closed) return;
    const arrivalMs = performance.now();
    const packet = parseRtpPacket(datagram);
    if (!packet || packet.payloadType !== this.#payloadType) return;
    this.stats.packetsReceived++;
    const frames = this.#depacketizer.push(packet, arrivalMs);
    if (this.#depacketizer.needsKeyframe) this.requestKeyframe();
    for (const frame of frames) {
      this.stats.framesAssembled++;
      if (this.#decodeQueue.length >= MAX_DECODE_BACKLOG && !frame.keyframe) {
        // Decoding fell behind: drop the backlog and restart from a keyframe.
        this.stats.framesDropped += this.#decodeQueue.length + 1;
        this.#decodeQueue = [];
        this.#awaitingKeyframe = true;
        this.requestKeyframe();
        continue;
      }
      if (this.#awaitingKeyframe && !frame.keyframe) {
        this.stats.framesDropped++;
        continue;
      }
      if (frame.keyframe) {
        this.#awaitingKeyframe = false;
        this.#decodeQueue = [];
      }
      this.#decodeQueue.push(frame);
    }
    void this.#drainDecodeQueue();
  }

  #awaitingKeyframe = false;

  async #drainDecodeQueue(): Promise<void> {
    if (this.#decoding) return;
    this.#decoding = true;
    try {
      while (!this.#closed && this.#decodeQueue.length > 0) {
        const encoded = this.#decodeQueue.shift()!;
        const errorsBefore = this.#decoder.decodeErrors;
        const decoded = await this.#decoder.decode(encoded);
        if (this.#closed) return;
        if (this.#decoder.decodeErrors > errorsBefore) {
          this.stats.decodeErrors++;
          this.#awaitingKeyframe = true;
          this.requestKeyframe();
        }
        if (!decoded) continue;
        this.stats.framesDecoded++;
        if (
          decoded.sourceWidth !== this.stats.sourceWidth ||
          decoded.sourceHeight !== this.stats.sourceHeight
        ) {
          this.stats.sourceWidth = decoded.sourceWidth;
          this.stats.sourceHeight = decoded.sourceHeight;
          this.safeEmit('resolutionchange', { width: decoded.sourceWidth, height: decoded.sourceHeight });
        }
        if (this.#firstRtpTimestamp === null) this.#firstRtpTimestamp = decoded.rtpTimestamp;
        const mediaTimeMs = ((decoded.rtpTimestamp - this.#firstRtpTimestamp) * 1000) / VIDEO_CLOCK_RATE;
        this.safeEmit('frame', { ...decoded, mediaTimeMs });
      }
    } catch (error) {
      logger.warn(`decode failed: ${(error as Error).message}`);
      this.requestKeyframe();
    } finally {
      this.#decoding = false;
    }
  }

  /** Idempotent; closes the consumer's transport, the socket and the decoder. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#decodeQueue = [];
    this.#transport.close();
    this.#socket.close();
    this.#decoder.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}
