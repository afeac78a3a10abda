/**
 * A clip through the live pipeline's chunker, without the network or the wall clock:
 * what a viewer would hear (before Opus), so streaming's cost in quality is measured on
 * many clips against the whole-clip render (`foley eval --live`).
 *
 * Frames are pushed as fast as they are read, each stamped as arriving at its own media
 * time, with an offset far beyond any compute time: every chunk is generated at the full
 * level, with the same windows, context, look-ahead and crossfades as live. After the
 * clip, its last frame repeats until the last chunk's look-ahead is in.
 */
import { readVideoFrames } from '../../src/media/video-reader.js';
import type { InferenceRunner } from '../../src/models/inference-runner.js';
import { type LiveAudio, LiveFoleyPipeline, type LivePipelineOptions } from '../live.js';

export type LiveRenderOptions = Pick<
  LivePipelineOptions,
  'chunkFrames' | 'lookaheadFrames' | 'maxContextFrames' | 'crossfadeMs' | 'seed'
> & {
  /** Full-level sampling settings other than the bundle's. */
  sampling?: { steps?: number; cfgScale?: number; cgScale?: number; restarts?: number };
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
  const { sampling, ...pipelineOptions } = options;
  const manifest = sampling
    ? { ...runner.bundle.manifest, sampling: { ...runner.bundle.manifest.sampling, ...sampling } }
    : runner.bundle.manifest;
  const pipeline = await LiveFoleyPipeline.create({
    ...pipelineOptions,
    runner,
    manifest,
    offsetMs: UNHURRIED_OFFSET_MS,
    skipCalibration: true,
  });
  const audio: LiveAudio[] = [];
  try {
    const t0 = performance.now();
    let frames = 0;
    let last: Uint8Array | null = null;
    const push = (rgb: Uint8Array, index: number): void =>
      pipeline.pushFrame({
        rgb,
        mediaTimeMs: index * pipeline.frameMs,
        arrivalMs: t0 + index * pipeline.frameMs,
      });

    // Every chunk's audio arrives (a failed chunk comes as silence), so this always settles.
    let expected = Number.POSITIVE_INFINITY;
    let allIn = (): void => {};
    const done = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    pipeline.on('audio', (a) => {
      audio.push(a);
      if (audio.length >= expected) allIn();
    });

    for await (const frame of readVideoFrames(input, manifest.video)) {
      push(frame.data, frame.index);
      frames = frame.index + 1;
      last = frame.data;
    }
    if (!last) throw new Error(`[live render] ${input} has no video frames`);
    // Exactly the frames the last chunk waits for: one more chunk would still be running
    // on the shared runner when this returns.
    expected = Math.ceil(frames / pipeline.chunkFrames);
    const padding = expected * pipeline.chunkFrames + pipeline.lookaheadFrames - frames;
    for (let i = 0; i < padding; i++) push(last, frames + i);
    if (audio.length >= expected) allIn();
    await done;

    const samples = frames * pipeline.samplesPerFrame16k;
    const waveform = new Float32Array(samples);
    const chunks = audio.slice(0, expected);
    for (const a of chunks) {
      waveform.set(a.samples.subarray(0, Math.max(0, samples - a.startSample)), a.startSample);
    }
    const degradedChunks = chunks.filter((a) => a.level > 0 || !a.generated).length;
    return { waveform, chunks: expected, degradedChunks };
  } finally {
    pipeline.close();
  }
}
