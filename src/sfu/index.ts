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
export {
  attachFoley,
  FoleyAttachment,
  type AttachFoleyOptions,
  type FoleyAttachmentEvents,
} from './FoleyAttachment.js';
export { RtpVideoIngest, type IngestFrame, type RtpVideoIngestStats } from './RtpVideoIngest.js';
export { OpusAudioProducer } from './OpusAudioProducer.js';
export { OpusEncoder, OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE, type OpusPacket } from './OpusEncoder.js';
export { UnsupportedCodecError, AttachError } from './errors.js';
export { DECODABLE_MIME_TYPES } from './VideoFrameDecoder.js';
