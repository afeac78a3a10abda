import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyContactGate,
  applyReattackLimit,
  contactGainsDb,
  contactGateGainsDb,
  contactOpenings,
  contactProbabilities,
  gateOpenings,
  reattackGains,
  withOpeningsColumn,
} from '../../src/dsp/contact-gate.js';
import type { ContactGateSpec } from '../../src/models/manifest.js';

const RATE = 16000;
const SPF = 640;
const gate = (over: Partial<ContactGateSpec & { source: 'features' }> = {}): ContactGateSpec => ({
  source: 'features',
  weights: [2, -1],
  bias: 0.5,
  threshold: 0.8,
  rampMs: 5,
  leadMs: 0,
  holdMs: 100,
  releaseDbPer10ms: 10,
  depthDb: -40,
  weak: null,
  inexactThreshold: null,
  reattack: null,
  ...over,
});

describe('contact gate', () => {
  it('reads a contact probability per frame from the raw features', () => {
    const probs = contactProbabilities(new Float32Array([1, 0, 0, 1, -2, 3]), 2, gate());
    const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
    for (const [t, z] of [2.5, -0.5, -6.5].entries()) assert.ok(Math.abs(probs[t]! - sigmoid(z)) < 1e-6);
    assert.throws(
      () => contactProbabilities(new Float32Array(5), 2, gate()),
      /\[contact-gate\] features hold 5/,
    );
    // Rows that also carry the detector's column: the probe reads the features before it.
    const withColumn = contactProbabilities(new Float32Array([1, 0, 0.9, 0, 1, 0.1, -2, 3, 0.5]), 3, gate());
    for (const [t, z] of [2.5, -0.5, -6.5].entries()) assert.ok(Math.abs(withColumn[t]! - sigmoid(z)) < 1e-6);
    assert.throws(() => contactProbabilities(new Float32Array(8), 4, gate()), /expected a multiple of dim 4/);
  });

  it("reads a detector gate's probability from each row's last column", () => {
    const detector: ContactGateSpec = {
      source: 'detector',
      threshold: 0.8,
      rampMs: 5,
      leadMs: 0,
      holdMs: 100,
      releaseDbPer10ms: 10,
      depthDb: -40,
      weak: null,
      inexactThreshold: null,
      reattack: null,
    };
    const rows = new Float32Array([9, 9, 0.1, -9, -9, 0.95, 0, 0, 0.3]); // two features and the detector's p
    assert.deepEqual(
      [...contactProbabilities(rows, 3, detector)].map((p) => Math.round(p * 100)),
      [10, 95, 30],
    );
    assert.throws(
      () => contactProbabilities(new Float32Array(8), 3, detector),
      /features hold 8 values and a detector gate/,
    );
  });

  it('opens at the peaks at or above the threshold, the highest of any closer than 3 frames', () => {
    const p = new Float32Array([
      0.9, 0.1, 0.5, 0.85, 0.95, 0.1, 0.82, 0.1, 0.1, 0.1, 0.79, 0.2, 0.9, 0.9, 0.1,
    ]);
    // 0: the first frame (nothing before it); 4 beats 3 (rising) and 6 (two frames on);
    // 10 is below the threshold; 12..13 is a plateau, opened at its first frame.
    assert.deepEqual(contactOpenings(p, 0.8), [0, 4, 12]);
    assert.deepEqual(contactOpenings(new Float32Array([0.5, 0.5]), 0.8), []);
  });

  it("replaces the detector's column by 1 at the openings and 0 elsewhere, in a new array", () => {
    const column = [0.9, 0.1, 0.5, 0.85, 0.95, 0.1, 0.82, 0.1, 0.79, 0.9, 0.9];
    const rows = new Float32Array(column.flatMap((p, t) => [t, -t, p])); // two features and p
    const given = rows.slice();
    const out = withOpeningsColumn(rows, 3, 0.8);
    assert.deepEqual(rows, given);
    assert.deepEqual(
      [...out].filter((_, i) => i % 3 === 2),
      column.map((_, t) => ([0, 4, 9].includes(t) ? 1 : 0)),
    );
    assert.deepEqual(
      [...out].filter((_, i) => i % 3 !== 2),
      [...rows].filter((_, i) => i % 3 !== 2),
    );
  });

  it('ramps up, holds 0 dB, then falls at the release rate to the depth, taking the highest of overlapping openings', () => {
    const g = gate();
    const gains = contactGainsDb([1, 2], 8, SPF, RATE, g);
    assert.equal(gains.length, 8 * SPF);
    assert.equal(gains[SPF - 1], -40); // closed before the first opening
    assert.equal(gains[SPF], -40); // the ramp starts from the depth
    assert.ok(Math.abs(gains[SPF + 40]! - -20) < 1e-4); // half way up a 5 ms (80-sample) ramp
    const second = 2 * SPF;
    assert.equal(gains[second + 40], 0); // the first opening's hold wins over the second's ramp
    const holdEnd = second + (100 / 1000) * RATE; // the later opening's hold sets the fall
    assert.equal(gains[holdEnd - 1], 0);
    assert.ok(Math.abs(gains[holdEnd + 160]! - -10) < 1e-3); // 10 ms later: -10 dB
    assert.equal(gains[holdEnd + 1000], -40); // floored at the depth
  });

  it('starts the attack leadMs before the opening frame, never before the first sample', () => {
    const g = gate({ leadMs: 10, holdMs: 20 }); // 160 samples; the first opening is closed by sample 960
    const gains = contactGainsDb([0, 3], 5, SPF, RATE, g);
    const start = 3 * SPF - 160;
    assert.equal(gains[start - 1], -40);
    assert.equal(gains[start], -40); // the ramp starts from the depth
    assert.ok(Math.abs(gains[start + 40]! - -20) < 1e-4);
    assert.equal(gains[start + 80], 0);
    assert.equal(gains[0], 0); // frame 0's ramp began before the first sample: already open
  });

  it('opens weak openings to their gain only, and lets a nearby higher peak win over a weak one', () => {
    const g = gate({ holdMs: 20, weak: { threshold: 0.6, gainDb: -10 } });
    // 1: a full opening; 2 is a weak peak beside it (gives way); 6: weak; 9: under both thresholds.
    const p = new Float32Array([0.1, 0.9, 0.65, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.5, 0.1, 0.1]);
    const gains = contactGateGainsDb(p, SPF, RATE, g);
    assert.equal(gains[SPF + 200], 0); // the full opening's hold
    assert.ok(gains[2 * SPF + 200]! < -10); // frame 1's release: the weak peak at 2 gave way, no cap
    assert.equal(gains[6 * SPF + 200], -10); // the weak opening's hold, capped
    assert.ok(gains[6 * SPF + 40]! < -10 && gains[6 * SPF + 40]! > -40); // its ramp, from the depth
    assert.equal(gains[9 * SPF + 200], -40); // 0.5: no opening
    const full = contactGateGainsDb(p, SPF, RATE, gate({ holdMs: 20 }));
    assert.equal(full[6 * SPF + 200], -40); // without weak openings frame 6 stays closed
    assert.deepEqual([...full.slice(0, 2 * SPF + 400)], [...gains.slice(0, 2 * SPF + 400)]); // the full openings are those of the gate's threshold alone
  });

  it('opens frames read before their right context only at the inexact threshold', () => {
    const g = gate({ holdMs: 20, inexactThreshold: 0.95 });
    // Peaks at 1 (0.9) and 6 (0.9 and 0.97 on the second copy); frames from 5 on are inexact.
    const p = new Float32Array([0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1]);
    assert.deepEqual(gateOpenings(p, g), [1, 6]); // every frame exact: the gate's threshold
    assert.deepEqual(gateOpenings(p, g, 5), [1]); // frame 6 under 0.95
    const gains = contactGateGainsDb(p, SPF, RATE, g, 5);
    assert.equal(gains[SPF + 200], 0);
    assert.equal(gains[6 * SPF + 200], -40);
    const sure = p.slice();
    sure[6] = 0.97;
    assert.deepEqual(gateOpenings(sure, g, 5), [1, 6]);
    // With weak openings an inexact peak under the inexact threshold opens to the weak gain.
    const weak = gate({ holdMs: 20, inexactThreshold: 0.95, weak: { threshold: 0.6, gainDb: -10 } });
    const weakGains = contactGateGainsDb(p, SPF, RATE, weak, 5);
    assert.equal(weakGains[SPF + 200], 0);
    assert.equal(weakGains[6 * SPF + 200], -10);
    // The waveform gate and the re-attack limit take the same openings.
    const wave = new Float32Array(10 * SPF).fill(1);
    assert.ok(Math.abs(applyContactGate(wave, p, SPF, RATE, g, 5)[6 * SPF + 200]! - 0.01) < 1e-6);
    assert.equal(applyContactGate(wave, p, SPF, RATE, g)[6 * SPF + 200], 1);
    const limit = { afterMs: 20, riseDb: 0, contactP: null, closedRiseDb: null };
    const rising = wave.map((_, i) => 1 + i / wave.length); // rises everywhere: the limit holds it
    const limited = applyReattackLimit(rising, p, SPF, RATE, { ...g, reattack: limit }, 5);
    const expected = reattackGains(rising, [1], SPF, RATE, g, limit);
    assert.notDeepEqual(expected, reattackGains(rising, [1, 6], SPF, RATE, g, limit));
    for (let s = 0; s < wave.length; s++) assert.ok(Math.abs(limited[s]! - rising[s]! * expected[s]!) < 1e-6);
  });

  it('keeps a sound from rising again after an opening, from afterMs to the end of its shape or the next opening', () => {
    // Openings at frames 1 and 9; the shape (100 ms hold, 40 dB at 10 dB / 10 ms) spans 140 ms.
    const limit = { afterMs: 20, riseDb: 2, contactP: null, closedRiseDb: null };
    const wave = new Float32Array(12 * SPF);
    const level = (from: number, to: number, a: number) => wave.fill(a, from, to);
    level(640, 960, 1); // the attack (before afterMs: left alone)
    level(960, 1600, 0.5); // its tail: the quietest level since afterMs
    level(1600, 2400, 1); // a second attack inside the shape
    level(2400, 2880, 0.25);
    level(2880, 4000, 1); // past the shape: the gate's depth is the limit there
    level(5760, 6400, 1); // the next opening's attack
    const gains = reattackGains(wave, [1, 9], SPF, RATE, gate(), limit);
    const allowed = 0.5 * 10 ** (2 / 20);
    for (const s of [800, 1200, 2600, 3500, 6000]) assert.equal(gains[s], 1, `sample ${s} untouched`);
    for (const s of [1700, 2000, 2300])
      assert.ok(Math.abs(gains[s]! - allowed) < 1e-6, `sample ${s}: ${gains[s]}`);
    // Gains move between block centres, never in a step.
    for (let s = 1; s < gains.length; s++) assert.ok(Math.abs(gains[s]! - gains[s - 1]!) <= 1 / 80 + 1e-6);
    // The next opening ends the first one's limit even inside its shape.
    const close = reattackGains(wave, [1, 3], SPF, RATE, gate(), limit);
    assert.equal(close[2000], 1, 'frame 3 opens at sample 1920: its own attack is left alone');
    // On a waveform: these gains at the gate's openings; nothing without the manifest's limit.
    const features = new Float32Array(24);
    features[1 * 2] = 5; // frame 1 a contact (p = sigmoid(10.5))
    for (let t = 0; t < 12; t++) if (t !== 1) features[t * 2] = -5;
    const gateProbs = contactProbabilities(features, 2, gate());
    const limited = applyReattackLimit(wave, gateProbs, SPF, RATE, gate({ reattack: limit }));
    const expected = reattackGains(wave, [1], SPF, RATE, gate(), limit);
    for (let s = 0; s < wave.length; s++) assert.ok(Math.abs(limited[s]! - wave[s]! * expected[s]!) < 1e-6);
    assert.ok(limited[2000]! < wave[2000]!, 'the second attack is held down');
    assert.equal(applyReattackLimit(wave, gateProbs, SPF, RATE, gate()), wave);
    // A second attack at a frame the detector reads as a contact (p >= contactP) keeps its rise.
    const probs = new Float32Array(12).fill(0.1);
    const seen = { ...limit, contactP: 0.6 };
    assert.deepEqual(reattackGains(wave, [1, 9], SPF, RATE, gate(), seen, probs), gains, 'p 0.1: as before');
    probs[3] = 0.9; // frame 3 (samples 1920-2560); blocks from frame 2 on see it beside them
    const kept = reattackGains(wave, [1, 9], SPF, RATE, gate(), seen, probs);
    for (const s of [1700, 2000, 2300]) assert.equal(kept[s], 1, `sample ${s} kept`);
  });

  it('with closedRiseDb, keeps the sound under the closed gate from making a new attack', () => {
    // Openings at frames 1 and 9; the first one's shape ends at sample 2880, the second attacks at 5760.
    const wave = new Float32Array(12 * SPF).fill(0.05);
    wave.fill(0.1, 0, 320);
    wave.fill(1, 320, 640); // an attack before the first opening
    wave.fill(1, 640, 960); // the first opening's attack
    wave.fill(0.5, 960, 2880);
    wave.fill(1, 3520, 4160); // an attack under the closed gate
    wave.fill(1, 5760, 6400); // the next opening's attack
    const open = { afterMs: 20, riseDb: 2, contactP: null, closedRiseDb: null };
    const untouched = reattackGains(wave, [1, 9], SPF, RATE, gate(), open);
    for (const s of [400, 3700, 4000])
      assert.equal(untouched[s], 1, `sample ${s}: no limit where the gate is closed`);
    const closed = { ...open, closedRiseDb: 2 };
    const gains = reattackGains(wave, [1, 9], SPF, RATE, gate(), closed);
    const rise = 10 ** (2 / 20);
    for (const s of [400, 500])
      assert.ok(Math.abs(gains[s]! - 0.1 * rise) < 1e-6, `sample ${s}: ${gains[s]}`);
    for (const s of [3700, 4000])
      assert.ok(Math.abs(gains[s]! - 0.05 * rise) < 1e-6, `sample ${s}: ${gains[s]}`);
    for (const s of [800, 2000, 3000, 6000]) assert.equal(gains[s], 1, `sample ${s} untouched`);
    // Without any opening the whole waveform is under the closed gate.
    assert.ok(reattackGains(wave, [], SPF, RATE, gate(), closed)[6000]! < 0.1);
    // A frame the detector reads as a contact keeps its rise there too.
    const probs = new Float32Array(12).fill(0.1);
    probs[6] = 0.9;
    const seen = reattackGains(wave, [1, 9], SPF, RATE, gate(), { ...closed, contactP: 0.6 }, probs);
    assert.equal(seen[4000], 1);
  });

  it('gates a waveform by its features and names a length that does not match', () => {
    const features = new Float32Array([5, 0, -5, 0, -5, 0]); // frame 0 a contact, then none
    const wave = new Float32Array(3 * SPF).fill(1);
    const probs = contactProbabilities(features, 2, gate());
    const out = applyContactGate(wave, probs, SPF, RATE, gate({ holdMs: 20 }));
    assert.equal(out[200], 1); // held open
    assert.ok(Math.abs(out[3 * SPF - 1]! - 0.01) < 1e-6); // -40 dB by the last frame
    assert.equal(wave[3 * SPF - 1], 1); // the input is untouched
    assert.throws(
      () => applyContactGate(new Float32Array(10), probs, SPF, RATE, gate()),
      /\[contact-gate\] waveform holds 10 samples, expected frames 3 × 640/,
    );
  });
});
