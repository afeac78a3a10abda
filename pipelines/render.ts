/**
 * Renders foley for a video file as one RxJS composition:
 *
 *   frames (node-av decode, model fps/size)      src/media/video-reader.ts
 *     -> toVideoFeatures   CAVP features over a sliding window with context
 *     -> generateWindows   overlapping windows, known-latent continuity
 *     -> crossfadeMerge    temporal-merge crossfade into one contiguous track
 *
 * Whole-clip generation is the same pipeline with one window covering every frame.
 * Decoding is held back by generation (pullGate, readAheadFrames) and the track can be
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
import { samplesPerFrame } from '../src/models/manifest.js';
import { VideoEncoder } from '../src/models/video-encoder.js';
import { type AudioChunk, crossfadeMerge } from './operators/crossfade-merge.js';
import { toVideoFeatures } from './operators/video-features.js';
import { generateWindows } from './operators/window-generation.js';

/**
 * Frames at a window's end that the next window regenerates (generateWindows). 100-frame
 * windows, 20 overlapping, first 30 test clips: onset F1 0.887 keeping the whole overlap,
 * 0.899 / 0.903 / 0.901 regenerating 2 / 4 / 8 frames; the whole-clip render scores 0.903.
 */
export const REGENERATED_TAIL_FRAMES = 4;

/** Window plan value meaning "one window over the whole clip". */
export const WHOLE_CLIP = 0;

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

/**
 * How far decoding may run ahead: frames past the last feature chunk encoded, and (with
 * windows) past the last window generated. Enough for the next feature chunk and the next
 * window to be planned while the current one runs, so memory stays flat in the clip's length.
 */
export function readAheadFrames(plan: { windowFrames: number; chunkFrames: number; contextFrames: number }): {
  ofFeatures: number;
  ofAudio: number;
} {
  const { windowFrames, chunkFrames, contextFrames } = plan;
  return {
    ofFeatures: 2 * (chunkFrames + contextFrames),
    ofAudio:
      windowFrames === WHOLE_CLIP
        ? Number.POSITIVE_INFINITY
        : 2 * windowFrames + chunkFrames + 2 * contextFrames + 1,
  };
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

/**
 * Holds a pulled source back: the next item is pulled only while `mayPull()` holds, and
 * `wake()` re-checks after downstream progress. RxJS has no backpressure (`from` of an
 * async iterable pulls as fast as it resolves, and concatMap queues without limit), so
 * without this the reader decodes the whole clip ahead of generation and every raw frame
 * (width·height·3 bytes) waits in the queues. `close()` opens it for good, so a pipeline
 * that errors or unsubscribes lets the reader reach its `finally` and close the input.
 */
function pullGate(mayPull: () => boolean): {
  gated<T>(source: AsyncIterable<T>): AsyncGenerator<T>;
  wake(): void;
  close(): void;
} {
  let closed = false;
  let waiting: (() => void) | null = null;
  const wake = (): void => {
    const resume = waiting;
    waiting = null;
    resume?.();
  };
  return {
    async *gated<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
      const iterator = source[Symbol.asyncIterator]();
      try {
        for (;;) {
          while (!closed && !mayPull()) {
            await new Promise<void>((resolve) => {
              waiting = resolve;
            });
          }
          if (closed) return;
          const next = await iterator.next();
          if (next.done) return;
          yield next.value;
        }
      } finally {
        await iterator.return?.();
      }
    },
    wake,
    close: () => {
      closed = true;
      wake();
    },
  };
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
  const whole = settings.windowFrames === WHOLE_CLIP;
  const windowFrames = whole ? Number.MAX_SAFE_INTEGER : settings.windowFrames;
  const overlapFrames = whole ? 0 : settings.overlapFrames;
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

  const chunkFrames = settings.featureChunkFrames ?? (whole ? 50 : windowFrames - overlapFrames);
  const contextFrames = m.features.contextFrames;
  const ahead = readAheadFrames({ windowFrames: settings.windowFrames, chunkFrames, contextFrames });
  let framesPulled = 0;
  let featuresEnd = 0;
  let audioEnd = 0;
  const gate = pullGate(
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
        dim: m.features.dim,
      }),
      tap((c) => {
        featuresEnd = c.startFrame + c.frames;
        gate.wake();
      }),
      generateWindows(generator, {
        windowFrames,
        overlapFrames,
        dim: m.features.dim,
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
