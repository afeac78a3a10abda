import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readSoundtrack } from '../../src/evaluation/soundtrack-reader.js';
import { dbToGain } from '../../src/media/audio-mix.js';
import { decodeWav } from '../../src/media/wav-file.js';
import { FOLEY_CLI, runFoley } from '../helpers/foley-cli.js';
import { makeMediaFixtures, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { brokenBundleCopy } from '../helpers/tiny-bundle.js';
import { cutAtPacketBoundary } from '../media/cut-input.js';

const CLI_TIMEOUT_MS = 120_000;

/** The manifest fields these tests edit. */
type EditableManifest = Record<string, unknown> & {
  video: { fps: number; width: number };
  models: Record<string, { file: string }>;
};
const editable = (m: Record<string, unknown>): EditableManifest => m as EditableManifest;

/** The CLI as a child (test/helpers/foley-cli.ts); a signal-ended run reads as code -1. */
async function foley(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const r = await runFoley(args, { timeoutMs: CLI_TIMEOUT_MS });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI under `ulimit -f` (KiB): writes past the limit fail with EFBIG (Node ignores SIGXFSZ). */
async function foleyWithFileLimit(
  limitKiB: number,
  args: string[],
): Promise<{ code: number; stderr: string; stdout: string }> {
  const r = await runFoley(args, { timeoutMs: CLI_TIMEOUT_MS, fileLimitKiB: limitKiB });
  return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
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

  it('keeps the input audio under the foley with --mix -6 (as a separate argument): the WAV is the foley plus the audio at -6 dB', async () => {
    const plain = join(f.dir, 'unmixed.wav');
    const mixed = join(f.dir, 'mixed.wav');
    assert.equal((await foley(['render', f.clip, '-o', plain, '--model', TINY_BUNDLE_DIR, '-q'])).code, 0);
    const r = await foley(['render', f.clip, '-o', mixed, '--model', TINY_BUNDLE_DIR, '--mix', '-6', '-q']);
    assert.equal(r.code, 0, r.stderr);
    const foleyOnly = decodeWav(readFileSync(plain)).samples;
    const both = decodeWav(readFileSync(mixed)).samples;
    const original = await readSoundtrack(f.clip, 16000);
    assert.equal(both.length, foleyOnly.length);
    const gain = dbToGain(-6);
    let worst = 0;
    let originalEnergy = 0;
    for (let i = 0; i < both.length; i++) {
      const o = i < original.length ? gain * original[i]! : 0;
      originalEnergy += o * o;
      worst = Math.max(worst, Math.abs(both[i]! - (foleyOnly[i]! + o)));
    }
    assert.ok(originalEnergy > 1, `the fixture's audio is audible (energy ${originalEnergy})`);
    // Two 16-bit roundings apart (the foley-only file and the mix), unless the limiter acted.
    assert.ok(worst <= 2 / 32768, `largest difference ${worst}`);
  });

  it('exits 4 for --mix on an input without audio before loading the models, and 2 for a --mix that is not a number', async () => {
    const out = join(f.dir, 'nomix.wav');
    const r = await foley(['render', f.oddClip, '-o', out, '--model', TINY_BUNDLE_DIR, '--mix', '0']);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr.split('\n')[0]!, /--mix\] the input has no audio track to keep under the foley/);
    assert.equal(existsSync(out), false);
    assert.deepEqual(tmpFiles(), []);
    const bad = await foley(['render', f.clip, '-o', out, '--model', TINY_BUNDLE_DIR, '--mix', 'loud']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--mix expects a number, got "loud"/);
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

  it('exits 4 for an input cut cleanly short of its stated duration, and renders what was read with --allow-partial', async () => {
    const cut = join(f.dir, 'cut.mp4');
    await cutAtPacketBoundary(f.clip, cut, 0.5);
    const out = join(f.dir, 'cut.wav');
    const r = await foley(['render', cut, '-o', out, '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(
      r.stderr,
      /\[media:.*cut\.mp4\] is truncated or damaged: read 0\.\d\d s of video \((\d+) frames at 25 fps\), the video stream's stated duration is 2\.00 s/,
    );
    assert.equal(existsSync(out), false);
    const partial = await foley(['render', cut, '-o', out, '--model', TINY_BUNDLE_DIR, '--allow-partial']);
    assert.equal(partial.code, 0, partial.stderr);
    const frames = Number(/\((\d+) frames at 25 fps\)/.exec(r.stderr)![1]);
    assert.equal(decodeWav(readFileSync(out)).samples.length, frames * 640);
    assert.match(partial.stderr, /warning: \[media:.*cut\.mp4\] ends at 0\.\d\d s of its stated 2\.00 s/);
  });

  it("puts its own message on stderr's first line and FFmpeg's detail after it", async () => {
    const r = await foley(['render', f.truncated, '-o', join(f.dir, 't.wav'), '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 4, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0]!, /^foley: \[media:.*truncated\.mp4\] /);
    assert.equal(lines[1], '  FFmpeg said:');
    assert.ok(lines.length > 2 && lines.slice(2).every((l) => l.startsWith('    ')), r.stderr);
  });

  it('exits 4 at once for a device such as /dev/urandom instead of probing it', async () => {
    const r = await foley(['render', '/dev/urandom', '-o', join(f.dir, 'u.wav'), '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(
      r.stderr,
      /^foley: \[media:\/dev\/urandom\] is not a regular file \(a folder, device or FIFO\)/,
    );
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
      models.unet_student!.outputs[0]!.shape = ['batch', 4, 'frames', 32];
    });
    try {
      const out = join(f.dir, 'mismatch.wav');
      const r = await foley(['render', f.clip, '-o', out, '--model', copy.dir]);
      assert.equal(r.code, 3);
      assert.match(
        r.stderr,
        /model:unet_student, output:eps\] manifest shape \[batch, 4, frames, 32\] disagrees/,
      );
      assert.equal(existsSync(out), false);
    } finally {
      copy.cleanup();
    }
  });

  it('exits 3, naming the field, for a bundle whose fps is out of range or whose width the encoder cannot take', async () => {
    for (const [edit, pattern] of [
      [
        (m: Record<string, unknown>) => {
          editable(m).video.fps = 100000;
        },
        /video\.fps\] expected a number in 1\.\.120, got 100000/,
      ],
      [
        (m: Record<string, unknown>) => {
          editable(m).video.width = 128;
        },
        /video_encoder\.inputs\[0\]\.shape\[3\]\] expected 128 \(video\.width\)/,
      ],
      [
        (m: Record<string, unknown>) => {
          editable(m).models.latent_decoder!.file = '../../../etc/passwd';
        },
        /models\.latent_decoder\.file\] expected a file inside the bundle folder/,
      ],
    ] as const) {
      const copy = brokenBundleCopy(edit);
      try {
        const out = join(f.dir, 'bounds.wav');
        const r = await foley(['render', f.clip, '-o', out, '--model', copy.dir]);
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stderr, pattern);
        assert.equal(existsSync(out), false);
      } finally {
        copy.cleanup();
      }
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

  it('exits 5 naming the output and leaves nothing when the file size limit cuts any write, the trailer included', async () => {
    const whole: Record<string, number> = {};
    for (const ext of ['mp4', 'mkv', 'wav']) {
      const out = join(f.dir, `full.${ext}`);
      const r = await foley(['render', f.clip, '-o', out, '--model', TINY_BUNDLE_DIR, '--quiet']);
      assert.equal(r.code, 0, r.stderr);
      whole[ext] = statSync(out).size;
    }
    // 20 KiB cuts the packets; one KiB short of the whole file cuts the MP4's trailing moov.
    for (const ext of ['mp4', 'mkv', 'wav']) {
      for (const limitKiB of [20, Math.floor((whole[ext]! - 1) / 1024)]) {
        const out = join(f.dir, `limited.${ext}`);
        const r = await foleyWithFileLimit(limitKiB, [
          'render',
          f.clip,
          '-o',
          out,
          '--model',
          TINY_BUNDLE_DIR,
        ]);
        assert.equal(r.code, 5, `${ext} at ${limitKiB} KiB: ${r.stderr}`);
        assert.match(
          r.stderr.split('\n')[0]!,
          new RegExp(`^foley: \\[output:${out.replaceAll('.', '\\.')}\\] .*EFBIG`),
        );
        assert.doesNotMatch(r.stderr, /wrote/);
        assert.equal(existsSync(out), false, `${ext} at ${limitKiB} KiB left a file`);
        assert.deepEqual(tmpFiles(), []);
      }
    }
  });

  it('removes its temporary output when interrupted mid-render and exits 130, every time', async () => {
    // Exiting while ONNX Runtime's worker threads ran aborted about one interrupt in two
    // (SIGABRT, "terminate called after throwing an instance of 'Napi::Error'"): four tries.
    for (let attempt = 0; attempt < 4; attempt++) {
      const out = join(f.dir, `interrupted-${attempt}.wav`);
      // Many small windows and steps: a render of a few seconds on the tiny bundle.
      const child = spawn(process.execPath, [
        FOLEY_CLI,
        'render',
        f.clip,
        '-o',
        out,
        '--model',
        TINY_BUNDLE_DIR,
        '--window',
        '8',
        '--overlap',
        '2',
        '--steps',
        '50',
        '--restarts',
        '4',
        '--quiet',
      ]);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
        child.on('exit', (code, signal) => resolve([code, signal])),
      );
      // The temporary file is created before the render starts.
      let sawTemporary = tmpFiles().length > 0;
      while (child.exitCode === null && !sawTemporary) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        sawTemporary = tmpFiles().length > 0;
      }
      assert.ok(sawTemporary, 'the render finished before a temporary output appeared');
      child.kill('SIGINT');
      assert.deepEqual(await exited, [130, null], `attempt ${attempt}: ${stderr}`);
      assert.doesNotMatch(stderr, /terminate called/);
      assert.equal(existsSync(out), false);
      assert.deepEqual(tmpFiles(), []);
    }
  });

  it('refuses an output on a kernel pseudo-filesystem and the input itself before rendering', async () => {
    const proc = await foley(['render', f.clip, '-o', '/proc/foley-out.wav', '--model', TINY_BUNDLE_DIR]);
    assert.equal(proc.code, 5);
    assert.match(
      proc.stderr,
      /^foley: \[output:\/proc\/foley-out\.wav\] \/proc is on the kernel's proc filesystem/,
    );
    const input = join(f.dir, 'own.mp4');
    copyFileSync(f.clip, input);
    const link = join(f.dir, 'own-link.mp4');
    symlinkSync(input, link);
    const before = readFileSync(input);
    for (const [source, output] of [
      [input, input],
      [input, join(f.dir, '.', 'own.mp4')],
      [link, input],
      [input, link],
    ] as const) {
      const r = await foley(['render', source, '-o', output, '--model', TINY_BUNDLE_DIR]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /is the input file itself/);
      assert.doesNotMatch(r.stderr, /wrote/);
    }
    assert.deepEqual(readFileSync(input), before);
    assert.equal(lstatSync(link).isSymbolicLink(), true);
  });
});
