import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ddimStep } from '../../src/diffusion/ddim.js';
import { guidedEpsilon } from '../../src/diffusion/guidance.js';

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
