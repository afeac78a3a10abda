/**
 * The RTP codec a server-side video producer declares for a plain-transport publisher (the
 * demo room's FFmpeg source, and the tests' paced publisher): one definition, so both ask the
 * same feedback of the ingest.
 */
import type { types as ms } from 'mediasoup';

export type RtpVideoCodecName = 'vp8' | 'h264';

/** Payload types the publishers send with. */
export const RTP_VIDEO_PAYLOAD_TYPE: Readonly<Record<RtpVideoCodecName, number>> = { vp8: 96, h264: 102 };

/** NACK (retransmission), PLI and FIR (a fresh keyframe after a loss). */
const FEEDBACK: ms.RtcpFeedback[] = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
];

export function rtpVideoCodec(codec: RtpVideoCodecName): ms.RtpCodecParameters {
  const payloadType = RTP_VIDEO_PAYLOAD_TYPE[codec];
  return codec === 'vp8'
    ? { mimeType: 'video/VP8', clockRate: 90000, payloadType, rtcpFeedback: FEEDBACK.map((f) => ({ ...f })) }
    : {
        mimeType: 'video/H264',
        clockRate: 90000,
        payloadType,
        // Constrained baseline 3.1, as the source encodes it (no B-frames).
        parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
        rtcpFeedback: FEEDBACK.map((f) => ({ ...f })),
      };
}
