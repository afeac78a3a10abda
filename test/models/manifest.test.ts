import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BundleError } from '../../src/errors.js';
import { featureRowDim, MANIFEST_LIMITS, MAX_RESTARTS, parseManifest } from '../../src/models/manifest.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const raw = () => JSON.parse(readFileSync(join(TINY_BUNDLE_DIR, 'manifest.json'), 'utf8'));

describe('parseManifest', () => {
  it('accepts the tiny-random manifest and keeps its geometry', () => {
    const m = parseManifest(raw(), 'bundle:tiny-random, manifest.json');
    assert.equal(m.audio.sampleRate, 16000);
    assert.equal(m.latent.channels, 4);
    assert.equal(m.schedule.alphasCumprod.length, m.schedule.trainSteps);
    assert.deepEqual(
      m.models.unet_student?.inputs.map((t) => t.name),
      ['z_t', 'timestep', 'video_features'],
    );
  });

  it('names the field when a number is a string', () => {
    const j = raw();
    j.audio.sampleRate = 'fast';
    assert.throws(
      () => parseManifest(j, 'bundle:x, manifest.json'),
      (e: unknown) => {
        assert.ok(e instanceof BundleError);
        assert.match(
          e.message,
          /\[bundle:x, manifest.json:audio\.sampleRate\] expected a finite number, got "fast"/,
        );
        return true;
      },
    );
  });

  it('reads the encoder reach ahead, defaults it to contextFrames and bounds it by contextFrames', () => {
    assert.equal(parseManifest(raw(), 'm').features.rightContextFrames, 2);
    const older = raw();
    delete older.features.rightContextFrames;
    assert.equal(parseManifest(older, 'm').features.rightContextFrames, older.features.contextFrames);
    const wrong = raw();
    wrong.features.rightContextFrames = wrong.features.contextFrames + 1;
    assert.throws(() => parseManifest(wrong, 'm'), /features\.rightContextFrames\] expected an integer <= /);
  });

  it('reads where classifier guidance acts, defaulting to every step and the whole input', () => {
    const older = parseManifest(raw(), 'm');
    assert.equal(older.sampling.cgMaxTimestep, older.schedule.trainSteps - 1);
    assert.equal(older.sampling.cgWindowFrames, null);
    const j = raw();
    j.sampling.cgMaxTimestep = 600;
    j.sampling.cgWindowFrames = 32;
    const m = parseManifest(j, 'm');
    assert.equal(m.sampling.cgMaxTimestep, 600);
    assert.equal(m.sampling.cgWindowFrames, 32);
    j.sampling.cgMaxTimestep = -1;
    assert.throws(() => parseManifest(j, 'm'), /sampling\.cgMaxTimestep\] expected an integer >= 0, got -1/);
    j.sampling.cgMaxTimestep = 600;
    j.sampling.cgWindowFrames = 0;
    assert.throws(
      () => parseManifest(j, 'm'),
      /sampling\.cgWindowFrames\] expected a positive integer, got 0/,
    );
  });

  it('reads restarts, defaulting to none, and names values out of range', () => {
    const older = raw();
    delete older.sampling.restarts;
    delete older.sampling.restartMaxTimestep;
    const o = parseManifest(older, 'm');
    assert.deepEqual([o.sampling.restarts, o.sampling.restartMaxTimestep], [0, o.schedule.trainSteps - 1]);
    const j = raw();
    j.sampling.restarts = 2;
    j.sampling.restartMaxTimestep = 800;
    const m = parseManifest(j, 'm');
    assert.deepEqual([m.sampling.restarts, m.sampling.restartMaxTimestep], [2, 800]);
    j.sampling.restarts = MAX_RESTARTS + 1;
    assert.throws(
      () => parseManifest(j, 'm'),
      new RegExp(`sampling\\.restarts\\] expected at most ${MAX_RESTARTS}`),
    );
    j.sampling.restarts = 1.5;
    assert.throws(() => parseManifest(j, 'm'), /sampling\.restarts\] expected an integer >= 0, got 1\.5/);
    j.sampling.restarts = 1;
    j.sampling.restartMaxTimestep = 1000;
    assert.throws(
      () => parseManifest(j, 'm'),
      /sampling\.restartMaxTimestep\] expected less than schedule\.trainSteps/,
    );
  });

  it('names a missing required model', () => {
    const j = raw();
    delete j.models.vocoder;
    assert.throws(() => parseManifest(j, 'b'), /\[b:models\.vocoder\] expected a model entry/);
  });

  it('rejects a schedule whose length disagrees with trainSteps', () => {
    const j = raw();
    j.schedule.alphasCumprod = j.schedule.alphasCumprod.slice(0, 10);
    assert.throws(() => parseManifest(j, 'b'), /schedule\.alphasCumprod\] expected 1000 values/);
  });

  it('rejects an unknown format version and a sampling UNet that is not a model', () => {
    const j = raw();
    j.formatVersion = 2;
    assert.throws(() => parseManifest(j, 'b'), /formatVersion\] expected 1, got 2/);
    const k = raw();
    k.sampling.unet = 'unet_missing';
    assert.throws(() => parseManifest(k, 'b'), /sampling\.unet\] expected a key of models/);
  });

  it('rejects a dtype outside the format', () => {
    const j = raw();
    j.models.vocoder.inputs[0].dtype = 'float64';
    assert.throws(() => parseManifest(j, 'b'), /models\.vocoder\.inputs\[0\]\.dtype\] expected "float32" or/);
  });

  it('bounds the sizes a manifest sets, naming the field and its range', () => {
    for (const [path, message] of [
      [['video', 'fps', 100000], /\[m:video\.fps\] expected a number in 1\.\.120, got 100000/],
      [['video', 'width', 5000], /\[m:video\.width\] expected an integer in 8\.\.1024, got 5000/],
      [['audio', 'sampleRate', 1e9], /\[m:audio\.sampleRate\] expected an integer in 8000\.\.192000/],
      [['sampling', 'windowFrames', 1e7], /\[m:sampling\.windowFrames\] expected an integer in 1\.\.100000/],
      [['features', 'dim', 1e6], /\[m:features\.dim\] expected an integer in 1\.\.16384/],
      [
        ['sampling', 'teacher', 'steps', 5000],
        /\[m:sampling\.teacher\.steps\] expected at most schedule\.trainSteps/,
      ],
    ] as const) {
      const j = raw();
      const keys = path.slice(0, -2) as readonly string[];
      const parent = keys.reduce((o, k) => o[k], j);
      parent[path.at(-2) as string] = path.at(-1);
      assert.throws(
        () => parseManifest(j, 'm'),
        (e: unknown) => e instanceof BundleError && message.test(e.message),
        path.join('.'),
      );
    }
    const m = parseManifest(raw(), 'm');
    assert.ok(m.video.fps >= MANIFEST_LIMITS.fps[0] && m.video.fps <= MANIFEST_LIMITS.fps[1]);
  });

  it('refuses a model file outside the bundle folder', () => {
    for (const file of ['../../../etc/passwd', '/etc/passwd', 'sub/../../x.onnx', '..\\x.onnx']) {
      const j = raw();
      j.models.mel.file = file;
      assert.throws(
        () => parseManifest(j, 'm'),
        /\[m:models\.mel\.file\] expected a file inside the bundle folder \(a relative path without ".."\)/,
        file,
      );
    }
    const j = raw();
    j.models.mel.file = 'sub/mel.onnx';
    assert.equal(parseManifest(j, 'm').models.mel?.file, 'sub/mel.onnx');
  });

  it('refuses a video geometry the video encoder cannot take, as a bundle error', () => {
    const j = raw();
    j.video.width = 128;
    assert.throws(
      () => parseManifest(j, 'm'),
      (e: unknown) =>
        e instanceof BundleError &&
        /\[m:models\.video_encoder\.inputs\[0\]\.shape\[3\]\] expected 128 \(video\.width\), the size video_encoder must take, got 96/.test(
          e.message,
        ),
    );
    const k = raw();
    k.latent.channels = 8;
    assert.throws(
      () => parseManifest(k, 'm'),
      /models\.latent_decoder\.inputs\[0\]\.shape\[1\]\] expected 8 \(latent\.channels\)/,
    );
  });
  it('reads an optional contact gate, and names a gate that does not fit the features', () => {
    assert.equal(parseManifest(raw(), 'm').contactGate, null);
    const j = raw();
    const dim = j.features.dim;
    j.contactGate = {
      weights: Array(dim).fill(0.5),
      bias: -1,
      threshold: 0.8,
      rampMs: 5,
      holdMs: 300,
      releaseDbPer10ms: 1.5,
      depthDb: -40,
    };
    const gate = parseManifest(j, 'm').contactGate;
    assert.equal(gate?.source, 'features'); // bundles from before the detector name no source
    assert.equal(gate?.source === 'features' && gate.weights.length, dim);
    assert.equal(gate?.holdMs, 300);
    assert.equal(gate?.leadMs, 0); // optional
    j.contactGate.leadMs = 10;
    assert.equal(parseManifest(j, 'm').contactGate?.leadMs, 10);
    j.contactGate.leadMs = 300;
    assert.throws(() => parseManifest(j, 'm'), /contactGate\.leadMs\] expected a number in 0\.\.200/);
    delete j.contactGate.leadMs;
    j.contactGate.weights = [1, 2];
    assert.throws(
      () => parseManifest(j, 'm'),
      new RegExp(`contactGate\\.weights\\] expected ${dim} numbers`),
    );
    j.contactGate.weights = Array(dim).fill(0);
    j.contactGate.threshold = 1;
    assert.throws(() => parseManifest(j, 'm'), /contactGate\.threshold\] expected a probability in \(0, 1\)/);
    j.contactGate.threshold = 0.5;
    j.contactGate.depthDb = 0;
    assert.throws(() => parseManifest(j, 'm'), /contactGate\.depthDb\] expected a gain in dB < 0/);
    j.contactGate.depthDb = -40;
    assert.equal(parseManifest(j, 'm').contactGate?.weak, null); // optional
    j.contactGate.weakThreshold = 0.4;
    j.contactGate.weakGainDb = -12;
    assert.deepEqual(parseManifest(j, 'm').contactGate?.weak, { threshold: 0.4, gainDb: -12 });
    j.contactGate.weakThreshold = 0.5;
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.weakThreshold\] expected a probability in \(0, 0\.5\): under the gate's threshold/,
    );
    delete j.contactGate.weakThreshold;
    delete j.contactGate.weakGainDb;
    assert.equal(parseManifest(j, 'm').contactGate?.inexactThreshold, null); // optional
    j.contactGate.inexactThreshold = 0.9;
    assert.equal(parseManifest(j, 'm').contactGate?.inexactThreshold, 0.9);
    j.contactGate.inexactThreshold = 0.4;
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.inexactThreshold\] expected a probability in \[0\.5, 1\): not under the gate's threshold/,
    );
    delete j.contactGate.inexactThreshold;
    assert.equal(parseManifest(j, 'm').contactGate?.reattack, null); // optional
    j.contactGate.reattackAfterMs = 40;
    j.contactGate.reattackRiseDb = 2;
    assert.deepEqual(parseManifest(j, 'm').contactGate?.reattack, {
      afterMs: 40,
      riseDb: 2,
      contactP: null,
      closedRiseDb: null,
    });
    j.contactGate.reattackContactP = 0.6;
    j.contactGate.reattackClosedRiseDb = 3;
    assert.deepEqual(parseManifest(j, 'm').contactGate?.reattack, {
      afterMs: 40,
      riseDb: 2,
      contactP: 0.6,
      closedRiseDb: 3,
    });
    j.contactGate.reattackClosedRiseDb = 61;
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.reattackClosedRiseDb\] expected a number in 0\.\.60/,
    );
    delete j.contactGate.reattackClosedRiseDb;
    j.contactGate.reattackRiseDb = -1;
    assert.throws(() => parseManifest(j, 'm'), /contactGate\.reattackRiseDb\] expected a number in 0\.\.60/);
    delete j.contactGate.reattackRiseDb;
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.reattackRiseDb\] expected a rise in dB, given with reattackAfterMs/,
    );
    delete j.contactGate.reattackAfterMs;
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.reattackContactP\] expected nothing without reattackAfterMs and reattackRiseDb, got 0\.6/,
    );
    delete j.contactGate.reattackContactP;
    j.contactGate.reattackClosedRiseDb = 0;
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.reattackClosedRiseDb\] expected nothing without reattackAfterMs and reattackRiseDb, got 0/,
    );
    delete j.contactGate.reattackClosedRiseDb;
    j.contactGate.weakThreshold = 0.4;
    j.contactGate.weakGainDb = -40;
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.weakGainDb\] expected a gain in dB in \(-40, 0\)/,
    );
    delete j.contactGate.weakGainDb;
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.weakGainDb\] expected a gain in dB, given with weakThreshold/,
    );
  });
  it('reads a gate keyed on the contact detector, which must be among the models, and counts its column in the feature rows', () => {
    const j = raw();
    const shape = { threshold: 0.8, rampMs: 5, holdMs: 300, releaseDbPer10ms: 1.5, depthDb: -40 };
    j.contactGate = { source: 'detector', ...shape };
    assert.throws(
      () => parseManifest(j, 'm'),
      /contactGate\.source\] expected "features", or a models entry "contact_detector" for "detector"/,
    );
    j.models.contact_detector = {
      file: 'contact_detector.onnx',
      inputs: [{ name: 'frames', dtype: 'uint8', shape: ['batch', 'frames', 96, 96, 3] }],
      outputs: [{ name: 'contact', dtype: 'float32', shape: ['batch', 'frames'] }],
    };
    const m = parseManifest(j, 'm');
    assert.deepEqual(m.contactGate, {
      source: 'detector',
      ...shape,
      leadMs: 0,
      weak: null,
      inexactThreshold: null,
      reattack: null,
    });
    assert.equal(featureRowDim(m), j.features.dim + 1);
    assert.equal(featureRowDim(parseManifest(raw(), 'm')), j.features.dim);
    j.contactGate.source = 'probe';
    assert.throws(() => parseManifest(j, 'm'), /contactGate\.source\] expected "features" or "detector"/);
    j.contactGate.source = 'detector';
    j.models.contact_detector.inputs[0].shape[2] = 64;
    assert.throws(
      () => parseManifest(j, 'm'),
      /models\.contact_detector\.inputs\[0\]\.shape\[2\]\] expected 96 \(video\.height\)/,
    );
  });
});
