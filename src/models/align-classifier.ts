/** Audio-visual alignment classifier: logit and ∇_{z_t} log σ(logit), computed inside the graph. */
import type { LatentShape } from '../diffusion/latent-frames.js';
import type { InferenceRunner } from './inference-runner.js';
import { float32Tensor } from './tensor.js';

export class AlignClassifier {
  constructor(private readonly runner: InferenceRunner) {}

  async gradient(
    zt: Float32Array,
    timestep: number,
    features: Float32Array,
    shape: LatentShape,
  ): Promise<{ logit: number; grad: Float32Array }> {
    const { outputs } = await this.runner.run('align_classifier', {
      z_t: float32Tensor(zt.slice(), [1, shape.channels, shape.frames, shape.melBins]),
      timestep: float32Tensor(new Float32Array([timestep]), [1]),
      video_features: float32Tensor(features, [1, shape.frames, features.length / shape.frames]),
    });
    return { logit: (outputs.logit!.data as Float32Array)[0]!, grad: outputs.grad!.data as Float32Array };
  }
}
