/**
 * The live path with a real browser: headless Chromium (Debian's) publishes a clip as
 * its fake camera (y4m) through the publisher page; the OBS browser-source page records
 * what it plays; the viewer page consumes the room's foley producer. Each order of opening
 * the pages gets a fresh room (the first page in a room is where a lost request hid).
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
import { CHROMIUM, launchFakeCameraBrowser, pageUntil } from '../helpers/fake-camera-browser.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;

interface PublisherState {
  status: string;
  error: string;
  offsetMs: number | null;
  syncOffset: string;
  room: { syncOffsetMs?: number | null } | null;
}
interface ViewerState {
  status: string;
  error: string;
  room: { state: string; note?: string | null } | null;
  packetsReceived: number;
}
interface ObsState {
  connection: string;
  reconnects: number;
  underruns: number;
  droppedMs: number;
  averageFillMs: number;
  error: string;
  audioState: string;
  room: { offsetMs: number | null; syncOffsetMs?: number | null } | null;
  addedMs: number | null;
  latencyReports: number;
  syncOffset: string;
  recordings: Array<{ samples: Float32Array }>;
}
const publisherState = () => (globalThis as unknown as { __publisher: PublisherState }).__publisher;
const viewerState = () => (globalThis as unknown as { __viewer: ViewerState }).__viewer;
/** The OBS page's state without its recordings (megabytes to serialize on every poll). */
const obsState = (): Omit<ObsState, 'recordings'> => {
  const { recordings: _, ...rest } = (globalThis as unknown as { __obs: ObsState }).__obs;
  return rest;
};

type PageKind = 'publisher' | 'viewer' | 'obs';

describe('live path in headless Chromium', { skip, timeout: 240_000 }, () => {
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

  /** Opens the three pages in `order` in a fresh room; each page is settled before the next opens. */
  async function openInOrder(room: string, order: PageKind[]): Promise<string> {
    assert.equal(server.rooms.has(room), false, 'the room is fresh');
    const urls = server.roomUrls(room);
    const pages: Partial<Record<PageKind, Page>> = {};
    try {
      for (const kind of order) {
        const page = await context.newPage();
        pages[kind] = page;
        if (kind === 'publisher') {
          await page.goto(urls.publish);
          const s = await pageUntil(
            page,
            publisherState,
            (s) => s.status === 'publishing' || s.status === 'failed',
            `${room}: the publisher`,
          );
          assert.equal(s.error, '', `${room}: the publisher page shows no error`);
          assert.equal(s.status, 'publishing');
          assert.ok(s.offsetMs! > 0 && s.offsetMs! <= 400, `offset ${s.offsetMs}`);
        } else if (kind === 'viewer') {
          await page.goto(urls.viewer);
          const s = await pageUntil(
            page,
            viewerState,
            (s) => s.status === 'waiting for foley' || s.status === 'receiving' || s.status === 'failed',
            `${room}: the viewer's transport`,
          );
          assert.equal(s.error, '', `${room}: the viewer page shows no error`);
          if (!pages.publisher) {
            // Before any video the room's note says so in plain words, and the page shows it.
            const shown = await page.locator('#room').textContent();
            assert.equal(s.room?.state, 'waiting');
            assert.ok(s.room?.note, `${room}: the server's status carries a note while waiting`);
            assert.equal(shown, s.room.note);
          }
        } else {
          await page.goto(`${urls.obs}&record=1`);
          await pageUntil(page, obsState, (s) => s.connection === 'connected', `${room}: the OBS page`);
        }
      }

      // The OBS page decodes, plays and records audio that is not silence.
      const heard = await pageUntil(
        pages.obs!,
        () => {
          const s = (globalThis as unknown as { __obs: ObsState }).__obs;
          let peak = 0;
          for (const r of s.recordings) for (const v of r.samples) peak = Math.max(peak, Math.abs(v));
          return { peak, audioState: s.audioState, error: s.error };
        },
        (s) => s.peak > 0.01,
        `${room}: audio on the OBS page`,
      );
      assert.equal(heard.audioState, 'running', 'started without a gesture');

      // The viewer receives the server-side Opus producer over WebRTC.
      const received = await pageUntil(
        pages.viewer!,
        viewerState,
        (s) => s.packetsReceived >= 50,
        `${room}: packets at the viewer`,
      );
      assert.equal(received.error, '');

      // Both pages show one sync figure: the server's offset plus what the OBS page measured it adds.
      let obs = await pageUntil(
        pages.obs!,
        obsState,
        (s) => s.latencyReports >= 2 && typeof s.room?.syncOffsetMs === 'number',
        `${room}: the OBS page's playout latency in the room's sync offset`,
      );
      assert.equal(obs.error, '', 'the server accepts the playout latency reports');
      // Each new latency report moves the room's figure: compare the two pages read together.
      let publisher: PublisherState;
      for (const deadline = Date.now() + 10_000; ; ) {
        obs = (await pages.obs!.evaluate(obsState)) as Omit<ObsState, 'recordings'>;
        publisher = (await pages.publisher!.evaluate(publisherState)) as PublisherState;
        if (publisher.room?.syncOffsetMs === obs.room?.syncOffsetMs) break;
        if (Date.now() > deadline) {
          assert.fail(
            `${room}: the publisher page's sync offset ${publisher.room?.syncOffsetMs} never matched the OBS page's ${obs.room?.syncOffsetMs}`,
          );
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      const total = obs.room!.syncOffsetMs!;
      assert.ok(
        Math.abs(total - (obs.room!.offsetMs! + obs.addedMs!)) <= 40,
        `sync offset ${total} = server ${obs.room!.offsetMs} + page ${obs.addedMs?.toFixed(0)}`,
      );
      assert.ok(obs.addedMs! > 0 && obs.addedMs! < 300, `the OBS page adds ${obs.addedMs} ms`);
      assert.equal(publisher.syncOffset, `${total} ms`);
      assert.ok(obs.syncOffset.startsWith(`${total} ms`), obs.syncOffset);

      // The pages say what the room is doing in the server's plain words.
      // One snapshot: the level may change between two reads of a busy room.
      const { words, status } = await pages.publisher!.evaluate(() => ({
        words:
          (
            globalThis as unknown as {
              document: { getElementById(id: string): { textContent: string | null } | null };
            }
          ).document.getElementById('foley')?.textContent ?? '',
        status: (globalThis as unknown as { __publisher: PublisherState }).__publisher.room as {
          note: string | null;
        },
      }));
      if (status.note) assert.equal(words, status.note);
      else assert.match(words, /^making foley/);

      const attachment = server.rooms.get(room)!.attachment!;
      assert.ok(attachment.ingestStats.framesDecoded > 25);
      // The 320x240 camera is sent scaled down to a short side of 180 (or less, if the browser adapts).
      const { sourceWidth, sourceHeight } = attachment.ingestStats;
      assert.ok(sourceHeight > 0 && sourceHeight <= 180, `the page sent ${sourceWidth}x${sourceHeight}`);
      assert.ok(attachment.pipeline.stats.chunksGenerated > 0);
      return `OBS page: ${obs.syncOffset}; fill ${obs.averageFillMs.toFixed(0)} ms, ${obs.underruns} underruns, ${obs.droppedMs.toFixed(0)} ms dropped; publisher: ${publisher.syncOffset}, "${words}"`;
    } finally {
      for (const page of Object.values(pages)) await page.close();
    }
  }

  it('works with the publisher page opened first in a fresh room', async (t) => {
    t.diagnostic(await openInOrder('publisher-first', ['publisher', 'viewer', 'obs']));
  });

  it('works with the viewer page opened first in a fresh room', async (t) => {
    t.diagnostic(await openInOrder('viewer-first', ['viewer', 'obs', 'publisher']));
  });

  it('works with the OBS page opened first in a fresh room', async (t) => {
    t.diagnostic(await openInOrder('obs-first', ['obs', 'publisher', 'viewer']));
  });

  it('shows a timeout naming the request when the server never replies', { timeout: 30_000 }, async () => {
    const page = await context.newPage();
    try {
      // A signaling socket that opens and then answers nothing.
      await page.routeWebSocket(/\/ws\?/, () => {});
      await page.goto(server.roomUrls('silent').publish);
      const s = await pageUntil(
        page,
        publisherState,
        (s) => s.status === 'failed',
        'the publisher page to give up',
        15_000,
      );
      assert.match(s.error, /^TIMEOUT: \[getRouterRtpCapabilities\] no reply from the server within \d+ ms$/);
    } finally {
      await page.close();
    }
  });

  it(
    'shows on the OBS page that the server never welcomed it, and tries again',
    { timeout: 30_000 },
    async () => {
      const page = await context.newPage();
      try {
        await page.routeWebSocket(/\/listen\?/, () => {});
        await page.goto(server.roomUrls('silent').obs);
        const s = await pageUntil(
          page,
          obsState,
          (s) => s.error !== '',
          'the OBS page to give up on the silent socket',
          15_000,
        );
        assert.match(s.error, /^no welcome from the server within \d+ ms$/);
        await pageUntil(page, obsState, (s) => s.reconnects >= 1, 'the OBS page to try again', 5_000);
      } finally {
        await page.close();
      }
    },
  );

  it('reconnects the OBS page by itself after its socket drops', async () => {
    const obs = await context.newPage();
    try {
      await obs.goto(server.roomUrls('main').obs);
      await pageUntil(obs, obsState, (s) => s.connection === 'connected', 'the OBS page');
      for (const client of server.wss.clients) client.terminate();
      await pageUntil(
        obs,
        obsState,
        (s) => s.reconnects >= 1 && s.connection === 'connected',
        'the OBS page to reconnect',
      );
    } finally {
      await obs.close();
    }
  });

  it('shows a refused connection on a page with a wrong token', { timeout: 30_000 }, async () => {
    const page = await context.newPage();
    try {
      await page.goto(server.roomUrls('main').obs.replace(/token=[^&]+/, 'token=wrong'));
      const s = await pageUntil(
        page,
        () => (globalThis as unknown as { __obs: ObsState }).__obs.connection,
        (c) => c.startsWith('refused'),
        'the refusal',
      );
      assert.match(s, /token/);
    } finally {
      await page.close();
    }
  });
});
