import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpectralOnsetTracker } from '../../client/src/spectral-onsets.js';

const RATE = 48000;

/** Deterministic noise in [-1, 1) (a linear congruential generator). */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/** `seconds` of a -70 dBFS noise floor with decaying noise bursts (knocks) at `hitsS`. */
function knocks(seconds: number, hitsS: number[], amplitude = 0.5): Float32Array {
  const x = new Float32Array(Math.round(seconds * RATE));
  const rand = noise(7);
  for (let i = 0; i < x.length; i++) x[i] = rand() * 10 ** (-70 / 20);
  for (const t of hitsS) {
    const start = Math.round(t * RATE);
    for (let i = 0; i < 0.12 * RATE && start + i < x.length; i++)
      x[start + i] = x[start + i]! + amplitude * rand() * Math.exp(-i / (0.02 * RATE));
  }
  return x;
}

/** Feeds `x` in 20 ms blocks as the overlay gets them; returns onset times (s) and columns made. */
function track(tracker: SpectralOnsetTracker, x: Float32Array): { onsetsS: number[]; columns: number } {
  const onsetsS: number[] = [];
  let columns = 0;
  for (let i = 0; i < x.length; i += 960) {
    const update = tracker.push(x.subarray(i, i + 960));
    columns += update.columns.length;
    for (const f of update.onsets) onsetsS.push(tracker.sampleOfFrame(f) / RATE);
  }
  return { onsetsS, columns };
}

describe('SpectralOnsetTracker', () => {
  it('finds each knock within 20 ms, and nothing else, fed in 20 ms blocks', () => {
    const hits = [0.3, 0.75, 1.1, 1.6, 1.72, 2.4];
    const { onsetsS, columns } = track(new SpectralOnsetTracker(), knocks(3, hits));
    assert.equal(onsetsS.length, hits.length, `onsets at ${onsetsS.map((t) => t.toFixed(3)).join(', ')}`);
    onsetsS.forEach((t, k) =>
      assert.ok(Math.abs(t - hits[k]!) <= 0.02, `onset ${t} for the knock at ${hits[k]}`),
    );
    assert.equal(columns, Math.floor((3 * RATE - 1024) / 480) + 1, 'one column per 10 ms hop');
  });

  it('finds no onsets in silence or a quiet floor, nor in steady noise after its start', () => {
    assert.deepEqual(track(new SpectralOnsetTracker(), new Float32Array(2 * RATE)).onsetsS, []);
    assert.deepEqual(track(new SpectralOnsetTracker(), knocks(2, [])).onsetsS, []);
    const steady = new Float32Array(3 * RATE);
    const rand = noise(3);
    for (let i = RATE; i < steady.length; i++) steady[i] = 0.3 * rand();
    const { onsetsS } = track(new SpectralOnsetTracker(), steady);
    assert.equal(onsetsS.length, 1, `onsets at ${onsetsS.join(', ')}`);
    assert.ok(Math.abs(onsetsS[0]! - 1) <= 0.02);
  });

  it('levels a full-scale sine near 0 dBFS in its band and leaves far bands at the floor', () => {
    const tracker = new SpectralOnsetTracker();
    const x = Float32Array.from({ length: 4800 }, (_, i) => Math.sin((2 * Math.PI * 1000 * i) / RATE));
    const column = tracker.push(x).columns.at(-1)!;
    const loudest = Math.max(...column.bandsDb);
    assert.ok(loudest > -3 && loudest <= 0, `loudest band ${loudest} dB`);
    assert.equal(column.bandsDb[0], tracker.options.floorDb);
  });

  it('names a bad FFT size or band range', () => {
    assert.throws(() => new SpectralOnsetTracker({ fftSize: 1000 }), /fftSize 1000 is not a power of two/);
    assert.throws(() => new SpectralOnsetTracker({ minHz: 100, maxHz: 30000 }), /band range 100\.\.30000 Hz/);
  });
});
