/**
 * The model side of the live path: the only live code that knows model keys and
 * ONNX input names. Every call goes through the engine's InferenceRunner, so the
 * work runs on the inference worker thread, off the event loop that carries RTP and
 * WebSocket traffic. One LiveModel per stream; the runner (sessions) is shared.
 */

import type { LatentShape } from '../../src/diffusion/latent-frames.js';
import { type GuidanceTerms, runSampler } from '../../src/diffusion/sampler.js';
import { DiffusionSchedule } from '../../src/diffusion/schedule.js';
import type { InferenceRunner } from '../../src/models/inference-runner.js';
import type { Manifest } from '../../src/models/manifest.js';
import { float32Tensor, uint8Tensor } from '../../src/models/tensor.js';

export interface WindowRequest {
  /** [frames, featureDim] video features of the window. */
  features: Float32Array;
  frames: number;
  noise: Float32Array;
  known?: { latent: Float32Array; frames: number };
  steps: number;
  cfgScale: number;
  cgScale: number;
  /** Extra passes of each step at t <= the manifest's restartMaxTimestep, with their noise. */
  restarts?: number;
  restartNoise?: (k: number) => Float32Array;
  /** When the chunk's audio is due (performance.now() ms): orders the shared runner's queue. */
  deadlineMs?: number;
}

export class LiveModel {
  readonly schedule: DiffusionSchedule;
  readonly unet: string;
  readonly hasClassifier: boolean;

  constructor(
    readonly runner: InferenceRunner,
    readonly manifest: Manifest,
  ) {
    this.schedule = new DiffusionSchedule(manifest.schedule);
    this.unet = manifest.sampling.unet;
    this.hasClassifier = runner.models.includes('align_classifier');
  }

  /** Model keys the live path opens. */
  static models(manifest: Manifest): string[] {
    const keys = ['video_encoder', manifest.sampling.unet, 'latent_decoder', 'vocoder'];
    if (manifest.models.align_classifier) keys.push('align_classifier');
    return keys;
  }

  get featureDim(): number {
    return this.manifest.features.dim;
  }

  latentShape(frames: number): LatentShape {
    return { channels: this.manifest.latent.channels, frames, melBins: this.manifest.latent.melBins };
  }

  /** CAVP features for `count` RGB frames (packed [count, H, W, 3]). Returns [count, dim]. */
  async videoFeatures(rgb: Uint8Array, count: number, deadlineMs?: number): Promise<Float32Array> {
    const { width, height } = this.manifest.video;
    const { outputs } = await this.runner.run(
      'video_encoder',
      { frames: uint8Tensor(rgb, [1, count, height, width, 3]) },
      { deadlineMs },
    );
    return outputs.features!.data as Float32Array;
  }

  /** Few-step double-guided DDIM over one window; returns the final latent. */
  async sampleWindow(request: WindowRequest): Promise<Float32Array> {
    const { frames, features } = request;
    const shape = this.latentShape(frames);
    const dims = [1, shape.channels, frames, shape.melBins];
    const featureDims = [1, frames, this.featureDim];
    const zeros = new Float32Array(features.length);
    const order = { deadlineMs: request.deadlineMs };
    const terms: GuidanceTerms = {
      epsilon: async (zt, timestep, withUnconditional) => {
        if (!withUnconditional) {
          const { outputs } = await this.runner.run(
            this.unet,
            {
              z_t: float32Tensor(zt, dims),
              timestep: float32Tensor(new Float32Array([timestep]), [1]),
              video_features: float32Tensor(features, featureDims),
            },
            order,
          );
          return { conditional: outputs.eps!.data as Float32Array };
        }
        // Conditional and unconditional passes batched together: one run, batch 2.
        const z2 = new Float32Array(zt.length * 2);
        z2.set(zt, 0);
        z2.set(zt, zt.length);
        const f2 = new Float32Array(features.length * 2);
        f2.set(features, 0);
        f2.set(zeros, features.length);
        const { outputs } = await this.runner.run(
          this.unet,
          {
            z_t: float32Tensor(z2, [2, ...dims.slice(1)]),
            timestep: float32Tensor(new Float32Array([timestep, timestep]), [2]),
            video_features: float32Tensor(f2, [2, frames, this.featureDim]),
          },
          order,
        );
        const eps = outputs.eps!.data as Float32Array;
        return { conditional: eps.slice(0, zt.length), unconditional: eps.slice(zt.length) };
      },
      classifierGradient: async (zt, timestep) => {
        const { outputs } = await this.runner.run(
          'align_classifier',
          {
            z_t: float32Tensor(zt, dims),
            timestep: float32Tensor(new Float32Array([timestep]), [1]),
            video_features: float32Tensor(features, featureDims),
          },
          order,
        );
        return outputs.grad!.data as Float32Array;
      },
    };
    return runSampler(terms, {
      schedule: this.schedule,
      shape,
      steps: request.steps,
      cfgScale: request.cfgScale,
      cgScale: this.hasClassifier ? request.cgScale : 0,
      cgMaxTimestep: this.manifest.sampling.cgMaxTimestep,
      noise: request.noise,
      ...(request.known ? { known: request.known } : {}),
      restarts: request.restarts ?? 0,
      restartMaxTimestep: this.manifest.sampling.restartMaxTimestep,
      ...(request.restartNoise ? { restartNoise: request.restartNoise } : {}),
    });
  }

  /** Latent → normalized mel → 16 kHz waveform of frames × samplesPerFrame samples. */
  async renderWaveform(latent: Float32Array, frames: number, deadlineMs?: number): Promise<Float32Array> {
    const shape = this.latentShape(frames);
    const order = { deadlineMs };
    const { outputs: dec } = await this.runner.run(
      'latent_decoder',
      { latent: float32Tensor(latent, [1, shape.channels, frames, shape.melBins]) },
      order,
    );
    const mel = dec.mel!;
    const { outputs: voc } = await this.runner.run(
      'vocoder',
      { mel: float32Tensor(mel.data as Float32Array, mel.dims) },
      order,
    );
    return voc.waveform!.data as Float32Array;
  }
}
