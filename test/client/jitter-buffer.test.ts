/**
 * The OBS page's jitter buffer in virtual time: 20 ms Opus blocks arrive on a schedule
 * (with stalls and bursts), 128-sample render quanta are pulled as the AudioWorklet would.
 * Each block carries a ramp of its stream positions, so every output sample says which
 * stream sample it played.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JitterBuffer, MAX_RATE_DEVIATION } from '../../client/src/jitter-buffer.js';

const RATE = 48000;
const BLOCK = 960;
const QUANTUM = 128;
const TARGET_MS = 60;
const MAX_EXTRA_MS = 100;
/** Sample value of stream position g: a ramp that wraps every second (exact under linear interpolation). */
const rampValue = (g: number): number => (g % RATE) / RATE;

interface Quantum {
  atMs: number;
  granule: number | null;
  rate: number;
  samples: Float32Array;
  averageFillMs: number;
}

/**
 * Pushes block k (stream positions k·960…) when `arrivalMs(k)` has passed, renders quanta
 * until `durationMs`; returns every quantum.
 */
function run(buffer: JitterBuffer, arrivalMs: (k: number) => number, durationMs: number): Quantum[] {
  const quanta: Quantum[] = [];
  let next = 0;
  for (let q = 0; (q * QUANTUM * 1000) / RATE < durationMs; q++) {
    const atMs = (q * QUANTUM * 1000) / RATE;
    while (arrivalMs(next) <= atMs) {
      const pcm = new Float32Array(BLOCK);
      for (let i = 0; i < BLOCK; i++) pcm[i] = rampValue(next * BLOCK + i);
      buffer.push(pcm, next * BLOCK);
      next++;
    }
    const samples = new Float32Array(QUANTUM);
    const { granule, rate } = buffer.render(samples);
    quanta.push({ atMs, granule, rate, samples, averageFillMs: buffer.averageFillMs });
  }
  return quanta;
}

const newBuffer = () => new JitterBuffer({ sampleRate: RATE, targetMs: TARGET_MS, maxExtraMs: MAX_EXTRA_MS });
/** Steady arrivals, 5 ms after each block's time, except blocks in [from, to) held until `to` arrives. */
const withStall =
  (from: number, to: number) =>
  (k: number): number =>
    (k >= from && k < to ? to : k) * 20 + 5;
/** What the buffer adds at quantum q: its time minus when the stream position it plays was due. */
const addedMs = (q: Quantum): number => q.atMs - ((q.granule! * 1000) / RATE + 5);

describe('JitterBuffer', () => {
  it('starts once the target is buffered and then adds the target', () => {
    const quanta = run(newBuffer(), (k) => k * 20 + 5, 3000);
    // Blocks land at 5, 25 and 45 ms: the third makes the 60 ms target.
    const first = quanta.find((q) => q.granule !== null)!;
    assert.ok(first.atMs >= 45 && first.atMs < 48, `started at ${first.atMs} ms`);
    const late = quanta.filter((q) => q.atMs > 2000);
    for (const q of late) assert.ok(Math.abs(addedMs(q) - TARGET_MS) <= 20, `adds ${addedMs(q)} ms`);
  });

  it('holds its fill at the target after a stall delivers a burst', () => {
    // 100 ms without blocks, then 6 at once: an underrun, and a fill of ~120 ms when they land.
    const buffer = newBuffer();
    const quanta = run(buffer, withStall(100, 105), 8000);
    assert.equal(buffer.underruns, 1);
    assert.equal(buffer.droppedMs, 0, 'a burst below target + maxExtra is kept');
    const afterBurst = quanta.filter((q) => q.atMs > 105 * 20 && q.atMs < 105 * 20 + 600);
    assert.ok(
      Math.max(...afterBurst.map((q) => q.averageFillMs)) > TARGET_MS + 20,
      'the burst filled the buffer',
    );
    assert.ok(
      afterBurst.some((q) => q.rate > 1),
      'and it plays faster to drain it',
    );
    // Draining 60 ms at up to 4% faster takes ~1.5 s; 5 s after the burst the fill is back.
    const settled = quanta.filter((q) => q.atMs > 105 * 20 + 5000);
    for (const q of settled) {
      assert.ok(Math.abs(q.averageFillMs - TARGET_MS) <= 5, `fill ${q.averageFillMs.toFixed(1)} ms`);
      assert.ok(Math.abs(addedMs(q) - TARGET_MS) <= 20, `adds ${addedMs(q).toFixed(1)} ms`);
    }
    assert.ok(Math.max(...quanta.map((q) => Math.abs(q.rate - 1))) <= MAX_RATE_DEVIATION + 1e-9);
  });

  it('plays every pushed sample once and in order, at the position and rate it reports', () => {
    const quanta = run(newBuffer(), withStall(100, 105), 8000);
    let expected: number | null = null;
    let checked = 0;
    for (const q of quanta) {
      if (q.granule === null) continue; // underrun: silence, the position waits
      if (expected !== null) assert.ok(Math.abs(q.granule - expected) < 1e-6, `at ${q.atMs} ms`);
      for (let i = 0; i < QUANTUM; i++) {
        const pos = q.granule + i * q.rate;
        if (pos % RATE > RATE - 2) continue; // the ramp wraps between two samples
        assert.ok(Math.abs(q.samples[i]! - rampValue(pos)) < 1e-5, `sample ${pos} at ${q.atMs} ms`);
        checked++;
      }
      expected = q.granule + QUANTUM * q.rate;
    }
    assert.ok(checked > 7 * RATE, `${checked} samples checked`);
  });

  it('drops its oldest audio down to the target past target + maxExtra', () => {
    // 400 ms without blocks, then 20 at once: more than 160 ms lands.
    const buffer = newBuffer();
    const quanta = run(buffer, withStall(100, 120), 3000);
    assert.ok(buffer.droppedMs > 0, 'dropped');
    const steps: number[] = [];
    let expected: number | null = null;
    for (const q of quanta) {
      if (q.granule === null) continue;
      if (expected !== null && Math.abs(q.granule - expected) > 1e-6) steps.push(q.granule - expected);
      expected = q.granule + QUANTUM * q.rate;
    }
    assert.equal(steps.length, 1, 'one jump');
    assert.ok(Math.abs(steps[0]! / 48 - buffer.droppedMs) < 1e-6, 'forward, by what was dropped');
    const after = quanta.filter((q) => q.atMs > 120 * 20 + 50);
    assert.ok(Math.max(...after.map((q) => q.averageFillMs)) <= TARGET_MS + MAX_EXTRA_MS);
  });

  it('plays silence after an underrun and starts again at the same position', () => {
    const buffer = newBuffer();
    const quanta = run(buffer, (k) => (k < 50 ? k * 20 + 5 : Number.POSITIVE_INFINITY), 2000);
    const last = quanta.at(-1)!;
    assert.equal(last.granule, null);
    assert.ok(last.samples.every((v) => v === 0));
    assert.equal(buffer.underruns, 1);
    assert.equal(buffer.playing, false);
    buffer.reset();
    assert.equal(buffer.bufferedMs, 0);
  });
});
