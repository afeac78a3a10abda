import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { renderLive } from '../../pipelines/live/renderLive.js';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import type { SamplingJob } from '../../src/diffusion/sampling-job.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { makeMediaFixtures, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { detectorBundleCopy } from '../helpers/tiny-bundle.js';

/** How many feature rows before the last one equal it ([1, frames, dim], batch row 0). */
function trailingRepeats(features: { dims: number[]; data: Float32Array }, dim: number): number {
  const frames = features.dims[1]!;
  const row = (i: number) => features.data.subarray(i * dim, (i + 1) * dim);
  const last = row(frames - 1);
  let n = 0;
  while (n + 1 < frames && row(frames - 2 - n).every((v, k) => v === last[k])) n++;
  return n;
}

describe('renderLive: a clip through the live chunker', () => {
  const f = makeMediaFixtures();
  let runner: InferenceRunner;
  before(async () => {
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, { models: InferenceRunner.renderModels(bundle) });
  });
  after(async () => {
    await runner?.close();
    f.cleanup();
  });

  it('covers the whole clip with chunks made at full quality, the same for the same seed', async () => {
    const m = runner.bundle.manifest;
    const spf = m.latent.melFramesPerLatentFrame * m.audio.hopSamples;
    const a = await renderLive(f.clip, runner, { seed: 7 });
    assert.equal(a.waveform.length, 50 * spf, 'the 2 s clip has 50 frames');
    assert.equal(a.chunks, Math.ceil(50 / 4));
    assert.equal(a.degradedChunks, 0);
    // Generated audio everywhere: no chunk left silent (every 160 ms span has signal).
    for (let c = 0; c < a.chunks - 1; c++) {
      const span = a.waveform.subarray(c * 4 * spf, (c + 1) * 4 * spf);
      assert.ok(
        span.some((v) => v !== 0),
        `chunk ${c} is silent`,
      );
    }
    const b = await renderLive(f.clip, runner, { seed: 7 });
    assert.deepEqual(b.waveform, a.waveform);
    const c = await renderLive(f.clip, runner, { seed: 8 });
    assert.notDeepEqual(c.waveform, a.waveform);
  });

  it('calibrates its costs on the window its chunks use: 2 guard frames, the padding in the context', async () => {
    const m = runner.bundle.manifest;
    let windows: number[] = [];
    const repeatedAtEnd: number[] = []; // per window: trailing feature rows equal to the last
    // The real runner, with each sampling job's window length written down on the way.
    const recording = new Proxy(runner, {
      get(target, prop) {
        if (prop === 'sample')
          return (job: SamplingJob, options?: object) => {
            const frames = job.shape.frames;
            windows.push(frames);
            repeatedAtEnd.push(
              trailingRepeats(
                { dims: [1, frames], data: job.unetFeatures },
                job.unetFeatures.length / frames,
              ),
            );
            return target.sample(job, options);
          };
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const p = await LiveFoleyPipeline.create({ runner: recording, manifest: m, latencyBudgetMs: 400 });
    p.close();
    const calibrated = new Set(windows);
    windows = [];
    repeatedAtEnd.length = 0;
    await renderLive(f.clip, recording, { seed: 7 });
    // Full context (12 asked, 14 with the padding) + 4 new + 2 guard = 20 once the segment has
    // 14 frames behind it; shorter windows only at its start (8, 12, 16, then 20).
    assert.ok(windows.length > 8, `${windows.length} windows`);
    assert.deepEqual(new Set(windows.slice(-8)), new Set([20]));
    // The guard's features: the exact look-ahead one, then one repeat (a 4-frame guard had 3).
    assert.deepEqual(new Set(repeatedAtEnd.slice(-8)), new Set([1]));
    assert.deepEqual([...new Set(windows)].slice(0, 4), [8, 12, 16, 20]);
    assert.ok(calibrated.has(20), `calibrated windows ${[...calibrated]}`);
  });

  it('rejects a file without video with the reader error', async () => {
    await assert.rejects(renderLive(f.audioOnly, runner), /video/i);
  });
});

describe('renderLive with a contact gate keyed on the contact detector', () => {
  const f = makeMediaFixtures();
  const copy = detectorBundleCopy({
    threshold: 0.01,
    rampMs: 5,
    holdMs: 20,
    releaseDbPer10ms: 40,
    depthDb: -40,
  });
  let runner: InferenceRunner;
  let plainRunner: InferenceRunner;
  before(async () => {
    const bundle = await loadBundle(copy.dir);
    runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
    assert.ok(runner.models.includes('contact_detector'), 'the live path opens the detector');
    const plain = await loadBundle(TINY_BUNDLE_DIR);
    plainRunner = await InferenceRunner.start(plain, { models: LiveFoleyPipeline.models(plain.manifest) });
  });
  after(async () => {
    await Promise.all([runner?.close(), plainRunner?.close()]);
    copy.cleanup();
    f.cleanup();
  });

  it("gives the plain bundle's audio with the gate off, and the gated audio no louder anywhere and quieter somewhere", async () => {
    // The contact gate alone: the frame comb after it is not a gain.
    const plain = await renderLive(f.clip, plainRunner, { seed: 7, frameComb: false });
    const off = await renderLive(f.clip, runner, { seed: 7, contactGate: false, frameComb: false });
    assert.deepEqual(off.waveform, plain.waveform);
    const gated = await renderLive(f.clip, runner, { seed: 7, frameComb: false });
    assert.equal(gated.degradedChunks, 0);
    let quieter = 0;
    for (let s = 0; s < plain.waveform.length; s++) {
      assert.ok(
        Math.abs(gated.waveform[s]!) <= Math.abs(plain.waveform[s]!) + 1e-6,
        `sample ${s} is louder gated`,
      );
      if (Math.abs(gated.waveform[s]!) < 0.5 * Math.abs(plain.waveform[s]!)) quieter++;
    }
    assert.ok(quieter > plain.waveform.length / 10, `only ${quieter} samples held down`);
  });
});
