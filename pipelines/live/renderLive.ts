/**
 * A clip through the live composition (live/compose.ts `liveAudio`), without the network,
 * the pacer or the wall clock: what a viewer would hear (before Opus), so streaming's cost in
 * quality is measured on many clips against the whole-clip render (`foley eval --live`).
 *
 * Frames go in as fast as they are read, each stamped as arriving at its own media time,
 * with an offset far beyond any compute time: every chunk is generated at the full level,
 * with the same windows, context, look-ahead and crossfades as live. After the clip, its
 * last frame repeats until the last chunk's look-ahead is in.
 */
import { concat, defer, filter, from, lastValueFrom, map, type Observable, range, toArray } from 'rxjs';
import { FoleyGenerator, resolveGenerationSettings } from '../../src/diffusion/foley-generator.js';
import { MediaInputError } from '../../src/errors.js';
import { readVideoFrames } from '../../src/media/video-reader.js';
import type { InferenceRunner } from '../../src/models/inference-runner.js';
import { VideoEncoder } from '../../src/models/video-encoder.js';
import type { LiveAudio } from './chunk-audio.js';
import { performanceScheduler } from './clock.js';
import { liveAudio } from './compose.js';
import { LevelCosts } from './DegradationLadder.js';
import type { InputFrame } from './FrameGrid.js';
import { LevelGovernor } from './LevelGovernor.js';
import type { PacerInput } from './pace-opus.js';
import { LivePlan, type LivePlanOptions } from './plan.js';

export type LiveRenderOptions = Pick<
  LivePlanOptions,
  | 'latency'
  | 'chunkFrames'
  | 'lookaheadFrames'
  | 'maxContextFrames'
  | 'crossfadeMs'
  | 'crossfadeJoin'
  | 'maxRestarts'
  | 'seed'
> & {
  /** Full-level sampling settings other than the bundle's. */
  sampling?: { steps?: number; cfgScale?: number; cgScale?: number; restarts?: number };
  /** Apply the bundle's contact gate, if it has one (default true). */
  contactGate?: boolean;
  /** Apply the frame comb (default true; dsp/frame-comb.ts). */
  frameComb?: boolean;
};

export interface LiveRenderResult {
  /** 16 kHz audio of the clip's length. */
  waveform: Float32Array;
  chunks: number;
  /** Chunks generated below the full level (0 unless compute stalls for minutes). */
  degradedChunks: number;
}

/** Far beyond any chunk's compute time, so the scheduler never degrades. */
const UNHURRIED_OFFSET_MS = 600_000;

export async function renderLive(
  input: string,
  runner: InferenceRunner,
  options: LiveRenderOptions = {},
): Promise<LiveRenderResult> {
  const { sampling, contactGate, frameComb, ...planOptions } = options;
  const manifest = sampling
    ? { ...runner.bundle.manifest, sampling: { ...runner.bundle.manifest.sampling, ...sampling } }
    : runner.bundle.manifest;
  const plan = new LivePlan(manifest, planOptions, runner.models.includes('align_classifier'));
  const costs = new LevelCosts(plan.ladder.length);
  const parts = {
    plan,
    offsetMs: UNHURRIED_OFFSET_MS,
    encoder: new VideoEncoder(runner),
    synthesizer: new FoleyGenerator(
      runner,
      resolveGenerationSettings(manifest, { seed: plan.seed, contactGate, frameComb }),
    ),
    costs,
    governor: new LevelGovernor(plan.ladder, costs),
    scheduler: performanceScheduler,
  };

  const t0 = performance.now();
  const stamp = (rgb: Uint8Array, index: number): InputFrame => ({
    rgb,
    mediaTimeMs: index * plan.frameMs,
    arrivalMs: t0 + index * plan.frameMs,
  });
  let frames = 0;
  let last: Uint8Array | null = null;
  const clip$: Observable<InputFrame> = from(readVideoFrames(input, manifest.video)).pipe(
    map((frame) => {
      frames = frame.index + 1;
      last = frame.data;
      return stamp(frame.data, frame.index);
    }),
  );
  // Exactly the frames the last chunk waits for, so the last chunk is the clip's last.
  const padding$ = defer(() => {
    if (!last) throw new MediaInputError(`[live render] ${input} has no video frames`);
    const padding = Math.ceil(frames / plan.chunkFrames) * plan.chunkFrames + plan.lookaheadFrames - frames;
    const frame = last;
    return range(frames, padding).pipe(map((index) => stamp(frame, index)));
  });

  const audio = await lastValueFrom(
    concat(clip$, padding$).pipe(
      liveAudio(parts),
      filter((item): item is Extract<PacerInput, { case: 'audio' }> => item.case === 'audio'),
      map((item): LiveAudio => item.value.audio),
      toArray(),
    ),
  );
  const samples = frames * plan.samplesPerFrame16k;
  const waveform = new Float32Array(samples);
  for (const a of audio) {
    waveform.set(a.samples.subarray(0, Math.max(0, samples - a.startSample)), a.startSample);
  }
  const degradedChunks = audio.filter((a) => a.level > 0 || !a.generated).length;
  return { waveform, chunks: audio.length, degradedChunks };
}
