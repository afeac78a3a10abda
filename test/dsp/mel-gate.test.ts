import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyMelGate,
  DEFAULT_MEL_GATE,
  type MelGateGeometry,
  melGateGainsDb,
  melLevelsAboveFloorDb,
} from '../../src/dsp/mel-gate.js';

const HOP = 160;
const FRAMES = 100;
const BURST_FRAME = 50;
const BURST_FRAMES = 15;

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

/**
 * A normalized log-mel [bins, frames] at the floor (within 1 dB) with a burst 50 dB above it
 * at BURST_FRAME, decaying 3 dB a frame, and a waveform vocoded from it: the vocoder's
 * silence (a tone repeating every hop) throughout plus noise from the burst's first sample.
 */
function silenceAndBurst(g: MelGateGeometry): { mel: Float32Array; waveform: Float32Array } {
  const random = lcg(7);
  const normalized = (lnPower: number) => (lnPower + g.melNormOffset) / g.melNormScale;
  const lnFloor = Math.log(g.melLogFloor);
  const mel = new Float32Array(g.melBins * FRAMES);
  for (let i = 0; i < FRAMES; i++) {
    const aboveDb =
      i >= BURST_FRAME && i < BURST_FRAME + BURST_FRAMES ? 50 - 3 * (i - BURST_FRAME) : 0.5 + random();
    for (let b = 0; b < g.melBins; b++)
      mel[b * FRAMES + i] = normalized(lnFloor + (aboveDb * Math.LN10) / 10);
  }
  const waveform = new Float32Array(FRAMES * HOP);
  for (let s = 0; s < waveform.length; s++) {
    waveform[s] = 1e-3 * Math.sin((2 * Math.PI * 100 * s) / 16000);
    const k = s - BURST_FRAME * HOP;
    if (k >= 0 && k < BURST_FRAMES * HOP) waveform[s]! += 0.5 * random() * 10 ** ((-3 * k) / HOP / 20);
  }
  return { mel, waveform };
}

const rms = (x: Float32Array, from: number, to: number): number => {
  let sum = 0;
  for (let s = from; s < to; s++) sum += x[s]! ** 2;
  return Math.sqrt(sum / (to - from));
};

const firstAbove = (x: Float32Array, threshold: number): number =>
  x.findIndex((v) => Math.abs(v) > threshold);

const DEFAULT_GEOMETRY: MelGateGeometry = {
  melBins: 64,
  hopSamples: HOP,
  melLogFloor: 1e-5,
  melNormOffset: 4.5,
  melNormScale: 4,
};
const OTHER_GEOMETRY: MelGateGeometry = {
  melBins: 80,
  hopSamples: HOP,
  melLogFloor: 1e-10,
  melNormOffset: 11.5,
  melNormScale: 6,
};

describe('applyMelGate', () => {
  for (const [name, g] of [
    ['the default bundle', DEFAULT_GEOMETRY],
    ['another floor and normalization', OTHER_GEOMETRY],
  ] as const) {
    it(`attenuates silence by >= 15 dB and leaves a burst and its onset as they were (${name})`, () => {
      const { mel, waveform } = silenceAndBurst(g);
      const gated = applyMelGate(waveform, mel, FRAMES, g);

      const silenceEnd = (BURST_FRAME - 5) * HOP;
      const silenceDb = 20 * Math.log10(rms(gated, 0, silenceEnd) / rms(waveform, 0, silenceEnd));
      assert.ok(silenceDb <= -15, `silence changed by ${silenceDb.toFixed(1)} dB`);

      // Up to the burst's last frame, whose level is at the gate's open threshold.
      for (let s = (BURST_FRAME - 1) * HOP; s < (BURST_FRAME + BURST_FRAMES - 1) * HOP; s++) {
        const db = 20 * Math.log10(Math.abs(gated[s]! / waveform[s]!));
        assert.ok(Math.abs(db) <= 0.5, `sample ${s} changed by ${db.toFixed(2)} dB`);
      }
      assert.equal(firstAbove(gated, 0.01), firstAbove(waveform, 0.01));
      assert.equal(firstAbove(gated, 0.01), BURST_FRAME * HOP);
    });
  }

  it('closes gradually after an event instead of cutting its decay', () => {
    const levels = Float32Array.from({ length: 30 }, (_, i) => (i >= 10 && i < 12 ? 40 : 0));
    const gains = melGateGainsDb(levels);
    assert.equal(gains[8], 0, 'open lookAheadFrames before the event');
    assert.equal(gains[7], DEFAULT_MEL_GATE.depthDb);
    assert.equal(gains[11], 0);
    assert.equal(gains[12], -DEFAULT_MEL_GATE.releaseDbPerFrame);
    assert.equal(gains[13], -2 * DEFAULT_MEL_GATE.releaseDbPerFrame);
    assert.equal(gains[29], DEFAULT_MEL_GATE.depthDb);
  });

  it('reads a frame at the mel floor as 0 dB above it', () => {
    const g = DEFAULT_GEOMETRY;
    const floor = (Math.log(g.melLogFloor) + g.melNormOffset) / g.melNormScale;
    const levels = melLevelsAboveFloorDb(new Float32Array(g.melBins * 3).fill(floor), 3, g);
    for (const l of levels) assert.ok(Math.abs(l) < 1e-4, `level ${l}`);
  });

  it('rejects a waveform or mel of the wrong length, naming both sizes', () => {
    const { mel, waveform } = silenceAndBurst(DEFAULT_GEOMETRY);
    assert.throws(
      () => applyMelGate(waveform.subarray(1), mel, FRAMES, DEFAULT_GEOMETRY),
      /waveform holds 15999 samples, expected frames 100 × hop 160/,
    );
    assert.throws(
      () => applyMelGate(waveform, mel.subarray(64), FRAMES, DEFAULT_GEOMETRY),
      /mel holds 6336 values, expected melBins 64 × frames 100/,
    );
  });

  it('rejects gate settings that cannot work', () => {
    const levels = new Float32Array(4);
    assert.throws(
      () => melGateGainsDb(levels, { ...DEFAULT_MEL_GATE, openAboveFloorDb: 1 }),
      /openAboveFloorDb must exceed closeAboveFloorDb, got 1 and 2/,
    );
    assert.throws(() => melGateGainsDb(levels, { ...DEFAULT_MEL_GATE, depthDb: 0 }), /depthDb must be < 0/);
    assert.throws(
      () => melGateGainsDb(levels, { ...DEFAULT_MEL_GATE, lookAheadFrames: 1.5 }),
      /lookAheadFrames must be an integer/,
    );
  });
});
