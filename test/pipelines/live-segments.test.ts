import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { from, lastValueFrom, mergeMap, Subject, toArray, VirtualTimeScheduler } from 'rxjs';
import { chunkStartDueMs } from '../../pipelines/live/compose.js';
import type { GridFrame, InputFrame } from '../../pipelines/live/FrameGrid.js';
import { LivePlan } from '../../pipelines/live/plan.js';
import { SegmentTiming } from '../../pipelines/live/SegmentTiming.js';
import { toSegments } from '../../pipelines/live/segments.js';
import { parseManifest } from '../../src/models/manifest.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const OPTIONS = {
  frameMs: 40,
  stallMs: 500,
  maxJumpMs: 1000,
  maxLagMs: 1000,
  leadFrames: 3,
  historyFrames: 32,
};
const frame = (mediaTimeMs: number, arrivalMs: number): InputFrame => ({
  rgb: new Uint8Array(3),
  mediaTimeMs,
  arrivalMs,
});

describe('toSegments', () => {
  it('starts a new segment after a stall and after a source that fell a second behind its clock', async () => {
    const frames = [
      frame(0, 100),
      frame(40, 140),
      frame(80, 180),
      frame(120, 900), // stalled 720 ms
      frame(160, 940),
      frame(200, 1300),
      frame(240, 1700),
      frame(280, 2120), // 1060 ms later than the anchor (780) predicts, though never stalled
    ];
    const segments = await lastValueFrom(
      from(frames).pipe(
        toSegments(OPTIONS),
        mergeMap(({ timing, frames }) =>
          frames.pipe(
            toArray(),
            mergeMap((slots) => [{ id: timing.id, slots: slots.map((s) => s.mediaTimeMs), timing }]),
          ),
        ),
        toArray(),
      ),
    );
    assert.deepEqual(
      segments.map((s) => [s.id, s.slots]),
      [
        [0, [0, 40, 80]],
        [1, [120, 160, 200, 240]],
        [2, [280]],
      ],
    );
    // The second segment's anchor: its frames arrived 780 ms after their media time.
    assert.equal(segments[1]!.timing.anchorMs, 780);
    assert.equal(segments[1]!.timing.filled, 4);
  });

  it('anchors on the least delayed of the first frames, then slews toward later arrivals slowly', async () => {
    const segments = await lastValueFrom(
      from([frame(0, 50), frame(40, 60), frame(80, 130)]).pipe(toSegments(OPTIONS), toArray()),
    );
    const timing = segments[0]!.timing;
    assert.equal(timing.anchorMs, 20, 'the second frame came only 20 ms after its media time');
    timing.slew();
    assert.equal(timing.anchorMs, 20, 'the target is the least delay seen: no move');
  });

  it('keeps arrival history in a ring of the size asked, not the whole stream', () => {
    const frames = Array.from({ length: 200 }, (_, i) => frame(i * 40, i * 40));
    let historyFrames = 0;
    from(frames)
      .pipe(toSegments(OPTIONS))
      .subscribe(({ timing, frames: slots }) => {
        historyFrames = timing.historyFrames;
        slots.subscribe();
      });
    assert.equal(historyFrames, 32);
  });

  /**
   * Chunks of 2 frames with 1 frame of look-ahead (leadFrames 3): slot i is needed by the chunk
   * whose last frame (its look-ahead included) is slot 2n + 2, and must be in `slackMs` after
   * that frame should arrive (the chunk's latest start).
   */
  const slotDueMs =
    (slackMs: number) =>
    (timing: SegmentTiming, index: number): number => {
      const chunk = Math.max(0, Math.ceil(index / 2) - 1);
      return timing.anchorMs + timing.originMediaMs + (2 * chunk + 2) * OPTIONS.frameMs + slackMs;
    };

  /** Pushes frames at their arrival times on a virtual clock; returns the grid slots as they came. */
  function runOnClock(arrivals: InputFrame[], bridging: boolean, endMs: number) {
    const scheduler = new VirtualTimeScheduler();
    const input = new Subject<InputFrame>();
    const slots: Array<GridFrame & { atMs: number }> = [];
    let bridged = 0;
    const bridgingOption = { scheduler, slotDueMs: slotDueMs(60), onBridged: () => bridged++ };
    input
      .pipe(toSegments({ ...OPTIONS, ...(bridging ? { bridging: bridgingOption } : {}) }))
      .subscribe(({ frames }) => frames.subscribe((slot) => slots.push({ ...slot, atMs: scheduler.now() })));
    for (const f of arrivals) scheduler.schedule(() => input.next(f), f.arrivalMs);
    scheduler.schedule(() => input.complete(), endMs);
    scheduler.flush();
    return { slots, bridged };
  }

  /** Frame of media time t arriving at `arrivalMs` (default t + 100), its picture numbered t / 40. */
  const picture = (t: number, arrivalMs = t + 100): InputFrame => ({
    ...frame(t, arrivalMs),
    rgb: new Uint8Array([t / 40]),
  });

  it('uses a late frame that comes before its chunk must start, and bridges only slots their chunk can wait for no longer', () => {
    const arrivals = [
      picture(0),
      picture(40, 170), // 30 ms late: chunk 0 (slots 0-2) must start only at 100 + 80 + 60 = 240
      picture(80),
      // 120, 160 and 200 lost: chunk 1 (slots 3-4) must start at 100 + 160 + 60 = 320
      picture(160, 330), // came after its slot was bridged: not used twice
      picture(240),
    ];
    const { slots, bridged } = runOnClock(arrivals, true, 400);
    assert.deepEqual(
      slots.map((s) => [s.mediaTimeMs, s.rgb[0], s.atMs]),
      [
        [0, 0, 100],
        [40, 1, 170], // the real picture, not the one of 0 repeated at 160
        [80, 2, 180],
        [120, 2, 320], // bridged together when chunk 1 could wait no longer
        [160, 2, 320],
        [200, 6, 340], // chunk 2 (slots 5-6) waits until 400: the next frame fills its gap
        [240, 6, 340],
      ],
    );
    assert.equal(bridged, 2);
    // Without bridging the slots wait for the next frame (the behaviour files keep).
    const unbridged = runOnClock(arrivals, false, 400);
    assert.deepEqual(
      unbridged.slots.map((s) => [s.mediaTimeMs, s.rgb[0], s.atMs]),
      [
        [0, 0, 100],
        [40, 1, 170],
        [80, 2, 180],
        [120, 4, 330], // the nearer picture; a tie goes to the later one
        [160, 4, 330],
        [200, 6, 340],
        [240, 6, 340],
      ],
    );
    assert.equal(unbridged.bridged, 0);
  });

  it('stops bridging once no frame came for stallMs (the input is lost, not lossy)', () => {
    const { slots } = runOnClock([frame(0, 100), frame(40, 140)], true, 2000);
    const last = slots[slots.length - 1]!;
    // Slots are bridged while their chunk's latest start falls within stallMs (500) of the last
    // arrival (140): chunk 5 (slots 11-12) must start at 100 + 480 + 60 = 640.
    assert.equal(last.mediaTimeMs, 480);
    assert.equal(last.atMs, 640);
  });
});

describe('chunkStartDueMs', () => {
  // The tiny bundle: 25 fps, chunks of 4 frames, 3 frames of look-ahead, 20 ms crossfade.
  const manifest = parseManifest(
    JSON.parse(readFileSync(join(TINY_BUNDLE_DIR, 'manifest.json'), 'utf8')),
    'tiny-random',
  );
  const plan = new LivePlan(manifest, {}, false);
  const timing = new SegmentTiming({
    id: 0,
    originMediaMs: 1000,
    firstDelayMs: 100,
    leadFrames: 7,
    historyFrames: 64,
  });

  it('gives every slot of a chunk the latest start that leaves the chunk its compute time', () => {
    // Chunk 0 (slots 0-6) is due at 100 + 1000 + 0 − 20 + 400 − 0.6 = 1479.4 (its first
    // packet's due time, less the upsampler's 0.5 ms and 0.1 ms of slack); 50 ms of compute
    // and a 10 ms margin leave 1419.4.
    const due = chunkStartDueMs(plan, 400, () => 50);
    assert.deepEqual(
      [0, 3, 6, 7, 10].map((i) => Math.round(due(timing, i) * 10) / 10),
      [1419.4, 1419.4, 1419.4, 1579.4, 1579.4],
    );
  });

  it('never falls due before half a frame past the time the chunk’s last frame should arrive', () => {
    // Slot 6 should arrive at 100 + 1000 + 240 = 1340.
    const due = chunkStartDueMs(plan, 400, () => 300);
    assert.equal(due(timing, 6), 1360);
  });
});
