import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LATENCY_PRESETS } from '../../pipelines/live/plan.js';
import { EXIT_CODES } from '../../src/errors.js';
import { encodeWav } from '../../src/media/wav-file.js';
import { packageRoot } from '../../src/models/bundle.js';
import { makeMediaFixtures, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

async function foley(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { maxBuffer: 10_000_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('foley eval and foley bench', () => {
  const f = makeMediaFixtures();
  after(() => f.cleanup());
  /** A `bench --live --json` of the tiny bundle on the fixture clip (one second unless told). */
  const bench = (extra: string[], durationS = 1) =>
    foley([
      'bench',
      '--live',
      '--json',
      '--model',
      TINY_BUNDLE_DIR,
      '--clip',
      f.clip,
      '--duration',
      String(durationS),
      ...extra,
    ]);
  const clips = join(f.dir, 'clips');
  mkdirSync(join(clips, 'train-1'), { recursive: true });
  copyFileSync(f.clip, join(clips, 'train-1', 'video.mp4'));
  writeFileSync(
    join(clips, 'train-1', 'events.json'),
    JSON.stringify({
      events: [
        { time: 0.5, class: 'kick' },
        { time: 1.2, class: 'snare' },
      ],
    }),
  );
  copyFileSync(f.clip, join(clips, 'loose.mp4'));
  writeFileSync(join(clips, 'loose.events.json'), JSON.stringify([{ time: 0.3, class: 'wood_ball' }]));

  it('scores every clip of a folder and reports F1, offset and class accuracy as JSON', async () => {
    const r = await foley(['eval', clips, '--json', '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.clips, 2);
    assert.equal(s.events, 3);
    assert.ok(s.onsetF1 >= 0 && s.onsetF1 <= 1);
    assert.ok(s.classAccuracy >= 0 && s.classAccuracy <= 1);
    assert.equal(s.reference, 'events');
    assert.equal(s.referenceOnsets, 3);
    const estimated = s.perClip.reduce((a: number, c: { estimated: number }) => a + c.estimated, 0);
    assert.equal(s.onsetsPerEvent, estimated / 3);
    assert.deepEqual(s.skipped, []);
    assert.deepEqual(
      s.perClip.map((c: { name: string }) => c.name),
      ['loose', 'train-1'],
    );
  });

  it("renders every clip once per seed with --seeds: the mean over the renders and each seed's figures; bad seed lists are refused", async () => {
    const r = await foley(['eval', clips, '--json', '--seeds', '0,3', '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.clips, 2);
    assert.equal(s.events, 3);
    assert.deepEqual(s.settings.seeds, [0, 3]);
    assert.deepEqual(
      s.perSeed.map((p: { seed: number }) => p.seed),
      [0, 3],
    );
    assert.deepEqual(
      s.perClip.map((c: { name: string; seed: number }) => `${c.seed}:${c.name}`),
      ['0:loose', '0:train-1', '3:loose', '3:train-1'],
    );
    const meanOfSeeds = (s.perSeed[0].onsetF1 + s.perSeed[1].onsetF1) / 2;
    assert.ok(Math.abs(s.onsetF1 - meanOfSeeds) < 1e-12);
    const single = JSON.parse(
      (await foley(['eval', clips, '--json', '--seed', '3', '--model', TINY_BUNDLE_DIR])).stdout,
    );
    assert.equal(s.perSeed[1].onsetF1, single.onsetF1);
    assert.equal(s.perSeed[1].classAccuracy, single.classAccuracy);

    const bad = await foley(['eval', clips, '--seeds', '0,-1', '--model', TINY_BUNDLE_DIR]);
    assert.equal(bad.code, EXIT_CODES.usage.code);
    assert.match(bad.stderr, /--seeds expects integers >= 0 separated by commas, got "0,-1"/);
    const twice = await foley(['eval', clips, '--seeds', '2,2', '--model', TINY_BUNDLE_DIR]);
    assert.match(twice.stderr, /--seeds lists a seed twice/);
    const both = await foley(['eval', clips, '--seed', '1', '--seeds', '0,1', '--model', TINY_BUNDLE_DIR]);
    assert.equal(both.code, EXIT_CODES.usage.code);
    assert.match(both.stderr, /give --seed or --seeds, not both/);
  });

  it('scores the live chunker with --live, and refuses live flags without it', async () => {
    const r = await foley([
      'eval',
      clips,
      '--json',
      '--live',
      '--context-frames',
      '8',
      '--model',
      TINY_BUNDLE_DIR,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.window, 'live');
    assert.equal(s.clips, 2);
    const bad = await foley(['eval', clips, '--chunk-frames', '4', '--model', TINY_BUNDLE_DIR]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /need --live/);
    const both = await foley(['eval', clips, '--live', '--window', '20', '--model', TINY_BUNDLE_DIR]);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /do not apply to --live/);
  });

  it('scores the live chunker at --latency low; an unknown preset, or --latency without --live, is refused by name', async () => {
    const r = await foley([
      'eval',
      clips,
      '--json',
      '--live',
      '--latency',
      'low',
      '--model',
      TINY_BUNDLE_DIR,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).window, 'live');
    const unknown = await foley(['eval', clips, '--live', '--latency', 'fast', '--model', TINY_BUNDLE_DIR]);
    assert.equal(unknown.code, EXIT_CODES.usage.code);
    assert.match(unknown.stderr, /--latency must be one of low, balanced, got "fast"/);
    const offline = await foley(['eval', clips, '--latency', 'low', '--model', TINY_BUNDLE_DIR]);
    assert.equal(offline.code, EXIT_CODES.usage.code);
    assert.match(offline.stderr, /--latency.*need --live/);
  });

  it('scores a folder of videos without events against their own audio, naming and skipping the unusable', async () => {
    const folder = join(f.dir, 'label-free');
    mkdirSync(folder);
    const knocks = new Float32Array(32000);
    for (const t of [0.4, 0.9, 1.5]) {
      for (let k = 0; k < 2400; k++)
        knocks[Math.round(t * 16000) + k]! += 0.5 * Math.exp(-k / 400) * Math.sin((2 * Math.PI * k) / 16);
    }
    writeFileSync(join(f.dir, 'knocks.wav'), encodeWav(knocks, 16000));
    writeFileSync(join(f.dir, 'blip.wav'), encodeWav(knocks.subarray(0, 4800), 16000));
    const mux = (name: string, wav: string) =>
      execFileSync('ffmpeg', [
        '-y',
        '-loglevel',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc=size=96x96:rate=25:duration=2',
        '-i',
        join(f.dir, wav),
        '-c:v',
        'libx264',
        '-pix_fmt',
        'yuv420p',
        '-c:a',
        'aac',
        join(folder, name),
      ]);
    mux('knocks.mp4', 'knocks.wav');
    mux('short-sound.mp4', 'blip.wav');
    copyFileSync(f.oddClip, join(folder, 'no-sound.mkv'));
    copyFileSync(f.corrupt, join(folder, 'corrupt.mp4'));
    const r = await foley(['eval', folder, '--json', '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.reference, 'soundtrack');
    assert.equal(s.clips, 1);
    assert.equal(s.classAccuracy, null);
    assert.equal(s.perClip[0].name, 'knocks.mp4');
    assert.equal(s.referenceOnsets, 3);
    assert.equal(s.onsetsPerEvent, s.perClip[0].estimated / 3);
    const reasons = Object.fromEntries(
      s.skipped.map((k: { name: string; reason: string }) => [k.name, k.reason]),
    );
    assert.deepEqual(Object.keys(reasons).sort(), ['corrupt.mp4', 'no-sound.mkv', 'short-sound.mp4']);
    assert.match(reasons['corrupt.mp4'], /cannot open as media/);
    assert.match(reasons['no-sound.mkv'], /has no audio track/);
    assert.match(reasons['short-sound.mp4'], /0\.30 s long, shorter than 0\.5 s/);
    assert.match(r.stderr, /skipped no-sound\.mkv/);
    const text = await foley(['eval', folder, '--model', TINY_BUNDLE_DIR]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /1 clips \(3 skipped\), 3 onsets in their own audio \(label-free\)/);
    assert.match(text.stdout, /onsets per event +\d+\.\d\d/);
    assert.match(text.stdout, /class accuracy +n\/a \(label-free\)/);
  });

  it('exits 4 for a folder without clips or videos', async () => {
    const empty = join(f.dir, 'empty');
    mkdirSync(empty);
    const r = await foley(['eval', empty, '--model', TINY_BUNDLE_DIR]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /has no clips/);
  });

  it('benches student, CFG-only, teacher and windowed variants with per-stage times', async () => {
    const r = await foley(['bench', '--json', '--clip', f.clip, '--model', TINY_BUNDLE_DIR, '--repeat', '1']);
    assert.equal(r.code, 0, r.stderr);
    const b = JSON.parse(r.stdout);
    assert.deepEqual(
      b.variants.map((v: { name: string }) => v.name),
      ['student double guidance', 'student CFG only', 'teacher 50-step', 'student windowed (streaming)'],
    );
    const first = b.variants[0];
    for (const stage of ['decode', 'cavp', 'unet', 'classifierGradient', 'latentDecoder', 'vocoder']) {
      assert.ok(first.stagesMs[stage] > 0, stage);
    }
    assert.equal(b.variants[1].stagesMs.classifierGradient ?? 0, 0);
    assert.ok(first.rtf > 0);
    // A whole-clip render uses two cores where there are two (the live server's workers one each).
    assert.equal(b.intraOpThreads, Math.min(2, availableParallelism()));
  });

  it('benches the live path across rooms with --live: pooled percentiles, full-quality share, stages, video decoding and batch sizes as JSON', async () => {
    const r = await bench(
      ['--rooms', '2', '--batch-max', '8', '--batch-window', '100', '--video-size', '192x144'],
      3,
    );
    assert.equal(r.code, 0, r.stderr);
    const b = JSON.parse(r.stdout);
    assert.equal(b.rooms.length, 2);
    assert.deepEqual(b.batching, { maxRuns: 8, deadlineWindowMs: 100, gatherDelayMs: 0 });
    const s = b.summary;
    assert.ok(s.latencyMs.count > 0);
    assert.ok(s.latencyMs.p50 <= s.latencyMs.p95 && s.latencyMs.p95 <= s.latencyMs.p99);
    assert.equal(s.latencyMs.count, b.rooms[0].latencyMs.count + b.rooms[1].latencyMs.count);
    assert.equal(s.chunks.total, s.chunks.generated + s.chunks.skipped);
    assert.ok(s.chunks.generated > 0);
    assert.ok(s.chunks.fullQualityShare >= 0 && s.chunks.fullQualityShare <= 1);
    for (const stage of ['features', 'sampling', 'decodeVocode']) assert.ok(s.stagesMs[stage] > 0, stage);
    assert.ok(s.stagesMs.queueWaitPerRun >= 0);
    // The clip was published at the size asked for, and its decoding timed.
    assert.equal(b.videoSize, '192x144');
    for (const room of b.rooms) {
      assert.equal(room.ingest.sourceSize, '192x144');
      assert.ok(room.ingest.decodeMsPerFrame > 0);
    }
    assert.ok(s.videoDecodeMsPerFrame > 0);
    // Every run is in exactly one call of the histogram.
    let calls = 0;
    let runs = 0;
    for (const [size, n] of Object.entries(s.callsByBatchRuns) as [string, number][]) {
      calls += n;
      runs += Number(size) * n;
    }
    const models = Object.values(s.models) as { calls: number; runs: number }[];
    assert.equal(
      calls,
      models.reduce((a, m) => a + m.calls, 0),
    );
    assert.equal(
      runs,
      models.reduce((a, m) => a + m.runs, 0),
    );
    assert.ok(b.loadAverage.start >= 0);
  });

  it('bench --live --latency low runs the low preset, explicit flags overriding it; chunks too long for its budget, or an unknown preset, are refused', async () => {
    const low = await bench(['--latency', 'low']);
    assert.equal(low.code, 0, low.stderr);
    const tinyRestarts = JSON.parse(readFileSync(join(TINY_BUNDLE_DIR, 'manifest.json'), 'utf8')).sampling
      .restarts as number;
    const plan = JSON.parse(low.stdout).plan;
    const preset = LATENCY_PRESETS.low;
    assert.deepEqual(
      {
        latency: plan.latency,
        chunkFrames: plan.chunkFrames,
        lookaheadFrames: plan.lookaheadFrames,
        maxContextFrames: plan.maxContextFrames,
        latencyBudgetMs: plan.latencyBudgetMs,
        crossfadeMs: plan.crossfadeMs,
        restarts: plan.restarts,
      },
      {
        latency: 'low',
        chunkFrames: preset.chunkFrames,
        lookaheadFrames: preset.lookaheadFrames,
        maxContextFrames: preset.maxContextFrames,
        latencyBudgetMs: preset.latencyBudgetMs,
        crossfadeMs: preset.crossfadeMs,
        // The tiny bundle's own sampling.restarts, capped by the preset's.
        restarts: Math.min(tinyRestarts, preset.maxRestarts!),
      },
    );
    const overridden = await bench(['--latency', 'low', '--chunk-frames', '3', '--latency-budget', '300']);
    assert.equal(overridden.code, 0, overridden.stderr);
    const o = JSON.parse(overridden.stdout).plan;
    assert.deepEqual([o.chunkFrames, o.latencyBudgetMs], [3, 300]);
    assert.equal(o.lookaheadFrames, preset.lookaheadFrames);
    // Chunks too long for the preset's own budget: refused, naming the preset.
    const conflict = await bench(['--latency', 'low', '--chunk-frames', '8']);
    assert.equal(conflict.code, EXIT_CODES.usage.code);
    assert.match(
      conflict.stderr,
      /the low latency preset's budget of \d+ ms leaves no compute time: chunks of 8 frames/,
    );
    const serve = await foley(['serve', '--latency', 'instant', '--model', TINY_BUNDLE_DIR]);
    assert.equal(serve.code, EXIT_CODES.usage.code);
    assert.match(serve.stderr, /\[foley serve\] --latency must be one of low, balanced, got "instant"/);
  });

  it('bench --live --offset-ms states that offset instead of a calibrated one; one below the chunk and look-ahead time is refused at start', async () => {
    const fixed = await bench(['--latency', 'low', '--offset-ms', '137']);
    assert.equal(fixed.code, 0, fixed.stderr);
    const report = JSON.parse(fixed.stdout);
    assert.deepEqual(
      report.rooms.map((r: { offsetMs: number }) => r.offsetMs),
      [137],
    );
    const short = await bench(['--latency', 'low', '--offset-ms', '60']);
    assert.equal(short.code, EXIT_CODES.usage.code);
    assert.match(short.stderr, /offset 60 ms is below the structural minimum \d+ ms/);
    const serve = await foley(['serve', '--offset-ms', '200', '--model', TINY_BUNDLE_DIR]);
    assert.equal(serve.code, EXIT_CODES.usage.code);
    assert.match(serve.stderr, /offset 200 ms is below the structural minimum \d+ ms/);
  });

  it('bench --live --help names every flag; --batch-max 0, or a batch flag without --batch-max, is refused', async () => {
    const help = await foley(['bench', '--live', '--help']);
    assert.equal(help.code, 0);
    for (const flag of [
      '--live',
      '--model',
      '--clip',
      '--duration',
      '--rooms',
      '--codec',
      '--video-size',
      '--latency',
      '--latency-budget',
      '--chunk-frames',
      '--context-frames',
      '--lookahead-frames',
      '--crossfade-ms',
      '--crossfade-join',
      '--offset-ms',
      '--inference-workers',
      '--intra-op-threads',
      '--batch-max',
      '--batch-window',
      '--batch-gather',
      '--json',
    ]) {
      assert.ok(help.stdout.includes(flag), flag);
    }
    const bad = await foley(['bench', '--live', '--batch-max', '0', '--model', TINY_BUNDLE_DIR]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /batch-max/);
    const orphan = await foley(['bench', '--live', '--batch-window', '50', '--model', TINY_BUNDLE_DIR]);
    assert.notEqual(orphan.code, 0);
    assert.match(orphan.stderr, /--batch-window needs --batch-max N \(N >= 2\)/);
  });
});
