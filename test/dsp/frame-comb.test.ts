import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyFrameComb, DEFAULT_FRAME_COMB, frameCombWeights } from '../../src/dsp/frame-comb.js';
import type { MelGateGeometry } from '../../src/dsp/mel-gate.js';

const HOP = 160;
const FRAMES = 100;
const GEOMETRY: MelGateGeometry = {
  melBins: 8,
  hopSamples: HOP,
  melLogFloor: 1e-5,
  melNormOffset: 4.5,
  melNormScale: 4,
};

/** A normalized log-mel [bins, frames] whose frame i sits levelDb(i) above the floor. */
function melAt(levelDb: (frame: number) => number, g: MelGateGeometry = GEOMETRY): Float32Array {
  const mel = new Float32Array(g.melBins * FRAMES);
  const lnFloor = Math.log(g.melLogFloor);
  for (let i = 0; i < FRAMES; i++) {
    for (let b = 0; b < g.melBins; b++)
      mel[b * FRAMES + i] = (lnFloor + (levelDb(i) * Math.LN10) / 10 + g.melNormOffset) / g.melNormScale;
  }
  return mel;
}

/** Harmonics of the frame rate (100 Hz at 16 kHz), the vocoder's tone in silence, times gain(s). */
function frameRateTone(gain: (sample: number) => number = () => 1): Float32Array {
  return Float32Array.from({ length: FRAMES * HOP }, (_, s) => {
    const t = (2 * Math.PI * s) / HOP;
    return gain(s) * 1e-3 * (Math.sin(t) + 0.5 * Math.sin(2 * t + 1) + 0.25 * Math.sin(5 * t + 2));
  });
}

const rms = (x: Float32Array, from: number, to: number): number => {
  let sum = 0;
  for (let s = from; s < to; s++) sum += x[s]! ** 2;
  return Math.sqrt(sum / (to - from));
};
const db = (ratio: number) => 20 * Math.log10(ratio);

describe('applyFrameComb', () => {
  it('removes harmonics of the frame rate from quiet frames, steady or fading', () => {
    const quiet = melAt(() => 10);
    const steady = frameRateTone();
    const fading = frameRateTone((s) => 10 ** ((-60 * s) / 16000 / 20)); // 60 dB a second
    for (const [name, x] of [
      ['steady', steady],
      ['fading', fading],
    ] as const) {
      const y = applyFrameComb(x, quiet, FRAMES, GEOMETRY);
      // The comb fades in over the third and fourth hops, once it has two hops of history.
      for (let s = 0; s < 2 * HOP; s++) assert.equal(y[s], x[s]);
      const change = db(rms(y, 4 * HOP, x.length) / rms(x, 4 * HOP, x.length));
      assert.ok(change < -40, `${name}: the tone fell by only ${(-change).toFixed(1)} dB`);
    }
  });

  it('passes loud frames unchanged and blends by level between', () => {
    const levels = (i: number) => (i < 40 ? 50 : i < 60 ? 35 : 10);
    const x = frameRateTone();
    const y = applyFrameComb(x, melAt(levels), FRAMES, GEOMETRY);
    for (let s = 0; s < 38 * HOP; s++) assert.equal(y[s], x[s], `sample ${s} of a loud frame changed`);
    // Half way between full and off: the weight is 0.5, so half the tone is left (-6 dB).
    const half = db(rms(y, 45 * HOP, 55 * HOP) / rms(x, 45 * HOP, 55 * HOP));
    assert.ok(Math.abs(half + 6.02) < 0.1, `between full and off the tone changed by ${half.toFixed(2)} dB`);
    assert.ok(db(rms(y, 65 * HOP, x.length) / rms(x, 65 * HOP, x.length)) < -60);
  });

  it("follows the next frame's level, so a frame before an event is already open", () => {
    const weights = frameCombWeights(Float32Array.from([10, 10, 10, 50, 50, 10]));
    assert.deepEqual(Array.from(weights), [1, 1, 0, 0, 0, 1]);
  });

  it('keeps noise in quiet frames at about its level (no gate)', () => {
    let seed = 3;
    const noise = Float32Array.from({ length: FRAMES * HOP }, () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return 1e-3 * (seed / 2 ** 32 - 0.5);
    });
    const y = applyFrameComb(
      noise,
      melAt(() => 0),
      FRAMES,
      GEOMETRY,
    );
    // White noise through (1 - z^-hop)^2 / 2 has power gain 6 / 4: +1.8 dB.
    const change = db(rms(y, 4 * HOP, noise.length) / rms(noise, 4 * HOP, noise.length));
    assert.ok(Math.abs(change - 1.76) < 0.3, `noise changed by ${change.toFixed(2)} dB`);
  });

  it('names a waveform or mel of the wrong length and bad parameters', () => {
    const mel = melAt(() => 0);
    assert.throws(
      () => applyFrameComb(new Float32Array(FRAMES * HOP - 1), mel, FRAMES, GEOMETRY),
      /\[frame-comb\] waveform holds 15999 samples, expected frames 100 × hop 160/,
    );
    assert.throws(
      () => applyFrameComb(new Float32Array(FRAMES * HOP), mel.subarray(8), FRAMES, GEOMETRY),
      /\[mel-gate\] mel holds 792 values/,
    );
    assert.throws(
      () => frameCombWeights(new Float32Array(3), { ...DEFAULT_FRAME_COMB, offAboveDb: 30 }),
      /offAboveDb must exceed fullBelowDb/,
    );
  });
});
