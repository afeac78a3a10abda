/**
 * `foley eval <clips-dir> [--json]`: renders every clip of a folder of world clips and
 * scores onset F1 at ±50 ms (mean over clips), mean absolute onset offset (over matched
 * pairs), onsets per event (generated over reference onsets) and class accuracy (over
 * events), as models/training/foley/evaluate.py does. A folder of videos with sound and no
 * events is scored label-free, against the onsets of each video's own audio track; a video
 * there without sound, too short or unreadable is named and skipped.
 */

import { renderLive } from '../../pipelines/live/renderLive.js';
import { renderFoley, WHOLE_CLIP } from '../../pipelines/render.js';
import { resolveGenerationSettings } from '../diffusion/foley-generator.js';
import { MediaInputError, UsageError } from '../errors.js';
import { type ClipScore, scoreClip, scoreClipAgainstSoundtrack } from '../evaluation/clip-scorer.js';
import { type EvalClip, findEvalClips, isLabelFree } from '../evaluation/clip-set.js';
import { readSoundtrack } from '../evaluation/soundtrack-reader.js';
import { defaultBundleDir, loadBundle } from '../models/bundle.js';
import { InferenceRunner } from '../models/inference-runner.js';
import { LATENCY_FLAG, latencyFlag } from './latency-flag.js';
import { deviceFlag, generationOverrides, MODEL_OPTIONS, numberFlag, parse } from './options.js';
import { ProgressBar } from './progress-bar.js';

export const EVAL_USAGE = `usage: foley eval <clips-dir> [options]
  Renders every clip and scores its foley: onset F1, mean onset offset, onsets per event and
  (with events.json) class accuracy. <clips-dir> holds <clip>/video.mp4 + <clip>/events.json
  folders, or <name>.mp4 + <name>.events.json; a folder of videos with sound and no events is
  scored against each video's own audio onsets (label-free).
  --json               print the summary as JSON instead of text
  --limit N            score only the first N clips (default: all)
  --model DIR          model bundle folder (default: models/default)
  --steps N            DDIM steps (default: the bundle's)
  --cfg W              classifier-free guidance scale ω (default: the bundle's; 0 = off)
  --cg G               classifier guidance scale γ (default: the bundle's; 0 = off)
  --restarts R         extra passes of each restarted step (default: the bundle's; 0 = off)
  --seed S             noise seed (default 0)
  --window F           frames per window (default 0 = whole clip)
  --overlap F          frames shared by consecutive windows (default: the bundle's)
  --device D           cpu (default), cuda or auto
  --threads N          intra-op threads (default 1)
  --live               render through the live pipeline's chunker (what a viewer hears, before
                       Opus) instead of the offline render; --window/--overlap do not apply
  --latency P          with --live: the live latency preset, low or balanced (default; see foley
                       serve --help); the three flags below override its values
  --chunk-frames N     with --live: new frames per generated chunk (balanced 4 = 160 ms)
  --lookahead-frames N with --live: frames waited for past a chunk (balanced: the video encoder's reach ahead + 1)
  --context-frames N   with --live: generated frames a chunk sees as context (balanced 12)
  -h, --help           this help`;

/** Shorter reference soundtracks give the onset detector's peak picking too little to go on. */
export const MIN_SOUNDTRACK_SECONDS = 0.5;

export interface EvalSummary {
  model: string;
  /** 'events': events.json ground truth; 'soundtrack': label-free, each video's own audio onsets. */
  reference: 'events' | 'soundtrack';
  clips: number;
  events: number;
  /** Reference onsets over all scored clips (the events, or the soundtracks' onsets). */
  referenceOnsets: number;
  onsetF1: number;
  meanAbsOffsetMs: number | null;
  /** Generated onsets per reference onset, over all scored clips (1 is right, more over-generates). */
  onsetsPerEvent: number | null;
  /** null when label-free. */
  classAccuracy: number | null;
  /** Label-free videos left out, each with the reason. */
  skipped: { name: string; reason: string }[];
  window: number | 'whole' | 'live';
  settings: {
    unet: string;
    steps: number;
    cfgScale: number;
    cgScale: number;
    restarts: number;
    seed: number;
  };
  perClip: {
    name: string;
    onsetF1: number;
    matched: number;
    reference: number;
    estimated: number;
    correct: number;
  }[];
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('eval', argv, {
    ...MODEL_OPTIONS,
    json: { type: 'boolean' },
    limit: { type: 'string' },
    live: { type: 'boolean' },
    ...LATENCY_FLAG,
    'chunk-frames': { type: 'string' },
    'lookahead-frames': { type: 'string' },
    'context-frames': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${EVAL_USAGE}\n`);
    return 0;
  }
  const dir = positionals[0];
  if (!dir || positionals.length > 1)
    throw new UsageError(`[foley eval] expects one clips folder\n${EVAL_USAGE}`);
  const overrides = generationOverrides('eval', values);
  const windowFlag = numberFlag('eval', values, 'window', { integer: true, min: 0 });
  const overlapFlag = numberFlag('eval', values, 'overlap', { integer: true, min: 0 });
  const limit = numberFlag('eval', values, 'limit', { integer: true, min: 1 });
  const device = deviceFlag('eval', values);
  const live = values.live === true;
  const latency = latencyFlag('eval', values);
  const liveOptions = {
    ...(latency !== undefined ? { latency } : {}),
    chunkFrames: numberFlag('eval', values, 'chunk-frames', { integer: true, min: 1 }),
    lookaheadFrames: numberFlag('eval', values, 'lookahead-frames', { integer: true, min: 0 }),
    maxContextFrames: numberFlag('eval', values, 'context-frames', { integer: true, min: 0 }),
  };
  if (!live && Object.values(liveOptions).some((v) => v !== undefined))
    throw new UsageError(
      '[foley eval] --latency, --chunk-frames, --lookahead-frames and --context-frames need --live',
    );
  if (live && (windowFlag !== undefined || overlapFlag !== undefined))
    throw new UsageError(
      '[foley eval] --window and --overlap do not apply to --live (it uses --chunk-frames)',
    );
  const clips = findEvalClips(dir).slice(0, limit ?? Number.POSITIVE_INFINITY);
  const labelFree = isLabelFree(clips);
  const bundle = await loadBundle((values.model as string | undefined) ?? defaultBundleDir());
  const generation = resolveGenerationSettings(bundle.manifest, overrides);
  const windowFrames = windowFlag ?? WHOLE_CLIP;
  const overlapFrames = overlapFlag ?? bundle.manifest.sampling.overlapFrames;
  const runner = await InferenceRunner.start(bundle, {
    executionProvider: device,
    intraOpThreads: numberFlag('eval', values, 'threads', { integer: true, min: 0 }),
    models: [...InferenceRunner.renderModels(bundle), 'mel', 'eval_audio_classifier'],
  });
  const bar = new ProgressBar({ label: 'eval' });
  try {
    const perClip: EvalSummary['perClip'] = [];
    const skipped: EvalSummary['skipped'] = [];
    const offsets: number[] = [];
    let correct = 0;
    let events = 0;
    const render = async (clip: EvalClip) =>
      live
        ? await renderLive(clip.video, runner, {
            ...liveOptions,
            seed: generation.seed,
            sampling: {
              steps: generation.steps,
              cfgScale: generation.cfgScale,
              cgScale: generation.cgScale,
              restarts: generation.restarts,
            },
          })
        : await renderFoley(clip.video, runner, { generation, windowFrames, overlapFrames });
    for (const [i, clip] of clips.entries()) {
      bar.update(i / clips.length);
      let score: ClipScore;
      if (clip.events) {
        const { waveform } = await render(clip);
        score = await scoreClip(runner, waveform, clip.events);
      } else {
        const outcome = await scoreLabelFree(clip, render, runner, bundle.manifest.audio.sampleRate);
        if ('reason' in outcome) {
          skipped.push({ name: clip.name, reason: outcome.reason });
          continue;
        }
        score = outcome;
      }
      offsets.push(...score.onsets.offsetsMs);
      correct += score.correct;
      events += score.events;
      perClip.push({
        name: clip.name,
        onsetF1: score.onsets.f1,
        matched: score.onsets.matched,
        reference: score.onsets.reference,
        estimated: score.onsets.estimated,
        correct: score.correct,
      });
    }
    bar.close();
    for (const s of skipped) process.stderr.write(`foley eval: skipped ${s.name}: ${s.reason}\n`);
    if (perClip.length === 0)
      throw new MediaInputError(`[clips:${dir}] no video could be scored (${skipped.length} skipped)`);
    const referenceOnsets = perClip.reduce((a, c) => a + c.reference, 0);
    const estimatedOnsets = perClip.reduce((a, c) => a + c.estimated, 0);
    const summary: EvalSummary = {
      model: bundle.manifest.name,
      reference: labelFree ? 'soundtrack' : 'events',
      clips: perClip.length,
      events,
      referenceOnsets,
      onsetF1: perClip.reduce((a, c) => a + c.onsetF1, 0) / perClip.length,
      meanAbsOffsetMs: offsets.length ? offsets.reduce((a, o) => a + Math.abs(o), 0) / offsets.length : null,
      onsetsPerEvent: referenceOnsets > 0 ? estimatedOnsets / referenceOnsets : null,
      classAccuracy: labelFree ? null : correct / Math.max(1, events),
      skipped,
      window: live ? 'live' : windowFrames === WHOLE_CLIP ? 'whole' : windowFrames,
      settings: generation,
      perClip,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 1)}\n`);
    else {
      process.stdout.write(
        `foley eval: ${summary.clips} clips${summary.skipped.length ? ` (${summary.skipped.length} skipped)` : ''}, ` +
          (labelFree
            ? `${summary.referenceOnsets} onsets in their own audio (label-free), `
            : `${summary.events} events, `) +
          `model ${summary.model} ` +
          `(${generation.unet}, ${generation.steps} steps, ω ${generation.cfgScale}, γ ${generation.cgScale}, restarts ${generation.restarts}, window ${summary.window})\n` +
          `  onset F1 @±50 ms   ${summary.onsetF1.toFixed(3)}\n` +
          `  mean |offset|      ${summary.meanAbsOffsetMs === null ? 'n/a' : `${summary.meanAbsOffsetMs.toFixed(1)} ms`}\n` +
          `  onsets per event   ${summary.onsetsPerEvent === null ? 'n/a' : summary.onsetsPerEvent.toFixed(2)}\n` +
          `  class accuracy     ${summary.classAccuracy === null ? 'n/a (label-free)' : summary.classAccuracy.toFixed(3)}\n`,
      );
    }
    return 0;
  } finally {
    bar.close();
    await runner.close();
  }
}

/**
 * Renders a label-free clip and scores it against its own audio track's onsets, or says why
 * the clip is left out: no audio track, a track shorter than MIN_SOUNDTRACK_SECONDS or without
 * onsets, or a video that cannot be read.
 */
async function scoreLabelFree(
  clip: EvalClip,
  render: (clip: EvalClip) => Promise<{ waveform: Float32Array }>,
  runner: InferenceRunner,
  sampleRate: number,
): Promise<ClipScore | { reason: string }> {
  let soundtrack: Float32Array;
  try {
    soundtrack = await readSoundtrack(clip.video, sampleRate);
  } catch (error) {
    if (error instanceof MediaInputError) return { reason: error.message };
    throw error;
  }
  const seconds = soundtrack.length / sampleRate;
  if (seconds < MIN_SOUNDTRACK_SECONDS)
    return {
      reason: `[soundtrack:${clip.video}] is ${seconds.toFixed(2)} s long, shorter than ${MIN_SOUNDTRACK_SECONDS} s`,
    };
  let waveform: Float32Array;
  try {
    ({ waveform } = await render(clip));
  } catch (error) {
    if (error instanceof MediaInputError) return { reason: error.message };
    throw error;
  }
  const score = await scoreClipAgainstSoundtrack(runner, waveform, soundtrack);
  if (score.onsets.reference === 0)
    return { reason: `[soundtrack:${clip.video}] has no onsets in its audio track to score against` };
  return score;
}
