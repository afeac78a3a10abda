/**
 * The ingest on a simulcast producer: two FFmpeg RTP senders (160x120 and 320x240 VP8, one SSRC
 * each) reach one PlainTransport producer through a relay, so both layers come from the one
 * address the transport learned (comedia), as a browser's simulcast does. The ingest must
 * decode the lowest layer.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { ROOM_MEDIA_CODECS } from '../../src/server/Room.js';
import { RTP_VIDEO_PAYLOAD_TYPE, rtpVideoCodec } from '../../src/server/rtp-video-codec.js';
import { RtpVideoIngest } from '../../src/sfu/RtpVideoIngest.js';
import { FIXTURES_DIR } from '../helpers/media-fixtures.js';

const LAYERS = [
  { ssrc: 1111, size: '160x120' },
  { ssrc: 2222, size: '320x240' },
] as const;

/** The fixture clip as one simulcast layer: VP8, a keyframe every 10 frames (layer switches wait for one). */
function encodeLayer(dir: string, size: string): string {
  const out = join(dir, `${size}.mkv`);
  execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y'],
    ...['-i', join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4'), '-an', '-vf', `scale=${size}`],
    ...['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '500k', '-g', '10'],
    ...['-pix_fmt', 'yuv420p', out],
  ]);
  return out;
}

describe('RtpVideoIngest on a simulcast producer', () => {
  let worker: ms.Worker;
  let dir: string;
  const senders: ChildProcess[] = [];
  let relay: dgram.Socket | null = null;

  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    dir = mkdtempSync(join(tmpdir(), 'simulcast-'));
  });
  after(() => {
    for (const sender of senders) sender.kill('SIGKILL');
    relay?.close();
    worker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('decodes the lowest spatial layer', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const transport = await router.createPlainTransport({
      listenIp: '127.0.0.1',
      rtcpMux: true,
      comedia: true,
    });
    const producer = await transport.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [rtpVideoCodec('vp8')],
        encodings: LAYERS.map(({ ssrc }) => ({ ssrc })),
      },
    });
    // One socket forwards both senders' packets, so mediasoup sees one remote address.
    const out = dgram.createSocket('udp4');
    relay = out;
    await new Promise<void>((resolve) => out.bind(0, '127.0.0.1', resolve));
    out.on('message', (msg) => out.send(msg, transport.tuple.localPort, '127.0.0.1'));
    const relayPort = out.address().port;

    const ingest = await RtpVideoIngest.create({ router, producer, outWidth: 96, outHeight: 96 });
    const sizes: string[] = [];
    ingest.on('frame', () => sizes.push(`${ingest.stats.sourceWidth}x${ingest.stats.sourceHeight}`));
    for (const { ssrc, size } of LAYERS) {
      const sender = spawn(
        'ffmpeg',
        [
          ...['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1'],
          ...['-i', encodeLayer(dir, size), '-an', '-c:v', 'copy', '-f', 'rtp'],
          ...['-payload_type', String(RTP_VIDEO_PAYLOAD_TYPE.vp8), '-ssrc', String(ssrc)],
          `rtp://127.0.0.1:${relayPort}?rtcpport=${relayPort}&pkt_size=1200`,
        ],
        { stdio: 'ignore' },
      );
      senders.push(sender);
    }
    // 8 s: left to itself, mediasoup moves the consumer up to the highest layer after about 5.5 s.
    const deadline = Date.now() + 30_000;
    while (sizes.length < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    ingest.close();
    assert.ok(sizes.length >= 200, `${sizes.length} frames decoded in 30 s`);
    // Past the first frames (a keyframe of either layer may come first), only the lowest layer.
    assert.deepEqual(
      [...new Set(sizes.slice(20))],
      ['160x120'],
      `sizes decoded: ${[...new Set(sizes)].join(', ')}`,
    );
  });
});
