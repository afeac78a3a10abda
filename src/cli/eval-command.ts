/**
 * `foley eval <clips-dir> [--json]`: renders every clip of a folder of world clips and
 * scores onset F1 at ±50 ms (mean over clips), mean absolute onset offset (over matched
 * pairs) and class accuracy (over events), as models/training/foley/evaluate.py does.
 */

import { renderLive } from '../../pipelines/live/renderLive.js';
import { renderFoley, WHOLE_CLIP } from '../../pipelines/render.js';
import { resolveGenerationSettings } from '../diffusion/foley-generator.js';
import { UsageError } from '../errors.js';
import { scoreClip } from '../evaluation/clip-scorer.js';
import { findEvalClips } from '../evaluation/clip-set.js';
import { defaultBundleDir, loadBundle } from '../models/bundle.js';
import { InferenceRunner } from '../models/inference-runner.js';
import { deviceFlag, generationOverrides, MODEL_OPTIONS, numberFlag, parse } from './options.js';
import { ProgressBar } from './progress-bar.js';

export const EVAL_USAGE = `usage: foley eval <clips-dir> [--json] [--model DIR] [--steps N] [--cfg W] [--cg G] [--restarts R] [--seed S]
                 [--window F --overlap F] [--limit N]
                 [--live [--chunk-frames N] [--lookahead-frames N] [--context-frames N]]
  --live renders every clip through the live pipeline's chunker (what a viewer hears,
  before Opus) instead of the whole-clip render
  clips-dir holds <clip>/video.mp4 + <clip>/events.json folders, or <name>.mp4 + <name>.events.json`;

export interface EvalSummary {
  model: string;
  clips: number;
  events: number;
  onsetF1: number;
  meanAbsOffsetMs: number | null;
  classAccuracy: number;
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
  const liveOptions = {
    chunkFrames: numberFlag('eval', values, 'chunk-frames', { integer: true, min: 1 }),
    lookaheadFrames: numberFlag('eval', values, 'lookahead-frames', { integer: true, min: 0 }),
    maxContextFrames: numberFlag('eval', values, 'context-frames', { integer: true, min: 0 }),
  };
  if (!live && Object.values(liveOptions).some((v) => v !== undefined))
    throw new UsageError('[foley eval] --chunk-frames, --lookahead-frames and --context-frames need --live');
  if (live && (windowFlag !== undefined || overlapFlag !== undefined))
    throw new UsageError(
      '[foley eval] --window and --overlap do not apply to --live (it uses --chunk-frames)',
    );
  const clips = findEvalClips(dir).slice(0, limit ?? Number.POSITIVE_INFINITY);
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
    const offsets: number[] = [];
    let correct = 0;
    let events = 0;
    for (const [i, clip] of clips.entries()) {
      const { waveform } = live
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
      const score = await scoreClip(runner, waveform, clip.events);
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
      bar.update((i + 1) / clips.length);
    }
    bar.close();
    const summary: EvalSummary = {
      model: bundle.manifest.name,
      clips: clips.length,
      events,
      onsetF1: perClip.reduce((a, c) => a + c.onsetF1, 0) / perClip.length,
      meanAbsOffsetMs: offsets.length ? offsets.reduce((a, o) => a + Math.abs(o), 0) / offsets.length : null,
      classAccuracy: correct / Math.max(1, events),
      window: live ? 'live' : windowFrames === WHOLE_CLIP ? 'whole' : windowFrames,
      settings: generation,
      perClip,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 1)}\n`);
    else {
      process.stdout.write(
        `foley eval: ${summary.clips} clips, ${summary.events} events, model ${summary.model} ` +
          `(${generation.unet}, ${generation.steps} steps, ω ${generation.cfgScale}, γ ${generation.cgScale}, restarts ${generation.restarts}, window ${summary.window})\n` +
          `  onset F1 @±50 ms   ${summary.onsetF1.toFixed(3)}\n` +
          `  mean |offset|      ${summary.meanAbsOffsetMs === null ? 'n/a' : `${summary.meanAbsOffsetMs.toFixed(1)} ms`}\n` +
          `  class accuracy     ${summary.classAccuracy.toFixed(3)}\n`,
      );
    }
    return 0;
  } finally {
    bar.close();
    await runner.close();
  }
}
