/**
 * `npm run soak`: the soak part of the reliability suite (issue 18; issue 20's drift
 * target). A server process (soak-server.ts: FoleyServer as `foley serve` starts it, the
 * default bundle) gets the sample clip looped into N rooms through the live path, each room
 * with one /listen socket as an OBS page would hold; every S seconds the driver reads the
 * server's and its mediasoup worker's RSS from /proc, and each room's frame-to-Opus
 * latencies, chunks and stated offset. Prints a table per profile and exits 1 if a target
 * is missed.
 *
 *   node dist/test/reliability/soak.js [--profile single|multi] [--rooms N] [--minutes M]
 *     [--sample-seconds S] [--warmup-minutes W] [--model DIR] [--clip FILE] [--json FILE]
 *
 * Profiles: single = 1 room for 30 minutes, multi = 4 rooms for 10 minutes; with neither
 * --profile nor --rooms both run in turn. --rooms and --minutes override a profile's.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { UsageError } from '../../src/errors.js';
import { packageRoot } from '../../src/models/bundle.js';
import { isMainScript } from '../helpers/main-script.js';
import {
  formatSoak,
  type SoakRoomSample,
  type SoakRun,
  type SoakSample,
  type SoakSummary,
  summarizeSoak,
} from './soak-report.js';
import type { SoakServerReply, SoakServerRequest, SoakServerSample } from './soak-server.js';

export const SOAK_PROFILES = Object.freeze({
  single: Object.freeze({ rooms: 1, minutes: 30 }),
  multi: Object.freeze({ rooms: 4, minutes: 10 }),
});
export type SoakProfileName = keyof typeof SOAK_PROFILES;

export interface SoakOptions {
  name: string;
  rooms: number;
  minutes: number;
  sampleSeconds: number;
  warmupSeconds: number;
  bundleDir: string;
  clip: string;
  onSample?: (sample: SoakSample, run: { minutes: number }) => void;
}

/** Resident set of a process, MB (VmRSS of /proc/PID/status); NaN once it has exited. */
export function readRssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? Number.NaN : Number(kb) / 1024;
  } catch {
    return Number.NaN;
  }
}

const SERVER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'soak-server.js');
const START_TIMEOUT_MS = 180_000;
const SAMPLE_TIMEOUT_MS = 15_000;
/** Server RSS is read this long after start-up, before any room (the runner's sessions are loaded by then). */
const BASELINE_SETTLE_MS = 5000;

/** The child's replies of one kind, in order; rejects all waits when it exits. */
class ServerChannel {
  readonly #waiting: Array<{ kind: string; resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  #exitError: Error | null = null;
  readonly stderrTail: string[] = [];
  readonly logCounts = { warn: 0, error: 0 };
  /** Warning and error lines by message (numbers blanked), for the report. */
  readonly logMessages = new Map<string, number>();

  constructor(readonly child: ChildProcess) {
    child.on('message', (reply: SoakServerReply) => {
      if (reply.case === 'error') {
        this.#fail(new Error(`[soak] server: ${reply.value.message}`));
        return;
      }
      const i = this.#waiting.findIndex((w) => w.kind === reply.case);
      if (i >= 0) this.#waiting.splice(i, 1)[0]!.resolve(reply.value);
    });
    child.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (!line.trim()) continue;
        this.stderrTail.push(line);
        const level = /"level":"(warn|error|fatal)"/.exec(line)?.[1];
        if (!level) continue;
        if (level === 'warn') this.logCounts.warn++;
        else this.logCounts.error++;
        const message = `${level}: ${(/"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line).replace(/\d+(\.\d+)?/g, 'N').slice(0, 120)}`;
        this.logMessages.set(message, (this.logMessages.get(message) ?? 0) + 1);
      }
      this.stderrTail.splice(0, Math.max(0, this.stderrTail.length - 40));
    });
    child.on('exit', (code, signal) =>
      this.#fail(
        new Error(
          `[soak] the server process exited (${signal ?? `code ${code}`}); its last log lines:\n${this.stderrTail.join('\n')}`,
        ),
      ),
    );
  }

  #fail(error: Error): void {
    this.#exitError ??= error;
    for (const w of this.#waiting.splice(0)) w.reject(error);
  }

  request<T>(request: SoakServerRequest, replyCase: string, timeoutMs: number): Promise<T> {
    if (this.#exitError) return Promise.reject(this.#exitError);
    const reply = this.wait<T>(replyCase, timeoutMs);
    this.child.send(request);
    return reply;
  }

  wait<T>(kind: string, timeoutMs: number): Promise<T> {
    if (this.#exitError) return Promise.reject(this.#exitError);
    return new Promise<T>((resolve, reject) => {
      const entry = {
        kind,
        resolve: (v: unknown) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(new Error(`[soak] no '${kind}' from the server in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.push(entry);
    });
  }
}

/** An OBS page's /listen socket: counts audio pages per window and keeps the announced offset. */
class ListenSocket {
  readonly ws: WebSocket;
  pages = 0;
  announcedOffsetMs: number | null = null;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) {
        // Header pages have granule 0; audio pages count up in 48 kHz samples.
        const page = data as Buffer;
        if (page.length >= 14 && page.readBigUInt64LE(6) > 0n) this.pages++;
        return;
      }
      const message = JSON.parse(data.toString()) as {
        case: string;
        value: { status?: { offsetMs: number | null }; offsetMs?: number | null };
      };
      const status = message.case === 'welcome' ? message.value.status : message.value;
      if (status && status.offsetMs !== undefined) this.announcedOffsetMs = status.offsetMs;
    });
    this.ws.on('error', () => {});
  }

  takePages(): number {
    const n = this.pages;
    this.pages = 0;
    return this.ws.readyState === WebSocket.OPEN ? n : -1;
  }
}

export async function runSoak(options: SoakOptions): Promise<SoakRun> {
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = fork(SERVER_SCRIPT, ['--model', options.bundleDir], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env,
  });
  const channel = new ServerChannel(child);
  const listeners: ListenSocket[] = [];
  try {
    const listening = await channel.wait<{ mediasoupWorkerPid: number; bundle: string }>(
      'listening',
      START_TIMEOUT_MS,
    );
    const serverPid = child.pid!;
    const workerPid = listening.mediasoupWorkerPid;
    await new Promise((r) => setTimeout(r, BASELINE_SETTLE_MS));
    const baselineRssMb = { server: readRssMb(serverPid), mediasoupWorker: readRssMb(workerPid) };
    const publishing = await channel.request<{ rooms: Array<{ room: string; listenUrl: string }> }>(
      { case: 'publish', value: { rooms: options.rooms, clip: options.clip } },
      'publishing',
      START_TIMEOUT_MS,
    );
    for (const room of publishing.rooms) listeners.push(new ListenSocket(room.listenUrl));
    const startMs = performance.now();
    const samples: SoakSample[] = [];
    const count = Math.max(1, Math.round((options.minutes * 60) / options.sampleSeconds));
    for (let k = 1; k <= count; k++) {
      const dueMs = startMs + k * options.sampleSeconds * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, dueMs - performance.now())));
      const server = await channel.request<SoakServerSample>({ case: 'sample' }, 'sample', SAMPLE_TIMEOUT_MS);
      const sample: SoakSample = {
        tSeconds: (performance.now() - startMs) / 1000,
        serverRssMb: readRssMb(serverPid),
        mediasoupWorkerRssMb: readRssMb(workerPid),
        serverHeapUsedMb: server.heapUsedMb,
        serverExternalMb: server.externalMb + server.arrayBuffersMb,
        loadAverage1m: loadavg()[0]!,
        rooms: server.rooms.map(
          (r, i): SoakRoomSample => ({
            room: r.room,
            attached: r.attached,
            attachments: r.attachments,
            offsetMs: r.offsetMs,
            announcedOffsetMs: listeners[i]?.announcedOffsetMs ?? null,
            latenciesMs: r.latenciesMs,
            chunksGenerated: r.chunksGenerated,
            chunksSkipped: r.chunksSkipped,
            chunksLate: r.chunksLate,
            chunksFull: r.chunksFull,
            levelName: r.levelName,
            listenPages: listeners[i]?.takePages() ?? -1,
          }),
        ),
      };
      samples.push(sample);
      options.onSample?.(sample, { minutes: options.minutes });
    }
    return {
      name: options.name,
      rooms: options.rooms,
      minutes: options.minutes,
      sampleSeconds: options.sampleSeconds,
      warmupSeconds: options.warmupSeconds,
      bundle: listening.bundle,
      mallocEnv: Object.entries(process.env)
        .filter(([k]) => k.startsWith('MALLOC_'))
        .map(([k, v]) => `${k}=${v}`),
      baselineRssMb,
      serverLog: {
        ...channel.logCounts,
        top: [...channel.logMessages]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([message, count]) => `${count}x ${message}`),
      },
      samples,
    };
  } finally {
    for (const l of listeners) l.ws.close();
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    if (child.connected) child.send({ case: 'stop' } satisfies SoakServerRequest);
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killTimer);
  }
}

function progressLine(sample: SoakSample, run: { minutes: number }): string {
  const latencies = sample.rooms.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const p = (q: number) =>
    latencies.length > 0 ? latencies[Math.floor(q * (latencies.length - 1))]!.toFixed(0) : 'n/a';
  const skipped = sample.rooms.reduce((n, r) => n + r.chunksSkipped, 0);
  const generated = sample.rooms.reduce((n, r) => n + r.chunksGenerated, 0);
  return (
    `  ${(sample.tSeconds / 60).toFixed(1)}/${run.minutes} min: RSS server ${sample.serverRssMb.toFixed(1)} MB` +
    ` + worker ${sample.mediasoupWorkerRssMb.toFixed(1)} MB, heap ${sample.serverHeapUsedMb.toFixed(1)} MB;` +
    ` latency p50 ${p(0.5)} p95 ${p(0.95)} ms; chunks ${generated} generated, ${skipped} skipped;` +
    ` load ${sample.loadAverage1m.toFixed(2)}`
  );
}

interface SoakCommandOptions {
  runs: Array<{ name: string; rooms: number; minutes: number }>;
  sampleSeconds: number;
  warmupSeconds: number;
  bundleDir: string;
  clip: string;
  json: string | undefined;
}

function positiveNumber(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(
      `[soak] --${flag} must be a positive ${integer ? 'integer' : 'number'}, got "${value}"`,
    );
  return n;
}

export const SOAK_USAGE = `npm run soak -- [options]   (or node dist/test/reliability/soak.js [options])
  --profile single|multi   single: 1 room for 30 min; multi: 4 rooms for 10 min (default: both in turn)
  --rooms N, --minutes M   override the profile's
  --sample-seconds S       sampling period (default 10)
  --warmup-minutes W       samples before this are not judged (default 2)
  --model DIR, --clip FILE the bundle and the looped clip (default models/default, samples/clip.mp4)
  --json FILE              write every sample and the summaries
Exit: 0 every target held, 1 a target missed, 2 bad options.`;

export function parseSoakArgs(argv: string[]): SoakCommandOptions {
  let values: Record<string, string | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        profile: { type: 'string' },
        rooms: { type: 'string' },
        minutes: { type: 'string' },
        'sample-seconds': { type: 'string' },
        'warmup-minutes': { type: 'string' },
        model: { type: 'string' },
        clip: { type: 'string' },
        json: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | undefined>;
  } catch (error) {
    throw new UsageError(`[soak] ${(error as Error).message}`);
  }
  const profile = values.profile;
  if (profile !== undefined && !(profile in SOAK_PROFILES))
    throw new UsageError(
      `[soak] --profile must be one of ${Object.keys(SOAK_PROFILES).join(', ')}, got "${profile}"`,
    );
  const rooms = positiveNumber('rooms', values.rooms, true);
  const minutes = positiveNumber('minutes', values.minutes, false);
  const sampleSeconds = positiveNumber('sample-seconds', values['sample-seconds'], false) ?? 10;
  const warmupMinutes = positiveNumber('warmup-minutes', values['warmup-minutes'], false) ?? 2;
  const names: SoakProfileName[] =
    profile !== undefined ? [profile as SoakProfileName] : rooms !== undefined ? [] : ['single', 'multi'];
  const runs =
    names.length > 0
      ? names.map((name) => ({
          name,
          rooms: rooms ?? SOAK_PROFILES[name].rooms,
          minutes: minutes ?? SOAK_PROFILES[name].minutes,
        }))
      : [{ name: `${rooms} room(s)`, rooms: rooms!, minutes: minutes ?? SOAK_PROFILES.single.minutes }];
  for (const run of runs) {
    if (run.minutes * 60 < sampleSeconds * 2)
      throw new UsageError(
        `[soak] --minutes ${run.minutes} gives fewer than 2 samples of ${sampleSeconds} s`,
      );
  }
  const bundleDir = values.model ?? join(packageRoot(), 'models', 'default');
  const clip = values.clip ?? join(packageRoot(), 'samples', 'clip.mp4');
  if (!existsSync(join(bundleDir, 'manifest.json')))
    throw new UsageError(`[soak] --model: no bundle at ${bundleDir} (no manifest.json)`);
  if (!existsSync(clip)) throw new UsageError(`[soak] --clip: no file at ${clip}`);
  return { runs, sampleSeconds, warmupSeconds: warmupMinutes * 60, bundleDir, clip, json: values.json };
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write(`${SOAK_USAGE}\n`);
    return 0;
  }
  const options = parseSoakArgs(argv);
  const summaries: SoakSummary[] = [];
  const runs: SoakRun[] = [];
  for (const r of options.runs) {
    process.stderr.write(
      `soak ${r.name}: ${r.rooms} room(s) for ${r.minutes} min, a sample every ${options.sampleSeconds} s\n`,
    );
    const run = await runSoak({
      ...r,
      sampleSeconds: options.sampleSeconds,
      warmupSeconds: options.warmupSeconds,
      bundleDir: options.bundleDir,
      clip: options.clip,
      onSample: (sample, info) => process.stderr.write(`${progressLine(sample, info)}\n`),
    });
    runs.push(run);
    const summary = summarizeSoak(run);
    summaries.push(summary);
    process.stdout.write(`${formatSoak(summary)}\n`);
    if (options.json) writeFileSync(options.json, `${JSON.stringify({ runs, summaries }, null, 1)}\n`);
  }
  return summaries.every((s) => s.pass) ? 0 : 1;
}

if (isMainScript(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(
        `${error instanceof UsageError ? `${error.message}\n${SOAK_USAGE}` : ((error as Error).stack ?? String(error))}\n`,
      );
      process.exitCode = error instanceof UsageError ? 2 : 1;
    },
  );
}
