/** A whole compressed video frame reassembled from RTP. */
export interface EncodedVideoFrame {
  /** Codec bitstream: VP8 frame, or H.264 Annex B access unit. */
  data: Buffer;
  /** RTP timestamp, 90 kHz, unwrapped into a monotonic number. */
  rtpTimestamp: number;
  /** True when the depacketizer saw a keyframe (VP8 key frame, H.264 IDR). */
  keyframe: boolean;
  /** performance.now() when the frame became whole and next in order, ms. */
  arrivalMs: number;
}

/** Turns RTP packets of one stream into whole frames; drops frames with holes. */
export interface Depacketizer {
  /** Returns the frames this packet completed (usually zero or one). */
  push(packet: import('./RtpPacket.js').RtpPacket, arrivalMs: number): EncodedVideoFrame[];
  /** True after a loss until a keyframe: delta frames still pass, a keyframe would heal the picture. */
  readonly needsKeyframe: boolean;
  /** Counters for stats. */
  readonly lostFrames: number;
  /** Releases frames that waited for missing packets long enough (call on a timer). */
  poll(nowMs: number): EncodedVideoFrame[];
  /** Delta frames passed on after a loss, before the next keyframe. */
  readonly framesAfterLoss: number;
}
