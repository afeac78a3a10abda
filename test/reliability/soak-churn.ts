/**
 * Publisher churn (issue 18: "20 publish/unpublish cycles leave RSS within 10% of the first
 * cycle's"): each cycle plays a clip as VP8 RTP into a producer on one router, attaches
 * foley to it with one shared inference runner, waits for generated foley, then closes the
 * producer (the publisher leaves). Memory is read after a forced GC at the end of each cycle.
 *
 * Used by test/live/churn.test.ts in its own process, and as a child process:
 *   node dist/test/reliability/soak-churn.js [--cycles N] [--model DIR] [--clip FILE] [--leak-for-self-check]
 * prints the result as JSON, so a test can run the cycles under a malloc environment of its
 * choice (glibc reads MALLOC_* once, at the process's start).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import { loadBundle, packageRoot } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { FfmpegRtpSource } from '../../src/server/FfmpegRtpSource.js';
import { ROOM_MEDIA_CODECS } from '../../src/server/Room.js';
import { attachFoley } from '../../src/sfu/index.js';
import { isMainScript } from '../helpers/main-script.js';

export interface ChurnCycleMemory {
  rssMb: number;
  /** Anonymous resident memory (malloc'd and JS heap), MB: /proc/self/smaps_rollup. */
  anonymousMb: number;
  heapUsedMb: number;
  externalMb: number;
}

export interface ChurnResult {
  cycles: ChurnCycleMemory[];
  /** 'died' listeners on the shared runner after the cycles, minus before. */
  runnerListenersLeft: number;
  /** Transports left on the router after the cycles. */
  transportsLeft: number;
  /** Audio producers of the cycles that were still open after their cycle. */
  audioProducersLeftOpen: number;
  /**
   * Objects of the cycles still reachable after the last cycle and a forced GC (WeakRefs):
   * anything that keeps a closed publisher's attachment, RTP source or producers referenced.
   */
  attachmentsAlive: number;
  sourcesAlive: number;
  producersAlive: number;
}

export interface ChurnOptions {
  cycles: number;
  bundleDir: string;
  /** Default: the 2 s 96 px test fixture. */
  clip?: string;
  /**
   * Keep every cycle's attachment and source referenced: the leak the WeakRef counts must
   * report (the check's own test).
   */
  leakForSelfCheck?: boolean;
}

const MB = 2 ** 20;

/** A full GC without starting node with --expose-gc. */
export function forceGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function anonymousMb(): number {
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  return Number(/^Anonymous:\s+(\d+) kB/m.exec(rollup)?.[1] ?? Number.NaN) / 1024;
}

interface CycleRefs {
  attachments: WeakRef<object>[];
  sources: WeakRef<object>[];
  producers: WeakRef<object>[];
}

/**
 * One publisher: joins, gets generated foley, leaves. Its own function so that no suspended
 * frame of the caller's loop keeps the last cycle's objects (V8 keeps a suspended async
 * function's registers, stale ones too).
 */
async function publishOnce(
  router: ms.Router,
  runner: InferenceRunner,
  clip: string,
  refs: CycleRefs,
  leakInto: object[] | undefined,
): Promise<{ audioProducerClosed: boolean }> {
  const source = await FfmpegRtpSource.start({ router, clip, codec: 'vp8' });
  const foley = await attachFoley({
    router,
    producer: source.producer,
    runner,
    offsetMs: 1000,
    latencyBudgetMs: 1000,
  });
  await new Promise<void>((resolve) => {
    const onPacket = (p: { generated: boolean }) => {
      if (!p.generated) return;
      foley.off('packet', onPacket);
      resolve();
    };
    foley.on('packet', onPacket);
  });
  const closed = new Promise<void>((resolve) => foley.once('close', () => resolve()));
  source.close(); // the publisher leaves
  await closed;
  refs.attachments.push(new WeakRef(foley));
  refs.sources.push(new WeakRef(source));
  refs.producers.push(new WeakRef(source.producer), new WeakRef(foley.audioProducer));
  leakInto?.push(foley, source);
  return { audioProducerClosed: foley.audioProducer.closed };
}

export async function runPublisherChurn(options: ChurnOptions): Promise<ChurnResult> {
  const clip = options.clip ?? join(packageRoot(), 'test', 'fixtures', 'clip-2s-96px-25fps.mp4');
  const worker = await mediasoup.createWorker({ logLevel: 'error' });
  let runner: InferenceRunner | undefined;
  try {
    const bundle = await loadBundle(options.bundleDir);
    runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const runnerListeners = runner.listenerCount('died');
    const cycles: ChurnCycleMemory[] = [];
    const refs: CycleRefs = { attachments: [], sources: [], producers: [] };
    const leaked: object[] = [];
    let audioProducersLeftOpen = 0;
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      const { audioProducerClosed } = await publishOnce(
        router,
        runner,
        clip,
        refs,
        options.leakForSelfCheck ? leaked : undefined,
      );
      if (!audioProducerClosed) audioProducersLeftOpen++;
      await new Promise((r) => setTimeout(r, 100));
      forceGc();
      const memory = process.memoryUsage();
      cycles.push({
        rssMb: memory.rss / MB,
        anonymousMb: anonymousMb(),
        heapUsedMb: memory.heapUsed / MB,
        externalMb: (memory.external + memory.arrayBuffers) / MB,
      });
    }
    const dump = await router.dump();
    // A WeakRef's target survives the job that made or read it: collect after a macrotask.
    await new Promise((r) => setTimeout(r, 100));
    forceGc();
    const alive = (list: WeakRef<object>[]) => list.filter((r) => r.deref() !== undefined).length;
    const result: ChurnResult = {
      cycles,
      runnerListenersLeft: runner.listenerCount('died') - runnerListeners,
      transportsLeft: dump.transportIds.length,
      audioProducersLeftOpen,
      attachmentsAlive: alive(refs.attachments),
      sourcesAlive: alive(refs.sources),
      producersAlive: alive(refs.producers),
    };
    leaked.length = 0; // the leak stays reachable until it is counted, then goes
    router.close();
    return result;
  } finally {
    await runner?.close();
    worker.close();
  }
}

/** RSS of the last cycle over the first's, minus 1, %. */
export function growthOverFirstPct(cycles: readonly ChurnCycleMemory[]): number {
  return (cycles[cycles.length - 1]!.rssMb / cycles[0]!.rssMb - 1) * 100;
}

/** Median RSS of `cycles`, MB. */
export function medianRssMb(cycles: readonly ChurnCycleMemory[]): number {
  const sorted = cycles.map((c) => c.rssMb).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Least-squares slope of RSS over cycles [from, end), MB per cycle. */
export function rssSlopeMbPerCycle(cycles: readonly ChurnCycleMemory[], from: number): number {
  const ys = cycles.slice(from).map((c) => c.rssMb);
  const n = ys.length;
  const meanX = (n - 1) / 2;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (i - meanX) * (ys[i]! - meanY);
    den += (i - meanX) ** 2;
  }
  return den > 0 ? num / den : Number.NaN;
}

export function formatChurn(cycles: readonly ChurnCycleMemory[]): string {
  const list = (pick: (c: ChurnCycleMemory) => number) => cycles.map((c) => pick(c).toFixed(1)).join(' ');
  return [
    `RSS per cycle, MB: ${list((c) => c.rssMb)}`,
    `anonymous per cycle, MB: ${list((c) => c.anonymousMb)}`,
    `JS heap used per cycle, MB: ${list((c) => c.heapUsedMb)}`,
    `external + array buffers per cycle, MB: ${list((c) => c.externalMb)}`,
    `RSS at the last cycle over the first: ${growthOverFirstPct(cycles) >= 0 ? '+' : ''}${growthOverFirstPct(cycles).toFixed(1)}%`,
  ].join('\n');
}

if (isMainScript(import.meta.url)) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      cycles: { type: 'string' },
      model: { type: 'string' },
      clip: { type: 'string' },
      'leak-for-self-check': { type: 'boolean' },
    },
    strict: true,
  });
  runPublisherChurn({
    cycles: Number(values.cycles ?? 20),
    bundleDir: values.model ?? join(packageRoot(), 'models', 'tiny-random'),
    ...(values.clip ? { clip: values.clip } : {}),
    leakForSelfCheck: values['leak-for-self-check'] ?? false,
  }).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
