import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latentNoise } from '../../src/diffusion/gaussian-noise.js';
import { sliceLatentFrames } from '../../src/diffusion/latent-frames.js';

describe('latentNoise', () => {
  it('is deterministic per seed and differs across seeds', () => {
    assert.deepEqual(latentNoise(7, 0, 8, 4, 16), latentNoise(7, 0, 8, 4, 16));
    assert.notDeepEqual(latentNoise(7, 0, 8, 4, 16), latentNoise(8, 0, 8, 4, 16));
  });
  it('gives a window the same noise the whole clip has at those frames', () => {
    const whole = latentNoise(3, 0, 100, 4, 16);
    const window = latentNoise(3, 40, 20, 4, 16);
    assert.deepEqual(window, sliceLatentFrames(whole, { channels: 4, frames: 100, melBins: 16 }, 40, 20));
  });
  it('is standard normal in mean and variance', () => {
    const n = latentNoise(1, 0, 500, 4, 16);
    const mean = n.reduce((a, b) => a + b, 0) / n.length;
    const variance = n.reduce((a, b) => a + (b - mean) ** 2, 0) / n.length;
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
  });
});
