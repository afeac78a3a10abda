import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  raiseColumnAround,
  SILENT_OPENING_FADE_MEL_FRAMES,
  SILENT_OPENING_REACH_FRAMES,
  silentOpenings,
  spliceMelAround,
} from '../../src/diffusion/silent-openings.js';

const g = { melBins: 4, melNormOffset: 4.5, melNormScale: 4, hopSamples: 160, sampleRate: 16000 };
const fps = 25;

/** A normalized log-mel [4, frames]: quiet, with a step up in every band at each given frame. */
function melWithSteps(frames: number, steps: number[]): Float32Array {
  const mel = new Float32Array(g.melBins * frames).fill(-1.7);
  for (const s of steps) {
    for (let b = 0; b < g.melBins; b++)
      for (let i = s; i < Math.min(frames, s + 8); i++) mel[b * frames + i] = 1;
  }
  return mel;
}

describe('silent openings', () => {
  it('are the openings with no onset near them whose sound stays under the level', () => {
    const melFrames = 200; // 2 s; video frame t is at mel frame 4t
    const mel = melWithSteps(melFrames, [40]); // an onset at 0.4 s = video frame 10
    const waveform = new Float32Array(melFrames * g.hopSamples);
    for (let s = 1.2 * 16000; s < 1.4 * 16000; s++) waveform[s] = 0.1; // loud at 1.2-1.4 s (frame 30), no onset there
    // Frame 10: an onset; frame 20: no onset, silent; frame 30: no onset, but sound (-20 dBFS).
    assert.deepEqual(silentOpenings([10, 20, 30], fps, mel, melFrames, waveform, -45, g), [20]);
    // With the level no bar, every opening without an onset near it.
    assert.deepEqual(silentOpenings([10, 20, 30], fps, mel, melFrames, waveform, 200, g), [20, 30]);
    // An onset within 50 ms counts (frame 11 is 40 ms after it); one further off does not.
    assert.deepEqual(silentOpenings([11, 12], fps, mel, melFrames, waveform, 200, g), [12]);
    assert.deepEqual(silentOpenings([], fps, mel, melFrames, waveform, 200, g), []);
  });

  it('raise only the column within reach of each, and leave the unknown marker', () => {
    const dim = 3;
    const frames = 12;
    const rows = new Float32Array(frames * dim).fill(0.5);
    rows[(10 + 1) * dim - 1] = -1;
    const raised = raiseColumnAround(rows, dim, [2, 9], 3);
    for (let t = 0; t < frames; t++) {
      const near =
        Math.abs(t - 2) <= SILENT_OPENING_REACH_FRAMES || Math.abs(t - 9) <= SILENT_OPENING_REACH_FRAMES;
      const want = t === 10 ? -1 : near ? 1.5 : 0.5;
      assert.ok(Math.abs(raised[(t + 1) * dim - 1]! - want) < 1e-6, `frame ${t}`);
      assert.equal(raised[t * dim], 0.5); // the features are left
    }
    assert.equal(rows[dim - 1], 0.5); // the caller's rows are left
  });

  it('take the stretch around each from the second mel, crossfaded, and nothing else', () => {
    const bins = 2;
    const melFrames = 100;
    const first = new Float32Array(bins * melFrames).fill(0);
    const second = new Float32Array(bins * melFrames).fill(1);
    const out = spliceMelAround(first, second, bins, melFrames, [10], fps, 100); // frame 10 = mel frame 40
    const w = Array.from(out.subarray(0, melFrames));
    assert.deepEqual(w, Array.from(out.subarray(melFrames)));
    assert.equal(w[40], 1);
    assert.equal(w[37], 1); // 30 ms before
    assert.equal(w[55], 1); // 150 ms after
    assert.equal(w[37 - SILENT_OPENING_FADE_MEL_FRAMES - 1], 0);
    assert.equal(w[55 + SILENT_OPENING_FADE_MEL_FRAMES + 1], 0);
    assert.ok(w[36]! > 0 && w[36]! < 1 && w[35]! < w[36]!, 'a fade in');
    assert.ok(w[56]! > 0 && w[56]! < 1 && w[57]! < w[56]!, 'a fade out');
    assert.ok(w.every((v, i) => (i < 30 || i > 65 ? v === 0 : true)));
    assert.throws(
      () => spliceMelAround(first, second.subarray(1), bins, melFrames, [10], fps, 100),
      /mels of/,
    );
  });
});
