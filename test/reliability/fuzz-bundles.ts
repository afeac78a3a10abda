/**
 * Broken bundles made from the tiny bundle (manifest fields removed, wrong-typed or out of
 * range, files missing, truncated or swapped, `file` pointing outside), each given to the
 * real `foley render --model` (and `foley serve --model` for a few): every one must be
 * refused with exit 3 and a first stderr line naming the field or file.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES } from '../../src/errors.js';
import { runFoley } from '../helpers/foley-cli.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { pool } from './fuzz-media.js';
import { FuzzRandom } from './fuzz-random.js';
import { type FuzzFailure, type SectionReport, tally } from './fuzz-report.js';

export interface BundleFuzzOptions {
  seed: number;
  quick: boolean;
  concurrency: number;
  timeoutMs: number;
}

// biome-ignore lint/suspicious/noExplicitAny: the cases edit arbitrary paths of the manifest
type Manifest = Record<string, any>;

interface BundleCase {
  id: string;
  /** Edits the manifest object (written back after). */
  manifest?: (m: Manifest) => void;
  /** Edits the bundle folder's files. */
  files?: (dir: string, rng: FuzzRandom) => void;
  /** What the first stderr line must name. */
  names: RegExp;
  /** Also start `foley serve` on it. */
  serve?: boolean;
}

const BUNDLE_CASES: BundleCase[] = [
  { id: 'fps-removed', manifest: (m) => delete m.video.fps, names: /video\.fps/, serve: true },
  {
    id: 'fps-string',
    manifest: (m) => {
      m.video.fps = 'fast';
    },
    names: /video\.fps/,
  },
  {
    id: 'fps-huge',
    manifest: (m) => {
      m.video.fps = 100_000;
    },
    names: /video\.fps/,
    serve: true,
  },
  {
    id: 'fps-zero',
    manifest: (m) => {
      m.video.fps = 0;
    },
    names: /video\.fps/,
  },
  {
    id: 'fps-nan-string',
    manifest: (m) => {
      m.video.fps = 'NaN';
    },
    names: /video\.fps/,
  },
  {
    id: 'width-mismatch',
    manifest: (m) => {
      m.video.width = 64;
    },
    names: /width|video_encoder/,
  },
  {
    id: 'side-huge',
    manifest: (m) => {
      m.video.height = 1e9;
    },
    names: /video\.height/,
  },
  { id: 'sample-rate-removed', manifest: (m) => delete m.audio.sampleRate, names: /audio\.sampleRate/ },
  {
    id: 'sample-rate-negative',
    manifest: (m) => {
      m.audio.sampleRate = -16000;
    },
    names: /audio\.sampleRate/,
  },
  {
    id: 'latent-channels-zero',
    manifest: (m) => {
      m.latent.channels = 0;
    },
    names: /latent\.channels/,
  },
  {
    id: 'alphas-short',
    manifest: (m) => {
      m.schedule.alphasCumprod = m.schedule.alphasCumprod.slice(0, 10);
    },
    names: /alphasCumprod/,
  },
  {
    id: 'alphas-string',
    manifest: (m) => {
      m.schedule.alphasCumprod[5] = 'x';
    },
    names: /alphasCumprod/,
  },
  {
    id: 'steps-zero',
    manifest: (m) => {
      m.sampling.steps = 0;
    },
    names: /sampling\.steps/,
  },
  {
    id: 'steps-huge',
    manifest: (m) => {
      m.sampling.steps = 1e9;
    },
    names: /sampling\.steps/,
  },
  {
    id: 'window-huge',
    manifest: (m) => {
      m.sampling.windowFrames = 1e12;
    },
    names: /sampling\.windowFrames/,
  },
  {
    id: 'unet-unknown',
    manifest: (m) => {
      m.sampling.unet = 'nope';
    },
    names: /nope|sampling\.unet/,
  },
  {
    id: 'format-other',
    manifest: (m) => {
      m.format = 'other';
    },
    names: /format/,
  },
  {
    id: 'format-version-99',
    manifest: (m) => {
      m.formatVersion = 99;
    },
    names: /formatVersion/,
  },
  {
    id: 'classes-string',
    manifest: (m) => {
      m.classes = 'ball';
    },
    names: /classes/,
  },
  { id: 'models-removed', manifest: (m) => delete m.models, names: /models/ },
  { id: 'vocoder-entry-removed', manifest: (m) => delete m.models.vocoder, names: /vocoder/, serve: true },
  {
    id: 'file-outside',
    manifest: (m) => {
      m.models.unet_student.file = '../../../../etc/passwd';
    },
    names: /unet_student|passwd|outside/,
  },
  {
    id: 'file-absolute',
    manifest: (m) => {
      m.models.vocoder.file = '/etc/passwd';
    },
    names: /vocoder|passwd/,
  },
  {
    id: 'file-not-string',
    manifest: (m) => {
      m.models.mel.file = 7;
    },
    names: /mel/,
  },
  {
    id: 'file-missing',
    manifest: (m) => {
      m.models.latent_decoder.file = 'nope.onnx';
    },
    names: /nope\.onnx|latent_decoder/,
  },
  {
    id: 'input-shape-wrong',
    manifest: (m) => {
      m.models.video_encoder.inputs[0].shape = ['batch', 'frames', 96, 96, 4];
    },
    names: /video_encoder/,
  },
  {
    id: 'input-name-wrong',
    manifest: (m) => {
      m.models.unet_student.inputs[0].name = 'x_t';
    },
    names: /unet_student/,
  },
  {
    id: 'input-dtype-wrong',
    manifest: (m) => {
      m.models.unet_student.inputs[1].dtype = 'int64';
    },
    names: /unet_student/,
  },
  {
    id: 'output-shape-wrong',
    manifest: (m) => {
      m.models.vocoder.outputs[0].shape = [1, 2, 3];
    },
    names: /vocoder/,
  },
  {
    id: 'prototype-keys',
    manifest: (m) => Object.assign(m, JSON.parse('{"__proto__":{"fps":25}}')) && delete m.video.fps,
    names: /video\.fps/,
  },
  {
    id: 'manifest-removed',
    files: (d) => unlinkSync(join(d, 'manifest.json')),
    names: /manifest\.json/,
    serve: true,
  },
  {
    id: 'manifest-not-json',
    files: (d) => writeFileSync(join(d, 'manifest.json'), '{"format": '),
    names: /manifest\.json/,
  },
  {
    id: 'manifest-empty',
    files: (d) => writeFileSync(join(d, 'manifest.json'), ''),
    names: /manifest\.json/,
  },
  {
    id: 'manifest-array',
    files: (d) => writeFileSync(join(d, 'manifest.json'), '[]'),
    names: /manifest\.json/,
  },
  {
    id: 'onnx-truncated',
    files: (d) => truncateSync(join(d, 'unet_student.onnx'), 300),
    names: /unet_student/,
  },
  {
    id: 'onnx-garbage',
    files: (d, r) => writeFileSync(join(d, 'vocoder.onnx'), r.bytes(4096)),
    names: /vocoder/,
  },
  {
    id: 'onnx-empty',
    files: (d) => writeFileSync(join(d, 'video_encoder.onnx'), ''),
    names: /video_encoder/,
  },
  { id: 'onnx-removed', files: (d) => unlinkSync(join(d, 'latent_decoder.onnx')), names: /latent_decoder/ },
  {
    id: 'onnx-swapped',
    files: (d) => writeFileSync(join(d, 'vocoder.onnx'), readFileSync(join(d, 'mel.onnx'))),
    names: /vocoder/,
  },
];

/** The cases a quick run keeps: one of each kind. */
const QUICK_CASES = new Set([
  'fps-huge',
  'width-mismatch',
  'file-outside',
  'input-shape-wrong',
  'manifest-not-json',
  'onnx-truncated',
  'onnx-swapped',
]);

export async function fuzzBundles(options: BundleFuzzOptions): Promise<SectionReport> {
  const started = performance.now();
  const rng = new FuzzRandom(options.seed).fork(4);
  const root = mkdtempSync(join(tmpdir(), 'foley-fuzz-bundles-'));
  const failures: FuzzFailure[] = [];
  const outcomes: Record<string, number> = {};
  const details: Array<Record<string, unknown>> = [];
  const clip = join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4');
  const chosen = BUNDLE_CASES.filter((c) => !options.quick || QUICK_CASES.has(c.id));
  try {
    const tasks = chosen.flatMap((c, index) => {
      const dir = join(root, c.id, 'bundle');
      cpSync(TINY_BUNDLE_DIR, dir, { recursive: true });
      if (c.manifest) {
        const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
        c.manifest(manifest);
        writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
      }
      c.files?.(dir, rng.fork(index));
      const commands: Array<['render' | 'serve', string[]]> = [
        ['render', ['render', clip, '-o', join(root, c.id, 'out.wav'), '--model', dir, '--quiet']],
      ];
      if (c.serve && (!options.quick || c.id === 'fps-huge'))
        commands.push(['serve', ['serve', '--model', dir, '--port', '0']]);
      return commands.map(([command, args]) => async () => {
        const caseId = `bundles/${c.id}:${command}`;
        const run = await runFoley(args, {
          timeoutMs: options.timeoutMs,
          ...(command === 'serve' ? { stopWhen: /https?:\/\/|listening/i } : {}),
        });
        const first = (run.stderr.split('\n')[0] ?? '').slice(0, 240);
        const fail = (detail: string) => failures.push({ caseId, detail });
        tally(outcomes, run.timedOut ? 'timeout' : run.signal ? `signal:${run.signal}` : `exit ${run.code}`);
        details.push({
          caseId,
          exitCode: run.code,
          signal: run.signal,
          firstStderrLine: first,
          ms: Math.round(run.ms),
        });
        if (run.timedOut) fail(`no exit in ${Math.round(run.ms)} ms`);
        else if (run.signal)
          fail(command === 'serve' ? `the server started on it (${first})` : `killed by ${run.signal}`);
        else if (run.code !== EXIT_CODES.bundle.code)
          fail(`exit ${run.code}, expected ${EXIT_CODES.bundle.code}: ${first}`);
        else if (!c.names.test(first)) fail(`first stderr line does not name ${c.names}: ${first}`);
      });
    });
    await pool(tasks, options.concurrency);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  details.sort((a, b) => String(a.caseId).localeCompare(String(b.caseId)));
  return {
    section: 'bundles',
    cases: details.length,
    outcomes,
    failures,
    ms: performance.now() - started,
    details,
  };
}
