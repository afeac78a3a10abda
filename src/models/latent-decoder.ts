/** Latent decoder: latent f32 [batch, C, frames, M/r] -> normalized log-mel [batch, melBins, melFrames]. */
import type { LatentShape } from '../diffusion/latent-frames.js';
import type { InferenceRunner, RunOptions } from './inference-runner.js';
import { float32Tensor } from './tensor.js';

export class LatentDecoder {
  constructor(private readonly runner: InferenceRunner) {}

  async decode(latent: Float32Array, shape: LatentShape, options: RunOptions = {}): Promise<Float32Array> {
    const { outputs } = await this.runner.run(
      'latent_decoder',
      { latent: float32Tensor(latent, [1, shape.channels, shape.frames, shape.melBins]) },
      options,
    );
    return outputs.mel!.data as Float32Array;
  }
}
