/** Mel front end: waveform f32 [batch, samples] -> normalized log-mel [batch, melBins, samples / hop]. */
import type { InferenceRunner } from './inference-runner.js';
import { float32Tensor } from './tensor.js';

export class MelFrontend {
  constructor(private readonly runner: InferenceRunner) {}

  /** The waveform is cut to a whole number of hops; returns [melBins, melFrames] and melFrames. */
  async melSpectrogram(waveform: Float32Array): Promise<{ mel: Float32Array; melFrames: number }> {
    const hop = this.runner.bundle.manifest.audio.hopSamples;
    const melFrames = Math.floor(waveform.length / hop);
    const samples = waveform.slice(0, melFrames * hop);
    const { outputs } = await this.runner.run('mel', {
      waveform: float32Tensor(samples, [1, samples.length]),
    });
    return { mel: outputs.mel!.data as Float32Array, melFrames };
  }
}
