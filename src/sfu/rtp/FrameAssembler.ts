import type { Depacketizer, EncodedVideoFrame } from './EncodedVideoFrame.js';
import { type RtpPacket, seqDiff } from './RtpPacket.js';

/** What a codec tells the assembler about its RTP payloads. */
export interface CodecPayloadFormat {
  /** True when this payload certainly begins a frame (VP8: S=1, PID=0). */
  isFrameStart(payload: Buffer): boolean;
  /** Joins the ordered payloads of one frame into a decodable bitstream. */
  assemble(payloads: Buffer[]): { data: Buffer; keyframe: boolean } | null;
}

interface PendingFrame {
  packets: Map<number, Buffer>; // sequence number -> payload
  markerSeq: number | null;
  firstArrivalMs: number;
}

/** A frame with all its packets, waiting its turn behind a frame that is still missing packets. */
interface CompleteFrame {
  firstSeq: number;
  lastSeq: number;
  assembled: { data: Buffer; keyframe: boolean } | null;
  completedMs: number;
}

export interface FrameAssemblerOptions {
  /**
   * How long a complete frame waits for the missing packets of the frames before it
   * (retransmissions asked for by NACK), ms. 0: it goes at once and the gap is a loss.
   * A keyframe never waits.
   */
  maxWaitForMissingMs?: number;
  /**
   * The same wait before the first keyframe, ms: nothing is decodable until it is whole,
   * so waiting for its retransmissions costs nothing. Default `maxWaitForMissingMs`.
   */
  maxWaitForFirstKeyframeMs?: number;
}

/** Frames older than this many newer completed frames are given up as lost. */
const MAX_PENDING_FRAMES = 8;

/**
 * Groups RTP packets by timestamp and emits frames in order once their packets from
 * start to marker are all present. A complete frame behind a gap in sequence numbers
 * waits up to `maxWaitForMissingMs` for the gap to be filled (NACK), then goes anyway and
 * the frames in the gap count as lost. After a loss, delta frames still pass (the decoder
 * predicts from a stale reference: artifacts rather than silence) and `needsKeyframe`
 * says a keyframe would heal the picture; before the first keyframe nothing is decodable.
 * Waiting frames are released by `push` and by `poll` (call it on a timer).
 */
export class FrameAssembler implements Depacketizer {
  readonly #format: CodecPayloadFormat;
  readonly #maxWaitForMissingMs: number;
  readonly #maxWaitForFirstKeyframeMs: number;
  readonly #pending = new Map<number, PendingFrame>(); // unwrapped timestamp -> frame
  readonly #complete = new Map<number, CompleteFrame>(); // unwrapped timestamp -> frame
  #lastEmittedSeq: number | null = null;
  #lastEmittedTs: number | null = null;
  #tsUnwrapBase = 0;
  #lastRawTs: number | null = null;
  #needsKeyframe = true;
  #keyframeSeen = false;
  #lostFrames = 0;
  #framesAfterLoss = 0;

  constructor(format: CodecPayloadFormat, options: FrameAssemblerOptions = {}) {
    this.#format = format;
    this.#maxWaitForMissingMs = options.maxWaitForMissingMs ?? 0;
    this.#maxWaitForFirstKeyframeMs = options.maxWaitForFirstKeyframeMs ?? this.#maxWaitForMissingMs;
  }

  get needsKeyframe(): boolean {
    return this.#needsKeyframe;
  }

  get lostFrames(): number {
    return this.#lostFrames;
  }

  /** Delta frames passed on while the picture was damaged by a loss. */
  get framesAfterLoss(): number {
    return this.#framesAfterLoss;
  }

  push(packet: RtpPacket, arrivalMs: number): EncodedVideoFrame[] {
    const ts = this.#unwrap(packet.timestamp);
    if (this.#lastEmittedTs !== null && ts <= this.#lastEmittedTs) return this.poll(arrivalMs); // late
    if (this.#complete.has(ts)) return this.poll(arrivalMs); // duplicate
    let frame = this.#pending.get(ts);
    if (!frame) {
      frame = { packets: new Map(), markerSeq: null, firstArrivalMs: arrivalMs };
      this.#pending.set(ts, frame);
      // Bounded even while nothing completes (no start found before the first keyframe).
      this.#trimPending();
    }
    frame.packets.set(packet.sequenceNumber, packet.payload);
    if (packet.marker) frame.markerSeq = packet.sequenceNumber;
    this.#tryComplete(ts, frame, arrivalMs);
    return this.poll(arrivalMs);
  }

  /** Releases the frames that are next in order, or that waited long enough for a gap. */
  poll(nowMs: number): EncodedVideoFrame[] {
    const out: EncodedVideoFrame[] = [];
    for (;;) {
      let ts = Number.POSITIVE_INFINITY;
      for (const k of this.#complete.keys()) if (k < ts) ts = k;
      const next = this.#complete.get(ts);
      if (!next) break;
      const gap = this.#lastEmittedSeq !== null && next.firstSeq !== ((this.#lastEmittedSeq + 1) & 0xffff);
      const mayWait =
        gap &&
        next.assembled?.keyframe !== true &&
        this.#complete.size <= MAX_PENDING_FRAMES &&
        nowMs - next.completedMs <
          (this.#keyframeSeen ? this.#maxWaitForMissingMs : this.#maxWaitForFirstKeyframeMs);
      if (mayWait) break;
      this.#complete.delete(ts);
      const frame = this.#emit(ts, next, gap, nowMs);
      if (frame) out.push(frame);
    }
    return out;
  }

  #emit(ts: number, frame: CompleteFrame, gap: boolean, nowMs: number): EncodedVideoFrame | null {
    let dropped = 0;
    for (const pendingTs of [...this.#pending.keys()]) {
      if (pendingTs < ts) {
        this.#pending.delete(pendingTs);
        dropped++;
      }
    }
    if (gap || dropped > 0) {
      this.#lostFrames += Math.max(1, dropped);
      this.#needsKeyframe = true;
    }
    this.#lastEmittedTs = ts;
    this.#lastEmittedSeq = frame.lastSeq;
    const { assembled } = frame;
    if (!assembled) {
      this.#needsKeyframe = true;
      return null;
    }
    if (assembled.keyframe) {
      this.#needsKeyframe = false;
      this.#keyframeSeen = true;
    } else if (!this.#keyframeSeen) {
      return null; // nothing to predict from yet
    } else if (this.#needsKeyframe) {
      this.#framesAfterLoss++;
    }
    // Arrival is when the frame became decodable here: after any wait for a gap.
    return { data: assembled.data, keyframe: assembled.keyframe, rtpTimestamp: ts, arrivalMs: nowMs };
  }

  #tryComplete(ts: number, frame: PendingFrame, arrivalMs: number): void {
    if (frame.markerSeq === null) return;
    // Walk back from the marker while sequence numbers are contiguous.
    const ordered: Buffer[] = [];
    let seq = frame.markerSeq;
    let startFound = false;
    for (let i = 0; i < frame.packets.size; i++) {
      const payload = frame.packets.get(seq);
      if (!payload) break;
      ordered.push(payload);
      const prev = (seq - 1) & 0xffff;
      if (this.#format.isFrameStart(payload) && !frame.packets.has(prev)) {
        startFound = true;
        break;
      }
      if (prev === this.#lastEmittedSeq || [...this.#complete.values()].some((c) => c.lastSeq === prev)) {
        startFound = true;
        break;
      }
      if (!frame.packets.has(prev)) break;
      seq = prev;
    }
    if (!startFound || ordered.length !== frame.packets.size) return;
    ordered.reverse();
    this.#pending.delete(ts);
    this.#complete.set(ts, {
      firstSeq: seq,
      lastSeq: frame.markerSeq,
      assembled: this.#format.assemble(ordered),
      completedMs: arrivalMs,
    });
    this.#trimPending();
  }

  #trimPending(): void {
    if (this.#pending.size <= MAX_PENDING_FRAMES) return;
    const keys = [...this.#pending.keys()].sort((a, b) => a - b);
    for (const k of keys.slice(0, keys.length - MAX_PENDING_FRAMES)) {
      this.#pending.delete(k);
      this.#lostFrames++;
      this.#needsKeyframe = true;
    }
  }

  #unwrap(rawTs: number): number {
    if (this.#lastRawTs !== null) {
      const delta = (rawTs - this.#lastRawTs) | 0; // signed 32-bit difference
      if (rawTs < this.#lastRawTs && delta > 0) this.#tsUnwrapBase += 2 ** 32;
      else if (rawTs > this.#lastRawTs && delta < 0) this.#tsUnwrapBase -= 2 ** 32;
    }
    this.#lastRawTs = rawTs;
    return this.#tsUnwrapBase + rawTs;
  }
}

export { seqDiff };
