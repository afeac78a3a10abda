// Renders each clip of a `foley eval` clips folder with the render `foley eval` scores (offline,
// whole clip, the bundle's generation settings, seed 0, unless a JSON object of generation
// settings overrides them, e.g. '{"seed":1,"cgScale":0}') in one process, and writes each waveform
// as <out>/<clip>.f32 (raw float32 mono at the bundle's rate), so foley.generalization can judge
// the same audio with its Align Acc classifier (foley eval keeps no audio).
//
//   node render_clips.mjs <repo>/dist <bundle> <clips-dir> <out-dir> [limit] [settings-json]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, bundleDir, clipsDir, outDir, limitArg, settingsArg] = process.argv.slice(2);
if (!outDir) {
  process.stderr.write('usage: node render_clips.mjs <dist> <bundle> <clips-dir> <out-dir> [limit] [settings-json]\n');
  process.exit(2);
}
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { renderFoley, WHOLE_CLIP } = await load('pipelines/render.js');
const { resolveGenerationSettings } = await load('src/diffusion/foley-generator.js');
const { findEvalClips } = await load('src/evaluation/clip-set.js');
const { loadBundle } = await load('src/models/bundle.js');
const { InferenceRunner } = await load('src/models/inference-runner.js');

const clips = findEvalClips(clipsDir).slice(0, limitArg ? Number(limitArg) : Number.POSITIVE_INFINITY);
const bundle = await loadBundle(bundleDir);
const generation = resolveGenerationSettings(bundle.manifest, settingsArg ? JSON.parse(settingsArg) : {});
const runner = await InferenceRunner.start(bundle, { models: InferenceRunner.renderModels(bundle) });
try {
  mkdirSync(outDir, { recursive: true });
  for (const clip of clips) {
    const { waveform } = await renderFoley(clip.video, runner, {
      generation,
      windowFrames: WHOLE_CLIP,
      overlapFrames: bundle.manifest.sampling.overlapFrames,
    });
    writeFileSync(join(outDir, `${clip.name}.f32`), Buffer.from(waveform.buffer, waveform.byteOffset, waveform.byteLength));
  }
  process.stdout.write(`${JSON.stringify({ clips: clips.length, sampleRate: bundle.manifest.audio.sampleRate, generation })}\n`);
} finally {
  await runner.close();
}
