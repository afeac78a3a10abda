import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LATENCY_PRESET_NAMES, LATENCY_PRESETS, LivePlan, latencyPreset } from '../../pipelines/live/plan.js';
import { UsageError } from '../../src/errors.js';
import { parseManifest } from '../../src/models/manifest.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

/** The upsampler's delay (24 samples at 48 kHz) and the packet grid's slack: chunks are due with their own first packet. */
const ALIGNMENT_MS = 0.5 + 0.1;

const manifest = parseManifest(
  JSON.parse(readFileSync(join(TINY_BUNDLE_DIR, 'manifest.json'), 'utf8')),
  'tiny-random',
);

describe('latency presets', () => {
  it('balanced is the plan with no options: 4-frame chunks, the bundle look-ahead, context 12, budget 400 ms', () => {
    const plain = new LivePlan(manifest, {}, true);
    const balanced = new LivePlan(manifest, { latency: 'balanced' }, true);
    for (const plan of [plain, balanced]) {
      assert.equal(plan.latency, 'balanced');
      assert.equal(plan.chunkFrames, 4);
      assert.equal(plan.lookaheadFrames, manifest.features.contextFrames);
      assert.equal(plan.ladder[0]!.contextFrames, 12);
      assert.equal(plan.latencyBudgetMs, 400);
    }
    assert.deepEqual(balanced.ladder, plain.ladder);
    assert.equal(plain.lateAllowanceMs, 80, 'half a 4-frame chunk');
    assert.equal(new LivePlan(manifest, { latency: 'low' }, true).lateAllowanceMs, 0, 'low skips');
    assert.equal(new LivePlan(manifest, { latency: 'low', lateAllowanceMs: 20 }, true).lateAllowanceMs, 20);
    assert.equal(new LivePlan(manifest, { lateAllowanceMs: 0 }, true).lateAllowanceMs, 0);
    assert.throws(
      () => new LivePlan(manifest, { lateAllowanceMs: -1 }, true),
      /lateAllowanceMs must be a number >= 0/,
    );
    assert.equal(balanced.structuralLatencyMs, plain.structuralLatencyMs);
    // (4 − 1 + 3) frames of 40 ms + crossfade 20 + alignment + jitter 15.
    assert.equal(plain.structuralLatencyMs, 6 * 40 + 20 + ALIGNMENT_MS + 15);
  });

  it('low reaches the plan: its chunk, look-ahead, context and budget, and a shorter structural latency', () => {
    const low = LATENCY_PRESETS.low;
    const plan = new LivePlan(manifest, { latency: 'low' }, true);
    assert.equal(plan.latency, 'low');
    assert.equal(plan.chunkFrames, low.chunkFrames);
    assert.equal(plan.lookaheadFrames, low.lookaheadFrames);
    assert.equal(plan.ladder[0]!.contextFrames, low.maxContextFrames);
    assert.equal(plan.latencyBudgetMs, low.latencyBudgetMs);
    assert.equal(
      plan.structuralLatencyMs,
      (low.chunkFrames - 1 + low.lookaheadFrames!) * plan.frameMs + low.crossfadeMs! + ALIGNMENT_MS + 15,
    );
    assert.ok(plan.structuralLatencyMs < new LivePlan(manifest, {}, true).structuralLatencyMs);
    // The low plan leaves compute time inside its own budget.
    assert.ok(plan.structuralLatencyMs + 10 <= plan.latencyBudgetMs);
  });

  it("balanced waits for the encoder's reach ahead plus one frame: one frame for a causal encoder", () => {
    const causal = parseManifest(
      {
        ...JSON.parse(readFileSync(join(TINY_BUNDLE_DIR, 'manifest.json'), 'utf8')),
        features: { dim: manifest.features.dim, contextFrames: 5, rightContextFrames: 0 },
      },
      'causal',
    );
    const plan = new LivePlan(causal, {}, true);
    assert.equal(plan.lookaheadFrames, 1);
    assert.equal(plan.structuralLatencyMs, (4 - 1 + 1) * 40 + 20 + ALIGNMENT_MS + 15);
  });

  it('an explicit option overrides the preset, the rest of the preset stays', () => {
    const plan = new LivePlan(manifest, { latency: 'low', chunkFrames: 3, latencyBudgetMs: 250 }, true);
    assert.equal(plan.chunkFrames, 3);
    assert.equal(plan.latencyBudgetMs, 250);
    assert.equal(plan.lookaheadFrames, LATENCY_PRESETS.low.lookaheadFrames);
    assert.equal(plan.ladder[0]!.contextFrames, LATENCY_PRESETS.low.maxContextFrames);
  });

  it('an unknown preset is a UsageError naming it and the valid ones', () => {
    assert.deepEqual([...LATENCY_PRESET_NAMES], ['low', 'balanced']);
    assert.throws(
      () => latencyPreset('ultra'),
      (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /"ultra"/);
        assert.match(error.message, /low, balanced/);
        return true;
      },
    );
    assert.throws(
      () => new LivePlan(manifest, { latency: 'fast' as 'low' }, true),
      (error: Error) => error instanceof UsageError && /"fast"/.test(error.message),
    );
  });

  it('the presets are frozen', () => {
    assert.ok(Object.isFrozen(LATENCY_PRESETS));
    assert.ok(Object.isFrozen(LATENCY_PRESETS.low) && Object.isFrozen(LATENCY_PRESETS.balanced));
  });
});
