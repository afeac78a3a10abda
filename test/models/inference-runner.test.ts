import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SamplingJob } from '../../src/diffusion/sampling-job.js';
import { BundleError, InferenceError, InvalidStateError } from '../../src/errors.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner, SAMPLING_JOB_KEY } from '../../src/models/inference-runner.js';
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

describe('InferenceRunner sampling jobs', () => {
  const shape = { channels: 4, frames: 8, melBins: 16 };
  const job = (over: Partial<SamplingJob> = {}): SamplingJob => ({
    unet: 'unet_student',
    unetFeatures: new Float32Array(8 * 64).fill(0.1),
    features: new Float32Array(8 * 64).fill(0.1),
    shape,
    steps: 2,
    cfgScale: 1.5,
    cgScale: 0,
    restarts: 0,
    restartMaxTimestep: 999,
    noise: new Float32Array(4 * 8 * 16).fill(0.5),
    restartNoise: [],
    ...over,
  });

  it('refuses a job whose models are not loaded, and names the model of a bad feed from the worker', async () => {
    const runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), {
      models: ['unet_student'],
    });
    try {
      const done = await runner.sample(job());
      assert.equal(done.latent.length, 4 * 8 * 16);
      await assert.rejects(
        runner.sample(job({ cgScale: 0.5 })),
        /sampling needs model\(s\) align_classifier, not loaded/,
      );
      await assert.rejects(
        runner.sample(job({ unetFeatures: new Float32Array(8 * 3) })),
        (e: unknown) => e instanceof InferenceError && /unet_student/.test(e.message),
      );
      // A restart without its noise is named, and the worker goes on serving.
      await assert.rejects(runner.sample(job({ restarts: 1 })), /restart 0 needs 512 values of fresh noise/);
      assert.equal((await runner.sample(job())).latent.length, 4 * 8 * 16);
    } finally {
      await runner.close();
    }
    await assert.rejects(runner.sample(job()), InvalidStateError);
  });

  it('with batching samples queued jobs of one plan together, each with the latent it gets alone', async () => {
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    const models = ['unet_student', 'align_classifier', 'vocoder'];
    const batched = await InferenceRunner.start(bundle, { models, batching: { maxRuns: 3 } });
    const alone = await InferenceRunner.start(bundle, { models });
    const size = 4 * 8 * 16;
    const wave = (seed: number, n: number) => new Float32Array(n).map((_, i) => Math.sin(seed * 11 + i / 7));
    // Classifier guidance and one restart: every kind of call a full-level window makes.
    const planned = (seed: number, over: Partial<SamplingJob> = {}) =>
      job({
        unetFeatures: wave(seed + 1, 8 * 64),
        features: wave(seed + 2, 8 * 64),
        noise: wave(seed, size),
        steps: 3,
        cgScale: 0.5,
        restarts: 1,
        restartMaxTimestep: 999,
        restartNoise: [3, 4, 5].map((k) => wave(seed + k, size)), // more than the passes need
        ...over,
      });
    try {
      // The first job takes the idle worker; of those queued behind it, the three of one
      // plan go as one call (maxRuns 3) and the one with another step count alone.
      const busy = batched.run('vocoder', {
        mel: float32Tensor(new Float32Array(64 * 800).fill(0.1), [1, 64, 800]),
      });
      const other = batched.sample(planned(9, { steps: 2, restarts: 0, restartNoise: [] }));
      const jobs = [1, 2, 3].map((seed) => batched.sample(planned(seed)));
      const results = await Promise.all(jobs);
      assert.equal((await other).batchJobs, 1);
      await busy;
      for (const [i, r] of results.entries()) {
        assert.equal(r.batchJobs, 3);
        const single = await alone.sample(planned(i + 1));
        assert.equal(single.batchJobs, 1);
        const diff = maxAbsDiff(r.latent, [...single.latent]);
        assert.ok(diff < 1e-4, `job ${i}: max difference ${diff}`);
      }
      const loops = batched.statsByModel.get(SAMPLING_JOB_KEY)!;
      assert.equal(loops.callsByBatchRuns[3], 1);
      // Every UNet and classifier call of the merged loops served all three.
      for (const model of ['unet_student', 'align_classifier']) {
        const stats = batched.statsByModel.get(model)!;
        assert.ok(
          (stats.callsByBatchRuns[3] ?? 0) > 0,
          `${model}: ${JSON.stringify(stats.callsByBatchRuns)}`,
        );
        assert.equal(stats.runs, stats.runsInJobs);
      }
      // A bad job fails the jobs merged with it, by name; the worker goes on serving.
      const blocker = batched.sample(planned(4));
      const merged = [
        batched.sample(planned(5)),
        batched.sample(planned(6, { unetFeatures: new Float32Array(8 * 3) })),
      ];
      await blocker;
      for (const p of merged) {
        await assert.rejects(
          p,
          (e: unknown) => e instanceof InferenceError && /batched run.*of 2 runs/.test(e.message),
        );
      }
      assert.equal((await batched.sample(planned(7))).batchJobs, 1);
    } finally {
      await batched.close();
      await alone.close();
    }
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

describe('InferenceRunner batching', () => {
  const unetFeeds = (frames: number, seed: number) => ({
    z_t: float32Tensor(
      new Float32Array(4 * frames * 16).map((_, i) => Math.sin(seed * 13 + i / 5)),
      [2, 4, frames / 2, 16],
    ),
    timestep: float32Tensor(new Float32Array([100 * seed, 100 * seed]), [2]),
    video_features: float32Tensor(
      new Float32Array(frames * 64).map((_, i) => Math.cos(seed * 7 + i / 3)),
      [2, frames / 2, 64],
    ),
  });
  const mel = (frames: number) => ({
    mel: float32Tensor(new Float32Array(64 * frames).fill(0.1), [1, 64, frames]),
  });

  it('merges compatible queued runs into one call whose outputs equal the unbatched ones per caller', async () => {
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    const batched = await InferenceRunner.start(bundle, {
      models: ['unet_student', 'vocoder'],
      batching: {},
    });
    // Today's default: no batching.
    const unbatched = await InferenceRunner.start(bundle, { models: ['unet_student', 'vocoder'] });
    assert.equal(unbatched.batching, null);
    try {
      // The first run takes the idle worker; the three queued behind it go as one call.
      const busy = batched.run('vocoder', mel(800));
      const runs = [1, 2, 3].map((seed) => batched.run('unet_student', unetFeeds(16, seed)));
      const results = await Promise.all(runs);
      await busy;
      for (const [i, r] of results.entries()) {
        assert.equal(r.batchRuns, 3);
        assert.deepEqual(r.outputs.eps!.dims, [2, 4, 8, 16]);
        const alone = await unbatched.run('unet_student', unetFeeds(16, i + 1));
        assert.equal(alone.batchRuns, 1);
        const diff = maxAbsDiff(r.outputs.eps!.data as Float32Array, [
          ...(alone.outputs.eps!.data as Float32Array),
        ]);
        assert.ok(diff < 1e-4, `caller ${i}: max difference ${diff}`);
      }
      const stats = batched.statsByModel.get('unet_student')!;
      assert.deepEqual(stats.callsByBatchRuns, { 3: 1 });
      assert.equal(stats.runs, 3);
      assert.equal(unbatched.statsByModel.get('unet_student')!.calls, 3);
    } finally {
      await batched.close();
      await unbatched.close();
    }
  });

  it('merges only runs with the same model and non-batch dims, due within the window, up to maxRuns', async () => {
    const runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), {
      models: ['unet_student', 'vocoder'],
      batching: { maxRuns: 2, deadlineWindowMs: 50 },
    });
    try {
      const busy = runner.run('vocoder', mel(800));
      const batchRuns = (p: Promise<{ batchRuns: number }>) => p.then((r) => r.batchRuns);
      const runs = [
        batchRuns(runner.run('unet_student', unetFeeds(16, 1), { deadlineMs: 100 })),
        batchRuns(runner.run('vocoder', mel(400), { deadlineMs: 110 })), // other model
        batchRuns(runner.run('unet_student', unetFeeds(32, 2), { deadlineMs: 120 })), // other frames
        batchRuns(runner.run('unet_student', unetFeeds(16, 3), { deadlineMs: 130 })), // joins the first
        batchRuns(runner.run('unet_student', unetFeeds(16, 4), { deadlineMs: 140 })), // over maxRuns
        batchRuns(runner.run('vocoder', mel(400), { deadlineMs: 200 })), // past 110 + 50
      ];
      await busy;
      assert.deepEqual(await Promise.all(runs), [2, 1, 1, 2, 1, 1]);
    } finally {
      await runner.close();
    }
  });

  it('keeps earliest deadline first: a merged call is led by the most urgent run', async () => {
    const runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), {
      models: ['vocoder'],
      batching: {},
    });
    try {
      const order: string[] = [];
      const track = (name: string, p: Promise<unknown>) => p.then(() => order.push(name));
      const runs = [
        track('busy', runner.run('vocoder', mel(800))),
        track('later-400', runner.run('vocoder', mel(400), { deadlineMs: 1000 })),
        track('soon-800', runner.run('vocoder', mel(800), { deadlineMs: 10 })),
        track('soon-400', runner.run('vocoder', mel(400), { deadlineMs: 20 })),
        track('soon-800b', runner.run('vocoder', mel(800), { deadlineMs: 30 })),
      ];
      await Promise.all(runs);
      // soon-800 and soon-800b share shapes and a window; soon-400 is next most urgent;
      // later-400 is outside the window of soon-400 (20 + 160 < 1000).
      assert.deepEqual(order, ['busy', 'soon-800', 'soon-800b', 'soon-400', 'later-400']);
    } finally {
      await runner.close();
    }
  });

  it('with a gather delay, runs queued while the worker is idle wait for each other', async () => {
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    const gathering = await InferenceRunner.start(bundle, {
      models: ['vocoder'],
      batching: { gatherDelayMs: 20 },
    });
    const eager = await InferenceRunner.start(bundle, { models: ['vocoder'], batching: {} });
    try {
      const gathered = await Promise.all([
        gathering.run('vocoder', mel(400)),
        gathering.run('vocoder', mel(400)),
      ]);
      assert.deepEqual(
        gathered.map((r) => r.batchRuns),
        [2, 2],
      );
      const immediate = await Promise.all([eager.run('vocoder', mel(400)), eager.run('vocoder', mel(400))]);
      assert.deepEqual(
        immediate.map((r) => r.batchRuns),
        [1, 1],
      );
    } finally {
      await gathering.close();
      await eager.close();
    }
  });

  it('rejects every run of a failed merged call with an error naming the model and the runs', async () => {
    const runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), {
      models: ['unet_student', 'vocoder'],
      batching: {},
    });
    try {
      const busy = runner.run('vocoder', mel(800));
      // 5 frames pass the manifest check but the tiny UNet's downsampling cannot take them.
      const odd = () => ({
        z_t: float32Tensor(new Float32Array(4 * 5 * 16), [1, 4, 5, 16]),
        timestep: float32Tensor(new Float32Array([1]), [1]),
        video_features: float32Tensor(new Float32Array(5 * 64), [1, 5, 64]),
      });
      const failing = [runner.run('unet_student', odd()), runner.run('unet_student', odd())];
      await busy;
      await Promise.all(
        failing.map((p) =>
          assert.rejects(p, (e: unknown) => {
            assert.ok(e instanceof InferenceError);
            assert.match(
              e.message,
              /batched run\("unet_student"\) of 2 runs \(ids 2, 3\) failed: .*model:unet_student/,
            );
            return true;
          }),
        ),
      );
      // The runner keeps serving afterwards.
      assert.equal((await runner.run('vocoder', mel(400))).batchRuns, 1);
    } finally {
      await runner.close();
    }
  });

  it('close() rejects the runs of a merged call in flight and those still queued', async () => {
    const runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), {
      models: ['vocoder'],
      batching: {},
    });
    const busy = runner.run('vocoder', mel(800));
    const merged = [
      runner.run('vocoder', mel(400)),
      runner.run('vocoder', mel(400)),
      runner.run('vocoder', mel(400)),
    ];
    const mergedSettled = Promise.allSettled(merged);
    await busy; // the three queued behind it now run as one call
    assert.equal(runner.queuedRuns, 0);
    const queued = runner.run('vocoder', mel(800));
    const settled = Promise.allSettled([...merged, queued]);
    await runner.close();
    const outcomes = await settled;
    await mergedSettled;
    for (const [i, o] of outcomes.entries()) {
      assert.equal(o.status, 'rejected', `run ${i + 2}`);
      assert.ok((o as PromiseRejectedResult).reason instanceof InvalidStateError);
      assert.match(
        (o as PromiseRejectedResult).reason.message,
        new RegExp(`id ${i + 2} rejected: runner close`),
      );
    }
  });

  it('refuses batching options that make no sense, naming the option', async () => {
    await assert.rejects(
      InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), {
        models: ['vocoder'],
        batching: { maxRuns: 0 },
      }),
      /batching\.maxRuns must be an integer >= 1, got 0/,
    );
  });
});
