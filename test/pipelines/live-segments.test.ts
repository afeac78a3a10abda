import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { from, lastValueFrom, mergeMap, Subject, toArray, VirtualTimeScheduler } from 'rxjs';
import type { GridFrame, InputFrame } from '../../pipelines/live/FrameGrid.js';
import { toSegments } from '../../pipelines/live/segments.js';

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

  /** Pushes frames at their arrival times on a virtual clock; returns the grid slots as they came. */
  function runOnClock(arrivals: InputFrame[], withScheduler: boolean, endMs: number) {
    const scheduler = new VirtualTimeScheduler();
    const input = new Subject<InputFrame>();
    const slots: Array<GridFrame & { atMs: number }> = [];
    input
      .pipe(toSegments({ ...OPTIONS, ...(withScheduler ? { scheduler } : {}) }))
      .subscribe(({ frames }) => frames.subscribe((slot) => slots.push({ ...slot, atMs: scheduler.now() })));
    for (const f of arrivals) scheduler.schedule(() => input.next(f), f.arrivalMs);
    scheduler.schedule(() => input.complete(), endMs);
    scheduler.flush();
    return slots;
  }

  it('bridges a lost frame with the last picture once it is overdue, instead of waiting for the next frame', () => {
    const pictures = [0, 40, 80, 160].map((t) => ({ ...frame(t, t + 100), rgb: new Uint8Array([t / 40]) }));
    const slots = runOnClock(pictures, true, 270); // the frame of 120 ms is lost
    assert.deepEqual(
      slots.map((s) => [s.mediaTimeMs, s.rgb[0], s.atMs]),
      [
        [0, 0, 100],
        [40, 1, 140],
        [80, 2, 180],
        [120, 2, 240], // due at 220 (120 + anchor 100), bridged 20 ms later with the picture of 80
        [160, 4, 260],
      ],
    );
    // Without a clock the slot waits for the next frame (the behaviour files keep).
    const unbridged = runOnClock(pictures, false, 270);
    assert.deepEqual(
      unbridged.map((s) => [s.mediaTimeMs, s.atMs]),
      [
        [0, 100],
        [40, 140],
        [80, 180],
        [120, 260],
        [160, 260],
      ],
    );
  });

  it('stops bridging once no frame came for stallMs (the input is lost, not lossy)', () => {
    const slots = runOnClock([frame(0, 100), frame(40, 140)], true, 2000);
    const last = slots[slots.length - 1]!;
    // Slots are bridged while they fall due (media + anchor 100 + 20) within stallMs (500)
    // of the last arrival (140): up to the slot of 520 ms, due at 640.
    assert.equal(last.mediaTimeMs, 520);
    assert.ok(last.atMs <= 140 + 500, `last bridged at ${last.atMs}`);
  });
});
