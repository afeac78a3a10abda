import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureBoundaryArtifacts } from '../../src/dsp/boundary-artifact.js';
import { crossfade } from '../../src/dsp/crossfade.js';

const noise = (n: number, seed: number): Float32Array => {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.4;
  });
};

describe('measureBoundaryArtifacts', () => {
  const sr = 16000;
  const joins = [16000, 32000];

  it('sees nothing special at joins of a seamless signal', () => {
    const m = measureBoundaryArtifacts(noise(48000, 1), sr, joins);
    assert.ok(Math.abs(m.fluxRatio - 1) < 0.3, `flux ratio ${m.fluxRatio}`);
    assert.ok(Math.abs(m.levelRatioDb) < 1, `level ${m.levelRatioDb}`);
  });

  it('flags a gap at the joins as a level dip and a flux burst', () => {
    const x = noise(48000, 2);
    for (const j of joins) x.fill(0, j - 160, j + 160);
    const m = measureBoundaryArtifacts(x, sr, joins);
    assert.ok(m.levelRatioDb < -3, `level ${m.levelRatioDb}`);
    assert.ok(m.fluxRatio > 1.2, `flux ratio ${m.fluxRatio}`);
  });

  it('flags a hard cut between unrelated tones but not the same cut crossfaded', () => {
    const tone = (f: number) =>
      Float32Array.from({ length: 48000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / sr));
    const a = tone(300);
    const b = tone(2000);
    const hard = new Float32Array(48000);
    hard.set(a.subarray(0, 24000));
    hard.set(b.subarray(24000), 24000);
    const soft = hard.slice();
    soft.set(crossfade(a.subarray(22400, 25600), b.subarray(22400, 25600), 'equal-power'), 22400);
    const hardM = measureBoundaryArtifacts(hard, sr, [24000]);
    const softM = measureBoundaryArtifacts(soft, sr, [24000]);
    assert.ok(hardM.fluxRatio > softM.fluxRatio * 2, `hard ${hardM.fluxRatio} soft ${softM.fluxRatio}`);
  });
});
