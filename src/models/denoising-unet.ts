/**
 * The ε-predicting UNet (student or teacher). With classifier-free guidance the conditional
 * and unconditional passes go as one batch of two (unconditional = all-zero features).
 */
import type { LatentShape } from '../diffusion/latent-frames.js';
import type { RunOptions, RunsModels } from './inference-runner.js';
import { float32Tensor } from './tensor.js';

export class DenoisingUnet {
  constructor(
    private readonly runner: RunsModels,
    /** Model key, e.g. `unet_student`. */
    readonly key: string,
  ) {}

  async epsilon(
    zt: Float32Array,
    timestep: number,
    features: Float32Array,
    shape: LatentShape,
    withUnconditional: boolean,
    options: RunOptions = {},
  ): Promise<{ conditional: Float32Array; unconditional?: Float32Array }> {
    const batch = withUnconditional ? 2 : 1;
    const n = zt.length;
    const z = new Float32Array(n * batch);
    z.set(zt);
    const feats = new Float32Array(features.length * batch);
    feats.set(features);
    if (withUnconditional) z.set(zt, n); // second half of feats stays zero: ∅
    const { outputs } = await this.runner.run(
      this.key,
      {
        z_t: float32Tensor(z, [batch, shape.channels, shape.frames, shape.melBins]),
        timestep: float32Tensor(new Float32Array(batch).fill(timestep), [batch]),
        video_features: float32Tensor(feats, [batch, shape.frames, features.length / shape.frames]),
      },
      options,
    );
    const eps = outputs.eps!.data as Float32Array;
    return withUnconditional
      ? { conditional: eps.subarray(0, n), unconditional: eps.subarray(n, 2 * n) }
      : { conditional: eps };
  }
}
