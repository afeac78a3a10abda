/**
 * Runs the Python trainer (`python -m foley.finetune`, models/training/foley/finetune.py) as a
 * child process and reads its stdout: one JSON object per line (stage, progress, checkpoint,
 * interrupted, done); other lines (library warnings) are passed over. A failure is one line on
 * stderr starting with `[`; its exit status says what kind: 2 usage, 3 bundle, 4 data.
 * `interrupt()` sends SIGINT: the trainer saves a checkpoint and exits 130.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  BundleError,
  EXIT_CODES,
  type FoleyError,
  InferenceError,
  MediaInputError,
  OutputError,
  UsageError,
} from '../errors.js';
import { packageRoot } from '../models/bundle.js';
import { TrainerFailedError, TrainingEnvironmentError } from './training-errors.js';

export type TrainerStage = 'recover' | 'features' | 'latents' | 'train' | 'export';

export type TrainerEvent =
  | { event: 'stage'; stage: TrainerStage; message: string }
  | { event: 'progress'; step: number; steps: number; loss: number; elapsedS: number; etaS: number }
  | { event: 'checkpoint'; step: number }
  | { event: 'interrupted'; step: number }
  | {
      event: 'done';
      out: string;
      stepsDone: number;
      seconds: number;
      finalLoss: number | null;
      stoppedBy: 'steps' | 'time-cap';
    };

export type TrainerDone = Extract<TrainerEvent, { event: 'done' }>;

/** How a trainer run ended that is not a failure. */
export type TrainerOutcome =
  | { kind: 'done'; done: TrainerDone }
  | { kind: 'interrupted'; checkpointStep: number | null };

export interface TrainerOptions {
  bundle: string;
  data: string;
  run: string;
  out: string;
  name: string;
  steps: number;
  timeCapS?: number;
  device: 'cpu' | 'cuda' | 'auto';
  batch: number;
  seed: number;
  resume: boolean;
  /** Fine-tune the CAVP video encoder too, end to end (default: the student UNet only). */
  trainVideo?: boolean;
  /** Video encoder and student from random weights (needs trainVideo). */
  scratch?: boolean;
  /** The Python that runs it (default: this package's .venv). */
  python?: string;
  /** Where `foley.finetune` is importable from (default: models/training of this package). */
  trainingDir?: string;
}

const FIELDS: Record<TrainerEvent['event'], readonly string[]> = {
  stage: ['stage', 'message'],
  progress: ['step', 'steps', 'loss', 'elapsedS', 'etaS'],
  checkpoint: ['step'],
  interrupted: ['step'],
  done: ['out', 'stepsDone', 'seconds', 'stoppedBy'],
};

/** The event on one stdout line, or null for a line that is not one (a warning, a stray print). */
export function parseTrainerLine(line: string): TrainerEvent | null {
  const text = line.trim();
  if (!text.startsWith('{')) return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const record = json as Record<string, unknown>;
  const fields = FIELDS[record.event as TrainerEvent['event']];
  if (!fields || !fields.every((f) => f in record)) return null;
  return record as unknown as TrainerEvent;
}

/** Weight of the onset probe's loss beside the LDM's when the video encoder trains. */
export const ONSET_LOSS_WEIGHT = 0.1;

/** The command line of the trainer (after the Python executable). */
export function trainerArgs(options: TrainerOptions): string[] {
  const args = [
    '-m',
    'foley.finetune',
    '--bundle',
    options.bundle,
    '--data',
    options.data,
    '--run',
    options.run,
    '--out',
    options.out,
    '--name',
    options.name,
    '--steps',
    String(options.steps),
    '--device',
    options.device,
    '--batch',
    String(options.batch),
    '--seed',
    String(options.seed),
  ];
  if (options.timeCapS !== undefined) args.push('--time-cap-s', String(options.timeCapS));
  // The measured end-to-end recipe (docs/experiments.md sections 12-13): augmented windows, the
  // onset probe's loss on the video features, and a contact gate fitted on them at export.
  if (options.trainVideo)
    args.push('--train-video', '--augment', '--onset-loss', String(ONSET_LOSS_WEIGHT), '--contact-gate');
  if (options.scratch) args.push('--scratch');
  if (options.resume) args.push('--resume');
  return args;
}

/** Where the trainer comes from; throws TrainingEnvironmentError naming what is missing and the fix. */
export function trainerEnvironment(options: Pick<TrainerOptions, 'python' | 'trainingDir'> = {}): {
  python: string;
  trainingDir: string;
} {
  const python = options.python ?? join(packageRoot(), '.venv', 'bin', 'python');
  const trainingDir = options.trainingDir ?? join(packageRoot(), 'models', 'training');
  if (!existsSync(join(trainingDir, 'foley', 'finetune.py')))
    throw new TrainingEnvironmentError(
      `[train] the training package is missing (no ${join(trainingDir, 'foley', 'finetune.py')}): foley train runs from a checkout of live-foley, not the npm package`,
    );
  if (!existsSync(python))
    throw new TrainingEnvironmentError(
      `[train] the Python environment is missing (no ${python}): run npm run setup:python in ${packageRoot()}`,
    );
  return { python, trainingDir };
}

/**
 * The typed error for a child's failing exit status and its message: the rows of EXIT_CODES
 * the trainer and `foley eval` share (2 usage, 3 bundle, 4 media, 5 output, 6 inference).
 */
export function errorForExit(code: number | null, signal: string | null, message: string): FoleyError {
  if (code === EXIT_CODES.usage.code) return new UsageError(message);
  if (code === EXIT_CODES.bundle.code) return new BundleError(message);
  if (code === EXIT_CODES.mediaInput.code) return new MediaInputError(message);
  if (code === EXIT_CODES.output.code) return new OutputError(message);
  if (code === EXIT_CODES.inference.code) return new InferenceError(message);
  return new TrainerFailedError(`${message} (exit ${code ?? signal})`);
}

/** The `[`-line of a failure, else the last lines of stderr. */
function failureMessage(stderrLines: readonly string[]): string {
  const tagged = stderrLines.filter((l) => l.startsWith('['));
  if (tagged.length > 0) return tagged[tagged.length - 1]!;
  const tail = stderrLines.filter((l) => l.trim() !== '').slice(-6);
  return `[train] the trainer failed${tail.length ? `:\n  ${tail.join('\n  ')}` : ' and said nothing'}`;
}

export class TrainerProcess {
  /** Ends with the outcome; rejects with the typed error of a failure. */
  readonly finished: Promise<TrainerOutcome>;
  private readonly child: ChildProcess;
  private interrupted = false;
  private readonly killOnExit = (): void => {
    this.child.kill('SIGKILL');
  };

  private constructor(options: TrainerOptions, onEvent: (event: TrainerEvent) => void) {
    const { python, trainingDir } = trainerEnvironment(options);
    // Its own process group: a terminal's Ctrl-C reaches this process only, which forwards it
    // once (a second SIGINT while the trainer saves its checkpoint would cut the save short).
    this.child = spawn(python, trainerArgs(options), {
      cwd: trainingDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, PYTHONUNBUFFERED: '1' },
    });
    process.on('exit', this.killOnExit);
    const stderrLines: string[] = [];
    let done: TrainerDone | null = null;
    let checkpointStep: number | null = null;
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const event = parseTrainerLine(line);
      if (!event) return;
      if (event.event === 'done') done = event;
      if (event.event === 'checkpoint') checkpointStep = event.step;
      onEvent(event);
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => {
      stderrLines.push(line);
      if (stderrLines.length > 200) stderrLines.shift();
    });
    this.finished = new Promise((resolve, reject) => {
      this.child.on('error', (error) =>
        reject(new TrainerFailedError(`[train] cannot start ${python}: ${error.message}`, { cause: error })),
      );
      this.child.on('close', (code, signal) => {
        process.off('exit', this.killOnExit);
        if (code === 0 && done) resolve({ kind: 'done', done });
        else if (code === 130 || signal === 'SIGINT' || (this.interrupted && signal !== null))
          resolve({ kind: 'interrupted', checkpointStep });
        else if (code === 0)
          reject(new TrainerFailedError('[train] the trainer exited without its done line'));
        else reject(errorForExit(code, signal, failureMessage(stderrLines)));
      });
    });
  }

  static start(options: TrainerOptions, onEvent: (event: TrainerEvent) => void = () => {}): TrainerProcess {
    return new TrainerProcess(options, onEvent);
  }

  /** Asks the trainer to save a checkpoint and stop (SIGINT); `finished` then resolves 'interrupted'. */
  interrupt(): void {
    this.interrupted = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
  }

  /** Ends the trainer at once, without a checkpoint. */
  kill(): void {
    this.child.kill('SIGKILL');
  }
}
