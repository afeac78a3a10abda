import assert from 'node:assert/strict';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TrainReport, trainingProgress } from '../../src/cli/train-command.js';
import { EXIT_CODES } from '../../src/errors.js';
import { defaultBundleDir, packageRoot } from '../../src/models/bundle.js';
import { runFoley } from '../helpers/foley-cli.js';
import { SAMPLE_CLIP } from '../helpers/media-fixtures.js';
import { makeFootageFolder, UNUSABLE, USABLE } from './footage-fixtures.js';

const PYTHON = join(packageRoot(), '.venv', 'bin', 'python');
const skipNoVenv = existsSync(PYTHON) ? false : `no Python venv at ${PYTHON} (npm run setup:python)`;
const foley = (args: string[], timeoutMs = 60_000) => runFoley(args, { timeoutMs });

describe('foley train command line', () => {
  it('describes every flag with its default, the same for "train --help" and "help train"', async () => {
    const direct = await foley(['train', '--help']);
    const viaHelp = await foley(['help', 'train']);
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(viaHelp.stdout, direct.stdout);
    const defaults: Record<string, RegExp> = {
      '--from': /default: models\/default/,
      '--steps': /default 600/,
      '--time-cap': /default: none/,
      '--holdout': /default 0\.2/,
      '--segment-seconds': /default 4/,
      '--batch': /default 16/,
      '--device': /cpu \(default\)/,
      '--work': /default: <bundle-dir>\.work/,
      '--seed': /default 0/,
      '--resume': /continue/,
      '--json': /JSON/,
      '--student-only': /default: both/,
      '--scratch': /from random$/,
      '--output': /must not exist/,
    };
    for (const [flag, text] of Object.entries(defaults)) {
      const line = direct.stdout.split('\n').find((l) => new RegExp(`^\\s+(-\\w, )?${flag}(\\s|$)`).test(l));
      assert.ok(line, `train --help does not mention ${flag}`);
      assert.match(line, text, line);
    }
    const usage = await foley(['--help']);
    assert.match(usage.stdout, /\n {2}train <videos-dir> -o <bundle-dir> /);
  });

  it('shows the trainer’s own ETA: a bar on a terminal, cleared before the next stage line; a line each report elsewhere', () => {
    const written: string[] = [];
    const onTerminal = trainingProgress({ isTTY: true, write: (t: string) => written.push(t) > 0 });
    onTerminal({ event: 'progress', step: 30, steps: 60, loss: 0.01234, elapsedS: 100, etaS: 12 });
    assert.match(written[0]!, /^\rtrain \[#{15}-{15}\] {2}50% ETA 12s step 30\/60 loss 0\.0123$/);
    onTerminal({ event: 'stage', stage: 'export', message: 'writing x' });
    assert.deepEqual(written.slice(1), ['\r\x1b[K', 'foley train: [export] writing x\n']);
    const logged: string[] = [];
    const inLog = trainingProgress({ isTTY: false, write: (t: string) => logged.push(t) > 0 });
    inLog({ event: 'progress', step: 30, steps: 60, loss: 0.01234, elapsedS: 100, etaS: 75 });
    assert.deepEqual(logged, ['foley train: step 30/60, loss 0.0123, 1m40s elapsed, ETA 1m15s\n']);
  });

  it('refuses bad flags with exit 2, naming the flag', async () => {
    for (const [args, message] of [
      [['train', 'x', '-o', 'y', '--holdout', '1'], /--holdout must be < 1/],
      [['train', 'x', '-o', 'y', '--device', 'tpu'], /--device must be one of cpu, cuda, auto/],
      [['train', 'x'], /-o <bundle-dir> is required/],
      [['train', 'x', '-o', 'y', '--scratch', '--student-only'], /--scratch .* cannot be --student-only/],
    ] as const) {
      const r = await foley([...args]);
      assert.equal(r.code, EXIT_CODES.usage.code, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  it('refuses to write over the start bundle, an existing bundle or an existing work folder, changing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'foley-train-refuse-'));
    try {
      const onFrom = await foley(['train', dir, '-o', defaultBundleDir()]);
      assert.equal(onFrom.code, EXIT_CODES.output.code, onFrom.stderr);
      assert.match(onFrom.stderr, /is the start bundle/);
      const inFrom = await foley(['train', dir, '-o', join(defaultBundleDir(), 'mine')]);
      assert.equal(inFrom.code, EXIT_CODES.output.code, inFrom.stderr);
      assert.match(inFrom.stderr, /mine is inside the start bundle/);
      assert.equal(existsSync(join(defaultBundleDir(), 'mine.work')), false);
      mkdirSync(join(dir, 'mine.work'));
      const onWork = await foley(['train', dir, '-o', join(dir, 'mine')]);
      assert.equal(onWork.code, EXIT_CODES.output.code, onWork.stderr);
      assert.match(onWork.stderr, /work folder .*mine\.work already exists .*pass --resume/);
      mkdirSync(join(dir, 'other'));
      const onOut = await foley(['train', dir, '-o', join(dir, 'other')]);
      assert.equal(onOut.code, EXIT_CODES.output.code, onOut.stderr);
      assert.match(onOut.stderr, /other already exists/);
      assert.deepEqual(readdirSync(dir).sort(), ['mine.work', 'other']);
      assert.deepEqual(readdirSync(join(dir, 'mine.work')), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(
  'foley train on a folder of videos, with the real trainer',
  { skip: skipNoVenv, timeout: 300_000 },
  () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'foley-train-'));
      mkdirSync(join(dir, 'videos'));
      makeFootageFolder(join(dir, 'videos'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('exits 4 naming each skipped video when fewer than two are usable, and leaves no work folder', async () => {
      const few = join(dir, 'few');
      mkdirSync(few);
      for (const name of ['a.mp4', 'noaudio.mp4', 'garbage.mp4', 'notes.txt'])
        copyFileSync(join(dir, 'videos', name), join(few, name));
      const r = await foley(['train', few, '-o', join(dir, 'few-out')]);
      assert.equal(r.code, EXIT_CODES.mediaInput.code, r.stderr);
      assert.match(r.stderr, /1 usable video\(s\); foley train needs at least 2/);
      assert.match(r.stderr, /noaudio\.mp4: .*has no audio track/);
      assert.match(r.stderr, /garbage\.mp4: .*cannot open as media/);
      assert.match(
        r.stderr,
        /Not videos, passed over: 1 \.txt \(foley train reads \.mp4, \.mkv, \.webm, \.mov\)/,
      );
      assert.equal(existsSync(join(dir, 'few-out.work')), false);
    });

    it('trains, stops on Ctrl-C with its checkpoint, resumes, scores held-out videos before and after, and the bundle renders', async () => {
      const out = join(dir, 'mine');
      // A copy of the default bundle as the start, so that the test can change it mid-run.
      const from = join(dir, 'start');
      cpSync(defaultBundleDir(), from, { recursive: true });
      const args = [
        join(dir, 'videos'),
        '-o',
        out,
        '--from',
        from,
        '--steps',
        '12',
        '--batch',
        '2',
        '--holdout',
        '0.34',
      ];
      // A Ctrl-C once training has started.
      const first = await runFoley(['train', ...args], {
        timeoutMs: 120_000,
        stopWhen: /\[train\] 12 steps at batch 2/,
        stopSignal: 'SIGINT',
      });
      assert.ok(first.stopped, first.stderr);
      assert.equal(first.code, 130, first.stderr);
      assert.match(first.stderr, /resume with: foley train .* --resume/);
      assert.equal(existsSync(out), false, 'no bundle from an interrupted run');
      assert.match(
        first.stderr,
        /interrupted \(checkpoint at step \d+\)/,
        'the trainer saved its checkpoint',
      );

      const again = await foley(['train', ...args], 30_000);
      assert.equal(again.code, EXIT_CODES.output.code, 'a second run without --resume is refused');
      const otherSteps = await foley(['train', ...args, '--steps', '20', '--resume'], 30_000);
      assert.equal(otherSteps.code, EXIT_CODES.usage.code, otherSteps.stderr);
      assert.match(otherSteps.stderr, /was started with steps 12, got 20/);
      // A start bundle changed since the run began is named and refused; restored, the run goes on.
      const manifestPath = join(from, 'manifest.json');
      const manifest = readFileSync(manifestPath);
      writeFileSync(manifestPath, `${manifest.toString()}\n`);
      const changed = await foley(['train', ...args, '--resume'], 30_000);
      assert.equal(changed.code, EXIT_CODES.bundle.code, changed.stderr);
      assert.match(changed.stderr, /start bundle .*start changed since the run began \(manifest\.json\)/);
      writeFileSync(manifestPath, manifest);

      // Resumed with no settings given again: steps, hold-out share and batch are the run's own.
      const resumed = await foley(['train', join(dir, 'videos'), '-o', out, '--resume', '--json'], 180_000);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stderr, /resumed at step \d+ of 12/);
      assert.doesNotMatch(resumed.stderr, /\(before\)/, 'the before score is reused');
      const report = JSON.parse(resumed.stdout) as TrainReport;
      assert.deepEqual(JSON.parse(readFileSync(join(out, 'train-report.json'), 'utf8')), report);
      assert.equal(report.videos.heldOut.length, 1);
      assert.deepEqual([...report.videos.trainedOn, ...report.videos.heldOut].sort(), Object.keys(USABLE));
      assert.equal(
        report.segments,
        report.videos.trainedOn.reduce((n, name) => n + USABLE[name as keyof typeof USABLE], 0),
      );
      assert.deepEqual(report.videos.otherFiles, { '.txt': 1 });
      assert.equal(report.videos.found, Object.keys(USABLE).length + Object.keys(UNUSABLE).length);
      assert.equal(report.videos.skipped.length, Object.keys(UNUSABLE).length);
      for (const [name, reason] of Object.entries(UNUSABLE)) {
        const skipped = report.videos.skipped.find((s) => s.name === name);
        assert.ok(skipped, `${name} is not named as skipped`);
        assert.match(skipped.reason, reason);
      }
      assert.deepEqual(
        {
          stepsDone: report.training.stepsDone,
          stoppedBy: report.training.stoppedBy,
          batch: report.training.batch,
        },
        { stepsDone: 12, stoppedBy: 'steps', batch: 2 },
      );
      assert.ok(Number.isFinite(report.training.finalLoss), String(report.training.finalLoss));
      const { before: b, after: a } = report.heldOutScores;
      assert.equal(b.model, 'default');
      assert.equal(a.model, 'mine');
      for (const score of [b, a]) {
        assert.equal(score.clips, 1);
        assert.ok(score.referenceOnsets > 0);
        assert.ok(score.onsetF1 >= 0 && score.onsetF1 <= 1, String(score.onsetF1));
        assert.ok(score.onsetsPerEvent === null || score.onsetsPerEvent >= 0);
        assert.ok(score.meanAbsOffsetMs === null || score.meanAbsOffsetMs <= 50);
      }
      assert.ok(
        !readFileSync(join(out, 'unet_student.onnx')).equals(
          readFileSync(join(defaultBundleDir(), 'unet_student.onnx')),
        ),
        'the student is the fine-tuned one',
      );

      const wav = join(dir, 'mine.wav');
      const render = await foley(['render', SAMPLE_CLIP, '-o', wav, '--model', out], 120_000);
      assert.equal(render.code, 0, render.stderr);
      assert.ok(statSync(wav).size > 8 * 16000 * 2, `${statSync(wav).size} bytes`);
    });
  },
);
