/**
 * RxJS operator: feature chunks -> generated audio windows, overlapping by `overlapFrames`.
 *
 * Window k covers latent frames [k·hop, k·hop + windowFrames), hop = window − overlap.
 * Continuity: the first `overlapFrames` of window k are window k−1's last latent frames,
 * kept as known latent (only the new frames are denoised; see src/diffusion/sampler.ts),
 * except the last `regeneratedTailFrames` of them, which window k generates again: the
 * UNet's frames at its window's right edge see no video past it, and kept as known they
 * carried edge sounds into the next window.
 * A window is planned once a frame past its end has arrived, so the clip's last frame always
 * falls in the final window [lastEnd − overlap, end), made when the stream completes: every
 * window after the first overlaps its predecessor by exactly `overlapFrames`. A clip no
 * longer than one window is generated whole, as one window. With `clipEdgeGuardFrames`, the
 * first window is generated with that many guard frames before the clip and the final one
 * with as many after it (see CLIP_EDGE_GUARD_FRAMES in src/diffusion/foley-generator.ts).
 *
 * Windows are generated one at a time in order (concatMap): no window is dropped, since
 * each one seeds the next. A live consumer that falls behind sees it in `lagFrames`.
 */
import { concatMap, defer, endWith, from, mergeMap, type Observable, type OperatorFunction } from 'rxjs';
import { sliceLatentFrames } from '../../src/diffusion/latent-frames.js';
import type { SamplerStep } from '../../src/diffusion/sampler.js';
import type { FeatureChunk } from './video-features.js';

/** What generates one window (FoleyGenerator in src/diffusion). */
export interface WindowSynthesizer {
  generate(
    request: {
      startFrame: number;
      features: Float32Array;
      known?: { latent: Float32Array; frames: number };
      guard?: { before: number; after: number };
    },
    onStep?: (step: SamplerStep) => void,
  ): Promise<{ startFrame: number; frames: number; latent: Float32Array; waveform: Float32Array }>;
}

export interface WindowPlan {
  /** Latent frames per window. */
  windowFrames: number;
  /** Frames shared with the previous window; must be at most half a window. */
  overlapFrames: number;
}

export interface AudioWindow {
  index: number;
  startFrame: number;
  frames: number;
  /** Frames at the head already covered by the previous window (0 for the first). */
  overlapFrames: number;
  /** [channels, frames, melBins] latent of the window. */
  latent: Float32Array;
  /** frames · samplesPerFrame samples; sample 0 is at startFrame · samplesPerFrame. */
  waveform: Float32Array;
  /** Frames of features that had arrived beyond this window's end when it finished. */
  lagFrames: number;
}

export interface WindowGenerationOptions extends WindowPlan {
  /** Feature size per frame. */
  dim: number;
  /** Latent layout, to cut the known overlap out of the previous window's latent. */
  latentChannels: number;
  latentMelBins: number;
  /** Guard frames generated before the clip's first and after its last frame (default 0). */
  clipEdgeGuardFrames?: number;
  /** Frames at a window's end that the next one regenerates instead of keeping (default 0; at most half the overlap). */
  regeneratedTailFrames?: number;
  /** Called after every sampler step of every window. */
  onStep?: (window: { index: number; startFrame: number; frames: number }, step: SamplerStep) => void;
}

export function checkWindowPlan(plan: WindowPlan): void {
  const { windowFrames, overlapFrames } = plan;
  if (!Number.isInteger(windowFrames) || windowFrames < 1) {
    throw new RangeError(`[windows] windowFrames must be a positive integer, got ${windowFrames}`);
  }
  if (!Number.isInteger(overlapFrames) || overlapFrames < 0 || 2 * overlapFrames > windowFrames) {
    throw new RangeError(
      `[windows] overlapFrames must be an integer in 0..${windowFrames / 2}, got ${overlapFrames}`,
    );
  }
}

interface WindowJob {
  index: number;
  startFrame: number;
  endFrame: number;
  /** The window ends at the clip's last frame. */
  final: boolean;
}

const END = Symbol('end');

export function generateWindows(
  synthesizer: WindowSynthesizer,
  options: WindowGenerationOptions,
): OperatorFunction<FeatureChunk, AudioWindow> {
  checkWindowPlan(options);
  const { windowFrames, overlapFrames, dim, latentChannels, latentMelBins } = options;
  const hop = windowFrames - overlapFrames;
  const edgeGuard = options.clipEdgeGuardFrames ?? 0;
  const regenerated = options.regeneratedTailFrames ?? 0;
  if (!Number.isInteger(regenerated) || regenerated < 0) {
    throw new RangeError(`[windows] regeneratedTailFrames must be an integer >= 0, got ${regenerated}`);
  }
  return (source: Observable<FeatureChunk>) =>
    defer(() => {
      // Features by frame, from featureStart; older frames are dropped once no window needs them.
      let features = new Float32Array(0);
      let featureStart = 0;
      let available = 0; // frames of features received
      let nextStart = 0;
      let nextIndex = 0;
      let lastEnd = 0;
      let previous: { latent: Float32Array; frames: number; endFrame: number } | null = null;
      const pendingStarts: number[] = []; // start frames of planned windows not yet generated

      const append = (chunk: FeatureChunk): void => {
        if (chunk.startFrame !== available) {
          throw new RangeError(
            `[windows] feature chunk starts at frame ${chunk.startFrame}, expected ${available}`,
          );
        }
        const keepFrom = Math.max(featureStart, Math.min(pendingStarts[0] ?? nextStart, nextStart));
        const kept = features.subarray((keepFrom - featureStart) * dim);
        const merged = new Float32Array(kept.length + chunk.features.length);
        merged.set(kept);
        merged.set(chunk.features, kept.length);
        features = merged;
        featureStart = keepFrom;
        available += chunk.frames;
      };

      const plan = (item: FeatureChunk | typeof END): WindowJob[] => {
        const jobs: WindowJob[] = [];
        if (item !== END) {
          append(item);
          while (available > nextStart + windowFrames) {
            pendingStarts.push(nextStart);
            jobs.push({
              index: nextIndex++,
              startFrame: nextStart,
              endFrame: nextStart + windowFrames,
              final: false,
            });
            lastEnd = nextStart + windowFrames;
            nextStart += hop;
          }
          return jobs;
        }
        if (available > lastEnd) {
          const startFrame = nextIndex === 0 ? 0 : lastEnd - overlapFrames;
          pendingStarts.push(startFrame);
          jobs.push({ index: nextIndex++, startFrame, endFrame: available, final: true });
          lastEnd = available;
        }
        return jobs;
      };

      const run = async (job: WindowJob): Promise<AudioWindow> => {
        const frames = job.endFrame - job.startFrame;
        const windowFeatures = features.slice(
          (job.startFrame - featureStart) * dim,
          (job.endFrame - featureStart) * dim,
        );
        let known: { latent: Float32Array; frames: number } | undefined;
        let head = 0;
        if (previous && job.index > 0) {
          head = previous.endFrame - job.startFrame;
          const kept = head - Math.min(regenerated, Math.floor(head / 2));
          known = {
            latent: sliceLatentFrames(
              previous.latent,
              { channels: latentChannels, frames: previous.frames, melBins: latentMelBins },
              previous.frames - head,
              kept,
            ),
            frames: kept,
          };
        }
        const info = { index: job.index, startFrame: job.startFrame, frames };
        const guard = {
          before: job.index === 0 ? edgeGuard : 0,
          after: job.final ? edgeGuard : 0,
        };
        const result = await synthesizer.generate(
          { startFrame: job.startFrame, features: windowFeatures, known, guard },
          options.onStep ? (step) => options.onStep!(info, step) : undefined,
        );
        previous = { latent: result.latent, frames, endFrame: job.endFrame };
        pendingStarts.shift();
        return {
          index: job.index,
          startFrame: job.startFrame,
          frames,
          overlapFrames: head,
          latent: result.latent,
          waveform: result.waveform,
          lagFrames: Math.max(0, available - job.endFrame),
        };
      };

      return source.pipe(
        endWith(END),
        mergeMap((item) => from(plan(item))),
        concatMap((job) => from(run(job))),
      );
    });
}
