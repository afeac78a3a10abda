import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DiffusionSchedule, trailingTimesteps } from '../../src/diffusion/schedule.js';

describe('trailingTimesteps', () => {
  it('gives 999, 749, 499, 249 for 4 of 1000 steps', () => {
    assert.deepEqual(trailingTimesteps(1000, 4), [999, 749, 499, 249]);
  });
  it('gives every step for N = trainSteps and rejects 0', () => {
    assert.equal(trailingTimesteps(10, 10).join(','), '9,8,7,6,5,4,3,2,1,0');
    assert.throws(() => trailingTimesteps(1000, 0), /steps must be an integer in 1\.\.1000/);
  });
});

describe('DiffusionSchedule.plan', () => {
  it('pairs each step with the next ᾱ and ends at ᾱ_prev = 1', () => {
    const alphas = Array.from({ length: 1000 }, (_, t) => 1 - (t + 1) / 1001);
    const plan = new DiffusionSchedule({
      type: 'ddpm-discrete',
      trainSteps: 1000,
      prediction: 'epsilon',
      alphasCumprod: alphas,
      timestepSpacing: 'trailing',
    }).plan(4);
    assert.equal(plan[0]!.alphaBar, alphas[999]);
    assert.equal(plan[0]!.alphaBarPrev, alphas[749]);
    assert.equal(plan[3]!.alphaBarPrev, 1);
  });
});
