/**
 * Main-thread handle on the inference worker. Requests are keyed by id; closing rejects
 * whatever is pending with an InvalidStateError that names the model and id. A failed
 * start (bad bundle) rejects `start()`; a later death of the worker emits `died`.
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
  /**
   * Intra-op threads. 2 by measurement on the 2-core target (see `foley bench --threads`):
   * 1 leaves a core idle, more than the cores oversubscribes.
   */
  intraOpThreads?: number;
  interOpThreads?: number;
}

export interface RunResult {
  outputs: TensorMap;
  runMs: number;
}

export type InferenceRunnerEvents = {
  /** The worker exited or crashed after a successful start. */
  died: [error: Error];
};

interface Pending {
  model: string;
  resolve: (result: RunResult) => void;
  reject: (error: Error) => void;
}

/**
 * Measured with `foley bench --threads-sweep` on models/default, 2 cores: student with double
 * guidance 180–212 ms at 1 thread against 266–276 ms at 2 (three runs); one intra-op thread
 * also leaves a core to decoding and the event loop.
 */
export const DEFAULT_INTRA_OP_THREADS = 1;

export class InferenceRunner extends TypedEmitter<InferenceRunnerEvents> {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly relations: SymbolRelations;
  /** Total worker-side run time per model key, for per-stage reporting. */
  readonly runMsByModel = new Map<string, number>();

  private constructor(
    private readonly worker: Worker,
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
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (error) => this.onDeath(error));
    worker.on('exit', (code) => {
      if (!this.closed)
        this.onDeath(new InferenceError(`[inference-runner] worker exited with code ${code}`));
    });
  }

  /** Default model set for rendering with a bundle. */
  static renderModels(bundle: Bundle): string[] {
    const m = bundle.manifest;
    return ['video_encoder', m.sampling.unet, 'align_classifier', 'latent_decoder', 'vocoder'];
  }

  /** Starts the worker and opens the sessions; rejects with the worker's typed error on failure. */
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
    const worker = new Worker(new URL('./inference-worker.js', import.meta.url));
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
    const ready = await new Promise<Extract<FromWorker, { case: 'ready' }>['value']>((resolve, reject) => {
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
    }).catch(async (error) => {
      await worker.terminate();
      throw error;
    });
    return new InferenceRunner(worker, bundle, ready.settings, ready.loadMs, keys);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Runs one model. Feeds are checked against the manifest first (names, dtypes, shapes,
   * consistent symbols), outputs after. Feeds are copied to the worker (the caller keeps
   * its buffers); outputs are transferred back.
   */
  run(model: string, feeds: TensorMap): Promise<RunResult> {
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
      this.pending.set(id, {
        model,
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
      const message: ToWorker = { case: 'run', value: { id, model, feeds } };
      this.worker.postMessage(message);
    });
  }

  /** Clears the per-model time totals (between bench passes). */
  resetTimings(): void {
    this.runMsByModel.clear();
  }

  /** Closes the sessions and the worker. Safe to call twice; pending runs are rejected. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.rejectPending('close');
    this.closing = new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 2000);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      const message: ToWorker = { case: 'close', value: null };
      this.worker.postMessage(message);
    });
    return this.closing;
  }

  private rejectPending(reason: string): void {
    for (const [id, p] of this.pending) {
      p.reject(
        new InvalidStateError(`[inference-runner] run("${p.model}") id ${id} rejected: runner ${reason}`),
      );
    }
    this.pending.clear();
  }

  private onMessage(message: FromWorker): void {
    if (message.case === 'result') {
      const p = this.pending.get(message.value.id);
      this.pending.delete(message.value.id);
      p?.resolve({ outputs: message.value.outputs, runMs: message.value.runMs });
    } else if (message.case === 'runFailed') {
      const p = this.pending.get(message.value.id);
      this.pending.delete(message.value.id);
      p?.reject(deserializeError(message.value.error));
    }
  }

  private onDeath(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = Promise.resolve();
    this.rejectPending('worker died');
    this.safeEmit('died', error);
  }
}
