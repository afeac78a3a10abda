import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { from, lastValueFrom, mergeMap, toArray } from 'rxjs';
import type { InputFrame } from '../../pipelines/live/FrameGrid.js';
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
});
