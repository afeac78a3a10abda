/**
 * Corrupt media corpus, made on the fly from the committed clips (node-av remuxes and
 * byte-level damage), each rendered by the real `foley render` CLI on the tiny bundle to
 * WAV and MP4. Exit 0 is right only with a readable, full-length output; any other exit
 * must leave no output, name the problem on stderr's first line, and use a documented code.
 */
import '../../src/media/node-av-setup.js';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Demuxer } from 'node-av/api';
import { EXIT_CODES } from '../../src/errors.js';
import { readSoundtrack } from '../../src/evaluation/soundtrack-reader.js';
import { encodeWav } from '../../src/media/wav-file.js';
import { type CliRun, runFoley } from '../helpers/foley-cli.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { cutAtPacketBoundary } from '../media/cut-input.js';
import { remuxOneStream } from '../media/remux-stream.js';
import { FuzzRandom } from './fuzz-random.js';
import { type FuzzFailure, type SectionReport, tally } from './fuzz-report.js';

export interface MediaFuzzOptions {
  seed: number;
  quick: boolean;
  /** Renders at once (each is a child process). */
  concurrency: number;
  timeoutMs: number;
}

interface MediaCase {
  id: string;
  input: string;
  /** Seconds of audio a successful render must carry; null when no render should succeed. */
  fullSeconds: number | null;
  /** Runs under `ulimit -f` (KiB). */
  fileLimitKiB?: number;
  /** Writes the output on a tmpfs of this size (KiB), so the disk fills up: ENOSPC. */
  diskKiB?: number;
  outputs: Array<'wav' | 'mp4'>;
}

/** Exit codes a bad input may end with: usage, bundle, media input, output. */
const INPUT_EXIT_CODES = new Set<number>([
  EXIT_CODES.usage.code,
  EXIT_CODES.mediaInput.code,
  EXIT_CODES.output.code,
]);
/** A successful render may be this much shorter than the clip (the fps filter's rounding). */
const LENGTH_TOLERANCE_S = 0.12;

/** The offset of the first MP4 box of `type` at the top level, or -1. */
function topLevelBox(bytes: Buffer, type: string): number {
  let at = 0;
  while (at + 8 <= bytes.length) {
    const size = bytes.readUInt32BE(at);
    if (bytes.toString('latin1', at + 4, at + 8) === type) return at;
    if (size < 8) return -1;
    at += size;
  }
  return -1;
}

/** Builds the corpus in `dir`; `quick` keeps a dozen renders' worth. */
async function buildCorpus(dir: string, rng: FuzzRandom, quick: boolean): Promise<MediaCase[]> {
  const clip = join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4');
  const odd = join(FIXTURES_DIR, 'clip-1.2s-160x120-30fps-vp9.mkv');
  const bytes = readFileSync(clip);
  const both: Array<'wav' | 'mp4'> = ['wav', 'mp4'];
  const cases: MediaCase[] = [];
  const add = (id: string, data: Buffer | null, fullSeconds: number | null, source?: string) => {
    const input = join(dir, id);
    if (source) copyFileSync(source, input);
    else if (data) writeFileSync(input, data);
    cases.push({ id, input, fullSeconds, outputs: both });
  };
  const damaged = (edit: (b: Buffer) => void) => {
    const copy = Buffer.from(bytes);
    edit(copy);
    return copy;
  };
  const flips = (b: Buffer, from: number, to: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const at = rng.int(from, to - 1);
      b[at] = b[at]! ^ (1 << rng.int(0, 7));
    }
  };
  add('control.mp4', null, 2, clip);
  add('control-vp9.mkv', null, 1.2, odd);
  for (const percent of quick ? [50] : [5, 25, 50, 75, 95]) {
    add(`truncated-${percent}.mp4`, bytes.subarray(0, Math.floor((bytes.length * percent) / 100)), 2);
  }
  await cutAtPacketBoundary(clip, join(dir, 'cut-at-packet-60.mp4'), 0.6);
  cases.push({
    id: 'cut-at-packet-60.mp4',
    input: join(dir, 'cut-at-packet-60.mp4'),
    fullSeconds: 2,
    outputs: both,
  });
  add('zero-length.mp4', Buffer.alloc(0), null);
  add('text.mp4', Buffer.from('this is not a video\n'.repeat(50)), null);
  add('random-bytes.mp4', rng.bytes(64 * 1024), null);
  add('audio-only.wav', encodeWav(new Float32Array(32000).fill(0.1), 16000), null);
  const mdat = topLevelBox(bytes, 'mdat');
  const moov = topLevelBox(bytes, 'moov');
  add(
    'huge-mdat-size.mp4',
    damaged((b) => b.writeUInt32BE(0xfffffff0, mdat)),
    2,
  );
  if (!quick) {
    add(
      'zeroed-header.mp4',
      damaged((b) => b.fill(0, 0, 512)),
      2,
    );
    add(
      'zeroed-middle.mp4',
      damaged((b) => b.fill(0, Math.floor(b.length * 0.4), Math.floor(b.length * 0.6))),
      2,
    );
    add(
      'zeroed-tail.mp4',
      damaged((b) => b.fill(0, Math.floor(b.length * 0.9))),
      2,
    );
    add(
      'flips-header.mp4',
      damaged((b) => flips(b, 0, 2048, 24)),
      2,
    );
    add(
      'flips-middle.mp4',
      damaged((b) => flips(b, Math.floor(b.length / 3), Math.floor((2 * b.length) / 3), 64)),
      2,
    );
    add(
      'flips-moov.mp4',
      damaged((b) => flips(b, moov + 8, Math.min(b.length, moov + 1200), 16)),
      2,
    );
    add('vp9-mkv-named.mp4', null, 1.2, odd);
    add('mp4-named.mkv', null, 2, clip);
    add('mp4-named.wav', null, 2, clip);
    await remuxOneStream(clip, join(dir, 'audio-only.m4a'), 'audio');
    cases.push({
      id: 'audio-only.m4a',
      input: join(dir, 'audio-only.m4a'),
      fullSeconds: null,
      outputs: both,
    });
    // mvhd's 32-bit duration (version 0) set to about 13 hours: a stated length the data cannot back.
    const mvhd = bytes.indexOf(Buffer.from('mvhd'));
    add(
      'huge-declared-duration.mp4',
      damaged((b) => b.writeUInt32BE(0x7ffffff0, mvhd + 4 + 4 + 4 + 4 + 4)),
      2,
    );
    add('random-bytes-named.mkv', rng.bytes(200 * 1024), null);
    cases.push({
      id: 'missing-file.mp4',
      input: join(dir, 'no-such-file.mp4'),
      fullSeconds: null,
      outputs: ['wav'],
    });
    mkdirSync(join(dir, 'a-directory.mp4'));
    cases.push({
      id: 'a-directory.mp4',
      input: join(dir, 'a-directory.mp4'),
      fullSeconds: null,
      outputs: ['wav'],
    });
    cases.push({ id: 'dev-urandom', input: '/dev/urandom', fullSeconds: null, outputs: ['wav'] });
  }
  // The output's file size limit: 20 KiB cuts both the WAV (64 KB) and the MP4's packets.
  for (const kiB of quick ? [20] : [20, 60]) {
    cases.push({ id: `ulimit-f-${kiB}`, input: clip, fullSeconds: 2, fileLimitKiB: kiB, outputs: both });
  }
  // A full disk: a tmpfs too small for the output (the MP4 is about 52 KB, the WAV 64 KB).
  for (const kiB of quick ? [24] : [24, 48]) {
    cases.push({ id: `enospc-${kiB}k`, input: clip, fullSeconds: 2, diskKiB: kiB, outputs: both });
  }
  if (quick) {
    // One output each, alternating, but both for the file size limit.
    cases.forEach((c, i) => {
      if (c.fileLimitKiB === undefined && c.diskKiB === undefined) c.outputs = [i % 2 === 0 ? 'wav' : 'mp4'];
    });
  }
  return cases;
}

interface RenderOutcome {
  caseId: string;
  exitCode: number | null;
  signal: string | null;
  firstStderrLine: string;
  outputSeconds: number | null;
  ms: number;
}

/** Reads the output back: its audio length in seconds, or why it cannot be read. */
async function probeOutput(path: string): Promise<{ seconds: number } | { problem: string }> {
  try {
    const samples = await readSoundtrack(path, 16000);
    if (path.endsWith('.mp4')) {
      const demuxer = await Demuxer.open(path);
      const hasVideo = demuxer.video() !== undefined;
      await demuxer.close();
      if (!hasVideo) return { problem: 'the MP4 has no video stream' };
    }
    return { seconds: samples.length / 16000 };
  } catch (error) {
    return { problem: `unreadable: ${(error as Error).message.split('\n')[0]}` };
  }
}

async function judge(
  c: MediaCase,
  out: string,
  outDir: string,
  run: CliRun,
  fail: (detail: string) => void,
): Promise<number | null> {
  if (run.timedOut) {
    fail(`no exit in ${Math.round(run.ms)} ms (hang)`);
    return null;
  }
  if (run.signal) {
    fail(`killed by ${run.signal}`);
    return null;
  }
  const leftovers = readdirSync(outDir).filter((name) => join(outDir, name) !== out);
  if (leftovers.length > 0) fail(`left files beside the output: ${leftovers.join(', ')}`);
  const first = run.stderr.split('\n')[0] ?? '';
  if (run.code === 0) {
    if (!existsSync(out)) {
      fail('exit 0 without an output file');
      return null;
    }
    const probe = await probeOutput(out);
    if ('problem' in probe) {
      fail(`exit 0 with a corrupt output: ${probe.problem}`);
      return null;
    }
    if (c.fullSeconds === null)
      fail(`exit 0 for an input that is not a video (${probe.seconds.toFixed(2)} s written)`);
    else if (probe.seconds < c.fullSeconds - LENGTH_TOLERANCE_S)
      fail(`exit 0 with ${probe.seconds.toFixed(2)} s of audio for a ${c.fullSeconds} s clip`);
    return probe.seconds;
  }
  if (existsSync(out)) fail(`exit ${run.code} but the output exists`);
  if (!INPUT_EXIT_CODES.has(run.code!)) fail(`exit ${run.code} is not a documented bad-input code: ${first}`);
  if (!first.startsWith('foley: ') || /unexpected error/.test(first))
    fail(`stderr's first line does not name the problem: ${JSON.stringify(first.slice(0, 200))}`);
  return null;
}

/** Mounts a tmpfs of `kiB` on `dir`; false where this process may not mount (not root). */
function mountSmallDisk(dir: string, kiB: number): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kiB}k`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function unmount(dir: string, fail: (detail: string) => void): void {
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
  } catch (error) {
    fail(`could not unmount the test tmpfs at ${dir}: ${(error as Error).message}`);
  }
}

/** Runs `tasks` with at most `limit` at once, in order of start. */
async function pool<T>(tasks: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

export { pool };

/**
 * Outputs that cannot or must not be written: the input itself, a path under /proc, a
 * missing folder, an unknown extension. Each must be refused before any render, with a
 * documented exit code, and leave the input as it was.
 */
function badOutputTasks(
  root: string,
  failures: FuzzFailure[],
  outcomes: Record<string, number>,
  details: RenderOutcome[],
  options: MediaFuzzOptions,
): Array<() => Promise<void>> {
  const dir = join(root, 'bad-outputs');
  mkdirSync(dir);
  const input = join(dir, 'input.mp4');
  copyFileSync(join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4'), input);
  const original = readFileSync(input);
  const cases: Array<[string, string]> = [
    ['output-is-input', input],
    ['output-is-input-by-another-path', join(dir, '.', 'sub', '..', 'input.mp4')],
    ['output-under-proc', '/proc/foley-fuzz.wav'],
    ['output-is-a-link-to-the-input', join(dir, 'link.mp4')],
    ['output-in-missing-folder', join(dir, 'no-such-folder', 'out.wav')],
    ['output-unknown-extension', join(dir, 'out.txt')],
  ];
  if (options.quick) cases.splice(1, 4);
  mkdirSync(join(dir, 'sub'));
  symlinkSync(input, join(dir, 'link.mp4'));
  return cases.map(([id, out]) => async () => {
    const caseId = `${id}`;
    const run = await runFoley(['render', input, '-o', out, '--model', TINY_BUNDLE_DIR, '--quiet'], {
      timeoutMs: options.timeoutMs,
    });
    const fail = (detail: string) => failures.push({ caseId: `media/${caseId}`, detail });
    const first = run.stderr.split('\n')[0] ?? '';
    tally(outcomes, run.timedOut ? 'timeout' : run.signal ? `signal:${run.signal}` : `exit ${run.code}`);
    details.push({
      caseId,
      exitCode: run.code,
      signal: run.signal,
      firstStderrLine: first.slice(0, 240),
      outputSeconds: null,
      ms: Math.round(run.ms),
    });
    if (run.timedOut || run.signal) fail(`did not exit by itself (${run.signal ?? 'timeout'})`);
    else if (!INPUT_EXIT_CODES.has(run.code!))
      fail(`exit ${run.code}, expected a refusal (2 or 5): ${first}`);
    else if (!first.startsWith('foley: ')) fail(`stderr's first line does not name the problem: ${first}`);
    if (!readFileSync(input).equals(original)) fail('the input was changed');
    if (!id.startsWith('output-is-') && existsSync(out)) fail('an output was left');
  });
}

export async function fuzzMedia(options: MediaFuzzOptions): Promise<SectionReport> {
  const started = performance.now();
  const rng = new FuzzRandom(options.seed).fork(3);
  const root = mkdtempSync(join(tmpdir(), 'foley-fuzz-media-'));
  const failures: FuzzFailure[] = [];
  const outcomes: Record<string, number> = {};
  const details: RenderOutcome[] = [];
  try {
    const corpusDir = join(root, 'corpus');
    mkdirSync(corpusDir);
    const corpus = await buildCorpus(corpusDir, rng, options.quick);
    const tasks = corpus.flatMap((c) =>
      c.outputs.map((ext) => async () => {
        const caseId = `${c.id}->${ext}`;
        const outDir = join(root, 'out', caseId.replace(/[^\w.-]/g, '_'));
        mkdirSync(outDir, { recursive: true });
        if (c.diskKiB !== undefined && !mountSmallDisk(outDir, c.diskKiB)) {
          tally(outcomes, 'skipped: no tmpfs mount (needs root)');
          return;
        }
        const out = join(outDir, `foley.${ext}`);
        const fail = (detail: string) => failures.push({ caseId: `media/${caseId}`, detail });
        let run: CliRun;
        let seconds: number | null;
        try {
          run = await runFoley(['render', c.input, '-o', out, '--model', TINY_BUNDLE_DIR, '--quiet'], {
            timeoutMs: options.timeoutMs,
            ...(c.fileLimitKiB !== undefined ? { fileLimitKiB: c.fileLimitKiB } : {}),
          });
          seconds = await judge(c, out, outDir, run, fail);
        } finally {
          if (c.diskKiB !== undefined) unmount(outDir, fail);
        }
        tally(outcomes, run.timedOut ? 'timeout' : run.signal ? `signal:${run.signal}` : `exit ${run.code}`);
        details.push({
          caseId,
          exitCode: run.code,
          signal: run.signal,
          firstStderrLine: (run.stderr.split('\n')[0] ?? '').slice(0, 240),
          outputSeconds: seconds,
          ms: Math.round(run.ms),
        });
      }),
    );
    tasks.push(...badOutputTasks(root, failures, outcomes, details, options));
    await pool(tasks, options.concurrency);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  details.sort((a, b) => a.caseId.localeCompare(b.caseId));
  return {
    section: 'media',
    cases: details.length,
    outcomes,
    failures,
    ms: performance.now() - started,
    details: details as unknown as Array<Record<string, unknown>>,
  };
}
