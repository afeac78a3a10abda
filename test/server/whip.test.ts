import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { FoleyServer } from '../../src/server/FoleyServer.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { publishOverWhip } from '../helpers/whip-publisher.js';
import { OBS_OFFER } from './whip-offers.js';

/** Resolves when `predicate` holds, polling every 20 ms; fails after `deadlineMs`. */
async function until(predicate: () => boolean, what: string, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Ogg pages received on a /listen socket, and its close code. */
function listen(url: string): Promise<{ ws: WebSocket; pages: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const pages: Buffer[] = [];
    ws.on('message', (data, isBinary) => {
      if (isBinary) pages.push(data as Buffer);
    });
    ws.once('open', () => resolve({ ws, pages }));
    ws.once('error', reject);
  });
}

/** Granule position of an Ogg page (bytes 6-13, little-endian). */
function granuleOf(page: Buffer): bigint {
  return page.readBigUInt64LE(6);
}

const CLIP_MS = 2000;

/** A minimal offer with one H.264 video section; `patch` edits its text. */
function offerSdp(patch: (sdp: string) => string = (s) => s): string {
  return patch(
    [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      't=0 0',
      'a=group:BUNDLE 0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'c=IN IP4 0.0.0.0',
      'a=ice-ufrag:abcd',
      'a=ice-pwd:abcdefghijklmnopqrstuvwx',
      'a=fingerprint:sha-256 91:93:7E:52:7B:45:17:83:D0:BF:1A:02:12:A1:62:34:2F:4F:E5:D7:BA:68:FF:2D:AA:14:23:CE:DE:BE:01:39',
      'a=setup:actpass',
      'a=mid:0',
      'a=sendonly',
      'a=rtcp-mux',
      'a=rtpmap:96 H264/90000',
      'a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      'a=ssrc:1111 cname:test',
      '',
    ].join('\r\n'),
  );
}

describe('WHIP ingest (RFC 9725) with FFmpeg as the publisher', () => {
  let server: FoleyServer;
  let dir: string;
  let clip: string;
  const accessLog: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foley-whip-'));
    clip = join(dir, 'clip-h264-baseline.mp4');
    // What OBS sends: H.264 without B-frames, a keyframe each second.
    execFileSync('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-y'],
      ...['-i', join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4'), '-an', '-vf', 'scale=320:-2'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline'],
      ...['-pix_fmt', 'yuv420p', '-g', '25', '-bf', '0', clip],
    ]);
    server = await FoleyServer.start({
      port: 0,
      bundleDir: TINY_BUNDLE_DIR,
      secret: 'whip-secret',
      limits: { maxConnectionsPerRoom: 2 },
      processMetrics: false,
      accessLog: (line) => accessLog.push(line),
    });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes a real WHIP publish of H.264 and plays its foley to the OBS listen socket; DELETE frees the slot', async () => {
    const room = 'obs';
    const { ws, pages } = await listen(
      `ws://127.0.0.1:${server.port}/listen?room=${room}&token=${server.tokens.tokenFor(room, 'listen')}`,
    );
    const publishing = publishOverWhip(
      clip,
      `${server.baseUrl}/whip/${room}`,
      server.tokens.tokenFor(room, 'publish'),
      { loops: 3, clipMs: CLIP_MS },
    );
    try {
      await until(() => server.rooms.get(room)?.attachment != null, 'foley attached to the WHIP video');
      const attachment = server.rooms.get(room)!.attachment!;
      await until(
        () => attachment.pipeline.stats.packetsGenerated >= 10,
        'ten Opus packets of generated foley',
      );
      assert.equal(attachment.ingest.stats.decodeErrors, 0);
      assert.equal(attachment.ingest.stats.sourceWidth, 320);
      await until(() => pages.filter((p) => granuleOf(p) > 0n).length >= 10, 'ten Ogg audio pages');
      assert.equal(pages[0]!.subarray(28, 36).toString('ascii'), 'OpusHead');
      const during = await server.metrics.text();
      assert.match(during, /^foley_whip_sessions 1$/m);
      assert.match(during, /^foley_peers\{role="publish"\} 1$/m);
      // The room's second slot is the WHIP publisher's: a third connection is refused.
      const third = await fetch(`${server.baseUrl}/whip/${room}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${server.tokens.tokenFor(room, 'publish')}`,
          'content-type': 'application/sdp',
        },
        body: offerSdp(),
      });
      assert.equal(third.status, 429);
      assert.match(await third.text(), /too many connections in room "obs" \(the limit is 2\)/);
    } finally {
      await publishing;
      ws.close();
    }
    await until(() => accessLog.some((l) => /WHIP session ended .*: DELETE/.test(l)), 'the DELETE');
    await until(() => server.rooms.get(room)?.attachment == null, 'foley detached');
    const metrics = await server.metrics.text();
    assert.match(metrics, /^foley_whip_sessions 0$/m);
  });
});

describe('WHIP endpoint protocol', () => {
  let server: FoleyServer;
  let whip: string;
  const post = (headers: Record<string, string>, body: string, path = whip) =>
    fetch(path, { method: 'POST', headers, body });

  before(async () => {
    server = await FoleyServer.start({
      port: 0,
      bundleDir: TINY_BUNDLE_DIR,
      processMetrics: false,
      accessLog: () => {},
    });
    whip = `${server.baseUrl}/whip/main`;
  });
  after(() => server.close());

  it('answers a valid offer with 201, an ICE-lite answer and a Location that DELETE ends', async () => {
    const res = await post(
      {
        authorization: `Bearer ${server.tokens.tokenFor('main', 'publish')}`,
        'content-type': 'application/sdp',
      },
      offerSdp(),
    );
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'application/sdp');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const answer = await res.text();
    assert.match(answer, /^a=ice-lite$/m);
    assert.match(answer, /^a=setup:passive$/m);
    assert.match(answer, /^a=recvonly$/m);
    assert.match(answer, /^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 \d+ typ host$/m);
    const location = res.headers.get('location')!;
    assert.match(location, new RegExp(`^${server.baseUrl}/whip/main/[0-9a-f]{32}$`));
    const patch = await fetch(location, { method: 'PATCH', body: 'a=candidate:1' });
    assert.equal(patch.status, 405);
    assert.equal(patch.headers.get('allow'), 'DELETE, OPTIONS');
    assert.equal((await fetch(location, { method: 'DELETE' })).status, 200);
    assert.equal((await fetch(location, { method: 'DELETE' })).status, 404);
  });

  it("takes OBS's offer (Opus and H.264 in one bundle, actpass): both sections accepted, audio produced but not consumed", async () => {
    const res = await post(
      {
        authorization: `Bearer ${server.tokens.tokenFor('main', 'publish')}`,
        'content-type': 'application/sdp',
      },
      OBS_OFFER,
    );
    assert.equal(res.status, 201, await res.clone().text());
    const answer = await res.text();
    assert.match(answer, /^m=audio 7 UDP\/TLS\/RTP\/SAVPF 111$/m);
    assert.match(answer, /^m=video 7 UDP\/TLS\/RTP\/SAVPF 96$/m);
    assert.match(answer, /^a=group:BUNDLE 0 1$/m);
    assert.equal((await fetch(res.headers.get('location')!, { method: 'DELETE' })).status, 200);
  });

  it('refuses a missing or wrong token with 401 and a listen token with 403', async () => {
    const noToken = await post({ 'content-type': 'application/sdp' }, offerSdp());
    assert.equal(noToken.status, 401);
    assert.match(noToken.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.match(await noToken.text(), /no token given/);
    const otherRoom = await post(
      {
        authorization: `Bearer ${server.tokens.tokenFor('other', 'publish')}`,
        'content-type': 'application/sdp',
      },
      offerSdp(),
    );
    assert.equal(otherRoom.status, 401);
    const listenOnly = await post(
      {
        authorization: `Bearer ${server.tokens.tokenFor('main', 'listen')}`,
        'content-type': 'application/sdp',
      },
      offerSdp(),
    );
    assert.equal(listenOnly.status, 403);
    assert.match(await listenOnly.text(), /a listen token may not publish/);
  });

  it('refuses a body that is not application/sdp with 415 and a bad offer with 400 naming what is wrong', async () => {
    const headers = {
      authorization: `Bearer ${server.tokens.tokenFor('main', 'publish')}`,
      'content-type': 'application/sdp',
    };
    const json = await post({ ...headers, 'content-type': 'application/json' }, '{}');
    assert.equal(json.status, 415);
    const vp9 = await post(
      headers,
      offerSdp((s) =>
        s
          .replace('H264/90000', 'VP9/90000')
          .replace(/a=fmtp:96 .*\r\n/, '')
          .replace('m=video 9 UDP/TLS/RTP/SAVPF 96', 'm=video 9 UDP/TLS/RTP/SAVPF 96'),
      ),
    );
    assert.equal(vp9.status, 400);
    assert.match(
      await vp9.text(),
      /\[whip, m=video, mid:0\] no H\.264 with packetization-mode=1 .*offers VP9/,
    );
    const noSsrc = await post(
      headers,
      offerSdp((s) => s.replace(/a=ssrc:.*\r\n/, '')),
    );
    assert.equal(noSsrc.status, 400);
    assert.match(await noSsrc.text(), /no a=ssrc line/);
    const notSdp = await post(headers, 'hello');
    assert.equal(notSdp.status, 400);
    assert.match(await notSdp.text(), /not an SDP offer/);
    assert.equal(server.rooms.has('main'), false, 'a room made for a refused offer is closed again');
  });

  it('answers OPTIONS with the CORS headers a browser needs and Accept-Post', async () => {
    const res = await fetch(whip, { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(res.headers.get('accept-post'), 'application/sdp');
    const get = await fetch(whip);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST, OPTIONS');
  });
});
