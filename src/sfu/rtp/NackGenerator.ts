import { seqDiff } from './RtpPacket.js';

export interface NackGeneratorOptions {
  /** Least time between two NACKs of the same packet, ms (about one round trip). */
  retryIntervalMs?: number;
  /** NACKs sent for one packet before it is given up as lost. */
  maxRetries?: number;
  /** A gap wider than this many packets is not asked for (a restart, not a loss). */
  maxGapPackets?: number;
  /** A missing packet older than this is given up, ms. */
  maxAgeMs?: number;
}

interface MissingPacket {
  firstMissedMs: number;
  lastNackMs: number;
  retries: number;
}

export interface NackGeneratorStats {
  /** Packets the sequence numbers say should have arrived so far. */
  packetsExpected: number;
  /** Packets that were missing when a later one arrived. */
  packetsMissed: number;
  /** Missing packets that arrived after all (retransmission or reordering). */
  packetsRecovered: number;
  /** Missing packets given up (retries or age exhausted). */
  packetsLost: number;
  nacksSent: number;
}

/**
 * Receiver side of RFC 4585 generic NACK, as libwebrtc's NackRequester does it: a gap in
 * sequence numbers is asked for at once, again every `retryIntervalMs` while it stays
 * missing, and given up after `maxRetries` or `maxAgeMs`. The caller owns the clock.
 */
export class NackGenerator {
  readonly #retryIntervalMs: number;
  readonly #maxRetries: number;
  readonly #maxGapPackets: number;
  readonly #maxAgeMs: number;
  readonly #missing = new Map<number, MissingPacket>();
  #highestSeq: number | null = null;
  readonly stats: NackGeneratorStats = {
    packetsExpected: 0,
    packetsMissed: 0,
    packetsRecovered: 0,
    packetsLost: 0,
    nacksSent: 0,
  };

  constructor(options: NackGeneratorOptions = {}) {
    this.#retryIntervalMs = options.retryIntervalMs ?? 40;
    this.#maxRetries = options.maxRetries ?? 10;
    this.#maxGapPackets = options.maxGapPackets ?? 500;
    this.#maxAgeMs = options.maxAgeMs ?? 1000;
  }

  /** Sequence numbers currently missing. */
  get missingCount(): number {
    return this.#missing.size;
  }

  /** Notes an arrived packet; returns the newly missing sequence numbers to NACK now. */
  onPacket(sequenceNumber: number, nowMs: number): number[] {
    const seq = sequenceNumber & 0xffff;
    if (this.#highestSeq === null) {
      this.#highestSeq = seq;
      this.stats.packetsExpected = 1;
      return [];
    }
    const ahead = seqDiff(seq, this.#highestSeq);
    if (ahead <= 0) {
      if (this.#missing.delete(seq)) this.stats.packetsRecovered++;
      return [];
    }
    this.stats.packetsExpected += ahead;
    this.#highestSeq = seq;
    if (ahead - 1 > this.#maxGapPackets) {
      // The stream restarted or jumped: nothing to ask for.
      this.stats.packetsLost += this.#missing.size;
      this.#missing.clear();
      return [];
    }
    const fresh: number[] = [];
    for (let i = ahead - 1; i >= 1; i--) {
      const missed = (seq - i) & 0xffff;
      this.#missing.set(missed, { firstMissedMs: nowMs, lastNackMs: nowMs, retries: 1 });
      fresh.push(missed);
    }
    this.stats.packetsMissed += fresh.length;
    this.stats.nacksSent += fresh.length;
    return fresh;
  }

  /** Called on a timer: returns the sequence numbers to NACK again; drops those given up. */
  onTimer(nowMs: number): number[] {
    const again: number[] = [];
    for (const [seq, m] of this.#missing) {
      if (m.retries >= this.#maxRetries || nowMs - m.firstMissedMs > this.#maxAgeMs) {
        this.#missing.delete(seq);
        this.stats.packetsLost++;
        continue;
      }
      if (nowMs - m.lastNackMs >= this.#retryIntervalMs) {
        m.lastNackMs = nowMs;
        m.retries++;
        again.push(seq);
      }
    }
    this.stats.nacksSent += again.length;
    return again;
  }
}

const RTCP_RTPFB = 205;
const RTCP_FMT_GENERIC_NACK = 1;

/**
 * RTCP generic NACK (RFC 4585 §6.2.1): packs sequence numbers into PID + BLP entries
 * (one entry covers a packet and the 16 after it).
 */
export function serializeGenericNack(
  senderSsrc: number,
  mediaSsrc: number,
  sequenceNumbers: number[],
): Buffer {
  const sorted = [...new Set(sequenceNumbers.map((s) => s & 0xffff))].sort((a, b) => a - b);
  // Sort in sequence-number order across a wrap: start from the element after the largest gap.
  if (sorted.length > 1) {
    let cut = 0;
    let widest = (sorted[0]! + 0x10000 - sorted[sorted.length - 1]!) & 0xffff;
    for (let i = 1; i < sorted.length; i++) {
      const gap = sorted[i]! - sorted[i - 1]!;
      if (gap > widest) {
        widest = gap;
        cut = i;
      }
    }
    sorted.push(...sorted.splice(0, cut));
  }
  const entries: Array<[number, number]> = [];
  for (const seq of sorted) {
    const last = entries[entries.length - 1];
    const offset = last ? seqDiff(seq, last[0]) : -1;
    if (last && offset >= 1 && offset <= 16) last[1] |= 1 << (offset - 1);
    else entries.push([seq, 0]);
  }
  const out = Buffer.alloc(12 + 4 * entries.length);
  out[0] = (2 << 6) | RTCP_FMT_GENERIC_NACK;
  out[1] = RTCP_RTPFB;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  out.writeUInt32BE(senderSsrc >>> 0, 4);
  out.writeUInt32BE(mediaSsrc >>> 0, 8);
  entries.forEach(([pid, blp], i) => {
    out.writeUInt16BE(pid, 12 + 4 * i);
    out.writeUInt16BE(blp, 14 + 4 * i);
  });
  return out;
}

/** Sequence numbers named by a generic NACK packet, or null when it is not one. */
export function parseGenericNack(datagram: Buffer): { mediaSsrc: number; sequenceNumbers: number[] } | null {
  if (datagram.length < 12 || datagram[0]! >> 6 !== 2) return null;
  if ((datagram[0]! & 0x1f) !== RTCP_FMT_GENERIC_NACK || datagram[1] !== RTCP_RTPFB) return null;
  const bytes = (datagram.readUInt16BE(2) + 1) * 4;
  if (bytes > datagram.length) return null;
  const sequenceNumbers: number[] = [];
  for (let o = 12; o + 4 <= bytes; o += 4) {
    const pid = datagram.readUInt16BE(o);
    const blp = datagram.readUInt16BE(o + 2);
    sequenceNumbers.push(pid);
    for (let b = 0; b < 16; b++) if (blp & (1 << b)) sequenceNumbers.push((pid + b + 1) & 0xffff);
  }
  return { mediaSsrc: datagram.readUInt32BE(8), sequenceNumbers };
}
