/**
 * Main-thread handle on the inference worker(s). Runs wait in a queue here and go to a
 * worker only when it is idle, earliest deadline first (runs without a deadline in
 * arrival order after those with one), so that when several live streams share the
 * runner, the chunk due soonest is not stuck behind another stream's work. Closing
 * rejects whatever is pending with an InvalidStateError that names the model and id. A
 * failed start (bad bundle) rejects `start()`; a later death of a worker emits `died`.
 *
 * Batching (as StreamDiffusion's stream batch): when a worker takes the most urgent run,
 * compatible queued runs of the same model (same dtypes and non-batch dims) whose deadline
 * is within `deadlineWindowMs` of it join it as one call along the batch dimension, and
 * the outputs are split back per caller. So several rooms' chunks at the same model step
 * cost one ONNX Runtime call. Sampling jobs merge the same way: queued jobs of one plan (UNet,
 * window, steps, restarts, guidance) due within the window go to one worker together, which
 * runs their loops in lockstep (lockstep-runs.ts).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SamplingJob } from '../diffusion/sampling-job.js';
import { deserializeError, InferenceError, InvalidStateError } from '../errors.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { ExecutionProviderRequest, SessionSettings } from './backend.js';
import { batchKeyOf, batchRowsOf, concatBatch, isBatchable, splitBatch } from './batch-tensors.js';
import type { Bundle } from './bundle.js';
import type { FromWorker, JobModelCalls, ToWorker } from './inference-messages.js';
import { CONTACT_DETECTOR_KEY, readsContactDetector } from './manifest.js';
import { bundleSymbolRelations, checkFeeds, checkOutputs, type SymbolRelations } from './signature.js';
import type { TensorMap } from './tensor.js';

export interface InferenceRunnerOptions {
  /** Model keys to open; default: every model the render path needs plus the default UNet. */
  models?: string[];
  executionProvider?: ExecutionProviderRequest;
  /** Intra-op threads per worker (DEFAULT_INTRA_OP_THREADS by measurement). */
  intraOpThreads?: number;
  interOpThreads?: number;
  /**
   * Worker threads, each with its own sessions (memory: one copy of the models each).
   * 1 by default (a render's windows run in turn); more lets independent streams run at once on
   * more cores (the live server's default is DEFAULT_INFERENCE_WORKERS).
   */
  workers?: number;
  /**
   * Merging of queued runs into one call: an object (missing fields from DEFAULT_BATCHING)
   * turns it on; off by default (false or omitted: every run is its own call).
   */
  batching?: Partial<BatchingOptions> | false;
}

export interface BatchingOptions {
  /** Runs (or sampling jobs) merged into one call at most. */
  maxRuns: number;
  /** A queued run joins the head's call when its deadline is at most this much later, ms. */
  deadlineWindowMs: number;
  /**
   * How long a run queued while a worker is idle waits for others to join it, ms; 0 sends
   * it at once (runs then batch only while every worker is busy).
   */
  gatherDelayMs: number;
}

/** Settings for `batching: {}`. Batching stays off unless asked for (the behaviour before it existed). */
export const DEFAULT_BATCHING: BatchingOptions = { maxRuns: 8, deadlineWindowMs: 160, gatherDelayMs: 0 };

export interface RunOptions {
  /**
   * performance.now() time by which the caller needs the result; the queue serves the
   * earliest first. Omitted: after every run that has one, in arrival order.
   */
  deadlineMs?: number;
}

/**
 * What the model wrappers (DenoisingUnet, AlignClassifier) call: the runner on the main thread,
 * or an inference worker's own sessions when a whole sampling loop runs there.
 */
export interface RunsModels {
  run(model: string, feeds: TensorMap, options?: RunOptions): Promise<{ outputs: TensorMap }>;
}

export interface RunResult {
  outputs: TensorMap;
  runMs: number;
  /** Time spent in the queue before a worker took the run, ms. */
  queuedMs: number;
  /** Runs merged into the call that served this one (1: not batched). */
  batchRuns: number;
}

export interface SampleResult {
  /** The sampling loop's final latent. */
  latent: Float32Array;
  /** Worker-side time of the whole loop (of all the jobs sampled with it), ms. */
  runMs: number;
  queuedMs: number;
  /** Jobs sampled together in the call that served this one (1: alone). */
  batchJobs: number;
}

/**
 * Stats key of sampling jobs: their queue waits, and the loop's own time in the worker beside
 * its model calls (which count under their models).
 */
export const SAMPLING_JOB_KEY = 'sampling_loop';

/** Per-model counters since start or the last resetTimings(). */
export interface ModelRunStats {
  /** ONNX Runtime calls made. */
  calls: number;
  /** Runs served (a batched call serves several). */
  runs: number;
  /** Worker-side time of all calls, ms. */
  runMs: number;
  /** Queue time summed over runs, ms. */
  queuedMs: number;
  /** Calls by the number of runs merged into them: batchRuns → calls. */
  callsByBatchRuns: Record<number, number>;
  /** Of the runs, those made inside sampling jobs (never queued here: no queue time). */
  runsInJobs: number;
}

export type InferenceRunnerEvents = {
  /** A worker exited or crashed after a successful start. */
  died: [error: Error];
};

/** What a queued entry asks of a worker, and who gets the answer. */
type Task =
  | { case: 'run'; feeds: TensorMap; resolve: (result: RunResult) => void }
  | { case: 'sample'; job: SamplingJob; resolve: (result: SampleResult) => void };
type RunTask = Extract<Task, { case: 'run' }>;
type SampleTask = Extract<Task, { case: 'sample' }>;

interface Pending {
  id: number;
  /** Model key, or SAMPLING_JOB_KEY for a sampling job. */
  model: string;
  task: Task;
  deadlineMs: number;
  queuedAt: number;
  /** Set when a worker takes the run. */
  queuedMs: number;
  /** Size of the batch dimension in this run's feeds (0 when the model cannot batch). */
  batchRows: number;
  /**
   * Runs with equal keys can be merged ('' never): a run's dtypes and non-batch dims, a
   * sampling job's plan (samplingPlanKey).
   */
  batchKey: string;
  reject: (error: Error) => void;
}

/** One call given to a worker: a single run or several merged ones. */
interface Call {
  id: number;
  model: string;
  members: Pending[];
}

interface WorkerSlot {
  worker: Worker;
  /** The call this worker is doing, if any. */
  current: Call | null;
}

/**
 * Per worker, where workers share the cores (the live server's rooms): one thread, so a room's
 * call does not wait for a core another worker holds.
 */
export const DEFAULT_INTRA_OP_THREADS = 1;
/**
 * A whole-clip render (render, eval, bench) has one worker and its stages run one after
 * another, so each call may use two cores: with ORT's spinning off (backend.ts) two threads beat
 * one (docs/experiments.md section 50).
 */
export const DEFAULT_RENDER_INTRA_OP_THREADS = Math.min(2, availableParallelism());
/**
 * The live server's runner, shared by its rooms: two workers where there are two cores. At 8
 * rooms on the 2-core machine one worker skipped 26% of the chunks and two 3%; more than two is
 * the caller's choice (each adds a copy of the models).
 */
export const DEFAULT_INFERENCE_WORKERS = Math.min(2, availableParallelism());

export class InferenceRunner extends TypedEmitter<InferenceRunnerEvents> {
  /** Runs not yet given to a worker. */
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private nextCallId = 1;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly relations: SymbolRelations;
  private readonly slots: WorkerSlot[];
  /** Total worker-side run time per model key, for per-stage reporting. */
  readonly runMsByModel = new Map<string, number>();
  /** Calls, runs, times and batch sizes per model key. */
  readonly statsByModel = new Map<string, ModelRunStats>();
  readonly batching: BatchingOptions | null;
  private readonly batchable: ReadonlySet<string>;
  private gatherTimer: NodeJS.Timeout | null = null;

  private constructor(
    workers: Worker[],
    readonly bundle: Bundle,
    readonly settings: SessionSettings,
    readonly loadMs: Record<string, number>,
    readonly models: readonly string[],
    batching: BatchingOptions | null,
  ) {
    super();
    this.batching = batching;
    this.batchable = new Set(models.filter((key) => isBatchable(bundle.manifest.models[key]!)));
    const m = bundle.manifest;
    this.relations = bundleSymbolRelations({
      melFramesPerLatentFrame: m.latent.melFramesPerLatentFrame,
      hopSamples: m.audio.hopSamples,
      classCount: m.classes.length,
    });
    this.slots = workers.map((worker) => ({ worker, current: null }));
    for (const slot of this.slots) {
      slot.worker.on('message', (message: FromWorker) => this.onMessage(slot, message));
      slot.worker.on('error', (error) => this.onDeath(error));
      slot.worker.on('exit', (code) => {
        if (!this.closed)
          this.onDeath(new InferenceError(`[inference-runner] worker exited with code ${code}`));
      });
    }
  }

  /** Default model set for rendering with a bundle. */
  static renderModels(bundle: Bundle): string[] {
    const m = bundle.manifest;
    const keys = ['video_encoder', m.sampling.unet, 'align_classifier', 'latent_decoder', 'vocoder'];
    if (readsContactDetector(m)) keys.push(CONTACT_DETECTOR_KEY);
    return keys;
  }

  /** Starts the worker(s) and opens the sessions; rejects with the worker's typed error on failure. */
  static async start(bundle: Bundle, options: InferenceRunnerOptions = {}): Promise<InferenceRunner> {
    const keys = options.models ?? InferenceRunner.renderModels(bundle);
    const models: Record<string, (typeof bundle.manifest.models)[string]> = {};
    for (const key of keys) {
      const spec = bundle.manifest.models[key];
      if (!spec) {
        throw new InferenceError(
          `[bundle:${bundle.manifest.name}] has no model "${key}"; it has ${Object.keys(bundle.manifest.models).join(', ')}`,
        );
      }
      models[key] = spec;
    }
    const count = options.workers ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > 64) {
      throw new InferenceError(`[inference-runner] workers must be an integer from 1 to 64, got ${count}`);
    }
    const batching = resolveBatching(options.batching);
    const init: ToWorker = {
      case: 'init',
      value: {
        bundleDir: bundle.dir,
        bundleName: bundle.manifest.name,
        models,
        executionProvider: options.executionProvider ?? 'cpu',
        intraOpThreads: options.intraOpThreads ?? DEFAULT_INTRA_OP_THREADS,
        interOpThreads: options.interOpThreads ?? 1,
        schedule: bundle.manifest.schedule,
      },
    };
    const workers: Worker[] = [];
    try {
      // One after another: the first failure (a bad bundle) stops the rest from loading it.
      let ready: Extract<FromWorker, { case: 'ready' }>['value'] | undefined;
      for (let i = 0; i < count; i++) {
        const worker = new Worker(new URL('./inference-worker.js', import.meta.url));
        workers.push(worker);
        const started = await startWorker(worker, init);
        ready ??= started;
      }
      return new InferenceRunner(workers, bundle, ready!.settings, ready!.loadMs, keys, batching);
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Worker threads serving runs. */
  get workerCount(): number {
    return this.slots.length;
  }

  /** Runs waiting for a worker. */
  get queuedRuns(): number {
    return this.queue.length;
  }

  /**
   * Runs one model. Feeds are checked against the manifest first (names, dtypes, shapes,
   * consistent symbols), outputs after. Feeds are copied to the worker (the caller keeps
   * its buffers); outputs are transferred back.
   */
  run(model: string, feeds: TensorMap, options: RunOptions = {}): Promise<RunResult> {
    if (this.closed) {
      return Promise.reject(new InvalidStateError(`[inference-runner] run("${model}") after close`));
    }
    const spec = this.bundle.manifest.models[model];
    if (!spec || !this.models.includes(model)) {
      return Promise.reject(
        new InferenceError(
          `[inference-runner] model "${model}" is not loaded; loaded: ${this.models.join(', ')}`,
        ),
      );
    }
    let symbols: Map<string, number>;
    try {
      symbols = checkFeeds(model, spec, feeds);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.nextId++;
    const batchable = this.batching !== null && this.batchable.has(model);
    return new Promise<RunResult>((resolve, reject) => {
      this.queue.push({
        id,
        model,
        task: {
          case: 'run',
          feeds,
          resolve: (result) => {
            try {
              checkOutputs(model, spec, result.outputs, symbols, this.relations);
            } catch (error) {
              reject(error as Error);
              return;
            }
            resolve(result);
          },
        },
        deadlineMs: options.deadlineMs ?? Number.POSITIVE_INFINITY,
        queuedAt: performance.now(),
        queuedMs: 0,
        batchRows: batchable ? batchRowsOf(spec, feeds) : 0,
        batchKey: batchable ? batchKeyOf(spec, feeds) : '',
        reject,
      });
      const gatherDelayMs = this.batching?.gatherDelayMs ?? 0;
      if (gatherDelayMs > 0 && batchable) {
        this.gatherTimer ??= setTimeout(() => {
          this.gatherTimer = null;
          this.dispatch();
        }, gatherDelayMs);
      } else {
        this.dispatch();
      }
    });
  }

  /**
   * Runs a window's whole sampling loop in a worker (sampling-job.ts), queued as one run by
   * its deadline. Its UNet and classifier must be loaded; the worker checks each call's feeds
   * against the manifest as run() does.
   */
  sample(job: SamplingJob, options: RunOptions = {}): Promise<SampleResult> {
    if (this.closed) {
      return Promise.reject(new InvalidStateError('[inference-runner] sample() after close'));
    }
    const needed = job.cgScale > 0 ? [job.unet, 'align_classifier'] : [job.unet];
    const missing = needed.filter((key) => !this.models.includes(key));
    if (missing.length > 0) {
      return Promise.reject(
        new InferenceError(
          `[inference-runner] sampling needs model(s) ${missing.join(', ')}, not loaded; loaded: ${this.models.join(', ')}`,
        ),
      );
    }
    return new Promise<SampleResult>((resolve, reject) => {
      this.queue.push({
        id: this.nextId++,
        model: SAMPLING_JOB_KEY,
        task: { case: 'sample', job, resolve },
        deadlineMs: options.deadlineMs ?? Number.POSITIVE_INFINITY,
        queuedAt: performance.now(),
        queuedMs: 0,
        batchRows: 0,
        batchKey: this.batching ? samplingPlanKey(job) : '',
        reject,
      });
      this.dispatch();
    });
  }

  /** Clears the per-model totals (between bench passes). */
  resetTimings(): void {
    this.runMsByModel.clear();
    this.statsByModel.clear();
  }

  /** Closes the sessions and the workers. Safe to call twice; pending runs are rejected. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.clearGatherTimer();
    this.rejectPending('close');
    this.closing = Promise.all(this.slots.map((slot) => closeWorker(slot.worker))).then(() => undefined);
    return this.closing;
  }

  /**
   * Gives each idle worker the most urgent queued run, merged with the compatible runs
   * due within the batching window (most urgent first, up to maxRuns).
   */
  private dispatch(): void {
    this.clearGatherTimer();
    for (const slot of this.slots) {
      if (slot.current || this.queue.length === 0) continue;
      this.queue.sort(byUrgency);
      const head = this.queue.shift()!;
      const members = [head];
      if (head.batchKey !== '' && this.batching) {
        const { maxRuns, deadlineWindowMs } = this.batching;
        const lastDeadlineMs = head.deadlineMs + deadlineWindowMs;
        for (let i = 0; i < this.queue.length && members.length < maxRuns; ) {
          const q = this.queue[i]!;
          if (q.deadlineMs > lastDeadlineMs) break; // sorted: the rest are later still
          if (q.model === head.model && q.batchKey === head.batchKey) {
            members.push(q);
            this.queue.splice(i, 1);
          } else i++;
        }
      }
      const now = performance.now();
      for (const p of members) p.queuedMs = now - p.queuedAt;
      const call: Call = { id: this.nextCallId++, model: head.model, members };
      slot.current = call;
      if (head.task.case === 'sample') {
        const jobs = members.map((p) => sampleTask(p).job);
        const message: ToWorker = { case: 'sample', value: { id: call.id, jobs } };
        slot.worker.postMessage(message);
        continue;
      }
      let feeds: TensorMap;
      try {
        feeds =
          members.length === 1 ? runTask(head).feeds : concatBatch(members.map((p) => runTask(p).feeds));
      } catch (error) {
        slot.current = null;
        this.failCall(call, error as Error);
        continue;
      }
      const message: ToWorker = { case: 'run', value: { id: call.id, model: call.model, feeds } };
      slot.worker.postMessage(message);
    }
  }

  private clearGatherTimer(): void {
    if (this.gatherTimer) clearTimeout(this.gatherTimer);
    this.gatherTimer = null;
  }

  private countCall(call: Call, runMs: number): void {
    const queuedMs = call.members.reduce((sum, p) => sum + p.queuedMs, 0);
    this.addCalls(call.model, { calls: 1, runsPerCall: call.members.length, runMs, queuedMs, inJobs: false });
  }

  /**
   * A sampling call's model calls count under their models (by how many jobs' calls each
   * served; no queue wait); the jobs count under SAMPLING_JOB_KEY as one call of that many
   * runs, with their queue waits and the loops' own time beside the model calls.
   */
  private countJobs(call: Call, runMs: number, modelCalls: JobModelCalls): void {
    let modelMs = 0;
    for (const [model, { runMs: ms, callsByRuns }] of Object.entries(modelCalls)) {
      let first = true;
      for (const [runs, calls] of Object.entries(callsByRuns)) {
        const runMsHere = first ? ms : 0; // the time is the model's, not per batch size
        first = false;
        this.addCalls(model, {
          calls,
          runsPerCall: Number(runs),
          runMs: runMsHere,
          queuedMs: 0,
          inJobs: true,
        });
      }
      modelMs += ms;
    }
    const loopMs = Math.max(0, runMs - modelMs);
    this.addCalls(SAMPLING_JOB_KEY, {
      calls: 1,
      runsPerCall: call.members.length,
      runMs: loopMs,
      queuedMs: call.members.reduce((sum, p) => sum + p.queuedMs, 0),
      inJobs: false,
    });
  }

  /** Adds `calls` calls of `runsPerCall` runs each to a model's counters. */
  private addCalls(
    model: string,
    c: { calls: number; runsPerCall: number; runMs: number; queuedMs: number; inJobs: boolean },
  ): void {
    let stats = this.statsByModel.get(model);
    if (!stats) {
      stats = { calls: 0, runs: 0, runMs: 0, queuedMs: 0, callsByBatchRuns: {}, runsInJobs: 0 };
      this.statsByModel.set(model, stats);
    }
    const runs = c.calls * c.runsPerCall;
    stats.calls += c.calls;
    stats.runs += runs;
    if (c.inJobs) stats.runsInJobs += runs;
    stats.runMs += c.runMs;
    stats.queuedMs += c.queuedMs;
    stats.callsByBatchRuns[c.runsPerCall] = (stats.callsByBatchRuns[c.runsPerCall] ?? 0) + c.calls;
    this.runMsByModel.set(model, (this.runMsByModel.get(model) ?? 0) + c.runMs);
  }

  /** Rejects every run of a failed call; a merged call's error says so and names the model. */
  private failCall(call: Call, error: Error): void {
    if (call.members.length === 1) {
      call.members[0]!.reject(error);
      return;
    }
    const ids = call.members.map((p) => p.id).join(', ');
    for (const p of call.members) {
      p.reject(
        new InferenceError(
          `[inference-runner] batched run("${call.model}") of ${call.members.length} runs (ids ${ids}) failed: ${error.message}`,
          { cause: error },
        ),
      );
    }
  }

  private rejectPending(reason: string): void {
    const all = [...this.slots.flatMap((s) => s.current?.members ?? []), ...this.queue];
    all.sort((a, b) => a.id - b.id);
    for (const p of all) {
      p.reject(
        new InvalidStateError(`[inference-runner] run("${p.model}") id ${p.id} rejected: runner ${reason}`),
      );
    }
    this.queue.length = 0;
    for (const slot of this.slots) slot.current = null;
  }

  private onMessage(slot: WorkerSlot, message: FromWorker): void {
    if (message.case !== 'result' && message.case !== 'runFailed' && message.case !== 'sampled') return;
    const call = slot.current;
    if (!call || call.id !== message.value.id) return; // rejected by close meanwhile
    slot.current = null;
    if (message.case === 'sampled') {
      const { latents, runMs, modelCalls } = message.value;
      this.countJobs(call, runMs, modelCalls);
      if (latents.length !== call.members.length) {
        this.failCall(
          call,
          new InferenceError(
            `[inference-runner] ${latents.length} latents back for ${call.members.length} sampling jobs`,
          ),
        );
      } else {
        try {
          const batchJobs = call.members.length;
          call.members.forEach((p, i) =>
            sampleTask(p).resolve({ latent: latents[i]!, runMs, queuedMs: p.queuedMs, batchJobs }),
          );
        } catch (error) {
          this.failCall(call, error as Error);
        }
      }
    } else if (message.case === 'result') {
      const { outputs, runMs } = message.value;
      this.countCall(call, runMs);
      const batchRuns = call.members.length;
      if (batchRuns === 1) {
        const p = call.members[0]!;
        runTask(p).resolve({ outputs, runMs, queuedMs: p.queuedMs, batchRuns });
      } else {
        let parts: TensorMap[];
        try {
          parts = splitBatch(
            outputs,
            call.members.map((p) => p.batchRows),
          );
        } catch (error) {
          this.failCall(call, error as Error);
          parts = [];
        }
        parts.forEach((part, i) => {
          const p = call.members[i]!;
          runTask(p).resolve({ outputs: part, runMs, queuedMs: p.queuedMs, batchRuns });
        });
      }
    } else {
      this.failCall(call, deserializeError(message.value.error));
    }
    this.dispatch();
  }

  private onDeath(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.rejectPending('worker died');
    this.closing = Promise.all(this.slots.map((s) => s.worker.terminate())).then(() => undefined);
    this.safeEmit('died', error);
  }
}

/** A run's task (a call holds runs of one model, or sampling jobs). */
function runTask(p: Pending): RunTask {
  if (p.task.case !== 'run')
    throw new InferenceError(`[inference-runner] id ${p.id} is a sampling job, not a run`);
  return p.task;
}

function sampleTask(p: Pending): SampleTask {
  if (p.task.case !== 'sample')
    throw new InferenceError(`[inference-runner] id ${p.id} is a run, not a sampling job`);
  return p.task;
}

/** Jobs with equal keys make the same calls at every step, so their loops merge every call. */
function samplingPlanKey(job: SamplingJob): string {
  const { shape } = job;
  return [
    job.unet,
    `${shape.channels}x${shape.frames}x${shape.melBins}`,
    job.steps,
    job.cfgScale !== 0 ? 'cfg' : 'cond',
    job.cgScale > 0 ? `cg<${job.cgMaxTimestep ?? ''}` : 'nocg',
    `${job.restarts}<${job.restartMaxTimestep}`,
  ].join('|');
}

function byUrgency(a: Pending, b: Pending): number {
  return a.deadlineMs - b.deadlineMs || a.id - b.id;
}

function resolveBatching(batching: InferenceRunnerOptions['batching']): BatchingOptions | null {
  if (batching === false || batching === undefined) return null;
  const resolved = { ...DEFAULT_BATCHING, ...batching };
  const { maxRuns, deadlineWindowMs, gatherDelayMs } = resolved;
  if (!Number.isInteger(maxRuns) || maxRuns < 1)
    throw new InferenceError(`[inference-runner] batching.maxRuns must be an integer >= 1, got ${maxRuns}`);
  if (!(deadlineWindowMs >= 0))
    throw new InferenceError(
      `[inference-runner] batching.deadlineWindowMs must be >= 0, got ${deadlineWindowMs}`,
    );
  if (!(gatherDelayMs >= 0) || !Number.isFinite(gatherDelayMs))
    throw new InferenceError(`[inference-runner] batching.gatherDelayMs must be >= 0, got ${gatherDelayMs}`);
  return maxRuns === 1 ? null : resolved;
}

/** Sends the init message and waits for the worker's answer. */
function startWorker(
  worker: Worker,
  init: ToWorker,
): Promise<Extract<FromWorker, { case: 'ready' }>['value']> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromWorker): void => {
      cleanup();
      if (message.case === 'ready') resolve(message.value);
      else if (message.case === 'initFailed') reject(deserializeError(message.value));
      else reject(new InferenceError(`[inference-runner] unexpected "${message.case}" during start`));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(
        new InferenceError(`[inference-runner] worker failed to start: ${error.message}`, { cause: error }),
      );
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new InferenceError(`[inference-runner] worker exited with code ${code} during start`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage(init);
  });
}

/** Asks a worker to close its sessions; terminates it if it has not exited after 2 s. */
function closeWorker(worker: Worker): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 2000);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    const message: ToWorker = { case: 'close', value: null };
    worker.postMessage(message);
  });
}
