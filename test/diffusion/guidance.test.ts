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
