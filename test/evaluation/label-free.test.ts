import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waveformOnsets } from '../../src/evaluation/clip-scorer.js';
import { findEvalClips, isLabelFree } from '../../src/evaluation/clip-set.js';
import { readSoundtrack, SoundtrackError } from '../../src/evaluation/soundtrack-reader.js';
import { encodeWav } from '../../src/media/wav-file.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const CLICK_TIMES_S = Object.freeze([0.4, 0.9, 1.5]);

/** 2 s of a decaying 1 kHz knock at each time, over a -60 dB hiss. */
function clicks(times: readonly number[], seconds: number, sampleRate = 16000): Float32Array {
  const out = new Float32Array(Math.round(seconds * sampleRate));
  let seed = 1;
  for (let i = 0; i < out.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out[i] = ((seed / 2 ** 32) * 2 - 1) * 0.001;
  }
  for (const t of times) {
    const at = Math.round(t * sampleRate);
    for (let k = 0; k < 2400 && at + k < out.length; k++)
      out[at + k]! += 0.5 * Math.exp(-k / 400) * Math.sin((2 * Math.PI * 1000 * k) / sampleRate);
  }
  return out;
}

/** A 96 px 25 fps H.264 video of `videoSeconds` with the WAV as its AAC audio (Debian's ffmpeg). */
function muxVideo(path: string, videoSeconds: number, wav?: string): void {
  const audio = wav ? ['-i', wav, '-c:a', 'aac', '-b:a', '96k'] : [];
  execFileSync('ffmpeg', [
    '-y',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=96x96:rate=25:duration=${videoSeconds}`,
    ...audio,
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    path,
  ]);
}

describe('label-free evaluation inputs', () => {
  let dir: string;
  let runner: InferenceRunner;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foley-label-free-'));
    writeFileSync(join(dir, 'clicks.wav'), encodeWav(clicks(CLICK_TIMES_S, 2), 16000));
    muxVideo(join(dir, 'clicks.mp4'), 2, join(dir, 'clicks.wav'));
    muxVideo(join(dir, 'silent.mp4'), 2);
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, { models: ['mel'] });
  });
  after(async () => {
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a video’s audio track as mono at the model’s rate, as long as it is', async () => {
    const audio = await readSoundtrack(join(dir, 'clicks.mp4'), 16000);
    assert.ok(Math.abs(audio.length - 32000) <= 1024, `${audio.length} samples`);
    let peak = 0;
    for (const v of audio) peak = Math.max(peak, Math.abs(v));
    assert.ok(peak > 0.3 && peak < 0.7, `peak ${peak}`);
  });

  it('finds the onsets of the track where the knocks are, with the scorer’s detector', async () => {
    const onsets = await waveformOnsets(runner, await readSoundtrack(join(dir, 'clicks.mp4'), 16000));
    assert.equal(onsets.length, CLICK_TIMES_S.length, `${onsets}`);
    onsets.forEach((t, i) =>
      assert.ok(Math.abs(t - CLICK_TIMES_S[i]!) <= 0.02, `${t} vs ${CLICK_TIMES_S[i]}`),
    );
  });

  it('names a video without an audio track and a file that is not media', async () => {
    await assert.rejects(readSoundtrack(join(dir, 'silent.mp4'), 16000), (e: Error) => {
      assert.ok(e instanceof SoundtrackError);
      assert.match(e.message, /silent\.mp4\] has no audio track/);
      return true;
    });
    await assert.rejects(readSoundtrack(join(dir, 'clicks.wav.json'), 16000), /does not exist/);
    const noise = Buffer.alloc(50_000);
    for (let i = 0; i < noise.length; i++) noise[i] = Math.imul(i, 2654435761) >>> 24;
    writeFileSync(join(dir, 'junk.bin'), noise);
    try {
      await assert.rejects(readSoundtrack(join(dir, 'junk.bin'), 16000), /junk\.bin\] cannot open as media/);
    } finally {
      rmSync(join(dir, 'junk.bin'));
    }
  });

  it('treats a folder of videos without events as label-free, and ignores them beside labelled clips', () => {
    const clipsFound = findEvalClips(dir);
    assert.deepEqual(
      clipsFound.map((c) => c.name),
      ['clicks.mp4', 'silent.mp4'],
    );
    assert.ok(isLabelFree(clipsFound));
    writeFileSync(join(dir, 'clicks.events.json'), JSON.stringify([{ time: 0.4, class: 'kick' }]));
    try {
      const labelled = findEvalClips(dir);
      assert.deepEqual(
        labelled.map((c) => c.name),
        ['clicks'],
      );
      assert.ok(!isLabelFree(labelled));
    } finally {
      rmSync(join(dir, 'clicks.events.json'));
    }
  });
});
