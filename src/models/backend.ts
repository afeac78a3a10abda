/**
 * The only module that imports onnxruntime-node. It opens sessions, chooses the execution
 * provider (CPU by default, CUDA when the binding has it and it is asked for), and converts
 * between plain TensorData and ORT tensors. Runs inside the inference worker: `run()`
 * blocks its thread for the duration of the call.
 */
import * as ort from 'onnxruntime-node';
import { BundleError, InferenceError, UsageError } from '../errors.js';
import type { Dim } from './manifest.js';
import type { DeclaredSignature, DeclaredTensor } from './signature.js';
import type { TensorArray, TensorData, TensorMap } from './tensor.js';

export type ExecutionProviderRequest = 'cpu' | 'cuda' | 'auto';
export type ExecutionProvider = 'cpu' | 'cuda';
export const EXECUTION_PROVIDER_REQUESTS: readonly ExecutionProviderRequest[] = ['cpu', 'cuda', 'auto'];

export interface SessionSettings {
  executionProvider: ExecutionProvider;
  /** Threads inside one operator; 0 lets ORT pick (one per core). */
  intraOpThreads: number;
  /** Threads across independent operators; 1 keeps the graph sequential. */
  interOpThreads: number;
}

/** Execution providers this onnxruntime-node binding was built with, lower-cased. */
export function availableExecutionProviders(): string[] {
  return ort.listSupportedBackends().map((b) => b.name.toLowerCase());
}

/**
 * Resolves a request to a provider: `cpu` always works; `cuda` fails with the list of valid
 * providers when the binding lacks it; `auto` picks CUDA when present, else CPU.
 */
export function resolveExecutionProvider(request: ExecutionProviderRequest): ExecutionProvider {
  const available = availableExecutionProviders();
  if (request === 'cpu') return 'cpu';
  const hasCuda = available.includes('cuda');
  if (request === 'auto') return hasCuda ? 'cuda' : 'cpu';
  if (request === 'cuda' && hasCuda) return 'cuda';
  if (!(EXECUTION_PROVIDER_REQUESTS as readonly string[]).includes(request)) {
    throw new UsageError(
      `[backend] unknown execution provider "${request}"; valid: ${EXECUTION_PROVIDER_REQUESTS.join(', ')}`,
    );
  }
  throw new UsageError(
    `[backend] execution provider "cuda" is not in this onnxruntime-node build; available: ${available.join(', ')}. ` +
      'Install onnxruntime-node with its CUDA binaries (ONNXRUNTIME_NODE_INSTALL_CUDA) or use --device cpu',
  );
}

function toOrtTensor(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims);
}

function fromOrtTensor(t: ort.Tensor): TensorData {
  // Copy: the ORT output buffer is owned by the native side and may be reused.
  const data = t.data as TensorArray;
  const copy = data.slice() as TensorArray;
  return { dtype: t.type as TensorData['dtype'], dims: [...t.dims], data: copy };
}

function declared(meta: readonly ort.InferenceSession.ValueMetadata[]): DeclaredTensor[] {
  return meta.map((m) => {
    if (!m.isTensor) return { name: m.name, dtype: 'non-tensor', shape: [] };
    const shape: Dim[] = m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : String(d)));
    return { name: m.name, dtype: m.type, shape };
  });
}

/** One open ONNX session. */
export class BackendSession {
  private closed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly label: string,
  ) {}

  static async open(path: string, label: string, settings: SessionSettings): Promise<BackendSession> {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [settings.executionProvider],
      intraOpNumThreads: settings.intraOpThreads,
      interOpNumThreads: settings.interOpThreads,
      executionMode: settings.interOpThreads > 1 ? 'parallel' : 'sequential',
      graphOptimizationLevel: 'all',
      // ORT's pool threads spin after each call by default; with a session per model and every
      // stage on the same two cores, the idle ones' spinning takes the busy one's core.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    };
    try {
      return new BackendSession(await ort.InferenceSession.create(path, options), label);
    } catch (error) {
      throw new BundleError(
        `[${label}] ONNX Runtime cannot load ${path}: ${(error as Error).message.split('\n')[0]}`,
        { cause: error },
      );
    }
  }

  /** Input and output names, dtypes and shapes as the ONNX file declares them. */
  signature(): DeclaredSignature {
    return { inputs: declared(this.session.inputMetadata), outputs: declared(this.session.outputMetadata) };
  }

  async run(feeds: TensorMap): Promise<TensorMap> {
    if (this.closed) throw new InferenceError(`[${this.label}] session is closed`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(t);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(ortFeeds);
    } catch (error) {
      throw new InferenceError(`[${this.label}] run failed: ${(error as Error).message.split('\n')[0]}`, {
        cause: error,
      });
    }
    const out: TensorMap = {};
    for (const [name, t] of Object.entries(results)) {
      out[name] = fromOrtTensor(t);
      t.dispose();
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}
