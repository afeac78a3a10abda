/**
 * CAVP video encoder: RGB frames uint8 [batch, frames, H, W, 3] -> features f32 [batch, frames, dim].
 * When the bundle's contact gate reads the contact detector, that model runs on the same frames
 * and its per-frame probability becomes a last column of each feature row (featureRowDim).
 */
import type { InferenceRunner, RunOptions } from './inference-runner.js';
import { CONTACT_DETECTOR_KEY, featureRowDim } from './manifest.js';
import { uint8Tensor } from './tensor.js';

export class VideoEncoder {
  constructor(private readonly runner: InferenceRunner) {}

  /** Frames are packed rgb24, frame-major; returns rows [frameCount, featureRowDim]. `options.deadlineMs` orders the runner's queue. */
  async encode(frames: Uint8Array, frameCount: number, options: RunOptions = {}): Promise<Float32Array> {
    const m = this.runner.bundle.manifest;
    const { width, height } = m.video;
    const feeds = { frames: uint8Tensor(frames, [1, frameCount, height, width, 3]) };
    const rowDim = featureRowDim(m);
    const dim = m.features.dim;
    if (rowDim === dim) {
      const { outputs } = await this.runner.run('video_encoder', feeds, options);
      return outputs.features!.data as Float32Array;
    }
    const [encoded, detected] = await Promise.all([
      this.runner.run('video_encoder', feeds, options),
      this.runner.run(CONTACT_DETECTOR_KEY, feeds, options),
    ]);
    const features = encoded.outputs.features!.data as Float32Array;
    const contact = detected.outputs.contact!.data as Float32Array;
    const rows = new Float32Array(frameCount * rowDim);
    for (let t = 0; t < frameCount; t++) {
      rows.set(features.subarray(t * dim, (t + 1) * dim), t * rowDim);
      rows[t * rowDim + dim] = contact[t]!;
    }
    return rows;
  }
}
