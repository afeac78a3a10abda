/**
 * Main-thread handle on the inference worker(s). Runs wait in a queue here and go to a
 * worker only when it is idle, earliest deadline first (runs without a deadline in
 * arrival order after those with one), so that when several live streams share the
 * runner, the chunk due soonest is not stuck behind another stream's work. Closing
 * rejects whatever is pending with an InvalidStateError that names the model and id. A
 * failed start (bad bundle) rejects `start()`; a later death of a worker emits `died`.
 */
import { Worker } from 'node:worker_threads';
import { deserializeError, InferenceError, InvalidStateError } from '../errors.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { ExecutionProviderRequest, SessionSettings } from './backend.js';
import type { Bundle } from './bundle.js';
import type { FromWorker, ToWorker } from './inference-messages.js';
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
   * 1 by default; more lets independent streams run at once on more cores.
   */
  workers?: number;
}

export interface RunOptions {
  /**
   * performance.now() time by which the caller needs the result; the queue serves the
   * earliest first. Omitted: after every run that has one, in arrival order.
   */
  deadlineMs?: number;
}

export interface RunResult {
  outputs: TensorMap;
  runMs: number;
  /** Time spent in the queue before a worker took the run, ms. */
  queuedMs: number;
}

export type InferenceRunnerEvents = {
  /** A worker exited or crashed after a successful start. */
  died: [error: Error];
};

interface Pending {
  id: number;
  model: string;
  feeds: TensorMap;
  deadlineMs: number;
  queuedAt: number;
  /** Set when a worker takes the run. */
  queuedMs: number;
  resolve: (result: { outputs: TensorMap; runMs: number; queuedMs: number }) => void;
  reject: (error: Error) => void;
}

interface WorkerSlot {
  worker: Worker;
  /** The run this worker is doing, if any. */
  current: Pending | null;
}

/**
 * Measured with `foley bench --threads-sweep` on models/default, 2 cores: student with double
 * guidance 180–212 ms at 1 thread against 266–276 ms at 2 (three runs); one intra-op thread
 * also leaves a core to decoding and the event loop.
 */
export const DEFAULT_INTRA_OP_THREADS = 1;

export class InferenceRunner extends TypedEmitter<InferenceRunnerEvents> {
  /** Runs not yet given to a worker. */
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly relations: SymbolRelations;
  private readonly slots: WorkerSlot[];
  /** Total worker-side run time per model key, for per-stage reporting. */
  readonly runMsByModel = new Map<string, number>();

  private constructor(
    workers: Worker[],
    readonly bundle: Bundle,
    readonly settings: SessionSettings,
    readonly loadMs: Record<string, number>,
    readonly models: readonly string[],
  ) {
    super();
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
    return ['video_encoder', m.sampling.unet, 'align_classifier', 'latent_decoder', 'vocoder'];
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
    const init: ToWorker = {
      case: 'init',
      value: {
        bundleDir: bundle.dir,
        bundleName: bundle.manifest.name,
        models,
        executionProvider: options.executionProvider ?? 'cpu',
        intraOpThreads: options.intraOpThreads ?? DEFAULT_INTRA_OP_THREADS,
        interOpThreads: options.interOpThreads ?? 1,
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
      return new InferenceRunner(workers, bundle, ready!.settings, ready!.loadMs, keys);
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
    return new Promise<RunResult>((resolve, reject) => {
      this.queue.push({
        id,
        model,
        feeds,
        deadlineMs: options.deadlineMs ?? Number.POSITIVE_INFINITY,
        queuedAt: performance.now(),
        queuedMs: 0,
        resolve: (result) => {
          try {
            checkOutputs(model, spec, result.outputs, symbols, this.relations);
          } catch (error) {
            reject(error as Error);
            return;
          }
          this.runMsByModel.set(model, (this.runMsByModel.get(model) ?? 0) + result.runMs);
          resolve(result);
        },
        reject,
      });
      this.dispatch();
    });
  }

  /** Clears the per-model time totals (between bench passes). */
  resetTimings(): void {
    this.runMsByModel.clear();
  }

  /** Closes the sessions and the workers. Safe to call twice; pending runs are rejected. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.rejectPending('close');
    this.closing = Promise.all(this.slots.map((slot) => closeWorker(slot.worker))).then(() => undefined);
    return this.closing;
  }

  /** Gives each idle worker the most urgent queued run. */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.current || this.queue.length === 0) continue;
      let best = 0;
      for (let i = 1; i < this.queue.length; i++) {
        const q = this.queue[i]!;
        const b = this.queue[best]!;
        if (q.deadlineMs < b.deadlineMs || (q.deadlineMs === b.deadlineMs && q.id < b.id)) best = i;
      }
      const next = this.queue.splice(best, 1)[0]!;
      slot.current = next;
      next.queuedMs = performance.now() - next.queuedAt;
      const message: ToWorker = { case: 'run', value: { id: next.id, model: next.model, feeds: next.feeds } };
      slot.worker.postMessage(message);
    }
  }

  private rejectPending(reason: string): void {
    const all = [...this.slots.flatMap((s) => (s.current ? [s.current] : [])), ...this.queue];
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
    if (message.case !== 'result' && message.case !== 'runFailed') return;
    const p = slot.current;
    if (!p || p.id !== message.value.id) return; // rejected by close meanwhile
    slot.current = null;
    if (message.case === 'result') {
      const { outputs, runMs } = message.value;
      p.resolve({ outputs, runMs, queuedMs: p.queuedMs });
    } else {
      p.reject(deserializeError(message.value.error));
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
