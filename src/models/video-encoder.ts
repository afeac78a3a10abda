/** CAVP video encoder: RGB frames uint8 [batch, frames, H, W, 3] -> features f32 [batch, frames, dim]. */
import type { InferenceRunner, RunOptions } from './inference-runner.js';
import { uint8Tensor } from './tensor.js';

export class VideoEncoder {
  constructor(private readonly runner: InferenceRunner) {}

  /** Frames are packed rgb24, frame-major; returns features [frameCount, dim]. `options.deadlineMs` orders the runner's queue. */
  async encode(frames: Uint8Array, frameCount: number, options: RunOptions = {}): Promise<Float32Array> {
    const { width, height } = this.runner.bundle.manifest.video;
    const { outputs } = await this.runner.run(
      'video_encoder',
      { frames: uint8Tensor(frames, [1, frameCount, height, width, 3]) },
      options,
    );
    return outputs.features!.data as Float32Array;
  }
}
