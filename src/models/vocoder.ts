/** Vocoder: normalized log-mel [batch, melBins, melFrames] -> waveform [batch, samples] at the bundle rate. */
import type { InferenceRunner, RunOptions } from './inference-runner.js';
import { float32Tensor } from './tensor.js';

export class Vocoder {
  constructor(private readonly runner: InferenceRunner) {}

  async synthesize(mel: Float32Array, melFrames: number, options: RunOptions = {}): Promise<Float32Array> {
    const melBins = this.runner.bundle.manifest.audio.melBins;
    const { outputs } = await this.runner.run(
      'vocoder',
      { mel: float32Tensor(mel, [1, melBins, melFrames]) },
      options,
    );
    return outputs.waveform!.data as Float32Array;
  }
}
