/**
 * `npm run fuzz`: the fuzz part of the reliability suite. Four sections (signaling, http,
 * media, bundles) against the real server and CLI; prints one table (or --json) and exits
 * 1 listing every failed case with the seed that replays it.
 *
 *   node dist/test/reliability/fuzz.js [--seed N] [--messages N] [--quick] [--json]
 *     [--sections signaling,http,media,bundles]
 */
import { parseArgs } from 'node:util';
import { configureLogging } from '../../src/logger.js';
import { isMainScript } from '../helpers/main-script.js';
import { fuzzBundles } from './fuzz-bundles.js';
import { fuzzHttp } from './fuzz-http.js';
import { fuzzMedia } from './fuzz-media.js';
import type { SectionReport } from './fuzz-report.js';
import { fuzzSignaling } from './fuzz-signaling.js';

export const DEFAULT_SEED = 18;
export const SECTIONS = ['signaling', 'http', 'media', 'bundles'] as const;
export type SectionName = (typeof SECTIONS)[number];

export interface FuzzOptions {
  seed: number;
  /** Signaling messages (default 1200; quick 300). */
  messages?: number;
  quick: boolean;
  sections?: readonly SectionName[];
  /** Child processes at once for the media and bundle sections (default 2). */
  concurrency?: number;
}

export interface FuzzReport {
  seed: number;
  quick: boolean;
  sections: SectionReport[];
  failures: number;
  ms: number;
  /** Warnings and errors the in-process server logged. */
  serverLogLines: { warn: number; error: number };
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const sections = options.sections ?? SECTIONS;
  const concurrency = options.concurrency ?? 2;
  const timeoutMs = 60_000;
  const logCounts = { warn: 0, error: 0 };
  // The server's own log lines are counted, not printed: the fuzz provokes thousands.
  configureLogging({
    format: 'json',
    destination: {
      write: (line: string) => {
        const level = /"level":"(\w+)"/.exec(line)?.[1];
        if (level === 'warn' || level === 'error') logCounts[level]++;
      },
    },
  });
  const reports: SectionReport[] = [];
  for (const section of sections) {
    switch (section) {
      case 'signaling':
        reports.push(
          await fuzzSignaling({
            seed: options.seed,
            messages: options.messages ?? (options.quick ? 300 : 1200),
            churnSockets: options.quick ? 20 : 80,
          }),
        );
        break;
      case 'http':
        reports.push(await fuzzHttp({ seed: options.seed }));
        break;
      case 'media':
        reports.push(await fuzzMedia({ seed: options.seed, quick: options.quick, concurrency, timeoutMs }));
        break;
      case 'bundles':
        reports.push(await fuzzBundles({ seed: options.seed, quick: options.quick, concurrency, timeoutMs }));
        break;
    }
  }
  configureLogging({});
  return {
    seed: options.seed,
    quick: options.quick,
    sections: reports,
    failures: reports.reduce((n, r) => n + r.failures.length, 0),
    ms: performance.now() - started,
    serverLogLines: logCounts,
  };
}

/** The summary table: one row per section, its outcome tallies, then every failure. */
export function formatFuzzReport(report: FuzzReport): string {
  const rows = report.sections.map((s) => {
    const outcomes = Object.entries(s.outcomes)
      .filter(([key]) => !key.startsWith('sent:'))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, n]) => `${key} ${n}`)
      .join(', ');
    return `${s.section.padEnd(10)} ${String(s.cases).padStart(6)} ${String(s.failures.length).padStart(6)} ${`${(s.ms / 1000).toFixed(1)} s`.padStart(8)}  ${outcomes}`;
  });
  const lines = [
    `fuzz seed ${report.seed}${report.quick ? ' (quick)' : ''}: ${report.failures === 0 ? 'all assertions held' : `${report.failures} failed`} in ${(report.ms / 1000).toFixed(1)} s`,
    `${'section'.padEnd(10)} ${'cases'.padStart(6)} ${'failed'.padStart(6)} ${'time'.padStart(8)}  outcomes`,
    ...rows,
    `server log lines: ${report.serverLogLines.warn} warn, ${report.serverLogLines.error} error`,
  ];
  for (const s of report.sections) {
    for (const f of s.failures) lines.push(`FAIL seed ${report.seed} ${f.caseId}: ${f.detail}`);
  }
  return lines.join('\n');
}

const USAGE = `npm run fuzz -- [options]   (or node dist/test/reliability/fuzz.js [options])
  --seed N          generator seed (default ${DEFAULT_SEED}); a failure names its seed and case id to replay
  --messages N      signaling messages (default 1200)
  --quick           a small run (the suite's fuzz-quick test)
  --sections LIST   comma-separated: ${SECTIONS.join(', ')}
  --concurrency N   parallel renders in the media and bundle sections
  --json            the whole report as JSON
Exit: 0 all assertions held, 1 a case failed (listed as FAIL lines), 2 bad options.`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', default: false },
      seed: { type: 'string' },
      messages: { type: 'string' },
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      sections: { type: 'string' },
      concurrency: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const integer = (name: string, text: string | undefined, min: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`--${name} expects an integer >= ${min}, got "${text}"`);
    return n;
  };
  const sections = values.sections?.split(',').map((s) => s.trim()) ?? [...SECTIONS];
  const unknown = sections.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0)
    throw new Error(`--sections: unknown ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`);
  const seed = integer('seed', values.seed, 0) ?? DEFAULT_SEED;
  const messages = integer('messages', values.messages, 1);
  const concurrency = integer('concurrency', values.concurrency, 1);
  if (!values.json) process.stderr.write(`fuzz: seed ${seed} (replay with --seed ${seed})\n`);
  const report = await runFuzz({
    seed,
    quick: values.quick,
    sections: sections as SectionName[],
    ...(messages !== undefined ? { messages } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
  });
  process.stdout.write(
    values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatFuzzReport(report)}\n`,
  );
  return report.failures === 0 ? 0 : 1;
}

if (isMainScript(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const usage = error instanceof Error && (error.message.startsWith('--') || 'code' in error);
      process.stderr.write(
        `fuzz: ${usage ? `${error.message}\n${USAGE}` : ((error as Error)?.stack ?? String(error))}\n`,
      );
      process.exitCode = 2;
    },
  );
}
