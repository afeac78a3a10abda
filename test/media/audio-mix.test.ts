import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { InvalidStateError, MediaInputError } from '../../src/errors.js';
import { readSoundtrack } from '../../src/evaluation/soundtrack-reader.js';
import { dbToGain, LIMITER_CEILING, OriginalAudioMixer, PeakLimiter } from '../../src/media/audio-mix.js';
import { makeMediaFixtures } from '../helpers/media-fixtures.js';

const RATE = 16000;

describe('PeakLimiter', () => {
  it('passes audio under the ceiling unchanged', () => {
    const quiet = Float32Array.from({ length: 1000 }, (_, i) => 0.5 * Math.sin(i / 7));
    assert.deepEqual(new PeakLimiter(RATE).process(Float32Array.from(quiet)), quiet);
  });

  it('keeps every sample of a sum over full scale within the ceiling, then recovers unity gain', () => {
    const limiter = new PeakLimiter(RATE);
    const loud = Float32Array.from({ length: 1600 }, (_, i) => 1.8 * Math.sin(i / 5));
    const limited = limiter.process(loud);
    assert.ok(limited.every((s) => Math.abs(s) <= LIMITER_CEILING + 1e-6));
    assert.ok(Math.max(...limited.map(Math.abs)) > LIMITER_CEILING - 1e-3, 'peaks reach the ceiling');
    // 500 ms of quiet (10 release time constants) later, the gain is back to 1 within 1e-4.
    limiter.process(new Float32Array(8000));
    const after = limiter.process(Float32Array.of(0.5));
    assert.ok(Math.abs(after[0]! - 0.5) < 1e-4, `${after[0]}`);
  });
});

describe('OriginalAudioMixer', () => {
  const f = makeMediaFixtures();
  after(() => f.cleanup());

  it('adds the input audio, resampled to the foley rate and scaled by the gain, in pieces of any size', async () => {
    const original = await readSoundtrack(f.clip, RATE);
    assert.ok(original.length > RATE, `original is ${original.length} samples`);
    const gain = dbToGain(-6);
    const mixer = await OriginalAudioMixer.open(f.clip, { sampleRate: RATE, gainDb: -6 });
    const foley = Float32Array.from({ length: original.length + 500 }, (_, i) => 0.1 * Math.sin(i / 3));
    const pieces = [1, 999, 7, 16000, foley.length - 17007];
    const mixed: number[] = [];
    let at = 0;
    for (const n of pieces) {
      const piece = foley.subarray(at, at + n);
      const before = Float32Array.from(piece);
      mixed.push(...mixer.mix(piece));
      assert.deepEqual(piece, before, 'the foley passed in is left as it was');
      at += n;
    }
    await mixer.close();
    assert.equal(mixed.length, foley.length);
    let worst = 0;
    for (let i = 0; i < foley.length; i++) {
      const expected = foley[i]! + (i < original.length ? gain * original[i]! : 0);
      assert.ok(Math.abs(expected) < LIMITER_CEILING, 'this input never reaches the limiter');
      worst = Math.max(worst, Math.abs(mixed[i]! - expected));
    }
    assert.ok(worst < 1e-6, `largest difference ${worst}`);
  });

  it('fails with a MediaInputError naming --mix when the input has no audio track', async () => {
    await assert.rejects(
      OriginalAudioMixer.open(f.oddClip, { sampleRate: RATE, gainDb: 0 }),
      (e: unknown) => {
        assert.ok(e instanceof MediaInputError);
        assert.match(e.message, /--mix\] the input has no audio track/);
        return true;
      },
    );
  });

  it('closes twice safely and refuses mix() after close', async () => {
    const mixer = await OriginalAudioMixer.open(f.clip, { sampleRate: RATE, gainDb: 0 });
    await mixer.close();
    await mixer.close();
    assert.throws(() => mixer.mix(new Float32Array(10)), InvalidStateError);
  });
});
