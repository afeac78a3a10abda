import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readAheadGate } from '../../pipelines/operators/read-ahead-gate.js';
import { planRender, WHOLE_CLIP } from '../../pipelines/render-plan.js';

/** A source of 0..count-1 that records how many items were pulled and whether it was closed. */
function countingSource(count: number) {
  const state = { pulled: 0, closed: false };
  async function* source(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < count; i++) {
        state.pulled++;
        yield i;
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, source: source() };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('readAheadGate', () => {
  it('pulls only while mayPull holds and resumes on wake', async () => {
    let allowed = 2;
    const { state, source } = countingSource(10);
    const gate = readAheadGate(() => state.pulled < allowed);
    const seen: number[] = [];
    const done = (async () => {
      for await (const x of gate.gated(source)) seen.push(x);
    })();
    await settle();
    assert.deepEqual(seen, [0, 1]);
    assert.equal(state.pulled, 2);
    allowed = 5;
    gate.wake();
    await settle();
    assert.deepEqual(seen, [0, 1, 2, 3, 4]);
    allowed = Number.POSITIVE_INFINITY;
    gate.wake();
    await done;
    assert.equal(seen.length, 10);
    assert.equal(state.closed, true);
  });

  it('stops a held source on close, letting it reach its finally; close twice is safe', async () => {
    const { state, source } = countingSource(10);
    const gate = readAheadGate(() => state.pulled < 3);
    const seen: number[] = [];
    const done = (async () => {
      for await (const x of gate.gated(source)) seen.push(x);
    })();
    await settle();
    gate.close();
    gate.close();
    await done;
    assert.deepEqual(seen, [0, 1, 2]);
    assert.equal(state.closed, true);
  });
});

describe('planRender', () => {
  it('plans a whole clip as one unbounded window with 50-frame feature chunks', () => {
    const plan = planRender({ windowFrames: WHOLE_CLIP, overlapFrames: 20, contextFrames: 8 });
    assert.deepEqual(plan, {
      windowFrames: Number.MAX_SAFE_INTEGER,
      overlapFrames: 0,
      chunkFrames: 50,
      contextFrames: 8,
      readAhead: { ofFeatures: 116, ofAudio: Number.POSITIVE_INFINITY },
    });
  });

  it('plans windows with feature chunks of the new frames per window unless given', () => {
    const plan = planRender({ windowFrames: 64, overlapFrames: 16, contextFrames: 8 });
    assert.equal(plan.chunkFrames, 48);
    assert.deepEqual(plan.readAhead, { ofFeatures: 112, ofAudio: 2 * 64 + 48 + 16 + 1 });
    assert.equal(
      planRender({ windowFrames: 64, overlapFrames: 16, contextFrames: 8, featureChunkFrames: 10 })
        .chunkFrames,
      10,
    );
  });
});
