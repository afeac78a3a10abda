/** One RTP packet (RFC 3550), parsed without copying the payload. */
export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

const RTP_VERSION = 2;
const FIXED_HEADER_BYTES = 12;

/** Parses an RTP packet; returns null for RTCP or anything that is not RTP v2. */
export function parseRtpPacket(datagram: Buffer): RtpPacket | null {
  if (datagram.length < FIXED_HEADER_BYTES) return null;
  const b0 = datagram[0]!;
  const b1 = datagram[1]!;
  if (b0 >> 6 !== RTP_VERSION) return null;
  const payloadType = b1 & 0x7f;
  // RTCP packet types 200..204 land on payload types 72..76 with the marker bit set.
  if (payloadType >= 72 && payloadType <= 76) return null;
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  let offset = FIXED_HEADER_BYTES + 4 * csrcCount;
  if (extension) {
    if (datagram.length < offset + 4) return null;
    const extensionWords = datagram.readUInt16BE(offset + 2);
    offset += 4 + 4 * extensionWords;
  }
  let end = datagram.length;
  if (padding) end -= datagram[datagram.length - 1]!;
  if (end < offset) return null;
  return {
    payloadType,
    marker: (b1 & 0x80) !== 0,
    sequenceNumber: datagram.readUInt16BE(2),
    timestamp: datagram.readUInt32BE(4),
    ssrc: datagram.readUInt32BE(8),
    payload: datagram.subarray(offset, end),
  };
}

/** Serializes an RTP packet with no CSRCs and no header extension. */
export function serializeRtpPacket(packet: RtpPacket): Buffer {
  const out = Buffer.allocUnsafe(FIXED_HEADER_BYTES + packet.payload.length);
  out[0] = RTP_VERSION << 6;
  out[1] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
  out.writeUInt16BE(packet.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(packet.timestamp >>> 0, 4);
  out.writeUInt32BE(packet.ssrc >>> 0, 8);
  packet.payload.copy(out, FIXED_HEADER_BYTES);
  return out;
}

/** Difference a − b of two 16-bit sequence numbers, in −32768..32767. */
export function seqDiff(a: number, b: number): number {
  return ((a - b + 0x8000) & 0xffff) - 0x8000;
}
