import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { detectOnsetFrames, onsetEnvelope, onsetFrame, peakPick } from '../../src/dsp/onset-detection.js';
import { matchEvents, scoreOnsets } from '../../src/dsp/onset-matching.js';
import { FIXTURES_DIR } from '../helpers/media-fixtures.js';

interface OnsetReference {
  detect: { frames: number; melMilli: number[]; envelope: number[]; onsetFrames: number[] }[];
  match: { ref: number[]; est: number[]; f1: number; pairs: [number, number][] }[];
}
const reference = JSON.parse(
  readFileSync(join(FIXTURES_DIR, 'onset-reference.json'), 'utf8'),
) as OnsetReference;
const geometry = { melBins: 64, melNormOffset: 4.5, melNormScale: 4, hopSamples: 160, sampleRate: 16000 };

describe('onset detection (librosa port)', () => {
  reference.detect.forEach((c, k) => {
    it(`matches librosa's envelope and onset frames on reference case ${k}`, () => {
      const mel = Float32Array.from(c.melMilli, (v) => Math.fround(v / 1000));
      const env = onsetEnvelope(mel, c.frames, geometry);
      for (let i = 0; i < c.frames; i++) assert.ok(Math.abs(env[i]! - c.envelope[i]!) < 1e-3, `env[${i}]`);
      assert.deepEqual(detectOnsetFrames(env, 16000, 160), c.onsetFrames);
      assert.ok(c.onsetFrames.length > 0);
    });
  });

  it('waits `wait` frames after a peak and needs delta above the local mean', () => {
    const x = [0, 1, 0, 0.9, 0, 0, 0, 0, 0, 0.05, 0, 0];
    assert.deepEqual(
      peakPick(x, { preMax: 3, postMax: 1, preAvg: 10, postAvg: 11, delta: 0.07, wait: 3 }),
      [1],
    );
  });

  it('maps onset times to the nearest mel frame centre', () => {
    assert.equal(onsetFrame(0.005, geometry), 0);
    assert.equal(onsetFrame(1.005, geometry), 100);
  });
});

describe('onset matching (mir_eval port)', () => {
  reference.match.forEach((c, k) => {
    it(`gives mir_eval's F1 and matched pairs on reference case ${k}`, () => {
      assert.ok(Math.abs(scoreOnsets(c.ref, c.est).f1 - c.f1) < 1e-12);
      assert.deepEqual(matchEvents(c.ref, c.est, 0.05), c.pairs);
    });
  });

  it('finds the maximum matching where greedy nearest-first would not', () => {
    // est 0 is within 50 ms of both refs; est 1 only of ref 1. Max matching pairs both.
    const s = scoreOnsets([1.0, 1.06], [1.03, 1.1]);
    assert.equal(s.matched, 2);
    assert.equal(s.f1, 1);
  });

  it('scores 0 when either side is empty', () => {
    assert.equal(scoreOnsets([], [1]).f1, 0);
    assert.equal(scoreOnsets([1], []).f1, 0);
  });
});
