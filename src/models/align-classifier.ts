/**
 * Audio-visual alignment classifier: its logits (one per input, or one per window of latent
 * frames when the bundle folds a window into the graph) and ∇_{z_t} Σ log σ(logit), computed
 * inside the graph.
 */
import type { LatentShape } from '../diffusion/latent-frames.js';
import type { RunOptions, RunsModels } from './inference-runner.js';
import { float32Tensor } from './tensor.js';

export class AlignClassifier {
  constructor(private readonly runner: RunsModels) {}

  async gradient(
    zt: Float32Array,
    timestep: number,
    features: Float32Array,
    shape: LatentShape,
    options: RunOptions = {},
  ): Promise<{ logits: Float32Array; grad: Float32Array }> {
    const { outputs } = await this.runner.run(
      'align_classifier',
      {
        z_t: float32Tensor(zt.slice(), [1, shape.channels, shape.frames, shape.melBins]),
        timestep: float32Tensor(new Float32Array([timestep]), [1]),
        video_features: float32Tensor(features, [1, shape.frames, features.length / shape.frames]),
      },
      options,
    );
    return { logits: outputs.logit!.data as Float32Array, grad: outputs.grad!.data as Float32Array };
  }
}
