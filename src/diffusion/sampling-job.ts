/**
 * A window's whole guided sampling loop (sampler.ts) as one job. FoleyGenerator hands it to an
 * inference worker, which runs it against its own sessions: two messages a window instead of
 * one for every UNet and classifier call (a balanced full-level chunk made 12), and no wait in
 * the runner's queue between the steps. The same function runs it on the main thread through
 * the runner when the caller follows each step (a render's progress).
 */
import { AlignClassifier } from '../models/align-classifier.js';
import { DenoisingUnet } from '../models/denoising-unet.js';
import type { RunOptions, RunsModels } from '../models/inference-runner.js';
import type { LatentShape } from './latent-frames.js';
import { runSampler, type SamplerStep } from './sampler.js';
import type { DiffusionSchedule } from './schedule.js';

export interface SamplingJob {
  /** UNet model key. */
  unet: string;
  /** The UNet's feature rows [frames, dim] (with the contact column when it reads one). */
  unetFeatures: Float32Array;
  /** The classifier's feature rows [frames, features.dim]. */
  features: Float32Array;
  shape: LatentShape;
  steps: number;
  cfgScale: number;
  cgScale: number;
  cgMaxTimestep?: number;
  restarts: number;
  restartMaxTimestep: number;
  /** z_T, [channels, frames, melBins]. */
  noise: Float32Array;
  known?: { latent: Float32Array; frames: number };
  /** Fresh noise of each restart pass, in order (sampler.ts restartPasses of them). */
  restartNoise: Float32Array[];
}

/** Runs the job's sampling loop with `models`; returns the final latent, the layout of the noise. */
export function runSamplingJob(
  models: RunsModels,
  schedule: DiffusionSchedule,
  job: SamplingJob,
  options: RunOptions = {},
  onStep?: (step: SamplerStep) => void,
): Promise<Float32Array> {
  const unet = new DenoisingUnet(models, job.unet);
  const classifier = new AlignClassifier(models);
  const { shape } = job;
  return runSampler(
    {
      epsilon: (zt, t, withUnconditional) =>
        unet.epsilon(zt, t, job.unetFeatures, shape, withUnconditional, options),
      classifierGradient: async (zt, t) =>
        (await classifier.gradient(zt, t, job.features, shape, options)).grad,
    },
    {
      schedule,
      shape,
      steps: job.steps,
      cfgScale: job.cfgScale,
      cgScale: job.cgScale,
      cgMaxTimestep: job.cgMaxTimestep,
      noise: job.noise,
      known: job.known,
      restarts: job.restarts,
      restartMaxTimestep: job.restartMaxTimestep,
      restartNoise: (k) => job.restartNoise[k]!,
    },
    onStep,
  );
}
