/**
 * Seeds the quality levels' cost estimates: each generating level runs on a dummy window of the
 * size its chunks use, once untimed (the first run of a shape allocates and is slow), then
 * CALIBRATION_RUNS times, the median counting. The offset stated to the streamer rests on these
 * figures, so they must not hang on how fast one cold run happened to be. Features are computed
 * before a chunk's level is chosen (video-features.ts runs ahead), so their cost is timed apart
 * (median of the same runs) and returned, for the offset.
 */
import { from, lastValueFrom } from 'rxjs';
import type { Logger } from '../../src/logger.js';
import { featureRowDim } from '../../src/models/manifest.js';
import type { FrameFeatureEncoder } from '../operators/video-features.js';
import { chunkWindow } from './ChunkWindow.js';
import type { LiveWindowSynthesizer } from './chunk-generation.js';
import type { LevelCosts } from './DegradationLadder.js';
import { type LivePlan, RIGHT_GUARD_FRAMES } from './plan.js';

/** Untimed runs per level first: the first runs of a shape allocate and are slow. */
export const CALIBRATION_WARMUP_RUNS = 3;
/** Timed runs per level after them. */
export const CALIBRATION_RUNS = 8;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function calibrateLevels(
  plan: LivePlan,
  encoder: FrameFeatureEncoder,
  synthesizer: LiveWindowSynthesizer,
  costs: LevelCosts,
  logger?: Logger,
): Promise<number> {
  const m = plan.manifest;
  const K = plan.chunkFrames;
  const c = m.features.contextFrames;
  const featureRuns: number[] = [];
  const rgb = new Uint8Array((K + 2 * c) * m.video.width * m.video.height * 3).fill(128);
  for (const level of plan.ladder) {
    if (!level.generate) continue;
    const { knownFrames, frames } = chunkWindow({
      contextFrames: level.contextFrames,
      availableFrames: Number.POSITIVE_INFINITY,
      chunkFrames: K,
      guardFrames: RIGHT_GUARD_FRAMES,
      multiple: m.latent.timeMultiple,
    });
    const latentValues = m.latent.channels * m.latent.melBins;
    const runs: number[] = [];
    for (let i = 0; i < CALIBRATION_WARMUP_RUNS + CALIBRATION_RUNS; i++) {
      const timed = i >= CALIBRATION_WARMUP_RUNS;
      const encodeStartMs = performance.now();
      await encoder.encode(rgb, K + 2 * c);
      if (timed) featureRuns.push(performance.now() - encodeStartMs);
      const startedMs = performance.now();
      await lastValueFrom(
        from(
          synthesizer.generate({
            startFrame: 0,
            features: new Float32Array(frames * featureRowDim(m)),
            sampling: level,
            deadlineMs: Number.POSITIVE_INFINITY,
            ...(knownFrames > 0
              ? { known: { latent: new Float32Array(latentValues * knownFrames), frames: knownFrames } }
              : {}),
          }),
        ),
      );
      if (timed) runs.push(performance.now() - startedMs);
    }
    const ms = median(runs);
    costs.seed(level.level, ms);
    logger?.debug(
      `calibrated level ${level.level} (${level.name}): ${ms.toFixed(1)} ms (runs ${runs.map((r) => r.toFixed(1)).join(', ')})`,
    );
  }
  const featureMs = median(featureRuns);
  logger?.debug(`calibrated features: ${featureMs.toFixed(1)} ms`);
  return featureMs;
}
