import type { CodecPayloadFormat } from './FrameAssembler.js';

const START_CODE = Buffer.from([0, 0, 0, 1]);
const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_STAP_A = 24;
const NAL_FU_A = 28;

/** H.264 over RTP (RFC 6184), packetization modes 0 and 1, out as Annex B. */
export const h264PayloadFormat: CodecPayloadFormat = {
  isFrameStart(payload) {
    if (payload.length < 2) return false;
    const type = payload[0]! & 0x1f;
    if (type === NAL_STAP_A) return true;
    if (type === NAL_FU_A) return false; // can't tell: rely on sequence continuity
    return type === NAL_SPS || type === 9 /* AUD */;
  },
  assemble(payloads) {
    const parts: Buffer[] = [];
    let keyframe = false;
    const addNal = (nal: Buffer) => {
      const type = nal[0]! & 0x1f;
      if (type === NAL_IDR) keyframe = true;
      parts.push(START_CODE, nal);
    };
    for (const p of payloads) {
      if (p.length < 1) return null;
      const type = p[0]! & 0x1f;
      if (type >= 1 && type <= 23) {
        addNal(p);
      } else if (type === NAL_STAP_A) {
        let offset = 1;
        while (offset + 2 <= p.length) {
          const size = p.readUInt16BE(offset);
          offset += 2;
          if (size === 0 || offset + size > p.length) return null;
          addNal(p.subarray(offset, offset + size));
          offset += size;
        }
      } else if (type === NAL_FU_A) {
        if (p.length < 2) return null;
        const indicator = p[0]!;
        const header = p[1]!;
        if (header & 0x80) {
          const nalHeader = (indicator & 0xe0) | (header & 0x1f);
          if ((header & 0x1f) === NAL_IDR) keyframe = true;
          parts.push(START_CODE, Buffer.from([nalHeader]));
        }
        parts.push(p.subarray(2));
      } else {
        return null; // STAP-B, MTAP, FU-B: not used by browsers
      }
    }
    if (parts.length === 0) return null;
    return { data: Buffer.concat(parts), keyframe };
  },
};
