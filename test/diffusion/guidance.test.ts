import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ddimStep } from '../../src/diffusion/ddim.js';
import { guidedEpsilon } from '../../src/diffusion/guidance.js';
import { runSampler } from '../../src/diffusion/sampler.js';
import { DiffusionSchedule } from '../../src/diffusion/schedule.js';
import { loadBundle } from '../../src/models/bundle.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

describe('guidedEpsilon', () => {
  const c = Float32Array.from([1, 2]);
  const u = Float32Array.from([0.5, -1]);
  const g = Float32Array.from([4, 8]);
  it('is the conditional ε when ω = γ = 0', () => {
    assert.deepEqual([...guidedEpsilon({ conditional: c, cfgScale: 0, cgScale: 0, alphaBar: 0.5 })], [1, 2]);
  });
  it('applies eq. 8: (1+ω)ε_c − ωε_u − γ√(1−ᾱ)·grad', () => {
    const e = guidedEpsilon({
      conditional: c,
      unconditional: u,
      classifierGradient: g,
      cfgScale: 2,
      cgScale: 0.5,
      alphaBar: 0.75,
    });
    assert.ok(Math.abs(e[0]! - (3 * 1 - 2 * 0.5 - 0.5 * 0.5 * 4)) < 1e-6);
    assert.ok(Math.abs(e[1]! - (3 * 2 - 2 * -1 - 0.5 * 0.5 * 8)) < 1e-6);
  });
  it('refuses CFG without an unconditional ε', () => {
    assert.throws(
      () => guidedEpsilon({ conditional: c, cfgScale: 1, cgScale: 0, alphaBar: 0.5 }),
      /needs an unconditional/,
    );
  });
});

describe('ddimStep', () => {
  it('recovers x0 exactly when ε is the true noise, and lands on it when ᾱ_prev = 1', () => {
    const x0 = Float32Array.from([0.3, -1.2, 2]);
    const eps = Float32Array.from([1, 0.5, -0.7]);
    const a = 0.4;
    const zt = x0.map((x, i) => Math.sqrt(a) * x + Math.sqrt(1 - a) * eps[i]!);
    const { zPrev, predictedX0 } = ddimStep(zt, eps, a, 1);
    for (let i = 0; i < 3; i++) {
      assert.ok(Math.abs(predictedX0[i]! - x0[i]!) < 1e-5);
      assert.ok(Math.abs(zPrev[i]! - x0[i]!) < 1e-5);
    }
  });
});

describe('sampleLatent classifier term', () => {
  const shape = { channels: 1, frames: 2, melBins: 2 };
  async function run(cgMaxTimestep?: number): Promise<{ asked: number[]; latent: Float32Array }> {
    const schedule = new DiffusionSchedule((await loadBundle(TINY_BUNDLE_DIR)).manifest.schedule);
    const asked: number[] = [];
    const latent = await runSampler(
      {
        epsilon: async (zt) => ({ conditional: new Float32Array(zt.length) }),
        classifierGradient: async (zt, t) => {
          asked.push(t);
          return new Float32Array(zt.length).fill(1);
        },
      },
      {
        schedule,
        shape,
        steps: 4,
        cfgScale: 0,
        cgScale: 2,
        noise: new Float32Array(4).fill(0.5),
        ...(cgMaxTimestep === undefined ? {} : { cgMaxTimestep }),
      },
    );
    return { asked, latent };
  }
  it('asks for the gradient only at timesteps up to cgMaxTimestep, and the result shows it', async () => {
    const late = await run(600);
    assert.deepEqual(late.asked, [499, 249]);
    const every = await run();
    assert.deepEqual(every.asked, [999, 749, 499, 249]);
    const none = await run(100);
    assert.deepEqual(none.asked, []);
    assert.notDeepEqual([...late.latent], [...every.latent]);
    assert.notDeepEqual([...late.latent], [...none.latent]);
  });
});

describe('sampleLatent restarts', () => {
  const shape = { channels: 1, frames: 2, melBins: 2 };
  const noise = Float32Array.from([0.5, -1, 2, 0.1]);
  /** The sampler with ε = z − 0.3 (the result depends on the path); records every ε call. */
  async function run(
    restarts: number,
    restartMaxTimestep: number,
    known?: { latent: Float32Array; frames: number },
  ): Promise<{ seen: { t: number; z: Float32Array }[]; noiseAsked: number[]; latent: Float32Array }> {
    const schedule = new DiffusionSchedule((await loadBundle(TINY_BUNDLE_DIR)).manifest.schedule);
    const seen: { t: number; z: Float32Array }[] = [];
    const noiseAsked: number[] = [];
    const latent = await runSampler(
      {
        epsilon: async (zt, t) => {
          seen.push({ t, z: zt.slice() });
          return { conditional: zt.map((x) => x - 0.3) };
        },
        classifierGradient: async (zt) => new Float32Array(zt.length),
      },
      {
        schedule,
        shape,
        steps: 4,
        cfgScale: 0,
        cgScale: 0,
        noise,
        restarts,
        restartMaxTimestep,
        restartNoise: (k) => {
          noiseAsked.push(k);
          return Float32Array.from([1, -0.5, 0.25, k]);
        },
        ...(known ? { known } : {}),
      },
    );
    return { seen, noiseAsked, latent };
  }

  it('repeats each step at t <= restartMaxTimestep but the last, with fresh noise in order', async () => {
    const plain = await run(0, 999);
    assert.deepEqual(
      plain.seen.map((s) => s.t),
      [999, 749, 499, 249],
    );
    assert.deepEqual(plain.noiseAsked, []);
    const two = await run(2, 800);
    assert.deepEqual(
      two.seen.map((s) => s.t),
      [999, 749, 749, 749, 499, 499, 499, 249],
    );
    assert.deepEqual(two.noiseAsked, [0, 1, 2, 3]);
    assert.notDeepEqual([...two.latent], [...plain.latent]);
  });

  it('feeds the network the known frames noised to the timestep of every pass, restarts included', async () => {
    const { alphasCumprod } = (await loadBundle(TINY_BUNDLE_DIR)).manifest.schedule;
    // Layout [channel][frame][bin]: frame 0 (known) is values 0 and 1.
    const known = { latent: Float32Array.from([0.7, -0.2, 0, 0]), frames: 1 };
    const { seen, latent } = await run(1, 800, known);
    assert.deepEqual(
      seen.map((s) => s.t),
      [999, 749, 749, 499, 499, 249],
    );
    for (const { t, z } of seen) {
      const a = alphasCumprod[t]!;
      for (const i of [0, 1]) {
        const want = Math.sqrt(a) * known.latent[i]! + Math.sqrt(1 - a) * noise[i]!;
        assert.ok(Math.abs(z[i]! - want) < 1e-5, `t ${t} value ${i}: ${z[i]} != ${want}`);
      }
    }
    assert.ok(Math.abs(latent[0]! - 0.7) < 1e-6 && Math.abs(latent[1]! + 0.2) < 1e-6);
  });

  it('names a missing or wrong-sized restart noise', async () => {
    const schedule = new DiffusionSchedule((await loadBundle(TINY_BUNDLE_DIR)).manifest.schedule);
    const terms = {
      epsilon: async (zt: Float32Array) => ({ conditional: new Float32Array(zt.length) }),
      classifierGradient: async (zt: Float32Array) => new Float32Array(zt.length),
    };
    const base = {
      schedule,
      shape,
      steps: 4,
      cfgScale: 0,
      cgScale: 0,
      noise: new Float32Array(4),
      restarts: 1,
    };
    await assert.rejects(runSampler(terms, base), /restart 0 needs 4 values of fresh noise/);
    await assert.rejects(
      runSampler(terms, { ...base, restartNoise: () => new Float32Array(3) }),
      /restart 0 needs 4 values/,
    );
    await assert.rejects(runSampler(terms, { ...base, restarts: -1 }), /restarts must be an integer >= 0/);
  });
});
