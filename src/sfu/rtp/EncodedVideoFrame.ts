/** A whole compressed video frame reassembled from RTP. */
export interface EncodedVideoFrame {
  /** Codec bitstream: VP8 frame, or H.264 Annex B access unit. */
  data: Buffer;
  /** RTP timestamp, 90 kHz, unwrapped into a monotonic number. */
  rtpTimestamp: number;
  /** True when the depacketizer saw a keyframe (VP8 key frame, H.264 IDR). */
  keyframe: boolean;
  /** performance.now() when the frame's last packet arrived, ms. */
  arrivalMs: number;
}

/** Turns RTP packets of one stream into whole frames; drops frames with holes. */
export interface Depacketizer {
  /** Returns the frames this packet completed (usually zero or one). */
  push(packet: import('./RtpPacket.js').RtpPacket, arrivalMs: number): EncodedVideoFrame[];
  /** True after a loss: the decoder needs a keyframe before it can continue. */
  readonly needsKeyframe: boolean;
  /** Counters for stats. */
  readonly lostFrames: number;
}
