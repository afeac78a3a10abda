/**
 * `foley render <video> -o <out.wav|out.mp4|out.mkv> [--model DIR] [--steps N] [--cfg W]
 *  [--cg G] [--seed S] [--window F --overlap F] [--codec aac|opus] [--device cpu|cuda|auto]
 *  [--allow-partial] [--mix DB]`
 */

import { constants as osConstants } from 'node:os';
import { type RenderResult, renderFoley, WHOLE_CLIP } from '../../pipelines/render.js';
import { resolveGenerationSettings } from '../diffusion/foley-generator.js';
import { EXIT_CODES, UsageError } from '../errors.js';
import { assertWritableOutput } from '../media/atomic-output.js';
import { OriginalAudioMixer } from '../media/audio-mix.js';
import { FoleyOutputWriter, outputKindOf } from '../media/foley-output.js';
import { probeVideo } from '../media/video-reader.js';
import { defaultBundleDir, loadBundle } from '../models/bundle.js';
import { InferenceRunner } from '../models/inference-runner.js';
import {
  deviceFlag,
  generationOverrides,
  joinNegativeValues,
  MODEL_OPTIONS,
  numberFlag,
  parse,
  threadsFlag,
  WHOLE_CLIP_MAX_FRAMES,
} from './options.js';
import { formatDuration, ProgressBar } from './progress-bar.js';

export const RENDER_USAGE = `usage: foley render <video> -o <out.wav|out.mp4|out.mkv> [options]
  --model DIR       model bundle folder (default: models/default)
  --steps N         DDIM steps (default: the bundle's)
  --cfg W           classifier-free guidance scale ω (0 = off)
  --cg G            classifier guidance scale γ (0 = off)
  --restarts R      extra passes of each restarted step (default: the bundle's; 0 = off)
  --seed S          noise seed (default 0)
  --no-contact-gate leave out the bundle's contact gate (the student alone)
  --window F        frames per window (0 = whole clip; default: whole clip up to 30 s,
                    else the bundle's window)
  --overlap F       frames shared by consecutive windows (default: the bundle's)
  --codec C         aac or opus (mkv only; default opus for mkv, aac for mp4)
  --device D        cpu (default), cuda or auto
  --threads N       intra-op threads (default 2, 1 on one core)
  --allow-partial   render an input that ends before its stated duration (cut or
                    damaged) instead of failing with exit 4
  --mix DB          keep the input's own audio under the foley, at DB relative to its
                    original level (0 = as recorded, -12 = quieter; the foley stays at 0 dB);
                    downmixed to mono at the foley's rate, the sum through a peak limiter
                    (ceiling -0.2 dBFS) so it never clips. Exit 4 if the input has no audio.
                    Default: off, the output carries only the foley
  -q, --quiet       no progress bar or summary
  -h, --help        this help`;

export interface RenderCommandOutput {
  result: RenderResult;
  outputPath: string;
  writeMs: number;
  loadMs: number;
}

/**
 * `writeMs` is all the time spent writing the output, `finishMs` the part after the render
 * (muxing, trailer, rename); the rest overlapped the render.
 */
export function stageSummary(result: RenderResult, writeMs: number, finishMs: number): string {
  const t = result.timings;
  const audioSeconds = result.samples / result.sampleRate;
  const endToEnd = t.totalMs + finishMs;
  const parts = [`decode ${formatDuration(t.decodeMs)}`];
  for (const [key, ms] of Object.entries(t.modelMs)) parts.push(`${key} ${formatDuration(ms)}`);
  parts.push(`write ${formatDuration(writeMs)}`);
  return (
    `${audioSeconds.toFixed(2)} s of audio for ${result.frames} frames in ${formatDuration(endToEnd)} ` +
    `(RTF ${(endToEnd / 1000 / audioSeconds).toFixed(3)}; ${result.windows} window${result.windows === 1 ? '' : 's'}): ${parts.join(', ')}`
  );
}

/**
 * Runs `cleanup` and exits with 128 + the signal's number (EXIT_CODES.signal) on SIGINT, SIGTERM or SIGHUP (a
 * Ctrl-C mid-render would otherwise leave the temporary output behind). `cleanup` may return a
 * promise: exiting while ONNX Runtime's worker threads still run aborts the process (SIGABRT from
 * a native exception), so the runner is closed first; a second signal, or CLEANUP_WAIT_MS, exits
 * at once. Returns the function that uninstalls the handlers.
 */
function onTerminatingSignal(cleanup: () => void | Promise<void>): () => void {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  let exiting = false;
  const handler = (signal: NodeJS.Signals): void => {
    const code = EXIT_CODES.signal.code + (osConstants.signals[signal] ?? 0);
    if (exiting) process.exit(code);
    exiting = true;
    setTimeout(() => process.exit(code), CLEANUP_WAIT_MS).unref();
    Promise.resolve()
      .then(cleanup)
      .finally(() => process.exit(code));
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

/** Longest wait for the cleanup after a terminating signal, ms. */
const CLEANUP_WAIT_MS = 3000;

export async function renderCommand(argv: string[]): Promise<RenderCommandOutput | null> {
  const { values, positionals } = parse('render', joinNegativeValues(argv, ['mix']), {
    ...MODEL_OPTIONS,
    output: { type: 'string', short: 'o' },
    codec: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
    'allow-partial': { type: 'boolean' },
    mix: { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${RENDER_USAGE}\n`);
    return null;
  }
  const video = positionals[0];
  if (!video || positionals.length > 1)
    throw new UsageError(`[foley render] expects one video, got ${positionals.length}\n${RENDER_USAGE}`);
  const output = values.output as string | undefined;
  if (!output)
    throw new UsageError(`[foley render] -o <out.wav|out.mp4|out.mkv> is required\n${RENDER_USAGE}`);
  const codec = values.codec as string | undefined;
  if (codec !== undefined && codec !== 'aac' && codec !== 'opus') {
    throw new UsageError(`[foley render] --codec must be aac or opus, got "${codec}"`);
  }
  const kind = outputKindOf(output);
  if (kind === 'mp4' && codec === 'opus')
    throw new UsageError('[foley render] MP4 output carries AAC; use .mkv for Opus');
  assertWritableOutput(output, { input: video });
  const overrides = generationOverrides('render', values);
  const windowFlag = numberFlag('render', values, 'window', { integer: true, min: 0 });
  const overlapFlag = numberFlag('render', values, 'overlap', { integer: true, min: 0 });
  const threads = threadsFlag('render', values);
  const device = deviceFlag('render', values);
  const mixGainDb = numberFlag('render', values, 'mix');

  const bundle = await loadBundle((values.model as string | undefined) ?? defaultBundleDir());
  const generation = resolveGenerationSettings(bundle.manifest, overrides);
  const info = await probeVideo(video);
  const fps = bundle.manifest.video.fps;
  const framesEstimate = info.durationSeconds ? Math.round(info.durationSeconds * fps) : null;
  const windowFrames =
    windowFlag ??
    ((framesEstimate ?? Number.POSITIVE_INFINITY) <= WHOLE_CLIP_MAX_FRAMES
      ? WHOLE_CLIP
      : bundle.manifest.sampling.windowFrames);
  const overlapFrames = overlapFlag ?? bundle.manifest.sampling.overlapFrames;
  if (windowFrames !== WHOLE_CLIP && 2 * overlapFrames > windowFrames) {
    throw new UsageError(
      `[foley render] --overlap ${overlapFrames} must be at most half of --window ${windowFrames}`,
    );
  }

  // Opened before the models load, so an input without audio fails at once.
  const originalAudio =
    mixGainDb === undefined
      ? undefined
      : await OriginalAudioMixer.open(video, {
          sampleRate: bundle.manifest.audio.sampleRate,
          gainDb: mixGainDb,
        });
  const loadStarted = performance.now();
  let runner: InferenceRunner;
  try {
    runner = await InferenceRunner.start(bundle, {
      executionProvider: device,
      intraOpThreads: threads,
      models: InferenceRunner.renderModels(bundle).filter(
        (k) => k !== 'align_classifier' || generation.cgScale !== 0,
      ),
    });
  } catch (error) {
    await originalAudio?.close();
    throw error;
  }
  const loadMs = performance.now() - loadStarted;
  const bar = new ProgressBar({ label: 'render' });
  let shortReadWarning = '';
  let writer: FoleyOutputWriter | undefined;
  const removeOnSignal = onTerminatingSignal(() => {
    writer?.discardSync();
    return runner.close();
  });
  try {
    // Opened before the render, so the track is written as it is generated.
    writer = await FoleyOutputWriter.open({
      outputPath: output,
      sampleRate: bundle.manifest.audio.sampleRate,
      videoInput: video,
      audioCodec: codec as 'aac' | 'opus' | undefined,
    });
    const out = writer;
    let writeMs = 0;
    const result = await renderFoley(
      video,
      runner,
      {
        generation: { ...generation, unet: generation.unet },
        windowFrames,
        overlapFrames,
        allowPartial: values['allow-partial'] === true,
      },
      {
        framesTotalEstimate: framesEstimate,
        onProgress: (p) => p.framesTotal && bar.update(p.framesDone / p.framesTotal),
        onShortRead: (s) => {
          const stated =
            s.statedSeconds === null ? 'no stated duration' : `its stated ${s.statedSeconds.toFixed(2)} s`;
          shortReadWarning = `foley render: warning: [media:${video}] ends at ${s.readSeconds.toFixed(2)} s of ${stated}; rendered what was read (--allow-partial)\n`;
        },
        onAudio: (chunk) => {
          const started = performance.now();
          out.write(originalAudio ? originalAudio.mix(chunk.samples) : chunk.samples);
          writeMs += performance.now() - started;
        },
      },
    );
    bar.update(1);
    bar.close();
    process.stderr.write(shortReadWarning);
    const finishStarted = performance.now();
    await out.finish();
    const finishMs = performance.now() - finishStarted;
    writeMs += finishMs;
    if (!values.quiet) {
      process.stderr.write(
        `foley render: wrote ${output}\n  ${stageSummary(result, writeMs, finishMs)}\n  model load ${formatDuration(loadMs)} (not counted)\n`,
      );
    }
    return { result, outputPath: output, writeMs, loadMs };
  } finally {
    removeOnSignal();
    bar.close();
    await writer?.abort();
    await originalAudio?.close();
    await runner.close();
  }
}
