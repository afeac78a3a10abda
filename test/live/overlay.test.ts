/**
 * The stream overlay (overlay.html) and the OBS page's hidden mode in headless Chromium
 * (Debian's), over the real live path: samples/clip.mp4 (balls bouncing, a snare) loops into
 * a room through FFmpeg RTP and mediasoup (DemoPublisher) with the trained bundle, so the
 * room's /listen stream carries foley with events in it. Screenshots are taken with the
 * page background left out, as OBS composites a browser source. Skips (with the reason)
 * where Chromium or the trained bundle is missing.
 *
 * FOLEY_OVERLAY_PNG=path writes the overlay's picture (cropped around it) there.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { SpectralOnsetTracker } from '../../client/src/spectral-onsets.js';
import { packageRoot } from '../../src/models/bundle.js';
import { ensureClientBuilt } from '../../src/server/clientBuild.js';
import { DemoPublisher } from '../../src/server/DemoPublisher.js';
import { FoleyServer } from '../../src/server/FoleyServer.js';
import { CHROMIUM, pageUntil } from '../helpers/fake-camera-browser.js';

const BUNDLE_DIR = join(packageRoot(), 'models', 'default');
const CLIP = join(packageRoot(), 'samples', 'clip.mp4');
const skip = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (apt-get install chromium)`
  : !existsSync(join(BUNDLE_DIR, 'manifest.json'))
    ? `no trained bundle at ${BUNDLE_DIR} (the tiny random one makes noise, not events)`
    : false;

interface OverlayState {
  connection: string;
  error: string;
  pages: number;
  columnsDrawn: number;
  ticksDetected: number;
  ticksDrawn: number;
  ticksShown: number;
  tickDrawnAtMs: number[];
  tickLateMs: number[];
  tickGranules: number[];
  columnsLate: number;
  playoutAddedMs: number;
  room: { offsetMs: number | null; syncOffsetMs: number | null } | null;
}
interface ObsState {
  connection: string;
  hidden: boolean;
  playing: boolean;
  level: number;
  latencyReports: number;
}
/** Ticks compared with what the OBS page played. */
const TICKS_JUDGED = 8;
/**
 * How far (in the stream) a tick may sit from an onset found in what the OBS page played, ms
 * (the usual onset tolerance): the page's buffer plays up to 4% fast or slow, so its recording
 * is not sample-exact and its onsets can peak a few frames from the overlay's.
 */
const TICK_POSITION_TOLERANCE_MS = 50;
const overlayState = () => (globalThis as unknown as { __overlay: OverlayState }).__overlay;
const obsState = (): ObsState => {
  const { connection, hidden, playing, level, latencyReports } = (
    globalThis as unknown as { __obs: ObsState }
  ).__obs;
  return { connection, hidden, playing, level, latencyReports };
};

/** What the OBS page played: blocks of samples, when their first sample reached the output (epoch ms), and per 128-sample quantum the granule it started at (NaN: silence). */
const obsRecordings = () =>
  (
    globalThis as unknown as {
      __obs: { recordings: Array<{ wallMs: number; samples: Float32Array; granules: Float64Array }> };
    }
  ).__obs.recordings.map((r) => {
    const bytes = new Uint8Array(r.samples.buffer, r.samples.byteOffset, r.samples.byteLength);
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { wallMs: r.wallMs, base64: btoa(binary), granules: Array.from(r.granules) };
  });
type RecordedBlock = ReturnType<typeof obsRecordings>[number];

/** Onsets of what the OBS page played, found by the overlay's own detector: when (epoch ms) and where in the stream (granule; null in silence). */
function heardOnsets(blocks: RecordedBlock[]): {
  onsets: Array<{ wallMs: number; granule: number | null }>;
  fromMs: number;
  toMs: number;
} {
  // More sensitive than the overlay's: the page's buffer resamples what it plays (up to 4%), so a
  // weak onset the overlay found can fall under the default margin in the recording.
  const tracker = new SpectralOnsetTracker({ onsetMarginDb: 1, onsetMinLevelDb: -60 });
  const starts: Array<{ from: number; block: RecordedBlock }> = [];
  let samples = 0;
  const onsetSamples: number[] = [];
  for (const block of blocks) {
    const buf = Buffer.from(block.base64, 'base64');
    const pcm = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    starts.push({ from: samples, block });
    samples += pcm.length;
    for (const f of tracker.push(pcm).onsets) onsetSamples.push(tracker.sampleOfFrame(f));
  }
  const at = (sample: number) => {
    let start = starts[0]!;
    for (const s of starts) if (s.from <= sample) start = s;
    const local = sample - start.from;
    const quantumGranule = start.block.granules[Math.floor(local / 128)];
    return {
      wallMs: start.block.wallMs + (local * 1000) / 48000,
      granule:
        quantumGranule === undefined || Number.isNaN(quantumGranule) ? null : quantumGranule + (local % 128),
    };
  };
  return { onsets: onsetSamples.map(at), fromMs: at(0).wallMs, toMs: at(samples).wallMs };
}

/** A screenshot's pixels (RGBA, row-major), decoded by FFmpeg. */
interface Rgba {
  width: number;
  height: number;
  data: Buffer;
}
function decodePng(png: Buffer): Rgba {
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const data = execFileSync(
    'ffmpeg',
    ['-loglevel', 'error', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'rgba', 'pipe:1'],
    {
      input: png,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  assert.equal(data.length, width * height * 4, 'decoded size');
  return { width, height, data };
}
const alphaAt = (img: Rgba, x: number, y: number) => img.data[(y * img.width + x) * 4 + 3]!;

/** Pixels with any opacity inside a box (CSS px, device scale 1). */
function opaquePixels(img: Rgba, box: { x: number; y: number; width: number; height: number }): number {
  let n = 0;
  for (let y = Math.ceil(box.y); y < Math.floor(box.y + box.height); y++)
    for (let x = Math.ceil(box.x); x < Math.floor(box.x + box.width); x++) if (alphaAt(img, x, y) > 0) n++;
  return n;
}

/** The four corners' 8x8 squares: all transparent. */
function assertCornersTransparent(img: Rgba, what: string): void {
  for (const [cx, cy] of [
    [0, 0],
    [img.width - 8, 0],
    [0, img.height - 8],
    [img.width - 8, img.height - 8],
  ] as const) {
    assert.equal(
      opaquePixels(img, { x: cx, y: cy, width: 8, height: 8 }),
      0,
      `${what}: corner at ${cx},${cy}`,
    );
  }
}

describe('stream overlay and hidden OBS page in headless Chromium', { skip, timeout: 300_000 }, () => {
  const ROOM = 'overlay';
  let server: FoleyServer;
  let browser: Browser;
  let context: BrowserContext;
  let overlay: Page;
  let obs: Page;
  let demo: DemoPublisher | null = null;

  before(async () => {
    await ensureClientBuilt();
    server = await FoleyServer.start({ port: 0, bundleDir: BUNDLE_DIR, secret: 'overlay-test' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--autoplay-policy=no-user-gesture-required', // what OBS's browser source does
      ],
    });
    context = await browser.newContext({ viewport: { width: 640, height: 360 } });
    if (process.env.FOLEY_TEST_DEBUG) {
      context.on('console', (m) => process.stderr.write(`page console: ${m.text()}\n`));
      context.on('weberror', (e) => process.stderr.write(`page error: ${e.error().message}\n`));
    }
  });

  after(async () => {
    demo?.close();
    await context?.close();
    await browser?.close();
    await server?.close();
  });

  it('serves the overlay URL with a listen token, and names a bad option on the page', async () => {
    const urls = server.roomUrls(ROOM);
    assert.match(urls.overlay, /\/overlay\.html\?room=overlay&token=/);
    const token = new URL(urls.overlay).searchParams.get('token');
    assert.deepEqual(server.tokens.verify(ROOM, token), { ok: true, role: 'listen', expiresAtMs: null });
    const page = await context.newPage();
    try {
      await page.goto(`${urls.overlay}&position=middle`);
      const text = await page.locator('#chip-text').textContent();
      assert.match(text ?? '', /\[overlay option position\] got "middle"; use one of bottom-left/);
    } finally {
      await page.close();
    }
    assert.equal(server.rooms.has(ROOM), false, 'a page with a bad option does not join the room');
  });

  it('draws nothing but its status chip on a transparent page before any audio', async () => {
    overlay = await context.newPage();
    await overlay.goto(server.roomUrls(ROOM).overlay);
    await pageUntil(overlay, overlayState, (s) => s.connection === 'connected', 'the overlay connects');
    assert.match(
      (await overlay.locator('#chip-text').textContent()) ?? '',
      /^waiting for video$/,
      'the room state, no sync offset yet',
    );
    const img = decodePng(await overlay.screenshot({ omitBackground: true }));
    assert.equal(img.width, 640);
    assertCornersTransparent(img, 'overlay before audio');
    const ticks = (await overlay.locator('#ticks').boundingBox())!;
    const spectrogram = (await overlay.locator('#spectrogram').boundingBox())!;
    const chip = (await overlay.locator('#chip').boundingBox())!;
    assert.equal(opaquePixels(img, ticks), 0, 'no ticks without sound');
    assert.equal(opaquePixels(img, spectrogram), 0, 'an empty spectrogram is transparent');
    assert.ok(opaquePixels(img, chip) > 0.5 * chip.width * chip.height, 'the chip is drawn');
    assert.ok(chip.x < 40 && chip.y > 360 / 2, `the chip at the bottom left (${chip.x}, ${chip.y})`);
    const s = await overlay.evaluate(overlayState);
    assert.equal(s.ticksDetected, 0);
    assert.equal(await overlay.locator('#overlay').getAttribute('data-ticks'), '0');
  });

  it('follows its URL options: top right, twice the size, light, no spectrogram', async () => {
    const page = await context.newPage();
    try {
      await page.goto(
        `${server.roomUrls(ROOM).overlay}&position=top-right&scale=2&theme=light&spectrogram=0`,
      );
      await pageUntil(page, overlayState, (s) => s.connection === 'connected', 'the second overlay connects');
      const box = (await page.locator('#overlay').boundingBox())!;
      assert.equal(box.width, 480, 'scale 2: a 480 px strip');
      assert.equal(box.x + box.width, 640 - 32, 'at the right edge, 32 px in');
      assert.equal(box.y, 32, 'at the top, 32 px in');
      assert.equal(await page.locator('#spectrogram').isVisible(), false);
      assert.equal(await page.locator('#ticks').isVisible(), true);
      const chip = (await page.locator('#chip').boundingBox())!;
      const ticks = (await page.locator('#ticks').boundingBox())!;
      assert.ok(chip.y < ticks.y, 'the chip at the top edge, above the ticks');
      assert.match((await page.locator('#overlay').getAttribute('class')) ?? '', /\blight\b/);
    } finally {
      await page.close();
    }
  });

  it('hidden OBS page: fully transparent while it plays the foley and reports its playout', async () => {
    const room = server.rooms.get(ROOM);
    assert.ok(room, 'the overlay opened the room');
    demo = await DemoPublisher.start({ room, clip: CLIP });
    obs = await context.newPage();
    await obs.goto(`${server.roomUrls(ROOM).obs}&hidden=1&record=1`);
    // Each OBS browser source is a page of its own on screen; here the overlay's tab goes back
    // to the front, or Chromium throttles its animation frames as a background tab's.
    await overlay.bringToFront();
    const s = await pageUntil(
      obs,
      obsState,
      (s) => s.playing && s.level > 0 && s.latencyReports > 0,
      'the hidden OBS page plays and reports',
    );
    assert.equal(s.hidden, true);
    assert.equal(s.connection, 'connected');
    const img = decodePng(await obs.screenshot({ omitBackground: true }));
    assert.equal(
      opaquePixels(img, { x: 0, y: 0, width: img.width, height: img.height }),
      0,
      'every pixel transparent',
    );
  });

  it('overlay: ticks appear as events sound, at the playout the OBS page reported, on a transparent page', async (t) => {
    const s = await pageUntil(
      overlay,
      overlayState,
      // A tick drawn in the last second is still on screen (the lane shows 3 s) for the screenshot.
      (s) => s.ticksDrawn >= 3 && s.room?.syncOffsetMs != null && Date.now() - s.tickDrawnAtMs.at(-1)! < 1000,
      'ticks on the overlay',
    );
    // Columns and ticks wait for the OBS page's playout (what it reported to the room).
    assert.equal(s.playoutAddedMs, s.room!.syncOffsetMs! - s.room!.offsetMs!);
    // Read after the state: a tick may have been drawn in between, never taken back.
    const ticksNow = Number(await overlay.locator('#overlay').getAttribute('data-ticks'));
    assert.ok(ticksNow >= s.ticksDrawn, `data-ticks ${ticksNow} against ${s.ticksDrawn} ticks drawn before`);
    const img = decodePng(await overlay.screenshot({ omitBackground: true }));
    assertCornersTransparent(img, 'overlay with audio');
    const ticks = (await overlay.locator('#ticks').boundingBox())!;
    const spectrogram = (await overlay.locator('#spectrogram').boundingBox())!;
    const tickPixels = opaquePixels(img, ticks);
    const spectrogramPixels = opaquePixels(img, spectrogram);
    assert.ok(tickPixels > 0, 'tick marks in the tick lane');
    assert.ok(
      tickPixels < 0.5 * ticks.width * ticks.height,
      `ticks are marks, not a filled lane (${tickPixels} px)`,
    );
    assert.ok(spectrogramPixels > 0, 'the spectrogram shows the foley');
    // Beside the overlay (above its chip) the page stays transparent.
    const chip = (await overlay.locator('#chip').boundingBox())!;
    assert.equal(opaquePixels(img, { x: 0, y: 0, width: img.width, height: chip.y - 2 }), 0);
    t.diagnostic(
      `${s.ticksDetected} onsets in ${(s.columnsDrawn / 100).toFixed(1)} s of foley drawn (the clip: 8 events in 8 s); playout ${s.playoutAddedMs} ms`,
    );
  });

  it('overlay: each tick marks an onset the hidden OBS page played (clock offsets reported)', async (t) => {
    // Enough ticks drawn while the OBS page recorded (the clip has 8 events in 8 s; a busy
    // machine skips chunks, so it may take more than a loop).
    const recordFromMs = await obs.evaluate(
      () =>
        (globalThis as unknown as { __obs: { recordings: Array<{ wallMs: number }> } }).__obs.recordings[0]!
          .wallMs,
    );
    const drawnState = await pageUntil(
      overlay,
      overlayState,
      (s) =>
        s.tickDrawnAtMs.filter((ms) => ms > recordFromMs + 500 && ms < Date.now() - 600).length >=
        TICKS_JUDGED,
      'ticks drawn while the OBS page records',
      120_000,
    );
    const heard = heardOnsets(await obs.evaluate(obsRecordings));
    const judged = drawnState.tickDrawnAtMs
      .map((wallMs, k) => ({ wallMs, granule: drawnState.tickGranules[k]! }))
      .filter((tick) => tick.wallMs > heard.fromMs + 500 && tick.wallMs < heard.toMs - 500);
    assert.ok(judged.length >= TICKS_JUDGED, `ticks drawn while the OBS page recorded: ${judged.length}`);
    const nearest = (value: number, others: number[]) => {
      let best = Number.POSITIVE_INFINITY;
      for (const o of others) if (Math.abs(value - o) < Math.abs(best)) best = value - o;
      return best;
    };
    const heardGranules = heard.onsets.flatMap((o) => (o.granule === null ? [] : [o.granule]));
    const positionMs = judged.map((tick) => (nearest(tick.granule, heardGranules) * 1000) / 48000);
    const wallMs = judged.map((tick) =>
      nearest(
        tick.wallMs,
        heard.onsets.map((o) => o.wallMs),
      ),
    );
    const onHeardOnset = positionMs.filter((o) => Math.abs(o) <= TICK_POSITION_TOLERANCE_MS).length;
    const sortedWall = wallMs.map(Math.abs).sort((a, b) => a - b);
    t.diagnostic(
      `${onHeardOnset}/${judged.length} ticks mark a stream position within ${TICK_POSITION_TOLERANCE_MS} ms of an onset the OBS page played (${heard.onsets.length} heard; tick - heard ${positionMs.map((o) => Math.round(o)).join(', ')} ms in the stream); ` +
        `drawn at tick - heard ${wallMs.map((o) => Math.round(o)).join(', ')} ms on the clock, median |offset| ${Math.round(sortedWall[Math.floor(sortedWall.length / 2)]!)} ms; ` +
        `ticks drawn ${drawnState.tickLateMs.join(', ')} ms after their play time, ${drawnState.columnsLate} columns decoded late`,
    );
    assert.ok(
      onHeardOnset >= 0.7 * judged.length,
      `${onHeardOnset} of ${judged.length} ticks on an onset the OBS page played`,
    );
    const out = process.env.FOLEY_OVERLAY_PNG;
    if (out) {
      // The docs' picture: a moment with several ticks on screen (the clip's first 2 s), cropped around the overlay.
      await pageUntil(overlay, overlayState, (s) => s.ticksShown >= 3, 'a busy moment', 90_000);
      const box = (await overlay.locator('#overlay').boundingBox())!;
      const chip = (await overlay.locator('#chip').boundingBox())!;
      const right = Math.max(box.x + box.width, chip.x + chip.width);
      const clip = { x: box.x - 8, y: box.y - 8, width: right - box.x + 16, height: box.height + 16 };
      writeFileSync(out, await overlay.screenshot({ omitBackground: true, clip }));
    }
  });
});
