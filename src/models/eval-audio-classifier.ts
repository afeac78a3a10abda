/** Evaluation-only audio event classifier: mel crops [batch, melBins, cropFrames] -> class logits. */
import type { InferenceRunner } from './inference-runner.js';
import { float32Tensor } from './tensor.js';

export class EvalAudioClassifier {
  constructor(private readonly runner: InferenceRunner) {}

  /** Crops are [count, melBins, cropFrames]; returns the argmax class index of each. */
  async classify(crops: Float32Array, count: number): Promise<number[]> {
    const { melBins } = this.runner.bundle.manifest.audio;
    const cropFrames = this.runner.bundle.manifest.eval.cropFrames;
    const classCount = this.runner.bundle.manifest.classes.length;
    const { outputs } = await this.runner.run('eval_audio_classifier', {
      mel: float32Tensor(crops, [count, melBins, cropFrames]),
    });
    const logits = outputs.logits!.data as Float32Array;
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      let best = 0;
      for (let k = 1; k < classCount; k++)
        if (logits[i * classCount + k]! > logits[i * classCount + best]!) best = k;
      out.push(best);
    }
    return out;
  }
}
