/**
 * The few-step guided DDIM sampler, in numbered stages, yielding after every step so a
 * scheduler can stop it between steps. The network is reached only through passed-in
 * terms (`GuidanceTerms`), as guided-diffusion passes model_fn and cond_fn.
 *
 * Known latent (streaming continuity): frames [0, known.frames) of the window were already
 * generated. After every step they are replaced by the known latent noised to that step's
 * ᾱ with the window's own initial noise, √ᾱ·x0_known + √(1−ᾱ)·noise (RePaint-style
 * inpainting with a deterministic sampler), so only the new frames are denoised and the
 * last step returns the known frames exactly.
 *
 * Restarts (restart sampling, Xu et al. 2023, one step long): a step t → t' with
 * t <= restartMaxTimestep, not the last, is taken `restarts` more times, each from its own
 * result noised back to t with fresh noise: z_t = √(ᾱ_t/ᾱ_t')·z_t' + √(1 − ᾱ_t/ᾱ_t')·n
 * (foley/diffusion.py `sample`; measured in models/README.md step 12).
 */
import { ddimStep } from './ddim.js';
import { guidedEpsilon } from './guidance.js';
import { type LatentShape, latentSize } from './latent-frames.js';
import type { DiffusionSchedule } from './schedule.js';

export interface GuidanceTerms {
  /** ε of the UNet at (z_t, t) with the video features and, when asked, with ∅ features. */
  epsilon(
    zt: Float32Array,
    timestep: number,
    withUnconditional: boolean,
  ): Promise<{ conditional: Float32Array; unconditional?: Float32Array }>;
  /** ∇_{z_t} log σ(alignment logit). */
  classifierGradient(zt: Float32Array, timestep: number): Promise<Float32Array>;
}

export interface SamplerOptions {
  schedule: DiffusionSchedule;
  shape: LatentShape;
  steps: number;
  cfgScale: number;
  cgScale: number;
  /** The classifier term acts only at timesteps <= this (manifest sampling.cgMaxTimestep); default every step. */
  cgMaxTimestep?: number;
  /** z_T ~ N(0, I), [channels, frames, melBins]. */
  noise: Float32Array;
  /** Already generated latent for the first `frames` frames (same layout, full window size). */
  known?: { latent: Float32Array; frames: number };
  /** Extra passes of each step at timesteps <= restartMaxTimestep (default 0). */
  restarts?: number;
  restartMaxTimestep?: number;
  /** Fresh noise for restart k (k counts restarts in order), the layout of `noise`. */
  restartNoise?: (k: number) => Float32Array;
}

export interface SamplerStep {
  index: number;
  steps: number;
  timestep: number;
  /** z after this step (z at the next timestep; the final latent after the last step). */
  latent: Float32Array;
}

function noisedKnown(
  target: Float32Array,
  known: { latent: Float32Array; frames: number },
  noise: Float32Array,
  shape: LatentShape,
  alphaBar: number,
): void {
  const a = Math.sqrt(alphaBar);
  const b = Math.sqrt(1 - alphaBar);
  const { channels, frames, melBins } = shape;
  const span = known.frames * melBins;
  for (let c = 0; c < channels; c++) {
    const base = c * frames * melBins;
    for (let i = base; i < base + span; i++) target[i] = a * known.latent[i]! + b * noise[i]!;
  }
}

/** The forward process from t' back to t: √r·z + √(1 − r)·noise with r = ᾱ_t/ᾱ_t'. */
function restartNoised(z: Float32Array, noise: Float32Array, ratio: number): Float32Array {
  const a = Math.sqrt(ratio);
  const b = Math.sqrt(1 - ratio);
  const out = new Float32Array(z.length);
  for (let i = 0; i < z.length; i++) out[i] = a * z[i]! + b * noise[i]!;
  return out;
}

/** Extra passes of a step: `restarts` at t <= restartMaxTimestep, none at the last step. */
function restartsOf(timestep: number, last: boolean, restarts: number, restartMaxTimestep: number): number {
  return timestep <= restartMaxTimestep && !last ? restarts : 0;
}

/** Restart passes a whole sampling takes: the fresh noises it asks `restartNoise` for. */
export function restartPasses(
  schedule: DiffusionSchedule,
  steps: number,
  restarts: number,
  restartMaxTimestep: number,
): number {
  const plan = schedule.plan(steps);
  return plan.reduce(
    (n, step, i) => n + restartsOf(step.timestep, i === plan.length - 1, restarts, restartMaxTimestep),
    0,
  );
}

export async function* sampleLatent(
  terms: GuidanceTerms,
  options: SamplerOptions,
): AsyncGenerator<SamplerStep, Float32Array> {
  const { schedule, shape, steps, cfgScale, noise, known } = options;
  const cgMaxTimestep = options.cgMaxTimestep ?? Number.POSITIVE_INFINITY;
  const size = latentSize(shape);
  if (noise.length !== size) {
    throw new RangeError(
      `[sampler] noise has ${noise.length} values, shape ${JSON.stringify(shape)} needs ${size}`,
    );
  }
  if (known && (known.latent.length !== size || known.frames < 0 || known.frames > shape.frames)) {
    throw new RangeError(`[sampler] known latent must have ${size} values and 0..${shape.frames} frames`);
  }

  // 1. Plan: trailing timesteps with their ᾱ.
  const plan = schedule.plan(steps);

  // 2. Initial latent z_T: the noise, with known frames noised to ᾱ_T.
  let z: Float32Array = noise.slice();
  if (known && known.frames > 0) noisedKnown(z, known, noise, shape, plan[0]!.alphaBar);

  // 3. Denoise: guided ε̂, DDIM step, re-impose the known frames; restarts redo a step
  //    from its own result noised back to the step's timestep.
  const restarts = options.restarts ?? 0;
  const restartMaxTimestep = options.restartMaxTimestep ?? Number.POSITIVE_INFINITY;
  if (!Number.isInteger(restarts) || restarts < 0) {
    throw new RangeError(`[sampler] restarts must be an integer >= 0, got ${restarts}`);
  }
  let restartCount = 0;
  for (const step of plan) {
    const last = step.index === plan.length - 1;
    const passes = 1 + restartsOf(step.timestep, last, restarts, restartMaxTimestep);
    for (let pass = 0; pass < passes; pass++) {
      if (pass > 0) {
        const k = restartCount++;
        const fresh = options.restartNoise?.(k);
        if (!fresh || fresh.length !== size) {
          throw new RangeError(`[sampler] restart ${k} needs ${size} values of fresh noise`);
        }
        z = restartNoised(z, fresh, step.alphaBar / step.alphaBarPrev);
        if (known && known.frames > 0) noisedKnown(z, known, noise, shape, step.alphaBar);
      }
      const { conditional, unconditional } = await terms.epsilon(z, step.timestep, cfgScale !== 0);
      const cgScale = step.timestep <= cgMaxTimestep ? options.cgScale : 0;
      const classifierGradient = cgScale !== 0 ? await terms.classifierGradient(z, step.timestep) : undefined;
      const eps = guidedEpsilon({
        conditional,
        unconditional,
        classifierGradient,
        cfgScale,
        cgScale,
        alphaBar: step.alphaBar,
      });
      z = ddimStep(z, eps, step.alphaBar, step.alphaBarPrev).zPrev;
      if (known && known.frames > 0) noisedKnown(z, known, noise, shape, step.alphaBarPrev);
    }
    yield { index: step.index, steps, timestep: step.timestep, latent: z };
  }

  // 4. The last z is the (normalized) latent the decoder takes.
  return z;
}

/** Drains the sampler, calling `onStep` after each step; returns the final latent. */
export async function runSampler(
  terms: GuidanceTerms,
  options: SamplerOptions,
  onStep?: (step: SamplerStep) => void,
): Promise<Float32Array> {
  const it = sampleLatent(terms, options);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    onStep?.(r.value);
  }
}
