import assert from 'node:assert/strict';
import {
  copyFileSync,
  linkSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  FoleyGenerator,
  resolveGenerationSettings,
  type WindowResult,
} from '../../src/diffusion/foley-generator.js';
import { sliceLatentFrames } from '../../src/diffusion/latent-frames.js';
import type { SamplingJob } from '../../src/diffusion/sampling-job.js';
import { raiseColumnAround, silentOpenings, spliceMelAround } from '../../src/diffusion/silent-openings.js';
import {
  applyContactGate,
  applyReattackLimit,
  contactGainsDb,
  contactOpenings,
  contactProbabilities,
  reattackGains,
} from '../../src/dsp/contact-gate.js';
import { applyFrameComb } from '../../src/dsp/frame-comb.js';
import { applyMelGate } from '../../src/dsp/mel-gate.js';
import { UsageError } from '../../src/errors.js';
import { loadBundle, packageRoot } from '../../src/models/bundle.js';
import { InferenceRunner, SAMPLING_JOB_KEY } from '../../src/models/inference-runner.js';
import { featureRowDim, type Manifest, samplesPerFrame, unetFeatureDim } from '../../src/models/manifest.js';
import { uint8Tensor } from '../../src/models/tensor.js';
import { VideoEncoder } from '../../src/models/video-encoder.js';
import { Vocoder } from '../../src/models/vocoder.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import {
  brokenBundleCopy,
  contactStudentBundleCopy,
  detectorBundleCopy,
  loadReference,
  maxAbsDiff,
  maxScaledDiff,
  type Reference,
} from '../helpers/tiny-bundle.js';

/** A hard link where the folders share a file system, else a copy (bundles refuse symlinks). */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/**
 * Video features [frames, dim] as the generator's rows for the bundle: with a 0 in the contact
 * detector's column when its gate reads one (the reference has no gate).
 */
function featureRows(features: ArrayLike<number>, m: Manifest): Float32Array {
  const dim = m.features.dim;
  const rowDim = featureRowDim(m);
  const values = Float32Array.from(features);
  const frames = values.length / dim;
  const rows = new Float32Array(frames * rowDim);
  for (let t = 0; t < frames; t++) rows.set(values.subarray(t * dim, (t + 1) * dim), t * rowDim);
  return rows;
}

/** The same noise through the TS sampler gives the Python latent, mel and waveform. */
function parityCases(
  ref: Reference,
  runner: () => InferenceRunner,
  diffOf: (a: ArrayLike<number>, b: ArrayLike<number>) => number,
  tolerance: string,
): void {
  for (const c of ref.cases) {
    const restarts = c.restarts ?? 0;
    it(`reproduces the ${c.unet} latent within ${tolerance} (steps ${c.steps}, ω ${c.cfgScale}, γ ${c.cgScale}, restarts ${restarts})`, async () => {
      const g = new FoleyGenerator(runner(), {
        unet: c.unet,
        steps: c.steps,
        cfgScale: c.cfgScale,
        cgScale: c.cgScale,
        restarts,
        restartMaxTimestep: c.restartMaxTimestep ?? 999,
        seed: 0,
        // The reference is the Python pipeline, which has no gate.
        melGate: false,
        contactGate: false,
        frameComb: false,
      });
      const r = await g.generate({
        startFrame: 0,
        features: featureRows(ref.features, runner().bundle.manifest),
        noise: Float32Array.from(ref.noise),
        restartNoise: (c.restartNoise ?? []).map((n) => Float32Array.from(n)),
      });
      const diff = diffOf(r.latent, c.latent);
      assert.ok(diff < 1e-4, `latent error ${diff} (max |Δ| ${maxAbsDiff(r.latent, c.latent)})`);
      if (c === ref.cases[0]) {
        assert.ok(maxAbsDiff(r.mel, ref.mel) < 1e-4, 'mel');
        assert.ok(maxAbsDiff(r.waveform, ref.waveform) < 1e-4, 'waveform');
      }
    });
  }
}

describe('FoleyGenerator against the Python reference (tiny-random)', () => {
  let runner: InferenceRunner;
  const ref = loadReference();
  before(async () => {
    runner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR), {
      models: ['unet_student', 'unet_teacher', 'align_classifier', 'latent_decoder', 'vocoder'],
    });
  });
  after(async () => {
    await runner.close();
  });

  parityCases(ref, () => runner, maxScaledDiff, '1e-4 (relative above |1|)');

  it('keeps known frames exactly and still denoises the rest', async () => {
    const g = new FoleyGenerator(runner, resolveGenerationSettings(runner.bundle.manifest, { seed: 5 }));
    const features = Float32Array.from(ref.features);
    const free = await g.generate({ startFrame: 0, features });
    const shape = { channels: 4, frames: ref.numFrames, melBins: 16 };
    const known = { latent: sliceLatentFrames(free.latent, shape, 0, 4).map((x) => x + 0.5), frames: 4 };
    const r = await g.generate({ startFrame: 0, features, known });
    assert.ok(maxAbsDiff(sliceLatentFrames(r.latent, shape, 0, 4), known.latent) < 1e-6);
    assert.ok(
      maxAbsDiff(sliceLatentFrames(r.latent, shape, 4, 4), sliceLatentFrames(free.latent, shape, 4, 4)) > 0,
    );
  });

  for (const restarts of [0, 1])
    it(`generates guard frames from the edge features and cuts them off (restarts ${restarts})`, async () => {
      const g = new FoleyGenerator(
        runner,
        resolveGenerationSettings(runner.bundle.manifest, { seed: 3, restarts, restartMaxTimestep: 800 }),
      );
      const dim = 64;
      const features = Float32Array.from(ref.features).subarray(0, 8 * dim);
      const guarded = await g.generate({ startFrame: 10, features, guard: { before: 4, after: 4 } });
      // The same as generating frames 6..18 with the first and last feature repeated, then cutting.
      const extended = new Float32Array(16 * dim);
      for (let i = 0; i < 16; i++) {
        const src = Math.min(Math.max(i - 4, 0), 7);
        extended.set(features.subarray(src * dim, (src + 1) * dim), i * dim);
      }
      const wide = await g.generate({ startFrame: 6, features: extended });
      assert.equal(guarded.frames, 8);
      assert.ok(
        maxAbsDiff(
          guarded.latent,
          sliceLatentFrames(wide.latent, { channels: 4, frames: 16, melBins: 16 }, 4, 8),
        ) < 1e-6,
      );
      assert.ok(maxAbsDiff(guarded.waveform, wide.waveform.subarray(4 * 640, 12 * 640)) < 1e-6);
      const plain = await g.generate({ startFrame: 10, features });
      assert.ok(maxAbsDiff(plain.waveform, guarded.waveform) > 1e-4, 'the guard changed nothing');
      await assert.rejects(
        g.generate({
          startFrame: 10,
          features,
          guard: { before: 4, after: 0 },
          known: { latent: new Float32Array(4 * 2 * 16), frames: 2 },
        }),
        /known head latent/,
      );
    });

  it('draws restart noise by absolute frame: the same window and initial noise elsewhere in the stream differ', async () => {
    const features = Float32Array.from(ref.features);
    const noise = Float32Array.from(ref.noise);
    const at = async (restarts: number, startFrame: number) =>
      (
        await new FoleyGenerator(
          runner,
          resolveGenerationSettings(runner.bundle.manifest, { restarts, restartMaxTimestep: 800 }),
        ).generate({ startFrame, features, noise })
      ).latent;
    assert.deepEqual([...(await at(0, 10))], [...(await at(0, 12))]); // no restarts: startFrame only picks noise
    assert.ok(maxAbsDiff(await at(1, 10), await at(1, 12)) > 1e-4);
  });

  it("takes a window's own sampling settings, as a generator made with them would, and passes its deadline to every run and sampling job", async () => {
    const m = runner.bundle.manifest;
    const features = Float32Array.from(ref.features);
    const sampling = { steps: 2, cfgScale: 1.5, cgScale: 0.5, restarts: 1 };
    const made = await new FoleyGenerator(
      runner,
      resolveGenerationSettings(m, { seed: 3, ...sampling }),
    ).generate({
      startFrame: 0,
      features,
    });
    const deadlines: Array<[string, number | undefined]> = [];
    const recording = new Proxy(runner, {
      get(target, prop) {
        if (prop === 'run')
          return (model: string, feeds: never, options?: { deadlineMs?: number }) => {
            deadlines.push([model, options?.deadlineMs]);
            return target.run(model, feeds, options);
          };
        if (prop === 'sample')
          return (job: SamplingJob, options?: { deadlineMs?: number }) => {
            deadlines.push([SAMPLING_JOB_KEY, options?.deadlineMs]);
            return target.sample(job, options);
          };
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const generator = new FoleyGenerator(recording, resolveGenerationSettings(m, { seed: 3 }));
    const r = await generator.generate({ startFrame: 0, features, sampling, deadlineMs: 1234 });
    assert.deepEqual([...r.waveform], [...made.waveform]);
    // The sampling loop is one job (in a worker); the decoder and vocoder are runs of their own.
    assert.deepEqual(
      deadlines.map(([model]) => model),
      [SAMPLING_JOB_KEY, 'latent_decoder', 'vocoder'],
    );
    assert.ok(deadlines.every(([, deadlineMs]) => deadlineMs === 1234));
  });

  it('samples the same in the worker as step by step on this thread (a caller that follows the steps)', async () => {
    const m = runner.bundle.manifest;
    const features = Float32Array.from(ref.features);
    const g = new FoleyGenerator(
      runner,
      resolveGenerationSettings(m, { seed: 5, steps: 3, cfgScale: 2, cgScale: 0.5, restarts: 2 }),
    );
    const known = { latent: new Float32Array(4 * 4 * 16).fill(0.25), frames: 4 };
    runner.resetTimings();
    const inWorker = await g.generate({ startFrame: 8, features, known });
    const job = runner.statsByModel.get(SAMPLING_JOB_KEY);
    assert.equal(job?.calls, 1, 'one sampling job');
    // 3 steps, 2 restarts at each but the last (t <= restartMaxTimestep): 7 UNet and 7 classifier calls.
    assert.equal(runner.statsByModel.get(m.sampling.unet)?.calls, 7);
    assert.equal(runner.statsByModel.get('align_classifier')?.calls, 7);
    assert.equal(runner.statsByModel.get(m.sampling.unet)?.runsInJobs, 7, 'counted as made inside a job');
    assert.equal(runner.statsByModel.get('latent_decoder')?.runsInJobs, 0);
    const steps: number[] = [];
    const followed = await g.generate({ startFrame: 8, features, known }, (step) => steps.push(step.index));
    assert.deepEqual(steps, [0, 1, 2]);
    assert.equal(runner.statsByModel.get(SAMPLING_JOB_KEY)?.calls, 1, 'no job when the steps are followed');
    assert.deepEqual([...followed.latent], [...inWorker.latent]);
    assert.deepEqual([...followed.waveform], [...inWorker.waveform]);
  });

  it('pads a window that is not a time multiple and trims the result', async () => {
    const g = new FoleyGenerator(runner, resolveGenerationSettings(runner.bundle.manifest));
    const r = await g.generate({
      startFrame: 0,
      features: Float32Array.from(ref.features).subarray(0, 7 * 64),
    });
    assert.equal(r.frames, 7);
    assert.equal(r.waveform.length, 7 * 640);
    assert.equal(r.latent.length, 4 * 7 * 16);
  });

  it('rejects settings outside the bundle', () => {
    assert.throws(() => resolveGenerationSettings(runner.bundle.manifest, { unet: 'unet_x' }), UsageError);
    assert.throws(
      () => resolveGenerationSettings(runner.bundle.manifest, { steps: 0 }),
      /--steps must be an integer/,
    );
    assert.throws(
      () => resolveGenerationSettings(runner.bundle.manifest, { restarts: 5 }),
      /--restarts must be an integer in 0\.\.4, got 5/,
    );
  });
});

describe('FoleyGenerator against the Python reference (trained default bundle)', () => {
  const dir = join(packageRoot(), 'models', 'default');
  let runner: InferenceRunner;
  const ref = loadReference(dir);
  before(async () => {
    const bundle = await loadBundle(dir);
    runner = await InferenceRunner.start(bundle, {
      models: [...InferenceRunner.renderModels(bundle), 'unet_teacher'],
    });
  });
  after(async () => {
    await runner.close();
  });

  parityCases(ref, () => runner, maxAbsDiff, '1e-4 absolute');

  it('samples the openings it left silent again with the column raised there, and takes that stretch of mel from the second pass', async () => {
    const m = runner.bundle.manifest;
    const gain = m.sampling.silentOpeningGain;
    assert.ok(gain !== null && gain > 1);
    // The same bundle with one pass: a copy without the field (its files linked, not copied).
    const root = mkdtempSync(join(tmpdir(), 'foley-default-'));
    for (const f of readdirSync(dir, { withFileTypes: true }))
      if (f.isFile()) linkOrCopy(join(dir, f.name), join(root, f.name));
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    delete manifest.sampling.silentOpeningGain;
    rmSync(join(root, 'manifest.json'));
    writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
    const plainRunner = await InferenceRunner.start(await loadBundle(root));
    try {
      // A still black picture with the detector's column raised at three frames: the student
      // makes no sound there (as on scenes it does not know), so the gate would open on silence.
      const frames = 48;
      const black = new Uint8Array(frames * m.video.height * m.video.width * 3);
      const rows = await new VideoEncoder(runner).encode(black, frames);
      const dim = featureRowDim(m);
      const peaks = [12, 24, 36];
      for (const t of peaks) rows[(t + 1) * dim - 1] = 0.95;
      const settings = resolveGenerationSettings(m);
      const generate = (r: InferenceRunner, features: Float32Array) =>
        new FoleyGenerator(r, settings).generate({ startFrame: 0, features });
      const first = await generate(plainRunner, rows);
      const melFrames = frames * m.latent.melFramesPerLatentFrame;
      const vocoded = await new Vocoder(plainRunner).synthesize(first.mel, melFrames);
      const silent = silentOpenings(
        peaks,
        m.video.fps,
        first.mel,
        melFrames,
        vocoded,
        m.sampling.silentOpeningMaxDbfs,
        m.audio,
      );
      assert.ok(silent.length > 0, 'the student left an opening silent');
      const second = await generate(plainRunner, raiseColumnAround(rows, dim, silent, gain));
      const melRate = m.audio.sampleRate / m.audio.hopSamples;
      const expected = spliceMelAround(
        first.mel,
        second.mel,
        m.audio.melBins,
        melFrames,
        silent,
        m.video.fps,
        melRate,
      );
      const given = rows.slice();
      const got = await generate(runner, rows);
      assert.deepEqual(rows, given);
      assert.ok(maxAbsDiff(got.mel, expected) < 1e-5);
      assert.deepEqual(got.latent, first.latent); // the first pass's latent goes on (a live chunk's context)
      // The point of it: sound where the gate opens.
      const spf = samplesPerFrame(m);
      const energy = (x: Float32Array) =>
        silent.reduce((a, t) => a + x.subarray(t * spf, (t + 3) * spf).reduce((b, v) => b + v * v, 0), 0);
      assert.ok(energy(got.waveform) > 10 * energy(first.waveform), 'louder at the silent openings');
    } finally {
      await plainRunner.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('gates the vocoder output by its mel by default: the silent middle of a still black picture comes out >= 15 dB quieter', async () => {
    const m = runner.bundle.manifest;
    const { width, height } = m.video;
    const frames = 48;
    const black = new Uint8Array(frames * height * width * 3);
    const request = { startFrame: 0, features: await new VideoEncoder(runner).encode(black, frames) };
    // The mel gate alone: a contact gate would hold the still picture down as well.
    const settings = { ...resolveGenerationSettings(m), contactGate: false, frameComb: false };
    assert.equal(settings.melGate, true);
    const gated = await new FoleyGenerator(runner, settings).generate(request);
    const plain = await new FoleyGenerator(runner, { ...settings, melGate: false }).generate(request);
    assert.deepEqual(gated.mel, plain.mel);
    const melFrames = frames * m.latent.melFramesPerLatentFrame;
    assert.ok(maxAbsDiff(gated.waveform, applyMelGate(plain.waveform, plain.mel, melFrames, m.audio)) < 1e-7);
    const rms = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    // The model sounds the window's first frames (its zero-padded edge); its mel is at the floor
    // (within 3 dB) in frames 24..44.
    const spf = samplesPerFrame(m);
    const middle = (x: Float32Array) => x.subarray(24 * spf, 44 * spf);
    const changeDb = 20 * Math.log10(rms(middle(gated.waveform)) / rms(middle(plain.waveform)));
    assert.ok(changeDb <= -15, `silence changed by ${changeDb.toFixed(1)} dB`);
  });

  it("combs the frame-rate tone out of quiet stretches by default, after the gates and before the gate's re-attack limit", async () => {
    const m = runner.bundle.manifest;
    assert.ok(m.contactGate?.reattack, 'the default bundle limits re-attacks');
    const frames = 24;
    const video = new Uint8Array(frames * m.video.height * m.video.width * 3).map((_, i) => (i * 13) % 251);
    const request = { startFrame: 0, features: await new VideoEncoder(runner).encode(video, frames) };
    const settings = resolveGenerationSettings(m);
    assert.equal(settings.frameComb, true);
    const combed = await new FoleyGenerator(runner, settings).generate(request);
    const melGated = await new FoleyGenerator(runner, {
      ...settings,
      frameComb: false,
      contactGate: false,
    }).generate(request);
    assert.deepEqual(combed.mel, melGated.mel);
    // No guard frames: the gate, the comb and the limit see the same samples as on the returned waveform.
    const melFrames = frames * m.latent.melFramesPerLatentFrame;
    const ungated = await new FoleyGenerator(runner, {
      ...settings,
      frameComb: false,
      melGate: false,
      contactGate: false,
    }).generate(request);
    const [dim, spf, rate] = [featureRowDim(m), samplesPerFrame(m), m.audio.sampleRate];
    const probs = contactProbabilities(request.features, dim, m.contactGate!);
    const gated = applyContactGate(melGated.waveform, probs, spf, rate, m.contactGate!);
    const comb = applyFrameComb(gated, melGated.mel, melFrames, m.audio, { ungated: ungated.waveform });
    const expected = applyReattackLimit(comb, probs, spf, rate, m.contactGate!);
    assert.ok(maxAbsDiff(combed.waveform, expected) < 1e-7);
    assert.ok(maxAbsDiff(comb, gated) > 0, 'the comb changed nothing');
  });
});

describe('FoleyGenerator with a bundle that has a contact gate', () => {
  // Weights 0 and a high bias: every frame reads as a contact, so the gate opens at the
  // window's first frame only (a plateau) and is closed from frame 4 on (100 ms hold, then
  // 40 dB at 10 dB per 10 ms).
  const gateCopy = (extra: Record<string, number>) =>
    brokenBundleCopy((m) => {
      const dim = (m.features as { dim: number }).dim;
      m.contactGate = {
        weights: Array(dim).fill(0),
        bias: 5,
        threshold: 0.8,
        rampMs: 5,
        holdMs: 100,
        releaseDbPer10ms: 10,
        depthDb: -40,
        ...extra,
      };
    });
  const copy = gateCopy({});
  const limitCopy = gateCopy({ reattackAfterMs: 20, reattackRiseDb: 0 });
  const inexactCopy = gateCopy({ inexactThreshold: 0.999 }); // over every frame's p (sigmoid(5))
  const models = ['video_encoder', 'unet_student', 'align_classifier', 'latent_decoder', 'vocoder'];
  let runner: InferenceRunner;
  let limitRunner: InferenceRunner;
  let inexactRunner: InferenceRunner;
  before(async () => {
    runner = await InferenceRunner.start(await loadBundle(copy.dir), { models });
    limitRunner = await InferenceRunner.start(await loadBundle(limitCopy.dir), { models });
    inexactRunner = await InferenceRunner.start(await loadBundle(inexactCopy.dir), { models });
  });
  after(async () => {
    await Promise.all([runner.close(), limitRunner.close(), inexactRunner.close()]);
    copy.cleanup();
    limitCopy.cleanup();
    inexactCopy.cleanup();
  });

  it("applies the gate's re-attack limit last, at the gate's openings, and not with the gate left out", async () => {
    const m = limitRunner.bundle.manifest;
    const frames = 16;
    const still = new Uint8Array(frames * m.video.height * m.video.width * 3).fill(90);
    const request = { startFrame: 0, features: await new VideoEncoder(runner).encode(still, frames) };
    const settings = resolveGenerationSettings(m);
    const gated = await new FoleyGenerator(runner, settings).generate(request);
    const limited = await new FoleyGenerator(limitRunner, settings).generate(request);
    const gains = reattackGains(
      gated.waveform,
      [0],
      samplesPerFrame(m),
      m.audio.sampleRate,
      m.contactGate!,
      m.contactGate!.reattack!,
    );
    assert.ok(
      gains.some((g) => g < 0.99),
      'the sound rises again somewhere after its attack',
    );
    assert.ok(
      maxAbsDiff(
        limited.waveform,
        gated.waveform.map((v, s) => v * gains[s]!),
      ) < 1e-7,
    );
    const off = { ...settings, contactGate: false };
    const plain = await new FoleyGenerator(runner, off).generate(request);
    assert.deepEqual(await new FoleyGenerator(limitRunner, off).generate(request), plain);
  });

  it('gates the audio by the contacts its features show, and leaves it out when asked', async () => {
    const m = runner.bundle.manifest;
    const frames = 16;
    const still = new Uint8Array(frames * m.video.height * m.video.width * 3).fill(90);
    const request = { startFrame: 0, features: await new VideoEncoder(runner).encode(still, frames) };
    // The contact gate alone: the frame comb after it is not a gain.
    const settings = { ...resolveGenerationSettings(m), frameComb: false };
    assert.equal(settings.contactGate, true);
    const gated = await new FoleyGenerator(runner, settings).generate(request);
    const plain = await new FoleyGenerator(runner, { ...settings, contactGate: false }).generate(request);
    assert.deepEqual(gated.mel, plain.mel);
    const spf = samplesPerFrame(m);
    // Held open at 0 dB after the 5 ms ramp, 40 dB down from frame 4 on.
    const from = (x: Float32Array, a: number, b: number) => Array.from(x.subarray(a, b));
    assert.deepEqual(from(gated.waveform, 100, spf), from(plain.waveform, 100, spf));
    const tail = plain.waveform.subarray(4 * spf).map((v) => v * 0.01);
    assert.ok(maxAbsDiff(gated.waveform.subarray(4 * spf), tail) < 1e-7);
    assert.ok(maxAbsDiff(plain.waveform.subarray(4 * spf), new Float32Array(tail.length)) > 1e-4);
  });

  it("opens the gate on frames read before their right context only at the gate's inexactThreshold", async () => {
    const m = inexactRunner.bundle.manifest;
    assert.equal(m.contactGate?.inexactThreshold, 0.999);
    const frames = 16;
    const still = new Uint8Array(frames * m.video.height * m.video.width * 3).fill(90);
    const features = await new VideoEncoder(runner).encode(still, frames);
    const settings = { ...resolveGenerationSettings(m), frameComb: false };
    const exact = await new FoleyGenerator(runner, settings).generate({ startFrame: 0, features });
    const plain = await new FoleyGenerator(runner, { ...settings, contactGate: false }).generate({
      startFrame: 0,
      features,
    });
    const generate = (contactUnknownFrom?: number) =>
      new FoleyGenerator(inexactRunner, settings).generate({
        startFrame: 0,
        features,
        ...(contactUnknownFrom === undefined ? {} : { contactUnknownFrom }),
      });
    // Every frame exact, or the opening (frame 0) before the inexact ones: the gate as before.
    assert.deepEqual((await generate()).waveform, exact.waveform);
    assert.deepEqual((await generate(8)).waveform, exact.waveform);
    // Frame 0 read inexactly: its p (0.993) is under 0.999, so the gate stays at its depth.
    const closed = plain.waveform.map((v) => v * 0.01);
    assert.ok(maxAbsDiff((await generate(0)).waveform, closed) < 1e-7);
    // A bundle without the field opens there as at any frame.
    const unmarked = await new FoleyGenerator(runner, settings).generate({
      startFrame: 0,
      features,
      contactUnknownFrom: 0,
    });
    assert.deepEqual(unmarked.waveform, exact.waveform);
  });
});

describe('FoleyGenerator with a contact gate keyed on the contact detector', () => {
  // test/fixtures/contact-detector-tiny.onnx: random weights (foley.contact_detector --random).
  const gate = {
    threshold: 0.01, // every peak of its near-constant output opens the gate
    rampMs: 5,
    holdMs: 20,
    releaseDbPer10ms: 40,
    depthDb: -40,
  };
  const copy = detectorBundleCopy(gate);
  let runner: InferenceRunner;
  let plainRunner: InferenceRunner;
  before(async () => {
    const bundle = await loadBundle(copy.dir);
    runner = await InferenceRunner.start(bundle);
    plainRunner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR));
  });
  after(async () => {
    await Promise.all([runner.close(), plainRunner.close()]);
    copy.cleanup();
  });

  it("adds the detector's probability as a last column, feeds the networks the features alone, and gates by its peaks", async () => {
    const m = runner.bundle.manifest;
    const dim = m.features.dim;
    assert.equal(featureRowDim(m), dim + 1);
    const frames = 12;
    const bytes = m.video.height * m.video.width * 3;
    const video = new Uint8Array(frames * bytes);
    // A bright square that moves for 6 frames, then stops: motion, then none.
    for (let t = 0; t < frames; t++) {
      const x0 = 8 + 6 * Math.min(t, 6);
      for (let y = 40; y < 56; y++)
        video.fill(
          250,
          t * bytes + (y * m.video.width + x0) * 3,
          t * bytes + (y * m.video.width + x0 + 16) * 3,
        );
    }
    const rows = await new VideoEncoder(runner).encode(video, frames);
    const features = await new VideoEncoder(plainRunner).encode(video, frames);
    assert.equal(rows.length, frames * (dim + 1));
    const { outputs } = await runner.run('contact_detector', {
      frames: uint8Tensor(video, [1, frames, m.video.height, m.video.width, 3]),
    });
    const probs = outputs.contact!.data as Float32Array;
    for (let t = 0; t < frames; t++) {
      assert.deepEqual(
        rows.subarray(t * (dim + 1), t * (dim + 1) + dim),
        features.subarray(t * dim, (t + 1) * dim),
      );
      assert.equal(rows[t * (dim + 1) + dim], probs[t]);
    }
    const settings = { ...resolveGenerationSettings(m), frameComb: false };
    const gated = await new FoleyGenerator(runner, settings).generate({ startFrame: 0, features: rows });
    const plain = await new FoleyGenerator(plainRunner, { ...settings, contactGate: false }).generate({
      startFrame: 0,
      features,
    });
    assert.deepEqual(gated.mel, plain.mel); // the networks saw the same features
    const spf = samplesPerFrame(m);
    const gains = contactGainsDb(
      contactOpenings(probs, gate.threshold),
      frames,
      spf,
      m.audio.sampleRate,
      m.contactGate!,
    );
    assert.ok(
      gains.some((g) => g === 0) && gains.some((g) => g === gate.depthDb),
      'the gate opens and closes',
    );
    const expected = plain.waveform.map((v, s) => v * 10 ** (gains[s]! / 20));
    assert.ok(maxAbsDiff(gated.waveform, expected) < 1e-6);
  });

  it('names the missing detector file of a bundle whose gate needs it', async () => {
    rmSync(join(copy.dir, 'contact_detector.onnx'));
    await assert.rejects(loadBundle(copy.dir), /contact_detector\.onnx/);
  });
});

/** Column values for withColumn: `value` at frames from .. to − 1. */
function columnFrom(from: number, to: number, value: number): Record<number, number> {
  return Object.fromEntries(Array.from({ length: to - from }, (_, k) => [from + k, value]));
}

/** The tiny bundle, whose student does not read the contact column, refuses `key` in its sampling. */
async function assertRefusedBesidePlainStudent(key: string, value: unknown): Promise<void> {
  const plain = brokenBundleCopy((j) => {
    (j.sampling as Record<string, unknown>)[key] = value;
  });
  try {
    await assert.rejects(
      loadBundle(plain.dir),
      new RegExp(
        `sampling\\.${key}\\] expected absent: unet_student does not read the contact detector's column`,
      ),
    );
  } finally {
    plain.cleanup();
  }
}

describe('FoleyGenerator with a student that reads the contact column', () => {
  // test/fixtures/unet-student-contact-tiny.onnx: the tiny student plus a random map of the column.
  const copy = contactStudentBundleCopy({
    threshold: 0.5,
    rampMs: 5,
    holdMs: 20,
    releaseDbPer10ms: 40,
    depthDb: -40,
  });
  let runner: InferenceRunner;
  let plainRunner: InferenceRunner;
  before(async () => {
    runner = await InferenceRunner.start(await loadBundle(copy.dir));
    plainRunner = await InferenceRunner.start(await loadBundle(TINY_BUNDLE_DIR));
  });
  after(async () => {
    await Promise.all([runner.close(), plainRunner.close()]);
    copy.cleanup();
  });

  it("gives the student the detector's column and the classifier the features alone", async () => {
    const m = runner.bundle.manifest;
    const dim = m.features.dim;
    assert.equal(unetFeatureDim(m, 'unet_student'), dim + 1);
    assert.equal(unetFeatureDim(m, 'unet_teacher'), dim);
    const ref = loadReference(TINY_BUNDLE_DIR);
    const rows = featureRows(ref.features, m);
    const settings = {
      ...resolveGenerationSettings(m),
      contactGate: false,
      melGate: false,
      frameComb: false,
    };
    const noise = Float32Array.from(ref.noise);
    const generate = (r: InferenceRunner, features: Float32Array) =>
      new FoleyGenerator(r, settings).generate({ startFrame: 0, features, noise });
    // A zero column adds nothing: the tiny student's latent, classifier guidance included.
    const zero = await generate(runner, rows);
    const plain = await generate(plainRunner, Float32Array.from(ref.features));
    assert.ok(settings.cgScale > 0);
    assert.ok(maxScaledDiff(zero.latent, plain.latent) < 1e-4);
    // A contact in the column changes what the student makes.
    const contact = rows.slice();
    contact[3 * (dim + 1) + dim] = 1;
    const heard = await generate(runner, contact);
    assert.ok(maxAbsDiff(heard.latent, zero.latent) > 1e-3);
  });

  it("tells the student which frames have no exact read yet with the bundle's marker, and keeps the caller's rows", async () => {
    await withStudentSampling(
      { contactUnknown: -1 },
      async ({ runner: markedRunner, generate, withColumn, frames }) => {
        const rows = withColumn(columnFrom(0, frames, 0.9));
        const given = rows.slice();
        const told = await generate(markedRunner, rows, 5);
        assert.deepEqual(rows, given);
        const written = withColumn({ ...columnFrom(0, 5, 0.9), ...columnFrom(5, frames, -1) });
        const same = await generate(markedRunner, written);
        assert.ok(maxAbsDiff(told.latent, same.latent) < 1e-6);
        const untold = await generate(markedRunner, rows);
        assert.ok(maxAbsDiff(told.latent, untold.latent) > 1e-3);
      },
    );
    // A student that does not read the column cannot declare a marker.
    await assertRefusedBesidePlainStudent('contactUnknown', -1);
  });

  /**
   * Runs `use` on a running copy of the contact student's bundle with `sampling` merged into its
   * manifest; `generate` renders rows (gates off, the reference noise) on any runner, and
   * `withColumn` gives the reference features (`frames` of them) with the column set at the frames given.
   */
  async function withStudentSampling(
    sampling: Record<string, unknown>,
    use: (student: {
      runner: InferenceRunner;
      generate: (
        r: InferenceRunner,
        features: Float32Array,
        contactUnknownFrom?: number,
      ) => Promise<WindowResult>;
      withColumn: (values: Record<number, number>) => Float32Array;
      frames: number;
    }) => Promise<void>,
  ): Promise<void> {
    const edited = contactStudentBundleCopy(
      { threshold: 0.8, rampMs: 5, holdMs: 20, releaseDbPer10ms: 40, depthDb: -40 },
      (m) => {
        Object.assign(m.sampling as Record<string, unknown>, sampling);
      },
    );
    const editedRunner = await InferenceRunner.start(await loadBundle(edited.dir));
    try {
      const m = editedRunner.bundle.manifest;
      const dim = m.features.dim;
      const ref = loadReference(TINY_BUNDLE_DIR);
      const settings = {
        ...resolveGenerationSettings(m),
        contactGate: false,
        melGate: false,
        frameComb: false,
      };
      const noise = Float32Array.from(ref.noise);
      await use({
        runner: editedRunner,
        generate: (r, features, contactUnknownFrom) =>
          new FoleyGenerator(r, settings).generate({ startFrame: 0, features, noise, contactUnknownFrom }),
        withColumn: (values) => {
          const rows = featureRows(ref.features, m);
          for (const [t, p] of Object.entries(values)) rows[Number(t) * (dim + 1) + dim] = p;
          return rows;
        },
        frames: ref.numFrames,
      });
    } finally {
      await editedRunner.close();
      edited.cleanup();
    }
  }

  it("gives a student declared to read openings 1 at the column's openings and 0 elsewhere, whatever the probability", async () => {
    await withStudentSampling(
      { contactOpenings: 0.5 },
      async ({ runner: openingsRunner, generate, withColumn, frames }) => {
        assert.equal(openingsRunner.bundle.manifest.sampling.contactOpenings, 0.5);
        assert.equal(runner.bundle.manifest.sampling.contactOpenings, null);
        // A peak of 0.7 at frame 3 (the openings' threshold 0.5, not the gate's 0.8) reads as the probability student's 1 there.
        const peak = withColumn({ 2: 0.3, 3: 0.7, 4: 0.2 });
        const given = peak.slice();
        const read = await generate(openingsRunner, peak);
        assert.deepEqual(peak, given);
        const one = await generate(runner, withColumn({ 3: 1 }));
        assert.ok(maxAbsDiff(read.latent, one.latent) < 1e-6);
        // Under the threshold, or flat (no peak), the column reads 0.
        const none = await generate(runner, withColumn({}));
        assert.ok(
          maxAbsDiff((await generate(openingsRunner, withColumn({ 3: 0.4 }))).latent, none.latent) < 1e-6,
        );
        const flat = columnFrom(0, frames, 0.9);
        const flatRead = await generate(openingsRunner, withColumn(flat));
        assert.ok(maxAbsDiff(flatRead.latent, (await generate(runner, withColumn({ 0: 1 }))).latent) < 1e-6);
      },
    );
    await assertRefusedBesidePlainStudent('contactOpenings', 0.5);
  });

  it("multiplies the student's column by the bundle's contactGain, and leaves the unknown marker", async () => {
    await withStudentSampling(
      { contactGain: 2, contactUnknown: -1 },
      async ({ runner: gainedRunner, generate, withColumn, frames }) => {
        assert.equal(gainedRunner.bundle.manifest.sampling.contactGain, 2);
        assert.equal(runner.bundle.manifest.sampling.contactGain, 1);
        const rows = withColumn({ 2: 0.3, 3: 0.45 });
        const given = rows.slice();
        const read = await generate(gainedRunner, rows);
        assert.deepEqual(rows, given);
        const doubled = await generate(runner, withColumn({ 2: 0.6, 3: 0.9 }));
        assert.ok(maxAbsDiff(read.latent, doubled.latent) < 1e-6);
        assert.ok(maxAbsDiff(read.latent, (await generate(runner, rows)).latent) > 1e-3);
        // The marker goes on after the gain: -1, not -2, on frames 3 on.
        const told = await generate(gainedRunner, rows, 3);
        const marked = withColumn({ 2: 0.6, ...columnFrom(3, frames, -1) });
        assert.ok(maxAbsDiff(told.latent, (await generate(runner, marked)).latent) < 1e-6);
      },
    );
    await assertRefusedBesidePlainStudent('contactGain', 2);
  });

  it('refuses a silent-opening gain beside a student that does not read the column', async () => {
    await assertRefusedBesidePlainStudent('silentOpeningGain', 2);
  });

  it('gates by a features probe that skips the column, beside a student that reads it', async () => {
    const probe = { threshold: 0.5, rampMs: 5, holdMs: 20, releaseDbPer10ms: 40, depthDb: -40 };
    const featuresGated = contactStudentBundleCopy(probe, (m) => {
      const dim = (m.features as { dim: number }).dim;
      // Opens where the first feature rises: some frames open, some stay closed.
      m.contactGate = { source: 'features', weights: [4, ...Array(dim - 1).fill(0)], bias: 0, ...probe };
    });
    const gatedRunner = await InferenceRunner.start(await loadBundle(featuresGated.dir));
    try {
      const m = gatedRunner.bundle.manifest;
      const dim = m.features.dim;
      assert.equal(m.contactGate?.source, 'features');
      assert.equal(featureRowDim(m), dim + 1);
      assert.ok(InferenceRunner.renderModels(gatedRunner.bundle).includes('contact_detector'));
      const frames = 12;
      const video = new Uint8Array(frames * m.video.height * m.video.width * 3).map((_, i) => (i * 7) % 251);
      const rows = await new VideoEncoder(gatedRunner).encode(video, frames);
      assert.equal(rows.length, frames * (dim + 1));
      const settings = { ...resolveGenerationSettings(m), melGate: false, frameComb: false };
      const gated = await new FoleyGenerator(gatedRunner, settings).generate({
        startFrame: 0,
        features: rows,
      });
      const plain = await new FoleyGenerator(gatedRunner, { ...settings, contactGate: false }).generate({
        startFrame: 0,
        features: rows,
      });
      const probs = Float32Array.from(
        { length: frames },
        (_, t) => 1 / (1 + Math.exp(-4 * rows[t * (dim + 1)]!)),
      );
      const gains = contactGainsDb(
        contactOpenings(probs, probe.threshold),
        frames,
        samplesPerFrame(m),
        m.audio.sampleRate,
        m.contactGate!,
      );
      assert.ok(
        gains.some((g) => g === 0) && gains.some((g) => g === probe.depthDb),
        'the gate opens and closes',
      );
      const expected = plain.waveform.map((v, s) => v * 10 ** (gains[s]! / 20));
      assert.ok(maxAbsDiff(gated.waveform, expected) < 1e-6);
    } finally {
      await gatedRunner.close();
      featuresGated.cleanup();
    }
  });

  it('refuses a student that reads the column in a bundle without the contact detector', async () => {
    const broken = brokenBundleCopy((m) => {
      const models = m.models as Record<string, { inputs: { name: string; shape: (string | number)[] }[] }>;
      models.unet_student!.inputs.find((i) => i.name === 'video_features')!.shape[2] = 65;
    });
    try {
      await assert.rejects(
        loadBundle(broken.dir),
        /unet_student\.inputs\[2\]\.shape\[2\]\] expected 64 \(features\.dim\): a UNet reads the contact detector's column only where models has "contact_detector"/,
      );
    } finally {
      broken.cleanup();
    }
  });
});
