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
import { crossfadeJoinFlag, LATENCY_FLAG, latencyFlag } from './latency-flag.js';
import { deviceFlag, generationOverrides, MODEL_OPTIONS, numberFlag, parse, threadsFlag } from './options.js';
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
  --no-contact-gate    leave out the bundle's contact gate (the student alone)
  --seeds S,S,...      render every clip once per seed and report the mean and each seed's
                       figures (the live chunker's F1 moves about ±0.02 with the seed on 60 clips)
  --window F           frames per window (default 0 = whole clip)
  --overlap F          frames shared by consecutive windows (default: the bundle's)
  --device D           cpu (default), cuda or auto
  --threads N          intra-op threads (default 2, 1 on one core)
  --live               render through the live pipeline's chunker (what a viewer hears, before
                       Opus) instead of the offline render; --window/--overlap do not apply
  --latency P          with --live: the live latency preset, low or balanced (default; see foley
                       serve --help); the flags below override its values
  --chunk-frames N     with --live: new frames per generated chunk (balanced 4 = 160 ms)
  --lookahead-frames N with --live: frames waited for past a chunk (balanced: the video encoder's reach ahead + 1)
  --crossfade-join J   with --live: held or guard (see foley serve --help)
  --crossfade-ms MS    with --live: length of the crossfade at chunk joins (default: the preset's)
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
    /** Whether the bundle's contact gate was applied (false for a bundle without one). */
    contactGate: boolean;
    /** The (first) noise seed. */
    seed: number;
    /** With --seeds: every seed. */
    seeds?: number[];
  };
  /** With --seeds: each seed's figures; the summary's are over all of them. */
  perSeed?: SeedFigures[];
  perClip: {
    name: string;
    /** With --seeds: the seed of this render. */
    seed?: number;
    onsetF1: number;
    matched: number;
    reference: number;
    estimated: number;
    correct: number;
  }[];
}

/** One seed's figures under --seeds. */
export interface SeedFigures {
  seed: number;
  onsetF1: number;
  meanAbsOffsetMs: number | null;
  onsetsPerEvent: number | null;
  classAccuracy: number | null;
}

/** `--seeds 0,1,2` as distinct integers >= 0, or a UsageError naming the flag. */
export function parseSeeds(raw: string): number[] {
  const seeds = raw.split(',').map((p) => p.trim());
  if (seeds.some((p) => !/^\d+$/.test(p)))
    throw new UsageError(`[foley eval] --seeds expects integers >= 0 separated by commas, got "${raw}"`);
  const numbers = seeds.map(Number);
  if (new Set(numbers).size !== numbers.length)
    throw new UsageError(`[foley eval] --seeds lists a seed twice: "${raw}"`);
  return numbers;
}

interface ClipRenderScore {
  name: string;
  score: ClipScore;
}

function figures(scored: ClipRenderScore[], labelFree: boolean) {
  const offsets = scored.flatMap((c) => c.score.onsets.offsetsMs);
  const events = scored.reduce((a, c) => a + c.score.events, 0);
  const correct = scored.reduce((a, c) => a + c.score.correct, 0);
  const referenceOnsets = scored.reduce((a, c) => a + c.score.onsets.reference, 0);
  const estimatedOnsets = scored.reduce((a, c) => a + c.score.onsets.estimated, 0);
  return {
    events,
    referenceOnsets,
    onsetF1: scored.reduce((a, c) => a + c.score.onsets.f1, 0) / scored.length,
    meanAbsOffsetMs: offsets.length ? offsets.reduce((a, o) => a + Math.abs(o), 0) / offsets.length : null,
    onsetsPerEvent: referenceOnsets > 0 ? estimatedOnsets / referenceOnsets : null,
    classAccuracy: labelFree ? null : correct / Math.max(1, events),
  };
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('eval', argv, {
    ...MODEL_OPTIONS,
    json: { type: 'boolean' },
    limit: { type: 'string' },
    seeds: { type: 'string' },
    live: { type: 'boolean' },
    ...LATENCY_FLAG,
    'chunk-frames': { type: 'string' },
    'lookahead-frames': { type: 'string' },
    'context-frames': { type: 'string' },
    'crossfade-ms': { type: 'string' },
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
  const crossfadeJoin = crossfadeJoinFlag('eval', values);
  const liveOptions = {
    ...(latency !== undefined ? { latency } : {}),
    ...(crossfadeJoin !== undefined ? { crossfadeJoin } : {}),
    chunkFrames: numberFlag('eval', values, 'chunk-frames', { integer: true, min: 1 }),
    lookaheadFrames: numberFlag('eval', values, 'lookahead-frames', { integer: true, min: 0 }),
    maxContextFrames: numberFlag('eval', values, 'context-frames', { integer: true, min: 0 }),
    crossfadeMs: numberFlag('eval', values, 'crossfade-ms', { min: 0 }),
  };
  if (!live && Object.values(liveOptions).some((v) => v !== undefined))
    throw new UsageError(
      '[foley eval] --latency, --crossfade-join, --crossfade-ms, --chunk-frames, --lookahead-frames and --context-frames need --live',
    );
  if (live && (windowFlag !== undefined || overlapFlag !== undefined))
    throw new UsageError(
      '[foley eval] --window and --overlap do not apply to --live (it uses --chunk-frames)',
    );
  if (values.seeds !== undefined && values.seed !== undefined)
    throw new UsageError('[foley eval] give --seed or --seeds, not both');
  const seeds = values.seeds !== undefined ? parseSeeds(values.seeds as string) : undefined;
  const clips = findEvalClips(dir).slice(0, limit ?? Number.POSITIVE_INFINITY);
  const labelFree = isLabelFree(clips);
  const bundle = await loadBundle((values.model as string | undefined) ?? defaultBundleDir());
  const generation = resolveGenerationSettings(bundle.manifest, overrides);
  const windowFrames = windowFlag ?? WHOLE_CLIP;
  const overlapFrames = overlapFlag ?? bundle.manifest.sampling.overlapFrames;
  const runner = await InferenceRunner.start(bundle, {
    executionProvider: device,
    intraOpThreads: threadsFlag('eval', values),
    models: [...InferenceRunner.renderModels(bundle), 'mel', 'eval_audio_classifier'],
  });
  const bar = new ProgressBar({ label: 'eval' });
  try {
    const skipped: EvalSummary['skipped'] = [];
    const runSeeds = seeds ?? [generation.seed];
    const render = async (clip: EvalClip, seed: number) =>
      live
        ? await renderLive(clip.video, runner, {
            ...liveOptions,
            // An explicit --restarts is not capped by the preset's.
            ...(overrides.restarts !== undefined ? { maxRestarts: overrides.restarts } : {}),
            seed,
            contactGate: generation.contactGate,
            sampling: {
              steps: generation.steps,
              cfgScale: generation.cfgScale,
              cgScale: generation.cgScale,
              restarts: generation.restarts,
            },
          })
        : await renderFoley(clip.video, runner, {
            generation: { ...generation, seed },
            windowFrames,
            overlapFrames,
          });
    const bySeed: { seed: number; scored: ClipRenderScore[] }[] = [];
    const renders = runSeeds.length * clips.length;
    for (const [k, seed] of runSeeds.entries()) {
      const scored: ClipRenderScore[] = [];
      for (const [i, clip] of clips.entries()) {
        bar.update((k * clips.length + i) / renders);
        // Unusable under the first seed: not read again.
        if (k > 0 && skipped.some((s) => s.name === clip.name)) continue;
        if (clip.events) {
          const { waveform } = await render(clip, seed);
          scored.push({ name: clip.name, score: await scoreClip(runner, waveform, clip.events) });
          continue;
        }
        const outcome = await scoreLabelFree(
          clip,
          (c) => render(c, seed),
          runner,
          bundle.manifest.audio.sampleRate,
        );
        if ('reason' in outcome) {
          if (k === 0) skipped.push({ name: clip.name, reason: outcome.reason });
          continue;
        }
        scored.push({ name: clip.name, score: outcome });
      }
      bySeed.push({ seed, scored });
    }
    bar.close();
    for (const s of skipped) process.stderr.write(`foley eval: skipped ${s.name}: ${s.reason}\n`);
    const all = bySeed.flatMap((b) => b.scored);
    if (bySeed[0]!.scored.length === 0)
      throw new MediaInputError(`[clips:${dir}] no video could be scored (${skipped.length} skipped)`);
    const pooled = figures(all, labelFree);
    const once = figures(bySeed[0]!.scored, labelFree); // the clips' events are the same under every seed
    const summary: EvalSummary = {
      model: bundle.manifest.name,
      reference: labelFree ? 'soundtrack' : 'events',
      clips: bySeed[0]!.scored.length,
      events: once.events,
      referenceOnsets: once.referenceOnsets,
      onsetF1: pooled.onsetF1,
      meanAbsOffsetMs: pooled.meanAbsOffsetMs,
      onsetsPerEvent: pooled.onsetsPerEvent,
      classAccuracy: pooled.classAccuracy,
      skipped,
      window: live ? 'live' : windowFrames === WHOLE_CLIP ? 'whole' : windowFrames,
      settings: {
        ...generation,
        // Whether a gate was applied: the setting means nothing for a bundle without one.
        contactGate: generation.contactGate && bundle.manifest.contactGate !== null,
        seed: runSeeds[0]!,
        ...(seeds ? { seeds } : {}),
      },
      ...(seeds
        ? {
            perSeed: bySeed.map(({ seed, scored }) => {
              const { onsetF1, meanAbsOffsetMs, onsetsPerEvent, classAccuracy } = figures(scored, labelFree);
              return { seed, onsetF1, meanAbsOffsetMs, onsetsPerEvent, classAccuracy };
            }),
          }
        : {}),
      perClip: bySeed.flatMap(({ seed, scored }) =>
        scored.map(({ name, score }) => ({
          name,
          ...(seeds ? { seed } : {}),
          onsetF1: score.onsets.f1,
          matched: score.onsets.matched,
          reference: score.onsets.reference,
          estimated: score.onsets.estimated,
          correct: score.correct,
        })),
      ),
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
          `  class accuracy     ${summary.classAccuracy === null ? 'n/a (label-free)' : summary.classAccuracy.toFixed(3)}\n` +
          (summary.perSeed
            ? `  per seed (onset F1 / onsets per event): ${summary.perSeed
                .map((p) => `${p.seed}: ${p.onsetF1.toFixed(3)} / ${p.onsetsPerEvent?.toFixed(2) ?? 'n/a'}`)
                .join(', ')}\n`
            : ''),
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
