import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BundleError, InferenceError, InvalidStateError } from '../../src/errors.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { float32Tensor } from '../../src/models/tensor.js';
import { VideoEncoder } from '../../src/models/video-encoder.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { brokenBundleCopy, loadReference, maxAbsDiff, referenceFrames } from '../helpers/tiny-bundle.js';

describe('InferenceRunner', () => {
  let runner: InferenceRunner;
  before(async () => {
    runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), {
      models: ['video_encoder', 'unet_student', 'vocoder'],
    });
  });
  after(async () => {
    await runner.close();
  });

  it('runs the video encoder off the main thread and matches the reference features', async () => {
    const ref = loadReference();
    const features = await new VideoEncoder(runner).encode(referenceFrames(ref.numFrames), ref.numFrames);
    assert.ok(maxAbsDiff(features, ref.features) < 1e-4);
    assert.ok((runner.runMsByModel.get('video_encoder') ?? 0) > 0);
  });

  it('names model, input, expected and got for a feed with the wrong dtype', async () => {
    await assert.rejects(
      runner.run('unet_student', {
        z_t: float32Tensor(new Float32Array(4 * 4 * 16), [1, 4, 4, 16]),
        timestep: { dtype: 'int64', dims: [1], data: new BigInt64Array([1n]) },
        video_features: float32Tensor(new Float32Array(4 * 64), [1, 4, 64]),
      }),
      (e: unknown) => {
        assert.ok(e instanceof InferenceError);
        assert.equal(
          e.message,
          '[bundle:unet_student, input:timestep] expected float32 [batch], got int64 [1]',
        );
        return true;
      },
    );
  });

  it('rejects inconsistent symbolic sizes across inputs', async () => {
    await assert.rejects(
      runner.run('unet_student', {
        z_t: float32Tensor(new Float32Array(4 * 4 * 16), [1, 4, 4, 16]),
        timestep: float32Tensor(new Float32Array([1]), [1]),
        video_features: float32Tensor(new Float32Array(8 * 64), [1, 8, 64]),
      }),
      /input:video_features\] expected float32 \[batch, frames, 64\] with frames = 4/,
    );
  });

  it('refuses a model it did not load, listing what is loaded', async () => {
    await assert.rejects(
      runner.run('latent_decoder', {}),
      /not loaded; loaded: video_encoder, unet_student, vocoder/,
    );
  });
});

describe('InferenceRunner queue', () => {
  const mel = () => ({ mel: float32Tensor(new Float32Array(64 * 800), [1, 64, 800]) });

  it('serves queued runs earliest deadline first, runs without one last in arrival order', async () => {
    const runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), { models: ['vocoder'] });
    try {
      const order: string[] = [];
      const track = (name: string, p: Promise<unknown>) => p.then(() => order.push(name));
      // The first run goes to the idle worker at once; the rest wait in the queue.
      const runs = [
        track('busy', runner.run('vocoder', mel())),
        track('late', runner.run('vocoder', mel(), { deadlineMs: 5000 })),
        track('none-1', runner.run('vocoder', mel())),
        track('soon', runner.run('vocoder', mel(), { deadlineMs: 10 })),
        track('none-2', runner.run('vocoder', mel())),
      ];
      assert.equal(runner.queuedRuns, 4);
      await Promise.all(runs);
      assert.deepEqual(order, ['busy', 'soon', 'late', 'none-1', 'none-2']);
    } finally {
      await runner.close();
    }
  });

  it('reports the time a run waited for the worker', async () => {
    const runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), { models: ['vocoder'] });
    try {
      const [first, second] = await Promise.all([runner.run('vocoder', mel()), runner.run('vocoder', mel())]);
      assert.ok(
        second.queuedMs >= first.runMs * 0.5,
        `queued ${second.queuedMs} ms, first ran ${first.runMs} ms`,
      );
      assert.ok(first.queuedMs < second.queuedMs);
    } finally {
      await runner.close();
    }
  });

  it('with two workers runs two requests at once, with the same results as one worker', async () => {
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    const pool = await InferenceRunner.start(bundle, { models: ['vocoder'], workers: 2 });
    const single = await InferenceRunner.start(bundle, { models: ['vocoder'] });
    try {
      assert.equal(pool.workerCount, 2);
      const input = new Float32Array(64 * 400).map((_, i) => Math.sin(i / 7));
      const feeds = () => ({ mel: float32Tensor(input, [1, 64, 400]) });
      const both = [pool.run('vocoder', feeds()), pool.run('vocoder', feeds())];
      assert.equal(pool.queuedRuns, 0);
      const [a, b] = await Promise.all(both);
      const ref = await single.run('vocoder', feeds());
      const want = ref.outputs.waveform!.data as Float32Array;
      for (const r of [a!, b!]) assert.ok(maxAbsDiff(r.outputs.waveform!.data as Float32Array, want) < 1e-5);
    } finally {
      await pool.close();
      await single.close();
    }
  });

  it('rejects a worker count that is not a positive integer', async () => {
    await assert.rejects(
      InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), { models: ['vocoder'], workers: 0 }),
      /workers must be an integer from 1 to 64, got 0/,
    );
  });
});

describe('InferenceRunner lifecycle', () => {
  it('rejects pending runs on close, is safe to close twice, and refuses runs after close', async () => {
    const runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), { models: ['vocoder'] });
    const pending = runner.run('vocoder', { mel: float32Tensor(new Float32Array(64 * 400), [1, 64, 400]) });
    const closing = runner.close();
    await assert.rejects(
      pending,
      (e: unknown) => e instanceof InvalidStateError && /run\("vocoder"\) id 1/.test(e.message),
    );
    await closing;
    await runner.close();
    await assert.rejects(runner.run('vocoder', {}), InvalidStateError);
  });

  it('fails to start on a bundle whose manifest shape disagrees with the ONNX file', async () => {
    const copy = brokenBundleCopy((m) => {
      const models = m.models as Record<string, { inputs: { shape: unknown[] }[] }>;
      models.unet_student!.inputs[0]!.shape = ['batch', 4, 'frames', 8];
    });
    try {
      await assert.rejects(InferenceRunner.start(await loadBundle(copy.dir)), (e: unknown) => {
        assert.ok(e instanceof BundleError);
        assert.match(
          e.message,
          /\[bundle:tiny-random, model:unet_student, input:z_t\] manifest shape \[batch, 4, frames, 8\] disagrees with the ONNX file's \[batch, 4, frames, 16\] at axis 3/,
        );
        return true;
      });
    } finally {
      copy.cleanup();
    }
  });

  it('fails to start when a manifest input name is not in the ONNX file', async () => {
    const copy = brokenBundleCopy((m) => {
      const models = m.models as Record<string, { inputs: { name: string }[] }>;
      models.vocoder!.inputs[0]!.name = 'spectrogram';
    });
    try {
      await assert.rejects(
        InferenceRunner.start(await loadBundle(copy.dir), { models: ['vocoder'] }),
        /model:vocoder, file:vocoder\.onnx\] manifest input "spectrogram" is not in the ONNX file, which has inputs \[mel\]/,
      );
    } finally {
      copy.cleanup();
    }
  });

  it('fails to start with a clear error for an ONNX file that is not a model', async () => {
    const copy = brokenBundleCopy(() => undefined);
    try {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`${copy.dir}/vocoder.onnx`, 'not an onnx file');
      await assert.rejects(
        InferenceRunner.start(await loadBundle(copy.dir), { models: ['vocoder'] }),
        /\[bundle:tiny-random, model:vocoder, file:vocoder\.onnx\] ONNX Runtime cannot load/,
      );
    } finally {
      copy.cleanup();
    }
  });
});
