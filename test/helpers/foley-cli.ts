/** The built `foley` command run as a child process with a deadline, as a user's shell would run it. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/models/bundle.js';

export const FOLEY_CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

export interface CliRun {
  /** Exit status, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the deadline passed and the child was killed. */
  timedOut: boolean;
  /** True when `stopWhen` matched and the child was sent `stopSignal`. */
  stopped: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface CliRunOptions {
  timeoutMs: number;
  /** Runs it under `ulimit -f` (KiB) through bash; writes past it fail with EFBIG. */
  fileLimitKiB?: number;
  /** Ends the child early, once, when stdout or stderr matches; `timedOut` stays false. */
  stopWhen?: RegExp;
  /** The signal `stopWhen` sends (default SIGTERM; SIGINT is a user's Ctrl-C). */
  stopSignal?: NodeJS.Signals;
}

const shellQuote = (a: string) => `'${a.replaceAll("'", "'\\''")}'`;

/** Runs `node dist/src/cli/main.js ...args`; never rejects. */
export function runFoley(args: string[], options: CliRunOptions): Promise<CliRun> {
  const argv = [process.execPath, FOLEY_CLI, ...args];
  const child =
    options.fileLimitKiB === undefined
      ? spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['-c', `ulimit -f ${options.fileLimitKiB}; exec ${argv.map(shellQuote).join(' ')}`], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  const started = performance.now();
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  let stopped = false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    const check = () => {
      if (stopped || !options.stopWhen?.test(stdout + stderr)) return;
      stopped = true;
      child.kill(options.stopSignal ?? 'SIGTERM');
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      check();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      check();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stopped, stdout, stderr, ms: performance.now() - started });
    });
  });
}
