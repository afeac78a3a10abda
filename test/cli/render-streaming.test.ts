import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RenderProgress, readAheadFrames, renderFoley, WHOLE_CLIP } from '../../pipelines/render.js';
import { resolveGenerationSettings } from '../../src/diffusion/foley-generator.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { makeMediaFixtures, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

describe('renderFoley streaming', () => {
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

  const settings = (windowFrames: number, overlapFrames: number) => ({
    generation: resolveGenerationSettings(runner.bundle.manifest, { steps: 1 }),
    windowFrames,
    overlapFrames,
  });

  it('holds decoding back to a bounded lead over the audio generated (8-frame windows over 50 frames)', async () => {
    const progress: RenderProgress[] = [];
    const result = await renderFoley(f.clip, runner, settings(8, 2), { onProgress: (p) => progress.push(p) });
    assert.equal(result.frames, 50);
    const ahead = readAheadFrames({
      windowFrames: 8,
      chunkFrames: 6,
      contextFrames: runner.bundle.manifest.features.contextFrames,
    });
    // Reported during each window's steps: the decoder may lead the window being generated
    // by the allowed lead, never run to the clip's end while the first windows generate.
    const firstWindow = progress.filter((p) => p.framesDone <= 8);
    assert.ok(firstWindow.length > 0);
    for (const p of firstWindow)
      assert.ok(p.framesDecoded < 50, `decoded ${p.framesDecoded} of 50 during window 0`);
    for (const p of progress) {
      assert.ok(
        p.framesDecoded <= Math.ceil(p.framesDone) + 8 + ahead.ofAudio,
        `decoded ${p.framesDecoded} with ${p.framesDone} frames of audio done`,
      );
    }
  });

  it('streams the same track to onAudio as it returns whole, in contiguous pieces', async () => {
    const whole = await renderFoley(f.clip, runner, settings(20, 4));
    const pieces: { startSample: number; samples: Float32Array }[] = [];
    const streamed = await renderFoley(f.clip, runner, settings(20, 4), { onAudio: (c) => pieces.push(c) });
    assert.equal(streamed.waveform.length, 0);
    assert.equal(streamed.samples, whole.samples);
    assert.equal(whole.waveform.length, whole.samples);
    let at = 0;
    for (const c of pieces) {
      assert.equal(c.startSample, at);
      assert.deepEqual(c.samples, whole.waveform.subarray(at, at + c.samples.length));
      at += c.samples.length;
    }
    assert.equal(at, whole.samples);
    const single = await renderFoley(f.clip, runner, settings(WHOLE_CLIP, 0));
    assert.equal(single.samples, 50 * 640);
  });
});
