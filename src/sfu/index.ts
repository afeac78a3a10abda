/**
 * Library entry for SFU integrations: attach foley to a video producer of a
 * mediasoup router in your own app.
 *
 *   import { attachFoley } from 'live-foley/sfu';
 *   const foley = await attachFoley({ router, producer: videoProducer, bundleDir: 'models/default' });
 *   // foley.audioProducer: consume it from any transport of the router
 *   // foley.offsetMs: delay the video by this much to stay in sync
 *   await foley.close();
 */

export { OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE, OpusEncoder, type OpusPacket } from '../media/opus-encoder.js';
export { AttachError, UnsupportedCodecError } from './errors.js';
export {
  type AttachFoleyOptions,
  attachFoley,
  FoleyAttachment,
  type FoleyAttachmentEvents,
} from './FoleyAttachment.js';
export { OpusAudioProducer } from './OpusAudioProducer.js';
export { type IngestFrame, RtpVideoIngest, type RtpVideoIngestStats } from './RtpVideoIngest.js';
export { DECODABLE_MIME_TYPES } from './VideoFrameDecoder.js';
