import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkWindow } from '../../pipelines/live/ChunkWindow.js';

describe('chunkWindow', () => {
  const window = (contextFrames: number, availableFrames: number) =>
    chunkWindow({ contextFrames, availableFrames, chunkFrames: 4, guardFrames: 2, multiple: 4 });
  it('pads to the multiple with context, so the guard stays at its size', () => {
    // 12 + 4 + 2 = 18 frames would round up to 20 with a 4-frame guard; the 2 go to the context.
    assert.deepEqual(window(12, 100), { knownFrames: 14, frames: 20 });
    assert.deepEqual(window(8, 100), { knownFrames: 10, frames: 16 });
    // Already a multiple: nothing added.
    assert.deepEqual(window(10, 100), { knownFrames: 10, frames: 16 });
  });
  it('uses what context there is at a segment start, the guard growing to the multiple', () => {
    assert.deepEqual(window(12, 0), { knownFrames: 0, frames: 8 });
    assert.deepEqual(window(12, 5), { knownFrames: 5, frames: 12 });
  });
});
