import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { decodeWav } from '../../src/media/wav-file.js';
import { packageRoot } from '../../src/models/bundle.js';
import { makeMediaFixtures, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { brokenBundleCopy } from '../helpers/tiny-bundle.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

async function foley(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('foley render', () => {
  const f = makeMediaFixtures();
  after(() => f.cleanup());
  const tmpFiles = () => readdirSync(f.dir).filter((n) => n.includes('.tmp'));

  it('renders a WAV of the clip length on the tiny bundle and reports per-stage times and RTF', async () => {
    const out = join(f.dir, 'render.wav');
    const r = await foley(['render', f.clip, '-o', out, '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 0, r.stderr);
    const wav = decodeWav(readFileSync(out));
    assert.equal(wav.sampleRate, 16000);
    assert.equal(wav.samples.length, 50 * 640);
    assert.match(r.stderr, /RTF \d+\.\d+; 1 window\): decode .*unet_student .*vocoder .*write/);
  });

  it('renders an MP4 through overlapping windows with the video stream copied', async () => {
    const out = join(f.dir, 'render.mp4');
    const r = await foley([
      'render',
      f.clip,
      '-o',
      out,
      '--model',
      TINY_BUNDLE_DIR,
      '--window',
      '20',
      '--overlap',
      '4',
      '--steps',
      '2',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(statSync(out).size > 1000);
    assert.match(r.stderr, /3 windows/);
  });

  it('exits 4 naming the problem for a corrupt, truncated or video-less input, leaving no output', async () => {
    for (const [input, pattern] of [
      [f.corrupt, /cannot open as media/],
      [f.truncated, /truncated/],
      [f.audioOnly, /has no video stream/],
    ] as const) {
      const out = join(f.dir, 'bad.mp4');
      const r = await foley(['render', input, '-o', out, '--model', TINY_BUNDLE_DIR]);
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(existsSync(out), false);
      assert.deepEqual(tmpFiles(), []);
    }
  });

  it('exits 3 for a missing model folder and for a bundle with a mismatched shape', async () => {
    const missing = await foley([
      'render',
      f.clip,
      '-o',
      join(f.dir, 'm.wav'),
      '--model',
      join(f.dir, 'no-such-model'),
    ]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /model folder not found/);
    const copy = brokenBundleCopy((m) => {
      const models = m.models as Record<string, { outputs: { shape: unknown[] }[] }>;
      models.video_encoder!.outputs[0]!.shape = ['batch', 'frames', 32];
    });
    try {
      const out = join(f.dir, 'mismatch.wav');
      const r = await foley(['render', f.clip, '-o', out, '--model', copy.dir]);
      assert.equal(r.code, 3);
      assert.match(
        r.stderr,
        /model:video_encoder, output:features\] manifest shape \[batch, frames, 32\] disagrees/,
      );
      assert.equal(existsSync(out), false);
    } finally {
      copy.cleanup();
    }
  });

  it('exits 5 for an unwritable output before doing any work, and 2 for bad flags', async () => {
    const r = await foley([
      'render',
      f.clip,
      '-o',
      join(f.dir, 'no-such-dir', 'out.wav'),
      '--model',
      TINY_BUNDLE_DIR,
    ]);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /no-such-dir does not exist/);
    const bad = await foley(['render', f.clip, '-o', join(f.dir, 'x.wav'), '--steps', 'many']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--steps expects a number, got "many"/);
  });
});
