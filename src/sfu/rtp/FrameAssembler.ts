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

/** Frames older than this many newer completed frames are given up as lost. */
const MAX_PENDING_FRAMES = 8;

/**
 * Groups RTP packets by timestamp and emits a frame once its packets from start
 * to marker are all present. A frame that completes while an older one is still
 * incomplete wins (lowest delay); the older one counts as lost and the next
 * decodable point must be a keyframe.
 */
export class FrameAssembler implements Depacketizer {
  readonly #format: CodecPayloadFormat;
  readonly #pending = new Map<number, PendingFrame>(); // unwrapped timestamp -> frame
  #lastEmittedSeq: number | null = null;
  #lastEmittedTs: number | null = null;
  #tsUnwrapBase = 0;
  #lastRawTs: number | null = null;
  #needsKeyframe = true;
  #lostFrames = 0;

  constructor(format: CodecPayloadFormat) {
    this.#format = format;
  }

  get needsKeyframe(): boolean {
    return this.#needsKeyframe;
  }

  get lostFrames(): number {
    return this.#lostFrames;
  }

  push(packet: RtpPacket, arrivalMs: number): EncodedVideoFrame[] {
    const ts = this.#unwrap(packet.timestamp);
    if (this.#lastEmittedTs !== null && ts <= this.#lastEmittedTs) return []; // late duplicate
    let frame = this.#pending.get(ts);
    if (!frame) {
      frame = { packets: new Map(), markerSeq: null, firstArrivalMs: arrivalMs };
      this.#pending.set(ts, frame);
    }
    frame.packets.set(packet.sequenceNumber, packet.payload);
    if (packet.marker) frame.markerSeq = packet.sequenceNumber;
    const done = this.#tryComplete(ts, frame, arrivalMs);
    return done ? [done] : [];
  }

  #tryComplete(ts: number, frame: PendingFrame, arrivalMs: number): EncodedVideoFrame | null {
    if (frame.markerSeq === null) return null;
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
      if (this.#lastEmittedSeq !== null && prev === this.#lastEmittedSeq) {
        startFound = true;
        break;
      }
      if (!frame.packets.has(prev)) break;
      seq = prev;
    }
    if (!startFound || ordered.length !== frame.packets.size) return null;
    ordered.reverse();

    // Older frames still pending are lost now.
    for (const pendingTs of [...this.#pending.keys()]) {
      if (pendingTs < ts) {
        this.#pending.delete(pendingTs);
        this.#lostFrames++;
        this.#needsKeyframe = true;
      }
    }
    this.#pending.delete(ts);
    this.#lastEmittedTs = ts;
    this.#lastEmittedSeq = frame.markerSeq;
    this.#trimPending();

    const assembled = this.#format.assemble(ordered);
    if (!assembled) {
      this.#needsKeyframe = true;
      return null;
    }
    if (assembled.keyframe) this.#needsKeyframe = false;
    else if (this.#needsKeyframe) return null; // undecodable until the next keyframe
    return { data: assembled.data, keyframe: assembled.keyframe, rtpTimestamp: ts, arrivalMs };
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
