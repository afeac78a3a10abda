import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { FfmpegRtpSource } from '../../src/server/FfmpegRtpSource.js';
import { ROOM_MEDIA_CODECS } from '../../src/server/Room.js';
import { UnsupportedCodecError } from '../../src/sfu/errors.js';
import { attachFoley } from '../../src/sfu/index.js';
import { RtpVideoIngest } from '../../src/sfu/RtpVideoIngest.js';
import { parseRtpPacket } from '../../src/sfu/rtp/RtpPacket.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

/** Resolves when `predicate` holds, checking on each event of `on`. */
function until(on: (cb: () => void) => void, predicate: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (predicate()) return resolve();
    on(() => {
      if (predicate()) resolve();
    });
  });
}

describe('FoleyAttachment on a real mediasoup worker', () => {
  let worker: ms.Worker;
  let runner: InferenceRunner;
  let clip: string;

  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
    clip = join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4');
  });
  after(async () => {
    await runner.close();
    worker.close();
  });

  it('ingests VP8 over RTP and decodes frames with increasing media time at the model size', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const source = await FfmpegRtpSource.start({ router, clip, codec: 'vp8' });
    const ingest = await RtpVideoIngest.create({
      router,
      producer: source.producer,
      outWidth: 96,
      outHeight: 96,
    });
    const times: number[] = [];
    ingest.on('frame', (f) => {
      assert.equal(f.rgb.length, 96 * 96 * 3);
      times.push(f.mediaTimeMs);
    });
    await until(
      (cb) => ingest.on('frame', cb),
      () => times.length >= 20,
    );
    assert.ok(
      times.every((t, i) => i === 0 || t > times[i - 1]!),
      'media time increases',
    );
    assert.ok(ingest.stats.keyframeRequests >= 1);
    assert.equal(ingest.stats.sourceWidth, 320);
    source.close();
    await until(
      (cb) => ingest.on('close', cb),
      () => ingest.closed,
    ); // producer closed -> ingest closes
    ingest.close(); // idempotent
    router.close();
  });

  it("ingests H.264 as well, past the looped source clip's end", { timeout: 30_000 }, async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const source = await FfmpegRtpSource.start({ router, clip, codec: 'h264' });
    const ingest = await RtpVideoIngest.create({
      router,
      producer: source.producer,
      outWidth: 96,
      outHeight: 96,
    });
    const times: number[] = [];
    // The clip has 50 frames: 70 means the source kept sending after its first loop.
    await until(
      (cb) =>
        ingest.on('frame', (f) => {
          times.push(f.mediaTimeMs);
          cb();
        }),
      () => times.length >= 70,
    );
    assert.ok(
      times.every((t, i) => i === 0 || t > times[i - 1]!),
      'media time increases across the loop',
    );
    ingest.close();
    source.close();
    router.close();
  });

  it('refuses an unsupported codec with a typed error', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const transport = await router.createPlainTransport({
      listenIp: '127.0.0.1',
      rtcpMux: false,
      comedia: true,
    });
    const producer = await transport.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [
          { mimeType: 'video/VP9', clockRate: 90000, payloadType: 98, parameters: { 'profile-id': 0 } },
        ],
        encodings: [{ ssrc: 5 }],
      },
    });
    await assert.rejects(attachFoley({ router, producer, runner }), UnsupportedCodecError);
    router.close();
  });

  it('leaves no listener on the shared runner after attach and close cycles', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const source = await FfmpegRtpSource.start({ router, clip, codec: 'vp8' });
    const before = runner.listenerCount('died');
    for (let i = 0; i < 3; i++) {
      const foley = await attachFoley({ router, producer: source.producer, runner });
      assert.equal(runner.listenerCount('died'), before + 1);
      foley.close();
    }
    assert.equal(runner.listenerCount('died'), before);
    source.close();
    router.close();
  });

  it('produces foley into the room: a consumer of the audio producer receives Opus RTP', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const source = await FfmpegRtpSource.start({ router, clip, codec: 'vp8' });
    const foley = await attachFoley({ router, producer: source.producer, runner });
    assert.ok(foley.offsetMs > 0 && foley.offsetMs <= 400, `offset ${foley.offsetMs}`);
    assert.equal(foley.audioProducer.kind, 'audio');

    // A plain RTP consumer of the foley track, as any SFU consumer would be.
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const transport = await router.createPlainTransport({
      listenIp: '127.0.0.1',
      rtcpMux: true,
      comedia: false,
    });
    await transport.connect({ ip: '127.0.0.1', port: socket.address().port });
    const consumer = await transport.consume({
      producerId: foley.audioProducer.id,
      rtpCapabilities: router.rtpCapabilities,
    });
    let opusPackets = 0;
    socket.on('message', (m) => {
      if (parseRtpPacket(m)?.payloadType === consumer.rtpParameters.codecs[0]!.payloadType) opusPackets++;
    });
    let withFoley = 0;
    await until(
      (cb) =>
        foley.on('packet', (p) => {
          if (p.generated && p.peak > 0) withFoley++;
          cb();
        }),
      () => withFoley >= 10 && opusPackets >= 10,
    );
    assert.ok(foley.pipeline.stats.chunksGenerated >= 1);

    source.producer.close(); // the publisher leaves: the attachment closes with it
    await until(
      (cb) => foley.on('close', cb),
      () => foley.closed,
    );
    assert.equal(foley.audioProducer.closed, true);
    foley.close(); // idempotent
    socket.close();
    source.close();
    router.close();
  });
});
