/**
 * `foley train <videos-dir> -o <bundle-dir>`: fine-tunes a bundle on one's own footage, with no
 * labels (each video's own audio is the target). Stages, each kept in the work folder so a
 * `--resume` picks up where a run stopped:
 *   1. split.json   every video checked (sound, length, readable), the usable ones split into
 *                   trained-on and held-out, deterministically;
 *   2. data/        the trained-on videos cut into segments (src/training/footage-set.ts);
 *   3. before.json  the held-out videos scored with the start bundle (`foley eval`, label-free);
 *   4. run/         the Python trainer (src/training/trainer-process.ts) writes <bundle-dir>;
 *   5. after.json   the held-out videos scored with the new bundle;
 * then <bundle-dir>/train-report.json. Nothing already made is overwritten.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BundleError, MediaInputError, OutputError, UsageError } from '../errors.js';
import { captureFfmpegLog } from '../media/ffmpeg-log.js';
import { bundleFileDigests, changedBundleFiles, defaultBundleDir, loadBundle } from '../models/bundle.js';
import {
  describeOtherFiles,
  FOOTAGE_VIDEO_EXTENSIONS,
  type FootageFolder,
  type FootageVideo,
  type SkippedVideo,
  scanFootageFolder,
} from '../training/footage-folder.js';
import {
  type FootageSetSpec,
  footageSetSpec,
  inspectFootageVideo,
  readFootageSetMeta,
  writeFootageSet,
} from '../training/footage-set.js';
import { splitHoldout } from '../training/holdout-split.js';
import {
  errorForExit,
  type TrainerDone,
  type TrainerEvent,
  TrainerProcess,
  trainerEnvironment,
} from '../training/trainer-process.js';
import type { EvalSummary } from './eval-command.js';
import { parse } from './options.js';
import { formatDuration, ProgressBar, renderBar } from './progress-bar.js';

export const TRAIN_DEFAULTS = Object.freeze({
  steps: 600,
  holdout: 0.2,
  segmentSeconds: 4,
  batch: 16,
  device: 'cpu' as const,
  seed: 0,
});

export const TRAIN_USAGE = `usage: foley train <videos-dir> -o <bundle-dir> [options]
  Fine-tunes a model bundle on a folder of videos with sound, no labels needed: each video's
  own audio is what the model learns to make from its pictures. Part of the folder is held out
  and scored (onset F1 against the held-out videos' own audio) before and after training.
  Videos without an audio track, with a silent one, shorter than one segment or unreadable are
  named and skipped. Needs a checkout with the Python environment (npm run setup:python).
  -o, --output DIR       the new bundle folder (must not exist)
  --from DIR             start bundle (default: models/default)
  --steps N              training steps (default ${TRAIN_DEFAULTS.steps})
  --time-cap MIN         stop training after this many minutes (default: none), counting
                         resumed runs; the bundle is written with the steps done by then
  --resume               continue the run in the work folder (its split, data, scores and
                         the trainer's checkpoint); the start bundle, steps, held-out share,
                         segment length, seed, --student-only and --scratch stay as the run began; batch, device and
                         time cap too unless given again. The start bundle's files must be as
                         they were when the run began (checked by their SHA-256)
  --holdout F            share of the usable videos held out for scoring (default ${TRAIN_DEFAULTS.holdout};
                         at least 1, and at least 1 left to train on)
  --segment-seconds S    length of the training segments cut from each video (default ${TRAIN_DEFAULTS.segmentSeconds};
                         a multiple of 0.04 s, at least 1); shorter videos are skipped
  --batch N              segments per training step (default ${TRAIN_DEFAULTS.batch})
  --device D             where the trainer runs: cpu (default), cuda or auto; scoring runs on the CPU
  --work DIR             work folder (default: <bundle-dir>.work)
  --seed S               seed of the held-out split and of training (default ${TRAIN_DEFAULTS.seed})
  --student-only         fine-tune the diffusion student alone (default: both it and the CAVP
                         video encoder, end to end: slower per step, but the video encoder is
                         where a new look is learnt)
  --scratch              start the CAVP video encoder and the diffusion student from random
                         weights instead of --from's; the audio codec (mel encoder, latent
                         decoder, vocoder) is still --from's. Needs far more steps than a
                         fine-tune; the bundle is made without classifier guidance
  --json                 print the final report as JSON
  -h, --help             this help
  Ctrl-C saves the trainer's checkpoint and exits 130; run the same command with --resume to go on.`;

/** Settings that shape what the work folder holds: fixed for the run's life. */
interface RunSettings {
  videosDir: string;
  from: string;
  steps: number;
  holdout: number;
  segmentSeconds: number;
  seed: number;
  /** Also fine-tune the CAVP video encoder (the trainer's --train-video); off with --student-only. */
  trainVideo: boolean;
  /** Video encoder and student from random weights (the trainer's --scratch). */
  scratch: boolean;
  /** bundleFileDigests of `from` when the run began (absent in runs begun before it was kept). */
  fromDigests?: Record<string, string>;
}

/** How the trainer runs: may change on --resume (flags given again win). */
interface TrainingChoices {
  batch: number;
  device: 'cpu' | 'cuda' | 'auto';
  timeCapMin: number | null;
}

interface SplitRecord {
  segmentFrames: number;
  /** Files with a video extension. */
  found: number;
  otherFiles: Record<string, number>;
  train: FootageVideo[];
  heldOut: FootageVideo[];
  skipped: SkippedVideo[];
}

/** The figures of one `foley eval --json` kept in the report. */
export type HeldOutScore = Pick<
  EvalSummary,
  'model' | 'clips' | 'referenceOnsets' | 'onsetF1' | 'meanAbsOffsetMs' | 'onsetsPerEvent' | 'skipped'
>;

export interface TrainReport {
  bundle: string;
  name: string;
  from: string;
  /** The video encoder and student started from random weights; `from` gave the audio codec. */
  scratch: boolean;
  videosDir: string;
  work: string;
  videos: {
    /** Files with a video extension. */
    found: number;
    /** Files without one, by extension: passed over. */
    otherFiles: Record<string, number>;
    trainedOn: string[];
    heldOut: string[];
    skipped: SkippedVideo[];
  };
  segments: number;
  segmentSeconds: number;
  training: {
    steps: number;
    stepsDone: number;
    stoppedBy: 'steps' | 'time-cap';
    seconds: number;
    finalLoss: number | null;
    batch: number;
    device: string;
  };
  heldOutScores: { before: HeldOutScore; after: HeldOutScore };
}

const say = (line: string): void => {
  process.stderr.write(`foley train: ${line}\n`);
};

function numberValue(
  values: Record<string, string | boolean | undefined>,
  name: string,
  check: { integer?: boolean; min?: number; above?: number; below?: number },
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const fail = (what: string) => new UsageError(`[foley train] --${name} ${what}, got "${String(raw)}"`);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) throw fail('expects a number');
  if (check.integer && !Number.isInteger(n)) throw fail('expects an integer');
  if (check.min !== undefined && n < check.min) throw fail(`must be >= ${check.min}`);
  if (check.above !== undefined && n <= check.above) throw fail(`must be > ${check.above}`);
  if (check.below !== undefined && n >= check.below) throw fail(`must be < ${check.below}`);
  return n;
}

function readJson<T>(path: string): T | null {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null;
}

/** Writes JSON whole or not at all (a Ctrl-C mid-write leaves no half file to resume from). */
function writeJsonAtomic(path: string, value: unknown): void {
  writeFileSync(`${path}.partial`, `${JSON.stringify(value, null, 1)}\n`);
  renameSync(`${path}.partial`, path);
}

const sameDir = (a: string, b: string): boolean =>
  resolve(a) === resolve(b) || (existsSync(a) && existsSync(b) && realpathSync(a) === realpathSync(b));

/** A child command this process waits on: interruptible by forwarding the signal once. */
interface Interruptible {
  interrupt(): void;
  kill(): void;
}

class Interrupted extends Error {}

export async function trainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('train', argv, {
    output: { type: 'string', short: 'o' },
    from: { type: 'string' },
    steps: { type: 'string' },
    'time-cap': { type: 'string' },
    resume: { type: 'boolean' },
    holdout: { type: 'string' },
    'segment-seconds': { type: 'string' },
    batch: { type: 'string' },
    device: { type: 'string' },
    work: { type: 'string' },
    json: { type: 'boolean' },
    seed: { type: 'string' },
    'student-only': { type: 'boolean' },
    scratch: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(`${TRAIN_USAGE}\n`);
    return 0;
  }
  // FFmpeg's complaints about a skipped video stay out of the way; the skip names the video.
  captureFfmpegLog();
  const videosArg = positionals[0];
  if (!videosArg || positionals.length > 1)
    throw new UsageError(`[foley train] expects one folder of videos\n${TRAIN_USAGE}`);
  if (typeof values.output !== 'string')
    throw new UsageError(`[foley train] -o <bundle-dir> is required\n${TRAIN_USAGE}`);
  const out = resolve(values.output);
  const work = resolve((values.work as string | undefined) ?? `${out}.work`);
  const resume = values.resume === true;
  const deviceFlag = values.device as string | undefined;
  if (deviceFlag !== undefined && deviceFlag !== 'cpu' && deviceFlag !== 'cuda' && deviceFlag !== 'auto')
    throw new UsageError(`[foley train] --device must be one of cpu, cuda, auto, got "${deviceFlag}"`);
  const batchFlag = numberValue(values, 'batch', { integer: true, min: 1 });
  const timeCapFlag = numberValue(values, 'time-cap', { above: 0 });
  const given: Partial<RunSettings> = {
    videosDir: resolve(videosArg),
    from: values.from === undefined ? undefined : resolve(values.from as string),
    steps: numberValue(values, 'steps', { integer: true, min: 1 }),
    holdout: numberValue(values, 'holdout', { above: 0, below: 1 }),
    segmentSeconds: numberValue(values, 'segment-seconds', { min: 1 }),
    seed: numberValue(values, 'seed', { integer: true, min: 0 }),
    trainVideo: values['student-only'] === true ? false : undefined,
    scratch: values.scratch === true ? true : undefined,
  };
  if (given.scratch && given.trainVideo === false)
    throw new UsageError(
      '[foley train] --scratch trains the video encoder from random weights; it cannot be --student-only',
    );
  const settingsPath = join(work, 'train.json');
  const choicesPath = join(work, 'trainer-choices.json');
  let settings: RunSettings;
  let recordedChoices: TrainingChoices = {
    batch: TRAIN_DEFAULTS.batch,
    device: TRAIN_DEFAULTS.device,
    timeCapMin: null,
  };
  const kept = resume ? readJson<RunSettings>(settingsPath) : null;
  // Runs recorded before --scratch existed were fine-tunes.
  const recorded = kept ? { ...kept, scratch: kept.scratch ?? false } : null;
  if (recorded) {
    for (const [key, value] of Object.entries(given) as [keyof RunSettings, unknown][]) {
      if (value !== undefined && value !== recorded[key])
        throw new UsageError(
          `[foley train] --resume: the run in ${work} was started with ${key} ${recorded[key]}, got ${value}; drop the flag or start a new run without --resume`,
        );
    }
    settings = recorded;
    const choices = readJson<TrainingChoices>(choicesPath);
    if (choices) recordedChoices = choices;
  } else {
    if (resume && !existsSync(work)) say(`nothing to resume in ${work}: starting a new run`);
    if (existsSync(work))
      throw new OutputError(
        resume
          ? `[foley train] ${work} holds no run to resume (no train.json); remove it or pass another --work`
          : `[foley train] the work folder ${work} already exists (an earlier run?): pass --resume to continue it, or --work DIR for a new one; nothing was changed`,
      );
    settings = {
      videosDir: given.videosDir!,
      from: given.from ?? resolve(defaultBundleDir()),
      steps: given.steps ?? TRAIN_DEFAULTS.steps,
      holdout: given.holdout ?? TRAIN_DEFAULTS.holdout,
      segmentSeconds: given.segmentSeconds ?? TRAIN_DEFAULTS.segmentSeconds,
      seed: given.seed ?? TRAIN_DEFAULTS.seed,
      trainVideo: given.trainVideo ?? true,
      scratch: given.scratch ?? false,
    };
  }
  if (out.startsWith(resolve(settings.from) + sep))
    throw new OutputError(
      `[foley train] -o ${out} is inside the start bundle ${settings.from}; choose a folder outside it`,
    );
  if (sameDir(out, settings.from))
    throw new OutputError(
      `[foley train] -o ${out} is the start bundle; choose a new folder for the trained bundle`,
    );
  const trainerDonePath = join(work, 'trainer-done.json');
  if (existsSync(out) && !(resume && existsSync(trainerDonePath)))
    throw new OutputError(
      `[foley train] ${out} already exists; choose a new -o folder (nothing was overwritten)`,
    );

  const startBundle = await loadBundle(settings.from);
  // The trainer reads the start bundle again on resume, and the new bundle takes its audio codec:
  // a start bundle changed mid-run would mix weights trained against another codec.
  const fromDigests = await bundleFileDigests(startBundle);
  if (recorded?.fromDigests) {
    const changed = changedBundleFiles(recorded.fromDigests, fromDigests);
    if (changed.length > 0)
      throw new BundleError(
        `[foley train] --resume: the start bundle ${settings.from} changed since the run began (${changed.join(', ')}); restore it, or start a new run without --resume`,
      );
  } else if (recorded) {
    say(`this run began before start bundles were fingerprinted: ${settings.from} is taken as it is now`);
  } else {
    settings.fromDigests = fromDigests;
  }
  const spec = footageSetSpec(startBundle.manifest, settings.segmentSeconds);
  trainerEnvironment(); // a missing venv is named before the long preparation
  const videosFolder = scanFootageFolder(settings.videosDir); // a wrong folder is named before work exists
  const madeWork = !existsSync(work);
  mkdirSync(work, { recursive: true });
  if (!recorded) writeJsonAtomic(settingsPath, settings);
  // How to train may change on --resume; what is not given again stays as it was.
  const { batch, device, timeCapMin }: TrainingChoices = {
    batch: batchFlag ?? recordedChoices.batch,
    device: (deviceFlag as TrainingChoices['device'] | undefined) ?? recordedChoices.device,
    timeCapMin: timeCapFlag ?? recordedChoices.timeCapMin,
  };
  writeJsonAtomic(choicesPath, { batch, device, timeCapMin });

  let current: Interruptible | null = null;
  let stopSignal: NodeJS.Signals | null = null;
  const resumeHint = (): string =>
    `foley train ${JSON.stringify(settings.videosDir)} -o ${JSON.stringify(out)}` +
    (values.work !== undefined ? ` --work ${JSON.stringify(work)}` : '') +
    ' --resume';
  const onSignal = (signal: NodeJS.Signals): void => {
    const code = 128 + (osConstants.signals[signal] ?? 0);
    if (stopSignal) {
      current?.kill();
      process.exit(code);
    }
    stopSignal = signal;
    if (current) {
      say(`${signal}: stopping (the trainer saves its checkpoint; a second ${signal} ends at once)`);
      current.interrupt();
    } else {
      // Preparation in this process: what it made is complete (meta.json, split.json) or redone.
      say(`interrupted; resume with: ${resumeHint()}`);
      process.exit(code);
    }
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of signals) process.on(s, onSignal);
  try {
    const split = await prepareSplit(videosFolder, settings, spec, join(work, 'split.json'));
    const segments = await prepareData(split, spec, join(work, 'data'));
    const holdoutDir = linkHeldOut(split.heldOut, join(work, 'holdout'));
    // FFmpeg's messages so far were about the skipped videos, not about a later failure.
    captureFfmpegLog();
    const evalChild = (model: string): Promise<HeldOutScore> => {
      const child = runEval(holdoutDir, model);
      current = child;
      return child.finished.finally(() => {
        current = null;
      });
    };
    const before = await cached(join(work, 'before.json'), () => {
      say(`scoring ${split.heldOut.length} held-out video(s) with ${startBundle.manifest.name} (before)`);
      return evalChild(settings.from);
    });
    let done = readJson<TrainerDone>(trainerDonePath);
    if (!done || !existsSync(join(out, 'manifest.json'))) {
      const trainer = TrainerProcess.start(
        {
          bundle: settings.from,
          data: join(work, 'data'),
          run: join(work, 'run'),
          out,
          name: basename(out),
          steps: settings.steps,
          ...(timeCapMin !== null ? { timeCapS: timeCapMin * 60 } : {}),
          device,
          batch,
          seed: settings.seed,
          trainVideo: settings.trainVideo,
          scratch: settings.scratch,
          resume: existsSync(join(work, 'run')),
        },
        trainingProgress(),
      );
      current = trainer;
      const outcome = await trainer.finished.finally(() => {
        current = null;
      });
      if (outcome.kind === 'interrupted')
        throw new Interrupted(`checkpoint at step ${outcome.checkpointStep}`);
      done = outcome.done;
      writeJsonAtomic(trainerDonePath, done);
    }
    const after = await cached(join(work, 'after.json'), () => {
      say(`scoring the held-out video(s) with the new bundle ${basename(out)} (after)`);
      return evalChild(out);
    });
    const report: TrainReport = {
      bundle: out,
      name: basename(out),
      from: settings.from,
      scratch: settings.scratch,
      videosDir: settings.videosDir,
      work,
      videos: {
        found: split.found,
        otherFiles: split.otherFiles,
        trainedOn: segments.used,
        heldOut: split.heldOut.map((v) => v.name),
        skipped: [...split.skipped, ...segments.skipped],
      },
      segments: segments.count,
      segmentSeconds: settings.segmentSeconds,
      training: {
        steps: settings.steps,
        stepsDone: done.stepsDone,
        stoppedBy: done.stoppedBy,
        seconds: done.seconds,
        finalLoss: done.finalLoss,
        batch,
        device,
      },
      heldOutScores: { before, after },
    };
    writeFileSync(join(out, 'train-report.json'), `${JSON.stringify(report, null, 1)}\n`);
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
    else process.stdout.write(formatReport(report));
    return 0;
  } catch (error) {
    if (error instanceof Interrupted || stopSignal) {
      say(
        `interrupted (${error instanceof Interrupted ? error.message : (error as Error).message}); nothing made so far is lost`,
      );
      say(`resume with: ${resumeHint()}`);
      return 128 + (osConstants.signals[stopSignal ?? 'SIGINT'] ?? 0);
    }
    // A run that failed before its split was made leaves nothing worth resuming.
    if (madeWork && !existsSync(join(work, 'split.json'))) rmSync(work, { recursive: true, force: true });
    else say(`the work so far is kept in ${work}; once the problem below is fixed: ${resumeHint()}`);
    throw error;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}

/** Stage 1: every video checked, the usable ones split; reused from split.json when there. */
async function prepareSplit(
  folder: FootageFolder,
  settings: RunSettings,
  spec: FootageSetSpec,
  path: string,
): Promise<SplitRecord> {
  const kept = readJson<SplitRecord>(path);
  if (kept) return kept;
  const others = describeOtherFiles(folder.otherFiles);
  say(
    `checking ${folder.videos.length} video(s) in ${folder.dir}${others ? ` (not videos, passed over: ${others})` : ''}`,
  );
  const bar = new ProgressBar({ label: 'check' });
  const usable: FootageVideo[] = [];
  const skipped = [...folder.skipped];
  for (const [i, video] of folder.videos.entries()) {
    bar.update(i / folder.videos.length);
    const found = await inspectFootageVideo(video.path, spec);
    if ('reason' in found) skipped.push({ name: video.name, reason: found.reason });
    else usable.push(video);
  }
  bar.close();
  for (const s of skipped) say(`skipped ${s.name}: ${s.reason}`);
  if (usable.length < 2)
    throw new MediaInputError(
      `[footage:${folder.dir}] ${usable.length} usable video(s); foley train needs at least 2 (1 to train on, 1 to score)` +
        (skipped.length ? `. Skipped: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}` : '') +
        (others
          ? `. Not videos, passed over: ${others} (foley train reads ${FOOTAGE_VIDEO_EXTENSIONS.join(', ')})`
          : ''),
    );
  const { train, heldOut } = splitHoldout(
    usable.map((v) => v.name),
    settings.holdout,
    settings.seed,
  );
  const byName = new Map(usable.map((v) => [v.name, v]));
  const record: SplitRecord = {
    segmentFrames: spec.segmentFrames,
    found: folder.videos.length + folder.skipped.length,
    otherFiles: folder.otherFiles,
    train: train.map((n) => byName.get(n)!),
    heldOut: heldOut.map((n) => byName.get(n)!),
    skipped,
  };
  writeJsonAtomic(path, record);
  return record;
}

/** Stage 2: the trained-on videos as a data set; reused when its meta.json is there. */
async function prepareData(
  split: SplitRecord,
  spec: FootageSetSpec,
  dir: string,
): Promise<{ count: number; used: string[]; skipped: SkippedVideo[] }> {
  const meta = readFootageSetMeta(dir);
  if (meta) {
    const used = [...new Set(meta.sources.map((s) => s.video))];
    const names = split.train.filter((v) => used.includes(v.path));
    return {
      count: meta.count,
      used: names.map((v) => v.name),
      skipped: split.train
        .filter((v) => !used.includes(v.path))
        .map((v) => ({
          name: v.name,
          reason: `[footage:${v.path}] gave no segment when the data was prepared`,
        })),
    };
  }
  say(
    `preparing ${split.train.length} video(s) as segments of ${(spec.segmentFrames / spec.fps).toFixed(2)} s`,
  );
  const bar = new ProgressBar({ label: 'prepare' });
  const result = await writeFootageSet(split.train, dir, spec, {
    onVideo: (i) => bar.update(i / split.train.length),
  });
  bar.close();
  for (const s of result.skipped) say(`skipped ${s.name}: ${s.reason}`);
  say(`${result.meta.count} segments from ${result.used.length} video(s)`);
  return { count: result.meta.count, used: result.used.map((u) => u.name), skipped: result.skipped };
}

/** A folder of links to the held-out videos: what `foley eval` scores. */
function linkHeldOut(videos: readonly FootageVideo[], dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const video of videos) symlinkSync(video.path, join(dir, video.name.replaceAll('/', '__')));
  return dir;
}

async function cached<T>(path: string, make: () => Promise<T>): Promise<T> {
  const kept = readJson<T>(path);
  if (kept) return kept;
  const value = await make();
  writeJsonAtomic(path, value);
  return value;
}

/** Runs `foley eval <dir> --json --model <model>` as a child of this process. */
function runEval(dir: string, model: string): Interruptible & { finished: Promise<HeldOutScore> } {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  // On a terminal its stderr is ours, so its progress bar shows (and its error line, if any).
  const onTerminal = Boolean(process.stderr.isTTY);
  const child = spawn(process.execPath, [main, 'eval', dir, '--json', '--model', model], {
    stdio: ['ignore', 'pipe', onTerminal ? 'inherit' : 'pipe'],
    detached: true,
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  let interrupted = false;
  const finished = new Promise<HeldOutScore>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      process.off('exit', killOnExit);
      if (interrupted) return reject(new Interrupted(`scoring with ${basename(model)} stopped`));
      if (code !== 0) {
        const first = onTerminal
          ? 'foley eval failed (its message is above)'
          : (stderr.split('\n').find((l) => l.startsWith('foley: ')) ?? stderr.trim().split('\n').pop());
        return reject(
          errorForExit(
            code,
            signal,
            `[train:eval ${basename(model)}] ${first?.replace(/^foley: /, '') ?? 'failed'}`,
          ),
        );
      }
      const summary = JSON.parse(stdout) as EvalSummary;
      resolvePromise({
        model: summary.model,
        clips: summary.clips,
        referenceOnsets: summary.referenceOnsets,
        onsetF1: summary.onsetF1,
        meanAbsOffsetMs: summary.meanAbsOffsetMs,
        onsetsPerEvent: summary.onsetsPerEvent,
        skipped: summary.skipped,
      });
    });
  });
  return {
    finished,
    interrupt: () => {
      interrupted = true;
      child.kill('SIGINT');
    },
    kill: () => child.kill('SIGKILL'),
  };
}

/**
 * Prints the trainer's stages, and its progress as a bar on a terminal or a line each report
 * elsewhere. The ETA is the trainer's own: it knows a resumed run's pace and the time cap.
 */
export function trainingProgress(
  stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'> = process.stderr,
): (event: TrainerEvent) => void {
  let barShown = false;
  const clearBar = (): void => {
    if (barShown) stream.write('\r\x1b[K');
    barShown = false;
  };
  const line = (text: string): void => {
    clearBar();
    stream.write(`foley train: ${text}\n`);
  };
  return (event) => {
    switch (event.event) {
      case 'stage':
        line(`[${event.stage}] ${event.message}`);
        break;
      case 'progress': {
        const fraction = event.step / event.steps;
        if (stream.isTTY) {
          // renderBar estimates the ETA from the time so far: give it the time that yields the trainer's.
          const asIfElapsedMs = fraction < 1 ? (event.etaS * 1000 * fraction) / (1 - fraction) : 0;
          stream.write(
            `\r${renderBar(fraction, asIfElapsedMs, 30, 'train')} step ${event.step}/${event.steps} loss ${event.loss.toFixed(4)}`,
          );
          barShown = true;
        } else
          line(
            `step ${event.step}/${event.steps}, loss ${event.loss.toFixed(4)}, ${formatDuration(event.elapsedS * 1000)} elapsed, ETA ${formatDuration(event.etaS * 1000)}`,
          );
        break;
      }
      case 'interrupted':
        line(`the trainer stopped at step ${event.step}`);
        break;
      case 'done':
        clearBar();
        break;
      case 'checkpoint':
        break;
    }
  };
}

const fixed = (v: number | null, digits: number, unit = ''): string =>
  v === null ? 'n/a' : `${v.toFixed(digits)}${unit}`;

export function formatReport(r: TrainReport): string {
  const { before, after } = r.heldOutScores;
  const row = (label: string, a: string, b: string) =>
    `  ${label.padEnd(18)} ${a.padStart(9)} ${b.padStart(9)}\n`;
  return (
    `foley train: ${r.bundle} ${r.scratch ? `from scratch (the audio codec of ${r.from})` : `from ${r.from}`}\n` +
    `  videos             ${r.videos.found} found: ${r.videos.trainedOn.length} trained on (${r.segments} segments of ${r.segmentSeconds} s), ` +
    `${r.videos.heldOut.length} held out, ${r.videos.skipped.length} skipped\n` +
    (Object.keys(r.videos.otherFiles).length
      ? `  not videos         ${describeOtherFiles(r.videos.otherFiles)} (passed over)\n`
      : '') +
    r.videos.skipped.map((s) => `    skipped ${s.name}: ${s.reason}\n`).join('') +
    `  training           ${r.training.stepsDone} of ${r.training.steps} steps (stopped by ${r.training.stoppedBy}) in ` +
    `${formatDuration(r.training.seconds * 1000)}, final loss ${fixed(r.training.finalLoss, 4)}\n` +
    row('held out', 'before', 'after') +
    row('onset F1 @±50 ms', fixed(before.onsetF1, 3), fixed(after.onsetF1, 3)) +
    row('mean |offset|', fixed(before.meanAbsOffsetMs, 1, ' ms'), fixed(after.meanAbsOffsetMs, 1, ' ms')) +
    row('onsets per event', fixed(before.onsetsPerEvent, 2), fixed(after.onsetsPerEvent, 2)) +
    `  report             ${join(r.bundle, 'train-report.json')}\n`
  );
}
