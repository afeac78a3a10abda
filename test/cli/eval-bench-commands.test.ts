import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/models/bundle.js';
import { makeMediaFixtures, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

async function foley(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { maxBuffer: 10_000_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('foley eval and foley bench', () => {
  const f = makeMediaFixtures();
  after(() => f.cleanup());
  const clips = join(f.dir, 'clips');
  mkdirSync(join(clips, 'train-1'), { recursive: true });
  copyFileSync(f.clip, join(clips, 'train-1', 'video.mp4'));
  writeFileSync(
    join(clips, 'train-1', 'events.json'),
    JSON.stringify({
      events: [
        { time: 0.5, class: 'kick' },
        { time: 1.2, class: 'snare' },
      ],
    }),
  );
  copyFileSync(f.clip, join(clips, 'loose.mp4'));
  writeFileSync(join(clips, 'loose.events.json'), JSON.stringify([{ time: 0.3, class: 'wood_ball' }]));

  it('scores every clip of a folder and reports F1, offset and class accuracy as JSON', async () => {
    const r = await foley(['eval', clips, '--json', '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.clips, 2);
    assert.equal(s.events, 3);
    assert.ok(s.onsetF1 >= 0 && s.onsetF1 <= 1);
    assert.ok(s.classAccuracy >= 0 && s.classAccuracy <= 1);
    assert.deepEqual(
      s.perClip.map((c: { name: string }) => c.name),
      ['loose', 'train-1'],
    );
  });

  it('scores the live chunker with --live, and refuses live flags without it', async () => {
    const r = await foley([
      'eval',
      clips,
      '--json',
      '--live',
      '--context-frames',
      '8',
      '--model',
      TINY_BUNDLE_DIR,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.window, 'live');
    assert.equal(s.clips, 2);
    const bad = await foley(['eval', clips, '--chunk-frames', '4', '--model', TINY_BUNDLE_DIR]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /need --live/);
    const both = await foley(['eval', clips, '--live', '--window', '20', '--model', TINY_BUNDLE_DIR]);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /do not apply to --live/);
  });

  it('exits 4 for a folder without clips', async () => {
    const r = await foley(['eval', f.dir, '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /has no clips/);
  });

  it('benches student, CFG-only, teacher and windowed variants with per-stage times', async () => {
    const r = await foley(['bench', '--json', '--clip', f.clip, '--model', TINY_BUNDLE_DIR, '--repeat', '1']);
    assert.equal(r.code, 0, r.stderr);
    const b = JSON.parse(r.stdout);
    assert.deepEqual(
      b.variants.map((v: { name: string }) => v.name),
      ['student double guidance', 'student CFG only', 'teacher 50-step', 'student windowed (streaming)'],
    );
    const first = b.variants[0];
    for (const stage of ['decode', 'cavp', 'unet', 'classifierGradient', 'latentDecoder', 'vocoder']) {
      assert.ok(first.stagesMs[stage] > 0, stage);
    }
    assert.equal(b.variants[1].stagesMs.classifierGradient ?? 0, 0);
    assert.ok(first.rtf > 0);
  });
});
