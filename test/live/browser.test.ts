/**
 * The live path with a real browser: headless Chromium (Debian's) publishes a clip as
 * its fake camera (y4m) through the publisher page; a second page is the OBS browser
 * source and records what it plays; a third consumes the room's foley producer.
 * Skips (with the reason) where Chromium is not installed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { ensureClientBuilt } from '../../src/server/clientBuild.js';
import { FoleyServer } from '../../src/server/FoleyServer.js';
import { CHROMIUM, launchFakeCameraBrowser } from '../helpers/fake-camera-browser.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;

/** Polls a page value until `predicate` holds (the page updates on its own events). */
async function pageUntil<T>(page: Page, read: () => T, predicate: (v: T) => boolean): Promise<T> {
  if (process.env.FOLEY_TEST_DEBUG && !(page as any).__logged) {
    (page as any).__logged = true;
    page.on('console', (m) => process.stderr.write(`page console: ${m.text()}\n`));
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  }
  for (;;) {
    const value = (await page.evaluate(read)) as T;
    if (process.env.FOLEY_TEST_DEBUG) process.stderr.write(`${JSON.stringify(value)}\n`);
    if (predicate(value)) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('live path in headless Chromium', { skip, timeout: 120_000 }, () => {
  let server: FoleyServer;
  let context: BrowserContext;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foley-browser-'));
    const y4m = join(dir, 'clip.y4m');
    execFileSync('ffmpeg', [
      '-loglevel',
      'error',
      '-y',
      '-i',
      join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4'),
      '-vf',
      'scale=320:240',
      '-pix_fmt',
      'yuv420p',
      '-r',
      '25',
      y4m,
    ]);
    await ensureClientBuilt();
    server = await FoleyServer.start({ port: 0, bundleDir: TINY_BUNDLE_DIR, secret: 'browser-test' });
    context = await launchFakeCameraBrowser(join(dir, 'profile'), y4m);
    if (process.env.FOLEY_TEST_DEBUG) {
      context.on('console', (m) => process.stderr.write(`page console: ${m.text()}\n`));
      context.on('weberror', (e) => process.stderr.write(`page error: ${e.error().message}\n`));
    }
  });

  after(async () => {
    await context?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes the camera, and the OBS page and a viewer get the foley', async () => {
    const urls = server.roomUrls('main');
    const obs = await context.newPage();
    await obs.goto(`${urls.obs}&record=1`);
    await pageUntil(
      obs,
      () => (globalThis as any).__obs.connection,
      (c) => c === 'connected',
    );

    const publisher = await context.newPage();
    await publisher.goto(urls.publish);
    const published = await pageUntil(
      publisher,
      () => (globalThis as any).__publisher,
      (s) => s.status === 'publishing' || s.status === 'failed',
    );
    assert.equal(published.error, '');
    assert.equal(published.status, 'publishing');
    assert.ok(published.offsetMs > 0 && published.offsetMs <= 400, `offset ${published.offsetMs}`);

    const viewer = await context.newPage();
    await viewer.goto(urls.viewer);

    // The OBS page decodes, plays and records audio that is not silence.
    const heard = await pageUntil(
      obs,
      () => {
        const s = (globalThis as any).__obs;
        let peak = 0;
        for (const r of s.recordings) for (const v of r.samples) peak = Math.max(peak, Math.abs(v));
        return { peak, audioState: s.audioState, decodedBlocks: s.decodedBlocks, room: s.room };
      },
      (s) => s.peak > 0.01,
    );
    assert.equal(heard.audioState, 'running', 'started without a gesture');
    assert.equal(heard.room.offsetMs, published.offsetMs, 'the OBS page states the same offset');

    // The viewer receives the server-side Opus producer over WebRTC.
    const received = await pageUntil(
      viewer,
      () => (globalThis as any).__viewer,
      (s) => s.packetsReceived >= 50,
    );
    assert.equal(received.error, '');

    const attachment = server.rooms.get('main')!.attachment!;
    assert.ok(attachment.ingestStats.framesDecoded > 25);
    assert.ok(attachment.pipeline.stats.chunksGenerated > 0);
  });

  it('reconnects the OBS page by itself after its socket drops', async () => {
    const obs = await context.newPage();
    await obs.goto(server.roomUrls('main').obs);
    await pageUntil(
      obs,
      () => (globalThis as any).__obs.connection,
      (c) => c === 'connected',
    );
    for (const client of server.wss.clients) client.terminate();
    await pageUntil(
      obs,
      () => (globalThis as any).__obs,
      (s) => s.reconnects >= 1 && s.connection === 'connected',
    );
  });

  it('shows a refused connection on a page with a wrong token', { timeout: 30_000 }, async () => {
    const page = await context.newPage();
    await page.goto(server.roomUrls('main').obs.replace(/token=[^&]+/, 'token=wrong'));
    const s = await pageUntil(
      page,
      () => (globalThis as any).__obs.connection as string,
      (c) => c.startsWith('refused') || c.startsWith('error'),
    );
    assert.match(s, /token/);
  });
});
