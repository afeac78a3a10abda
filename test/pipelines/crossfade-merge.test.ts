import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import { crossfadeMerge } from '../../pipelines/operators/crossfade-merge.js';
import { crossfade, crossfadeGains } from '../../src/dsp/crossfade.js';

describe('crossfade', () => {
  it('keeps the level of identical signals with raised-cosine and linear curves', () => {
    const x = new Float32Array(100).fill(0.8);
    for (const curve of ['raised-cosine', 'linear'] as const) {
      assert.ok(
        crossfade(x, x, curve).every((v) => Math.abs(v - 0.8) < 1e-6),
        curve,
      );
    }
  });
  it('has gains whose powers sum to 1 for equal-power', () => {
    const { fadeOut, fadeIn } = crossfadeGains('equal-power', 0.3);
    assert.ok(Math.abs(fadeOut ** 2 + fadeIn ** 2 - 1) < 1e-12);
  });
});

describe('crossfadeMerge', () => {
  it('joins overlapping windows into contiguous chunks without gap or level change', async () => {
    // Three windows of a constant signal: 0..100, 80..180, 160..200, overlap 20.
    const windows = [
      { startSample: 0, overlapSamples: 0, waveform: new Float32Array(100).fill(1) },
      { startSample: 80, overlapSamples: 20, waveform: new Float32Array(100).fill(1) },
      { startSample: 160, overlapSamples: 20, waveform: new Float32Array(40).fill(1) },
    ];
    const chunks = await lastValueFrom(from(windows).pipe(crossfadeMerge({ overlapSamples: 20 }), toArray()));
    let next = 0;
    for (const c of chunks) {
      assert.equal(c.startSample, next);
      next += c.samples.length;
    }
    assert.equal(next, 200);
    assert.ok(chunks.every((c) => c.samples.every((v) => Math.abs(v - 1) < 1e-6)));
  });

  it('fades from the earlier to the later window across the overlap', async () => {
    const windows = [
      { startSample: 0, overlapSamples: 0, waveform: new Float32Array(40).fill(0) },
      { startSample: 20, overlapSamples: 20, waveform: new Float32Array(40).fill(1) },
    ];
    const chunks = await lastValueFrom(
      from(windows).pipe(crossfadeMerge({ overlapSamples: 20, curve: 'linear' }), toArray()),
    );
    const all = new Float32Array(60);
    for (const c of chunks) all.set(c.samples, c.startSample);
    assert.equal(all[0], 0);
    assert.ok(all[25]! > all[21]! && all[21]! > 0 && all[38]! < 1);
    assert.equal(all[59], 1);
  });

  it('gives one chunk per window, tagged with it, and holds the last tail back when asked', async () => {
    const windows = [
      { startSample: 0, overlapSamples: 0, waveform: new Float32Array(100).fill(1), name: 'a' },
      { startSample: 80, overlapSamples: 20, waveform: new Float32Array(100).fill(1), name: 'b' },
    ];
    const chunks = await lastValueFrom(
      from(windows).pipe(crossfadeMerge({ overlapSamples: 20, flushAtEnd: false }), toArray()),
    );
    assert.deepEqual(
      chunks.map((c) => [c.window.name, c.startSample, c.samples.length]),
      [
        ['a', 0, 80],
        ['b', 80, 80],
      ],
    );
  });

  it('errors on a window whose overlap does not match the held tail', async () => {
    const windows = [
      { startSample: 0, overlapSamples: 0, waveform: new Float32Array(40) },
      { startSample: 25, overlapSamples: 15, waveform: new Float32Array(40) },
    ];
    await assert.rejects(
      lastValueFrom(from(windows).pipe(crossfadeMerge({ overlapSamples: 20 }))),
      /held tail is 20 at 20/,
    );
  });
});
