/**
 * Messages between the InferenceRunner (main thread) and the inference worker, as
 * `{ case, value }` unions. Tensor buffers are transferred, not copied.
 */
import type { SamplingJob } from '../diffusion/sampling-job.js';
import type { SerializedError } from '../errors.js';
import type { SessionSettings } from './backend.js';
import type { ModelSpec, ScheduleSpec } from './manifest.js';
import type { TensorMap } from './tensor.js';

export interface InitRequest {
  bundleDir: string;
  bundleName: string;
  models: Record<string, ModelSpec>;
  executionProvider: 'cpu' | 'cuda' | 'auto';
  intraOpThreads: number;
  interOpThreads: number;
  /** The bundle's diffusion schedule, for sampling jobs. */
  schedule: ScheduleSpec;
}

/**
 * ONNX Runtime calls and their run time per model inside one sampling call, and the calls by
 * how many loops' calls each served (jobs sampled together merge their steps).
 */
export type JobModelCalls = Record<
  string,
  { calls: number; runMs: number; callsByRuns: Record<number, number> }
>;

export type ToWorker =
  | { case: 'init'; value: InitRequest }
  | { case: 'run'; value: { id: number; model: string; feeds: TensorMap } }
  | { case: 'sample'; value: { id: number; jobs: SamplingJob[] } }
  | { case: 'close'; value: null };

export type FromWorker =
  | { case: 'ready'; value: { settings: SessionSettings; loadMs: Record<string, number> } }
  | { case: 'initFailed'; value: SerializedError }
  | { case: 'result'; value: { id: number; outputs: TensorMap; runMs: number } }
  | {
      case: 'sampled';
      value: { id: number; latents: Float32Array[]; runMs: number; modelCalls: JobModelCalls };
    }
  | { case: 'runFailed'; value: { id: number; error: SerializedError } }
  | { case: 'closed'; value: null };

export function transferList(tensors: TensorMap): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const t of Object.values(tensors)) {
    const buffer = t.data.buffer as ArrayBuffer;
    // Only whole, unshared buffers can be moved; views into a larger buffer are copied.
    if (t.data.byteOffset === 0 && t.data.byteLength === buffer.byteLength) seen.add(buffer);
  }
  return [...seen];
}
