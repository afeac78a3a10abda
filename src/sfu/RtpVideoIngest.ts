import type dgram from 'node:dgram';
import type { types as ms } from 'mediasoup';
import { Logger } from '../logger.js';
import { TypedEmitter } from '../typed-emitter.js';
import { AttachError, UnsupportedCodecError } from './errors.js';
import type { Depacketizer, EncodedVideoFrame } from './rtp/EncodedVideoFrame.js';
import { FrameAssembler } from './rtp/FrameAssembler.js';
import { h264PayloadFormat } from './rtp/H264PayloadFormat.js';
import { NackGenerator, serializeGenericNack } from './rtp/NackGenerator.js';
import { parseRtpPacket } from './rtp/RtpPacket.js';
import { vp8PayloadFormat } from './rtp/Vp8PayloadFormat.js';
import { bindUdpSocket } from './udpSocket.js';
import { DECODABLE_MIME_TYPES, type DecodedVideoFrame, VideoFrameDecoder } from './VideoFrameDecoder.js';

const logger = new Logger('sfu:RtpVideoIngest');

/** RTP clock of every video codec in WebRTC. */
export const VIDEO_CLOCK_RATE = 90000;
/** At most one keyframe request per this interval, ms. */
const KEYFRAME_REQUEST_INTERVAL_MS = 500;
/** Frames waiting for the decoder before the backlog is dropped. */
const MAX_DECODE_BACKLOG = 8;
/** How often missing packets are asked for again and the loss window advances, ms. */
const NACK_TIMER_MS = 20;
/** The loss rate is over about this much recent time, ms. */
const LOSS_WINDOW_MS = 5000;
/** Before the first keyframe, a frame behind a gap waits this long for retransmissions, ms. */
const MAX_WAIT_FOR_FIRST_KEYFRAME_MS = 400;
/**
 * Later, a complete frame behind a gap waits this long for the gap's retransmissions (a NACK
 * and two retries 40 ms apart), ms: decoding past the gap predicts from a damaged picture until the next
 * keyframe, and the damage reads as motion the foley sounds. The frame grid uses a late
 * frame while its chunk can still start in time and bridges it otherwise, so the wait
 * costs no deadline.
 */
const MAX_WAIT_FOR_MISSING_MS = 100;
/** Feedback the ingest answers: retransmission (NACK) and keyframe requests (PLI, FIR). */
const INGEST_RTCP_FEEDBACK: ReadonlyArray<{ type: string; parameter?: string }> = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
];

/** A decoded frame with its media time (from RTP timestamps) and arrival time. */
export interface IngestFrame extends DecodedVideoFrame {
  /** Media time in ms since the first frame of this ingest (RTP clock). */
  mediaTimeMs: number;
}

export interface RtpVideoIngestStats {
  packetsReceived: number;
  /** Packets missing on first arrival (network loss before retransmission). */
  packetsMissed: number;
  /** Missing packets that a NACK brought back (or that came late). */
  packetsRecovered: number;
  /** Missing packets given up after their NACKs. */
  packetsLost: number;
  nacksSent: number;
  /** Share of packets missing on first arrival over the last few seconds, 0..1. */
  recentLossRate: number;
  framesAssembled: number;
  framesDecoded: number;
  /** Frames the assembler gave up (a packet never came). */
  framesLost: number;
  /** Delta frames decoded on a damaged reference after a loss, before the next keyframe. */
  framesDecodedAfterLoss: number;
  framesDropped: number;
  keyframeRequests: number;
  decodeErrors: number;
  /** Wall time decoding and scaling took, summed over frames, ms (on libuv's pool: its waits count). */
  decodeMs: number;
  sourceWidth: number;
  sourceHeight: number;
}

export type RtpVideoIngestEvents = {
  frame: [IngestFrame];
  resolutionchange: [{ width: number; height: number }];
  /** `stats.recentLossRate` moved by a whole percent or more since the last event (0..1). */
  lossratechange: [number];
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
  /**
   * Where the consumer sends RTP, given the ingest's own socket: default that socket.
   * Something in between (a relay that drops packets, in tests) returns its address and
   * forwards both ways; the ingest answers RTCP to where the RTP came from.
   */
  routeRtp?: (ingest: { ip: string; port: number }) => Promise<{ ip: string; port: number }>;
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
  readonly #nack = new NackGenerator();
  readonly #nackTimer: NodeJS.Timeout;
  readonly #mediaSsrc: number;
  readonly #senderSsrc = (Math.random() * 2 ** 32) >>> 0;
  /** Where RTCP goes: the address RTP last came from. */
  #rtcpTarget: { address: string; port: number } | null = null;
  /** [time ms, packets expected, packets missed] snapshots for the recent loss rate. */
  #lossHistory: Array<[number, number, number]> = [];
  #reportedLossPercent = 0;
  readonly stats: RtpVideoIngestStats = {
    packetsReceived: 0,
    packetsMissed: 0,
    packetsRecovered: 0,
    packetsLost: 0,
    nacksSent: 0,
    recentLossRate: 0,
    framesAssembled: 0,
    framesDecoded: 0,
    framesLost: 0,
    framesDecodedAfterLoss: 0,
    framesDropped: 0,
    keyframeRequests: 0,
    decodeErrors: 0,
    decodeMs: 0,
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
    this.#mediaSsrc = consumer.rtpParameters.encodings?.[0]?.ssrc ?? 0;
    this.#nackTimer = setInterval(() => this.#onNackTimer(), NACK_TIMER_MS);
    this.#nackTimer.unref();
    socket.on('message', (msg, rinfo) => this.#onDatagram(msg, rinfo));
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
      const ingestAddress = { ip: listenIp, port: socket.address().port };
      await transport.connect(options.routeRtp ? await options.routeRtp(ingestAddress) : ingestAddress);
      // Keep the router's NACK/PLI/FIR feedback so mediasoup keeps a retransmission buffer
      // for this consumer; drop the congestion-control feedback the ingest does not send.
      // No RTX: retransmissions come as the original packets.
      const codecs = router.rtpCapabilities
        .codecs!.filter((c) => c.mimeType.toLowerCase() === mimeType.toLowerCase())
        .map((c) => ({
          ...c,
          rtcpFeedback: (c.rtcpFeedback ?? []).filter((fb) =>
            INGEST_RTCP_FEEDBACK.some(
              (want) => want.type === fb.type && (want.parameter ?? '') === (fb.parameter ?? ''),
            ),
          ),
        }));
      // From a simulcast producer, the lowest spatial layer: the model reads pictures far
      // smaller than a camera's, and decoding grows with the pixels (mediasoup's default is
      // the highest layer). Ignored for a single-stream producer.
      const consumer = await transport.consume({
        producerId: producer.id,
        rtpCapabilities: { codecs, headerExtensions: [] },
        paused: true,
        preferredLayers: { spatialLayer: 0 },
      });
      const ingest = new RtpVideoIngest(
        socket,
        transport,
        consumer,
        decoder,
        new FrameAssembler(format, {
          maxWaitForMissingMs: MAX_WAIT_FOR_MISSING_MS,
          maxWaitForFirstKeyframeMs: MAX_WAIT_FOR_FIRST_KEYFRAME_MS,
        }),
      );
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

  #onDatagram(datagram: Buffer, from: { address: string; port: number }): void {
    if (this.#closed) return;
    const arrivalMs = performance.now();
    const packet = parseRtpPacket(datagram);
    if (!packet || packet.payloadType !== this.#payloadType) return;
    this.stats.packetsReceived++;
    this.#rtcpTarget = { address: from.address, port: from.port };
    this.#sendNack(this.#nack.onPacket(packet.sequenceNumber, arrivalMs));
    this.#enqueue(this.#depacketizer.push(packet, arrivalMs));
  }

  #enqueue(frames: EncodedVideoFrame[]): void {
    this.stats.framesDecodedAfterLoss = this.#depacketizer.framesAfterLoss;
    this.stats.framesLost = this.#depacketizer.lostFrames;
    // A frame is unrecoverable only once the assembler gave it up: then ask for a keyframe.
    if (this.#depacketizer.needsKeyframe) this.requestKeyframe();
    for (const frame of frames) {
      this.stats.framesAssembled++;
      if (frame.keyframe) {
        // Everything queued before a keyframe is moot.
        this.stats.framesDropped += this.#decodeQueue.length;
        this.#decodeQueue = [];
      } else if (this.#decodeQueue.length >= MAX_DECODE_BACKLOG) {
        // Decoding fell behind: drop the backlog and go on from this frame (artifacts until
        // the keyframe asked for, rather than nothing until the publisher's next one).
        this.stats.framesDropped += this.#decodeQueue.length;
        this.#decodeQueue = [];
        this.requestKeyframe();
      }
      this.#decodeQueue.push(frame);
    }
    void this.#drainDecodeQueue();
  }

  #sendNack(sequenceNumbers: number[]): void {
    if (sequenceNumbers.length === 0 || !this.#rtcpTarget || this.#closed) return;
    const { address, port } = this.#rtcpTarget;
    this.#socket.send(
      serializeGenericNack(this.#senderSsrc, this.#mediaSsrc, sequenceNumbers),
      port,
      address,
    );
  }

  #onNackTimer(): void {
    if (this.#closed) return;
    const nowMs = performance.now();
    this.#sendNack(this.#nack.onTimer(nowMs));
    this.#enqueue(this.#depacketizer.poll(nowMs));
    const n = this.#nack.stats;
    this.stats.packetsMissed = n.packetsMissed;
    this.stats.packetsRecovered = n.packetsRecovered;
    this.stats.packetsLost = n.packetsLost;
    this.stats.nacksSent = n.nacksSent;
    this.#lossHistory.push([nowMs, n.packetsExpected, n.packetsMissed]);
    while (this.#lossHistory.length > 1 && nowMs - this.#lossHistory[0]![0] > LOSS_WINDOW_MS) {
      this.#lossHistory.shift();
    }
    const [, expected0, missed0] = this.#lossHistory[0]!;
    const expected = n.packetsExpected - expected0;
    this.stats.recentLossRate = expected > 0 ? (n.packetsMissed - missed0) / expected : 0;
    const lossPercent = Math.round(this.stats.recentLossRate * 100);
    if (lossPercent !== this.#reportedLossPercent) {
      this.#reportedLossPercent = lossPercent;
      this.safeEmit('lossratechange', this.stats.recentLossRate);
    }
  }

  async #drainDecodeQueue(): Promise<void> {
    if (this.#decoding) return;
    this.#decoding = true;
    try {
      while (!this.#closed && this.#decodeQueue.length > 0) {
        const encoded = this.#decodeQueue.shift()!;
        const errorsBefore = this.#decoder.decodeErrors;
        const startedMs = performance.now();
        const decoded = await this.#decoder.decode(encoded);
        if (this.#closed) return;
        this.stats.decodeMs += performance.now() - startedMs;
        if (this.#decoder.decodeErrors > errorsBefore) {
          // Later delta frames may still decode (FFmpeg conceals); a keyframe heals the picture.
          this.stats.decodeErrors++;
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
    clearInterval(this.#nackTimer);
    this.#decodeQueue = [];
    this.#lossHistory = [];
    this.#transport.close();
    this.#socket.close();
    this.#decoder.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}
