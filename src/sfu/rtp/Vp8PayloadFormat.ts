import type { CodecPayloadFormat } from './FrameAssembler.js';

/** Length of the VP8 payload descriptor (RFC 7741 §4.2), or -1 when malformed. */
export function vp8DescriptorLength(payload: Buffer): number {
  if (payload.length < 1) return -1;
  let offset = 1;
  const b0 = payload[0]!;
  if (b0 & 0x80) {
    if (payload.length < 2) return -1;
    const x = payload[1]!;
    offset = 2;
    if (x & 0x80) {
      // I: picture id, 7 or 15 bits
      if (payload.length < offset + 1) return -1;
      offset += payload[offset]! & 0x80 ? 2 : 1;
    }
    if (x & 0x40) offset += 1; // L: TL0PICIDX
    if (x & 0x30) offset += 1; // T or K: TID/Y/KEYIDX
  }
  return offset <= payload.length ? offset : -1;
}

/** VP8 over RTP (RFC 7741). */
export const vp8PayloadFormat: CodecPayloadFormat = {
  isFrameStart(payload) {
    if (payload.length < 1) return false;
    const b0 = payload[0]!;
    return (b0 & 0x10) !== 0 && (b0 & 0x07) === 0; // S=1, partition 0
  },
  assemble(payloads) {
    const parts: Buffer[] = [];
    for (const p of payloads) {
      const skip = vp8DescriptorLength(p);
      if (skip < 0) return null;
      parts.push(p.subarray(skip));
    }
    const data = Buffer.concat(parts);
    if (data.length < 3) return null;
    // VP8 frame tag: bit 0 of the first byte is 0 for a key frame.
    return { data, keyframe: (data[0]! & 0x01) === 0 };
  },
};
