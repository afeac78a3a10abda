/**
 * Renders foley for a video file as one RxJS composition:
 *
 *   frames (node-av decode, model fps/size)      src/media/video-reader.ts
 *     -> toVideoFeatures   CAVP features over a sliding window with context
 *     -> generateWindows   overlapping windows, known-latent continuity
 *     -> crossfadeMerge    temporal-merge crossfade into one contiguous track
 *
 * Whole-clip generation is the same pipeline with one window covering every frame.
 * Decoding is held back by generation (readAheadGate, readAheadFrames) and the track can be
 * streamed out as it is made (`onAudio`), so a long clip renders in flat memory.
 */
import { finalize, from, lastValueFrom, map, tap } from 'rxjs';
import {
  CLIP_EDGE_GUARD_FRAMES,
  FoleyGenerator,
  type GenerationSettings,
} from '../src/diffusion/foley-generator.js';
import type { CrossfadeCurve } from '../src/dsp/crossfade.js';
import { type RgbFrame, readVideoFrames, type ShortRead } from '../src/media/video-reader.js';
import type { InferenceRunner } from '../src/models/inference-runner.js';
import { featureRowDim, samplesPerFrame } from '../src/models/manifest.js';
import { VideoEncoder } from '../src/models/video-encoder.js';
import { type AudioChunk, crossfadeMerge } from './operators/crossfade-merge.js';
import { readAheadGate } from './operators/read-ahead-gate.js';
import { toVideoFeatures } from './operators/video-features.js';
import { generateWindows } from './operators/window-generation.js';
import { planRender, REGENERATED_TAIL_FRAMES } from './render-plan.js';

export { planRender, REGENERATED_TAIL_FRAMES, readAheadFrames, WHOLE_CLIP } from './render-plan.js';

export interface RenderSettings {
  generation: GenerationSettings;
  /** Latent frames per window; WHOLE_CLIP (0) generates the clip as one window. */
  windowFrames: number;
  overlapFrames: number;
  curve?: CrossfadeCurve;
  /** Frames per video-encoder run. */
  featureChunkFrames?: number;
  /** Render an input that ends before its stated duration instead of failing (see ShortRead). */
  allowPartial?: boolean;
}

export interface RenderProgress {
  /** Frames whose audio is generated, fractional within a window. */
  framesDone: number;
  /** Best estimate of the clip's frame count (null when unknown). */
  framesTotal: number | null;
  /** Frames decoded so far: at most a bounded lead (readAheadFrames) over the audio generated. */
  framesDecoded: number;
}

export interface StageTimings {
  /** Demux + decode + conversion to model frames. */
  decodeMs: number;
  /** Worker-side run time per model key. */
  modelMs: Record<string, number>;
  /** End to end, from opening the input to the last sample. */
  totalMs: number;
}

export interface RenderResult {
  /** The whole track; empty when the render streamed it to `onAudio` instead. */
  waveform: Float32Array;
  /** Samples generated (the track's length, streamed or not). */
  samples: number;
  sampleRate: number;
  frames: number;
  /** Start sample of every join between windows (for boundary measures). */
  joinSamples: number[];
  windows: number;
  timings: StageTimings;
}

/** Wraps a frame source, adding the time spent producing each frame to `timer.ms`. */
async function* timed(
  source: AsyncGenerator<RgbFrame>,
  timer: { ms: number; frames: number },
): AsyncGenerator<RgbFrame> {
  for (;;) {
    const started = performance.now();
    const r = await source.next();
    timer.ms += performance.now() - started;
    if (r.done) return;
    timer.frames++;
    yield r.value;
  }
}

export async function renderFoley(
  input: string,
  runner: InferenceRunner,
  settings: RenderSettings,
  options: {
    framesTotalEstimate?: number | null;
    onProgress?: (p: RenderProgress) => void;
    /** Called when an input accepted by `allowPartial` ends before its stated duration. */
    onShortRead?: (shortRead: ShortRead) => void;
    /**
     * Receives the track in contiguous pieces as they are generated, instead of the result
     * holding it whole: memory then stays flat in the clip's length. A throw fails the render.
     */
    onAudio?: (chunk: AudioChunk) => void;
  } = {},
): Promise<RenderResult> {
  const m = runner.bundle.manifest;
  const started = performance.now();
  const modelBefore = new Map(runner.runMsByModel);
  const spf = samplesPerFrame(m);
  const {
    windowFrames,
    overlapFrames,
    chunkFrames,
    contextFrames,
    readAhead: ahead,
  } = planRender({
    ...settings,
    contextFrames: m.features.contextFrames,
  });
  const decode = { ms: 0, frames: 0 };
  const generator = new FoleyGenerator(runner, settings.generation);
  const joinSamples: number[] = [];
  let windows = 0;
  const progress = (framesDone: number): void =>
    options.onProgress?.({
      framesDone,
      framesTotal: options.framesTotalEstimate ?? null,
      framesDecoded: decode.frames,
    });

  let framesPulled = 0;
  let featuresEnd = 0;
  let audioEnd = 0;
  const gate = readAheadGate(
    () => framesPulled < featuresEnd + ahead.ofFeatures && framesPulled < audioEnd + ahead.ofAudio,
  );
  const frames = from(
    gate.gated(
      timed(
        readVideoFrames(input, m.video, {
          allowPartial: settings.allowPartial,
          onShortRead: options.onShortRead,
        }),
        decode,
      ),
    ),
  ).pipe(tap(() => framesPulled++));

  const kept: AudioChunk[] = [];
  let samples = 0;
  await lastValueFrom(
    frames.pipe(
      toVideoFeatures(new VideoEncoder(runner), {
        chunkFrames,
        contextFrames,
        frameBytes: m.video.width * m.video.height * 3,
        dim: featureRowDim(m),
      }),
      tap((c) => {
        featuresEnd = c.startFrame + c.frames;
        gate.wake();
      }),
      generateWindows(generator, {
        windowFrames,
        overlapFrames,
        dim: featureRowDim(m),
        latentChannels: m.latent.channels,
        latentMelBins: m.latent.melBins,
        clipEdgeGuardFrames: CLIP_EDGE_GUARD_FRAMES,
        regeneratedTailFrames: REGENERATED_TAIL_FRAMES,
        onStep: (w, step) => {
          const head = w.index === 0 ? 0 : overlapFrames;
          progress(w.startFrame + head + ((w.frames - head) * (step.index + 1)) / step.steps);
        },
      }),
      tap((w) => {
        windows++;
        if (w.overlapFrames > 0) joinSamples.push(w.startFrame * spf);
        audioEnd = w.startFrame + w.frames;
        gate.wake();
      }),
      map((w) => ({
        startSample: w.startFrame * spf,
        overlapSamples: w.overlapFrames * spf,
        waveform: w.waveform,
      })),
      crossfadeMerge({ overlapSamples: overlapFrames * spf, curve: settings.curve }),
      tap((chunk) => {
        samples += chunk.samples.length;
        if (options.onAudio) options.onAudio(chunk);
        else kept.push(chunk);
      }),
      finalize(() => gate.close()),
    ),
    { defaultValue: null },
  );

  const waveform = new Float32Array(options.onAudio ? 0 : samples);
  for (const c of kept) waveform.set(c.samples, c.startSample);
  const modelMs: Record<string, number> = {};
  for (const [key, ms] of runner.runMsByModel) modelMs[key] = ms - (modelBefore.get(key) ?? 0);
  return {
    waveform,
    samples,
    sampleRate: m.audio.sampleRate,
    frames: decode.frames,
    joinSamples,
    windows,
    timings: { decodeMs: decode.ms, modelMs, totalMs: performance.now() - started },
  };
}
