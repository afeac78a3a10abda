/**
 * Seeds the quality levels' cost estimates: each generating level runs twice on a dummy
 * window of the size its chunks use, the faster run counting. Features are computed before a
 * chunk's level is chosen (video-features.ts runs ahead), so their cost is timed apart and
 * returned, for the offset. The first level and the features run WARM_UP_RUNS times untimed
 * before any timing: the first runs of fresh sessions are several times slower
 * (docs/experiments.md section 31), and a cold estimate inflates the offset and starts the
 * governor below the full level.
 */
import { from, lastValueFrom } from 'rxjs';
import type { Logger } from '../../src/logger.js';
import { featureRowDim } from '../../src/models/manifest.js';
import type { FrameFeatureEncoder } from '../operators/video-features.js';
import { chunkWindow } from './ChunkWindow.js';
import type { LiveWindowSynthesizer } from './chunk-generation.js';
import type { LevelCosts, QualityLevel } from './DegradationLadder.js';
import { type LivePlan, RIGHT_GUARD_FRAMES } from './plan.js';

/** Untimed runs of the first level before the timed ones. */
export const WARM_UP_RUNS = 2;

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
  let featureMs = Number.POSITIVE_INFINITY;
  const rgb = new Uint8Array((K + 2 * c) * m.video.width * m.video.height * 3).fill(128);
  const latentValues = m.latent.channels * m.latent.melBins;
  /** One run of the features and of `level`'s chunk: their times, ms. */
  const runOnce = async (level: QualityLevel): Promise<{ featureMs: number; chunkMs: number }> => {
    const { knownFrames, frames } = chunkWindow({
      contextFrames: level.contextFrames,
      availableFrames: Number.POSITIVE_INFINITY,
      chunkFrames: K,
      guardFrames: RIGHT_GUARD_FRAMES,
      multiple: m.latent.timeMultiple,
    });
    const encodeStartMs = performance.now();
    await encoder.encode(rgb, K + 2 * c);
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
    return { featureMs: startedMs - encodeStartMs, chunkMs: performance.now() - startedMs };
  };
  const levels = plan.ladder.filter((level) => level.generate);
  for (let i = 0; i < WARM_UP_RUNS; i++) await runOnce(levels[0]!);
  for (const level of levels) {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 2; i++) {
      const run = await runOnce(level);
      featureMs = Math.min(featureMs, run.featureMs);
      best = Math.min(best, run.chunkMs);
    }
    costs.seed(level.level, best);
    logger?.debug(`calibrated level ${level.level} (${level.name}): ${best.toFixed(1)} ms`);
  }
  logger?.debug(`calibrated features: ${featureMs.toFixed(1)} ms`);
  return featureMs;
}
