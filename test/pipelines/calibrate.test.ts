import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { calibrateLevels, WARM_UP_RUNS } from '../../pipelines/live/calibrate.js';
import type { LiveWindowRequest } from '../../pipelines/live/chunk-generation.js';
import { buildLadder, LevelCosts } from '../../pipelines/live/DegradationLadder.js';
import { LivePlan } from '../../pipelines/live/plan.js';
import { parseManifest } from '../../src/models/manifest.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const manifest = parseManifest(
  JSON.parse(readFileSync(join(TINY_BUNDLE_DIR, 'manifest.json'), 'utf8')),
  'tiny-random',
);

/** Fresh sessions: the first `coldRuns` calls take `coldMs`, the rest `warmMs`. */
function coldThenWarm(coldRuns: number, coldMs: number, warmMs: number) {
  let calls = 0;
  return {
    calls: () => calls,
    wait: () => sleep(calls++ < coldRuns ? coldMs : warmMs),
  };
}

describe('calibrateLevels', () => {
  it('times the levels and the features after untimed warm-up runs, so cold sessions do not inflate the offset', async () => {
    const plan = new LivePlan(manifest, {}, true);
    const generating = plan.ladder.filter((l) => l.generate);
    // Two cold calls, as measured (docs/experiments.md section 31), whatever WARM_UP_RUNS is.
    const synth = coldThenWarm(2, 120, 5);
    const features = coldThenWarm(2, 80, 2);
    const levels: string[] = [];
    const costs = new LevelCosts(plan.ladder.length);
    const featureMs = await calibrateLevels(
      plan,
      {
        encode: async (_frames, count) => {
          await features.wait();
          return new Float32Array(count * manifest.features.dim);
        },
      },
      {
        generate: async (request: LiveWindowRequest) => {
          levels.push(request.sampling === plan.ladder[0] ? 'full' : 'other');
          await synth.wait();
          return { latent: new Float32Array(0), waveform: new Float32Array(0) };
        },
      },
      costs,
    );
    assert.equal(synth.calls(), WARM_UP_RUNS + 2 * generating.length);
    assert.deepEqual(levels.slice(0, WARM_UP_RUNS + 1), new Array(WARM_UP_RUNS + 1).fill('full'));
    for (const level of generating) {
      assert.ok(costs.estimate(level.level) < 60, `${level.name}: ${costs.estimate(level.level)} ms`);
    }
    // The minimum over the timed runs is warm whether or not the warm-up ran, so what is checked
    // is that the warm-up runs the encoder too (its sessions are as cold as the UNet's).
    assert.equal(features.calls(), WARM_UP_RUNS + 2 * generating.length);
    assert.ok(featureMs < 40, `features: ${featureMs} ms`);
    // The warm cost plus the jitter room: a cold estimate would have put it past 120 ms.
    const allowance = plan.chooseOffset(costs, featureMs) - plan.structuralLatencyMs;
    assert.ok(allowance >= 20 && allowance < 100, `allowance ${allowance} ms`);
  });
});

describe('buildLadder', () => {
  it('leaves out the no-classifier level where the full level has no classifier guidance, numbering levels by place', () => {
    const options = { steps: 4, restarts: 2, cfgScale: 3, maxContextFrames: 12, minContextFrames: 8 };
    const guided = buildLadder({ ...options, cgScale: 3 });
    const unguided = buildLadder({ ...options, cgScale: 0 });
    assert.deepEqual(
      guided.map((l) => l.name),
      ['full', 'no-classifier', 'fewer-steps', 'short-window', 'skip'],
    );
    assert.deepEqual(
      unguided.map((l) => l.name),
      ['full', 'fewer-steps', 'short-window', 'skip'],
    );
    for (const ladder of [guided, unguided]) {
      assert.deepEqual(
        ladder.map((l) => l.level),
        ladder.map((_, i) => i),
      );
    }
    assert.equal(
      new LivePlan(manifest, {}, false).ladder.length,
      unguided.length,
      'no classifier opened: no repeat',
    );
  });
});
