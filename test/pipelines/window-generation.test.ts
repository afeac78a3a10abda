import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import { checkWindowPlan, generateWindows } from '../../pipelines/operators/window-generation.js';
import { FoleyGenerator, resolveGenerationSettings } from '../../src/diffusion/foley-generator.js';
import { sliceLatentFrames } from '../../src/diffusion/latent-frames.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { maxAbsDiff } from '../helpers/tiny-bundle.js';

/** 20-frame windows, 4 frames of overlap, in the tiny bundle's geometry. */
const TINY_WINDOW_PLAN = {
  windowFrames: 20,
  overlapFrames: 4,
  dim: 64,
  latentChannels: 4,
  latentMelBins: 16,
};

describe('generateWindows', () => {
  let runner: InferenceRunner;
  before(async () => {
    runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR));
  });
  after(async () => {
    await runner.close();
  });

  /** 50 frames of sine features in 5 chunks of 10. */
  const sineChunks = (rate: number) => {
    const features = Float32Array.from({ length: 50 * 64 }, (_, i) => Math.sin(i * rate));
    return [0, 1, 2, 3, 4].map((k) => ({
      startFrame: k * 10,
      frames: 10,
      features: features.slice(k * 640, (k + 1) * 640),
    }));
  };
  const seededGenerator = () =>
    new FoleyGenerator(runner, resolveGenerationSettings(runner.bundle.manifest, { seed: 1 }));

  it('plans overlapping windows, keeps each overlap as known latent, and covers every frame', async () => {
    const chunks = sineChunks(0.01);
    const generator = seededGenerator();
    const windows = await lastValueFrom(
      from(chunks).pipe(generateWindows(generator, TINY_WINDOW_PLAN), toArray()),
    );
    assert.deepEqual(
      windows.map((w) => [w.startFrame, w.frames, w.overlapFrames]),
      [
        [0, 20, 0],
        [16, 20, 4],
        [32, 18, 4],
      ],
    );
    for (let k = 1; k < windows.length; k++) {
      const prev = windows[k - 1]!;
      const cur = windows[k]!;
      const tail = sliceLatentFrames(
        prev.latent,
        { channels: 4, frames: prev.frames, melBins: 16 },
        prev.frames - 4,
        4,
      );
      const head = sliceLatentFrames(cur.latent, { channels: 4, frames: cur.frames, melBins: 16 }, 0, 4);
      assert.ok(maxAbsDiff(head, tail) < 1e-6, `window ${k} head differs from the previous tail`);
      assert.equal(cur.waveform.length, cur.frames * 640);
    }
  });

  it('regenerates the last frames of each overlap instead of keeping them', async () => {
    const chunks = sineChunks(0.013);
    const generator = seededGenerator();
    const knownFrames: number[] = [];
    const recording = {
      generate: (request: Parameters<FoleyGenerator['generate']>[0]) => {
        knownFrames.push(request.known?.frames ?? 0);
        return generator.generate(request);
      },
    };
    const windows = await lastValueFrom(
      from(chunks).pipe(
        generateWindows(recording, { ...TINY_WINDOW_PLAN, regeneratedTailFrames: 2 }),
        toArray(),
      ),
    );
    assert.deepEqual(knownFrames, [0, 2, 2]);
    // The crossfade still spans the whole overlap.
    assert.deepEqual(
      windows.map((w) => w.overlapFrames),
      [0, 4, 4],
    );
    const shape = (w: { frames: number }) => ({ channels: 4, frames: w.frames, melBins: 16 });
    for (let k = 1; k < windows.length; k++) {
      const prev = windows[k - 1]!;
      const cur = windows[k]!;
      const kept = sliceLatentFrames(prev.latent, shape(prev), prev.frames - 4, 2);
      const redone = sliceLatentFrames(prev.latent, shape(prev), prev.frames - 2, 2);
      assert.ok(maxAbsDiff(sliceLatentFrames(cur.latent, shape(cur), 0, 2), kept) < 1e-6);
      assert.ok(maxAbsDiff(sliceLatentFrames(cur.latent, shape(cur), 2, 2), redone) > 1e-3);
    }
    assert.throws(
      () => generateWindows(generator, { ...TINY_WINDOW_PLAN, regeneratedTailFrames: -1 }),
      /regeneratedTailFrames must be an integer >= 0/,
    );
  });

  it('generates guard frames before the first window and after the final one only', async () => {
    const features = Float32Array.from({ length: 36 * 64 }, (_, i) => Math.cos(i * 0.02));
    const chunks = [0, 1, 2].map((k) => ({
      startFrame: k * 12,
      frames: 12,
      features: features.slice(k * 12 * 64, (k + 1) * 12 * 64),
    }));
    const generator = new FoleyGenerator(runner, resolveGenerationSettings(runner.bundle.manifest));
    const guards: Array<{ before: number; after: number } | undefined> = [];
    const recording = {
      generate: (request: Parameters<FoleyGenerator['generate']>[0]) => {
        guards.push(request.guard);
        return generator.generate(request);
      },
    };
    const windows = await lastValueFrom(
      from(chunks).pipe(
        generateWindows(recording, { ...TINY_WINDOW_PLAN, clipEdgeGuardFrames: 4 }),
        toArray(),
      ),
    );
    // 36 frames fill two windows exactly; the second is still the final one, made at the end.
    assert.deepEqual(
      windows.map((w) => [w.startFrame, w.frames]),
      [
        [0, 20],
        [16, 20],
      ],
    );
    assert.deepEqual(guards, [
      { before: 4, after: 0 },
      { before: 0, after: 4 },
    ]);
    for (const w of windows) assert.equal(w.waveform.length, w.frames * 640);
  });

  it('generates a clip shorter than one window as a single window', async () => {
    const generator = new FoleyGenerator(runner, resolveGenerationSettings(runner.bundle.manifest));
    const windows = await lastValueFrom(
      from([{ startFrame: 0, frames: 9, features: new Float32Array(9 * 64) }]).pipe(
        generateWindows(generator, TINY_WINDOW_PLAN),
        toArray(),
      ),
    );
    assert.deepEqual(
      windows.map((w) => [w.startFrame, w.frames, w.overlapFrames]),
      [[0, 9, 0]],
    );
  });

  it('rejects an overlap of more than half a window', () => {
    assert.throws(
      () => checkWindowPlan({ windowFrames: 10, overlapFrames: 6 }),
      /overlapFrames must be an integer in 0\.\.5/,
    );
  });
});
