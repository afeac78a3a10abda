import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { renderLive } from '../../pipelines/live/renderLive.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { makeMediaFixtures, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

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

  it('rejects a file without video with the reader error', async () => {
    await assert.rejects(renderLive(f.audioOnly, runner), /video/i);
  });
});
