/**
 * `foley bench [--json]`: renders one clip (default samples/clip.mp4) several ways and
 * reports per-stage times (decode, CAVP, UNet steps, classifier gradient, latent decoder,
 * vocoder), end-to-end time and real-time factor (decode included, model load excluded):
 *   - student, double guidance (the default)       - student, CFG only
 *   - the 50-step teacher, when the bundle ships one
 *   - student, windowed streaming (the bundle's window/overlap), with the boundary-artifact
 *     measure at its joins, and onset F1 against whole-clip when the clip has events.
 * --threads-sweep also times the default variant at 1 and 2 intra-op threads.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type RenderResult, renderFoley, WHOLE_CLIP } from '../../pipelines/render.js';
import { type GenerationSettings, resolveGenerationSettings } from '../diffusion/foley-generator.js';
import { type BoundaryArtifacts, measureBoundaryArtifacts } from '../dsp/boundary-artifact.js';
import { MediaInputError } from '../errors.js';
import { scoreClip } from '../evaluation/clip-scorer.js';
import { readEvents } from '../evaluation/clip-set.js';
import { type Bundle, defaultBundleDir, loadBundle, packageRoot } from '../models/bundle.js';
import { InferenceRunner } from '../models/inference-runner.js';
import { deviceFlag, MODEL_OPTIONS, numberFlag, parse, threadsFlag } from './options.js';

export const BENCH_USAGE = `usage: foley bench [options]
  Renders one clip with the bundle's variants (student, teacher, windowed) and prints the
  per-stage times, real-time factor and onset F1 of each (median of --repeat runs).
  --clip VIDEO       clip to render (default samples/clip.mp4)
  --model DIR        model bundle folder (default: models/default)
  --repeat N         runs per variant; the median is reported (default 3; 1 for >10-step variants)
  --threads N        intra-op threads (default 2, 1 on one core)
  --threads-sweep    also time the whole-clip render at 1 and 2 threads
  --device D         cpu (default), cuda or auto
  --json             print the report as JSON instead of text
  -h, --help         this help
  --live             benchmark the live server path instead (latency per chunk across rooms);
                     its own options: foley bench --live --help`;

interface VariantSpec {
  name: string;
  generation: GenerationSettings;
  windowFrames: number;
  overlapFrames: number;
}

export interface VariantResult {
  name: string;
  unet: string;
  steps: number;
  cfgScale: number;
  cgScale: number;
  window: number | 'whole';
  windows: number;
  /** Median over repeats, ms. */
  totalMs: number;
  rtf: number;
  stagesMs: Record<string, number>;
  onsetF1?: number;
  boundary?: BoundaryArtifacts;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const STAGE_NAMES: Record<string, string> = {
  video_encoder: 'cavp',
  contact_detector: 'contactDetector',
  unet_student: 'unet',
  unet_teacher: 'unet',
  align_classifier: 'classifierGradient',
  latent_decoder: 'latentDecoder',
  vocoder: 'vocoder',
};

async function timeVariant(runner: InferenceRunner, clip: string, v: VariantSpec, repeat: number) {
  const runs: RenderResult[] = [];
  for (let i = 0; i < repeat; i++) {
    runs.push(
      await renderFoley(clip, runner, {
        generation: v.generation,
        windowFrames: v.windowFrames,
        overlapFrames: v.overlapFrames,
      }),
    );
  }
  const pick = runs.find((r) => r.timings.totalMs === median(runs.map((x) => x.timings.totalMs))) ?? runs[0]!;
  const stagesMs: Record<string, number> = { decode: median(runs.map((r) => r.timings.decodeMs)) };
  const byStage = (r: RenderResult): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [key, ms] of Object.entries(r.timings.modelMs)) {
      const stage = STAGE_NAMES[key] ?? key;
      out[stage] = (out[stage] ?? 0) + ms;
    }
    return out;
  };
  const perRun = runs.map(byStage);
  for (const stage of Object.keys(perRun[0]!)) stagesMs[stage] = median(perRun.map((r) => r[stage] ?? 0));
  const totalMs = median(runs.map((r) => r.timings.totalMs));
  const seconds = pick.waveform.length / pick.sampleRate;
  const result: VariantResult = {
    name: v.name,
    unet: v.generation.unet,
    steps: v.generation.steps,
    cfgScale: v.generation.cfgScale,
    cgScale: v.generation.cgScale,
    window: v.windowFrames === WHOLE_CLIP ? 'whole' : v.windowFrames,
    windows: pick.windows,
    totalMs,
    rtf: totalMs / 1000 / seconds,
    stagesMs,
  };
  return { result, render: pick };
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { values } = parse('bench', argv, {
    model: MODEL_OPTIONS.model,
    device: MODEL_OPTIONS.device,
    threads: MODEL_OPTIONS.threads,
    help: MODEL_OPTIONS.help,
    json: { type: 'boolean' },
    clip: { type: 'string' },
    repeat: { type: 'string' },
    'threads-sweep': { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  const clip = (values.clip as string | undefined) ?? join(packageRoot(), 'samples', 'clip.mp4');
  if (!existsSync(clip)) throw new MediaInputError(`[bench] clip ${clip} not found; pass --clip VIDEO`);
  const repeat = numberFlag('bench', values, 'repeat', { integer: true, min: 1 }) ?? 3;
  const threads = threadsFlag('bench', values);
  const device = deviceFlag('bench', values);
  const bundle = await loadBundle((values.model as string | undefined) ?? defaultBundleDir());
  const m = bundle.manifest;
  const eventsPath = clip.replace(/\.[^.]+$/, '.events.json');
  const events = existsSync(eventsPath) ? readEvents(eventsPath) : null;
  const student = resolveGenerationSettings(m, {});
  const variants: VariantSpec[] = [
    { name: 'student double guidance', generation: student, windowFrames: WHOLE_CLIP, overlapFrames: 0 },
    {
      name: 'student CFG only',
      generation: { ...student, cgScale: 0 },
      windowFrames: WHOLE_CLIP,
      overlapFrames: 0,
    },
  ];
  if (m.sampling.teacher) {
    variants.push({
      name: `teacher ${m.sampling.teacher.steps}-step`,
      generation: { ...student, unet: m.sampling.teacher.unet, steps: m.sampling.teacher.steps },
      windowFrames: WHOLE_CLIP,
      overlapFrames: 0,
    });
  }
  variants.push({
    name: 'student windowed (streaming)',
    generation: student,
    windowFrames: m.sampling.windowFrames,
    overlapFrames: m.sampling.overlapFrames,
  });

  const models = [
    ...new Set([...InferenceRunner.renderModels(bundle), ...variants.map((v) => v.generation.unet)]),
  ];
  const scoring =
    events && m.models.mel && m.models.eval_audio_classifier ? ['mel', 'eval_audio_classifier'] : [];
  const report: {
    clip: string;
    model: string;
    device: string;
    intraOpThreads: number;
    modelLoadMs: number;
    variants: VariantResult[];
    threadSweep?: { threads: number; totalMs: number; rtf: number }[];
  } = { clip, model: m.name, device: '', intraOpThreads: threads, modelLoadMs: 0, variants: [] };

  const loadStarted = performance.now();
  const runner = await InferenceRunner.start(bundle, {
    executionProvider: device,
    intraOpThreads: threads,
    models: [...models, ...scoring],
  });
  report.modelLoadMs = performance.now() - loadStarted;
  report.device = runner.settings.executionProvider;
  try {
    // Warm-up: first runs pay for ORT's lazy allocations.
    await renderFoley(clip, runner, { generation: student, windowFrames: WHOLE_CLIP, overlapFrames: 0 });
    let wholeF1: number | undefined;
    for (const v of variants) {
      const { result, render } = await timeVariant(runner, clip, v, v.generation.steps > 10 ? 1 : repeat);
      if (scoring.length && events) {
        result.onsetF1 = (await scoreClip(runner, render.waveform, events)).onsets.f1;
        if (v === variants[0]) wholeF1 = result.onsetF1;
      }
      if (v.windowFrames !== WHOLE_CLIP)
        result.boundary = measureBoundaryArtifacts(render.waveform, render.sampleRate, render.joinSamples);
      report.variants.push(result);
      if (!values.json) printVariant(result, wholeF1);
    }
  } finally {
    await runner.close();
  }

  if (values['threads-sweep']) report.threadSweep = await threadSweep(bundle, clip, student, repeat, device);
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
  else {
    process.stdout.write(
      `model load ${report.modelLoadMs.toFixed(0)} ms (not counted), device ${report.device}, ${threads} intra-op threads\n`,
    );
    for (const t of report.threadSweep ?? [])
      process.stdout.write(`  threads ${t.threads}: ${t.totalMs.toFixed(0)} ms, RTF ${t.rtf.toFixed(3)}\n`);
  }
  return 0;
}

function printVariant(r: VariantResult, wholeF1: number | undefined): void {
  const stages = Object.entries(r.stagesMs)
    .map(([k, ms]) => `${k} ${ms.toFixed(0)}`)
    .join(', ');
  let line = `${r.name.padEnd(30)} ${r.totalMs.toFixed(0).padStart(6)} ms  RTF ${r.rtf.toFixed(3)}  [${stages}] ms`;
  if (r.onsetF1 !== undefined) line += `  onset F1 ${r.onsetF1.toFixed(3)}`;
  if (r.boundary) {
    line += `\n${''.padEnd(31)}${r.windows} windows, ${r.boundary.joins} joins: flux ratio ${r.boundary.fluxRatio.toFixed(2)}, level at joins ${r.boundary.levelRatioDb.toFixed(2)} dB`;
    if (r.onsetF1 !== undefined && wholeF1 !== undefined && wholeF1 > 0) {
      line += `, F1 vs whole ${(((r.onsetF1 - wholeF1) / wholeF1) * 100).toFixed(1)}%`;
    }
  }
  process.stdout.write(`${line}\n`);
}

async function threadSweep(
  bundle: Bundle,
  clip: string,
  generation: GenerationSettings,
  repeat: number,
  device: ReturnType<typeof deviceFlag>,
) {
  const out: { threads: number; totalMs: number; rtf: number }[] = [];
  for (const threads of [1, 2]) {
    const runner = await InferenceRunner.start(bundle, {
      executionProvider: device,
      intraOpThreads: threads,
    });
    try {
      await renderFoley(clip, runner, { generation, windowFrames: WHOLE_CLIP, overlapFrames: 0 });
      const { result } = await timeVariant(
        runner,
        clip,
        { name: `threads ${threads}`, generation, windowFrames: WHOLE_CLIP, overlapFrames: 0 },
        repeat,
      );
      out.push({ threads, totalMs: result.totalMs, rtf: result.rtf });
    } finally {
      await runner.close();
    }
  }
  return out;
}
