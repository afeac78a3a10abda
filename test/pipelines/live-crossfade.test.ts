import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import { type LiveAudio, liveCrossfade } from '../../pipelines/live/chunk-audio.js';
import type { LiveChunk } from '../../pipelines/live/chunk-generation.js';
import { LivePlan } from '../../pipelines/live/plan.js';
import { SegmentTiming } from '../../pipelines/live/SegmentTiming.js';
import { UsageError } from '../../src/errors.js';
import { parseManifest } from '../../src/models/manifest.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const manifest = parseManifest(
  JSON.parse(readFileSync(join(TINY_BUNDLE_DIR, 'manifest.json'), 'utf8')),
  'tiny-random',
);
const FULL_LEVEL = new LivePlan(manifest, {}, true).ladder[0]!;
const K = 2; // frames per chunk
const SPF = 640; // 16 kHz samples per 40 ms frame
const XF = 320; // 20 ms
const GUARD = 2;

/** Chunk n's window: 4 context frames (fewer at the start), its K frames, 2 guard frames, all of value n + 1. */
function chunk(n: number): LiveChunk {
  const windowStartFrame = Math.max(0, n * K - 4);
  const frames = n * K + K + GUARD - windowStartFrame;
  return {
    chunk: n,
    startFrame: n * K,
    level: FULL_LEVEL,
    generated: true,
    waveform: new Float32Array(frames * SPF).fill(n + 1),
    windowStartFrame,
    computeMs: 1,
    late: false,
  };
}

async function merged(join: 'held' | 'guard', chunks: number): Promise<LiveAudio[]> {
  const source = from(Array.from({ length: chunks }, (_, n) => chunk(n)));
  return lastValueFrom(
    source.pipe(
      liveCrossfade({ segment: 0, chunkFrames: K, samplesPerFrame: SPF, crossfadeSamples: XF, join }),
      toArray(),
    ),
  );
}

describe('liveCrossfade joins', () => {
  it('held: chunk n emits from xf before its start, its last xf samples wait for chunk n + 1', async () => {
    const out = await merged('held', 3);
    assert.deepEqual(
      out.map((a) => [a.startSample, a.samples.length]),
      [
        [0, K * SPF - XF],
        [K * SPF - XF, K * SPF],
        [2 * K * SPF - XF, K * SPF],
      ],
    );
    // Chunk 1's head fades from chunk 0's value (1) to its own (2) over the chunk's frames.
    const head = out[1]!.samples;
    assert.ok(Math.abs(head[0]! - 1) < 0.01 && Math.abs(head[XF - 1]! - 2) < 0.01);
    assert.equal(head[XF], 2);
  });

  it("guard: chunk n emits exactly its own frames, its head faded in from chunk n − 1's guard", async () => {
    const out = await merged('guard', 3);
    assert.deepEqual(
      out.map((a) => [a.startSample, a.samples.length]),
      [
        [0, K * SPF],
        [K * SPF, K * SPF],
        [2 * K * SPF, K * SPF],
      ],
    );
    assert.ok(out[0]!.samples.every((v) => v === 1));
    const head = out[2]!.samples;
    assert.ok(Math.abs(head[0]! - 2) < 0.01 && Math.abs(head[XF - 1]! - 3) < 0.01);
    for (let i = 1; i < XF; i++) assert.ok(head[i]! >= head[i - 1]!, 'a monotone fade');
    assert.ok(head.subarray(XF).every((v) => v === 3));
  });
});

describe('LivePlan crossfade joins', () => {
  it('guard joins hold nothing back: the structural latency and every deadline are one crossfade sooner', () => {
    const held = new LivePlan(manifest, { latency: 'low', crossfadeMs: 20, crossfadeJoin: 'held' }, true);
    const guard = new LivePlan(manifest, { latency: 'low', crossfadeMs: 20, crossfadeJoin: 'guard' }, true);
    assert.equal(guard.crossfadeJoin, 'guard');
    assert.equal(held.holdbackMs, 20);
    assert.equal(guard.holdbackMs, 0);
    assert.equal(held.structuralLatencyMs - guard.structuralLatencyMs, 20);
    const timing = new SegmentTiming({
      id: 0,
      originMediaMs: 0,
      firstDelayMs: 100,
      leadFrames: 2,
      historyFrames: 64,
    });
    assert.equal(guard.deadlineMs(timing, 3, 150) - held.deadlineMs(timing, 3, 150), 20);
  });

  it('is due with its own first packet when chunks start on the 20 ms packet grid, a whole packet sooner when they do not', () => {
    const raw = JSON.parse(readFileSync(join(TINY_BUNDLE_DIR, 'manifest.json'), 'utf8'));
    // 30 ms latent frames (3 mel frames of 10 ms): a 1-frame chunk is 1440 samples at 48 kHz.
    const offGrid = parseManifest(
      {
        ...raw,
        latent: { ...raw.latent, melFramesPerLatentFrame: 3 },
        video: { ...raw.video, fps: 1000 / 30 },
      },
      'off-grid',
    );
    const onGrid = new LivePlan(manifest, { chunkFrames: 1, lookaheadFrames: 0, crossfadeMs: 20 }, true);
    const off = new LivePlan(offGrid, { chunkFrames: 1, lookaheadFrames: 0, crossfadeMs: 20 }, true);
    assert.equal(onGrid.structuralLatencyMs, 20 + 0.6 + 15);
    assert.equal(off.structuralLatencyMs, 20 + 20 + 15);
  });

  it('refuses an unknown join and a crossfade longer than the guard frames, naming them', () => {
    assert.throws(
      () => new LivePlan(manifest, { crossfadeJoin: 'ahead' as 'guard' }, true),
      (e: Error) => e instanceof UsageError && /"ahead"/.test(e.message) && /held, guard/.test(e.message),
    );
    assert.throws(
      () => new LivePlan(manifest, { crossfadeJoin: 'guard', crossfadeMs: 120 }, true),
      (e: Error) => e instanceof UsageError && /guard frames/.test(e.message) && /120/.test(e.message),
    );
    assert.equal(new LivePlan(manifest, { crossfadeJoin: 'held', crossfadeMs: 120 }, true).holdbackMs, 120);
  });
});
