import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { AudioTimeline, LATE_FADE_SAMPLES } from '../../pipelines/live/AudioTimeline.js';
import { LevelCosts } from '../../pipelines/live/DegradationLadder.js';
import { FrameGrid } from '../../pipelines/live/FrameGrid.js';
import { Upsampler3x } from '../../pipelines/live/Upsampler3x.js';
import { buildLadder, type LiveAudio, LiveFoleyPipeline } from '../../pipelines/live.js';
import { type Bundle, loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

describe('FrameGrid', () => {
  const rgb = (v: number) => new Uint8Array(3).fill(v);
  it('resamples 30 fps onto the 25 fps grid with the nearest frame', () => {
    const grid = new FrameGrid({ frameMs: 40, stallMs: 500, maxJumpMs: 1000 });
    const filled = [];
    for (let i = 0; i < 8; i++)
      filled.push(...grid.push({ rgb: rgb(i), mediaTimeMs: (i * 100) / 3, arrivalMs: (i * 100) / 3 }).filled);
    // slots 0,40,80,120,160,200 ms -> nearest frames 0,1,2,4,5,6
    assert.deepEqual(
      filled.slice(0, 6).map((f) => f.rgb[0]),
      [0, 1, 2, 4, 5, 6],
    );
  });
  it('starts a new segment after a stall or a jump in media time', () => {
    const grid = new FrameGrid({ frameMs: 40, stallMs: 500, maxJumpMs: 1000 });
    assert.equal(grid.push({ rgb: rgb(0), mediaTimeMs: 0, arrivalMs: 0 }).newSegment, true);
    assert.equal(grid.push({ rgb: rgb(1), mediaTimeMs: 40, arrivalMs: 40 }).newSegment, false);
    assert.equal(grid.push({ rgb: rgb(2), mediaTimeMs: 80, arrivalMs: 900 }).newSegment, true); // stalled
    assert.equal(grid.push({ rgb: rgb(3), mediaTimeMs: 5000, arrivalMs: 940 }).newSegment, true); // jumped
    assert.equal(grid.push({ rgb: rgb(4), mediaTimeMs: 10, arrivalMs: 980 }).newSegment, true); // went back
    assert.equal(grid.segment, 3); // the fourth segment, counted from 0
  });
});

describe('degradation ladder', () => {
  it('steps down in the documented order and comes back when a level fits again', () => {
    const ladder = buildLadder({
      steps: 4,
      restarts: 1,
      cfgScale: 2,
      cgScale: 1,
      maxContextFrames: 12,
      minContextFrames: 8,
    });
    assert.deepEqual(
      ladder.map((l) => l.name),
      ['full', 'no-classifier', 'fewer-steps', 'short-window', 'skip'],
    );
    assert.deepEqual(
      ladder.map((l) => [l.steps, l.restarts, l.cgScale, l.contextFrames]),
      [
        [4, 1, 1, 12],
        [4, 1, 0, 12],
        [2, 0, 0, 12],
        [2, 0, 0, 8],
        [0, 0, 0, 0],
      ],
    );
    const costs = new LevelCosts(ladder.length);
    [100, 60, 40, 30].forEach((ms, level) => costs.seed(level, ms));
    assert.equal(costs.choose(ladder, 150).name, 'full');
    assert.equal(costs.choose(ladder, 50).name, 'fewer-steps');
    assert.equal(costs.choose(ladder, 10).name, 'skip');
    let chosen = '';
    for (let i = 0; i < 100 && chosen !== 'full'; i++) chosen = costs.choose(ladder, 95).name;
    assert.equal(chosen, 'full', 'a better level is retried after its estimate decays');
  });
});

describe('AudioTimeline and Upsampler3x', () => {
  it('upsample ×3 keeps a 1 kHz tone and its level', () => {
    const up = new Upsampler3x();
    const x = new Float32Array(1600).map((_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
    const y = up.process(x);
    assert.equal(y.length, 4800);
    const peak = Math.max(...y.subarray(600).map(Math.abs));
    assert.ok(Math.abs(peak - 0.5) < 0.02, `peak ${peak}`);
    assert.ok(Number.isInteger(Upsampler3x.delaySamples48k));
  });
  it('reads what was written and reports unwritten audio as missing', () => {
    const t = new AudioTimeline(48000);
    t.write(0, new Float32Array(960).fill(0.25));
    const out = new Float32Array(960);
    assert.equal(t.read(0, out), true);
    assert.equal(out[959], 0.25);
    assert.equal(t.read(960, out), false);
    assert.equal(out[0], 0);
  });
  it('plays a late write from the reader on, faded in', () => {
    const t = new AudioTimeline(48000);
    const out = new Float32Array(960);
    t.read(0, out); // a packet of silence: the chunk for [0, 1920) is late
    t.write(0, new Float32Array(1920).fill(0.5));
    assert.equal(t.read(960, out), true);
    assert.ok(out[0]! > 0 && out[0]! < 0.01, `first sample ${out[0]}`);
    assert.ok(out[LATE_FADE_SAMPLES / 2]! > 0.2 && out[LATE_FADE_SAMPLES / 2]! < 0.3);
    assert.equal(out[LATE_FADE_SAMPLES], 0.5);
    assert.equal(out[959], 0.5);
  });
});

describe('LiveFoleyPipeline with the tiny bundle', () => {
  let bundle: Bundle;
  let runner: InferenceRunner;
  before(async () => {
    bundle = await loadBundle(TINY_BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
  });
  after(async () => {
    await runner.close();
  });

  it('states a fixed offset within the budget and refuses a budget with no room for compute', async () => {
    const p = await LiveFoleyPipeline.create({ runner, manifest: bundle.manifest, latencyBudgetMs: 400 });
    assert.ok(p.offsetMs >= p.structuralLatencyMs && p.offsetMs <= 400);
    p.close();
    p.close();
    await assert.rejects(
      LiveFoleyPipeline.create({
        runner,
        manifest: bundle.manifest,
        latencyBudgetMs: 100,
        skipCalibration: true,
      }),
      /leaves no compute time/,
    );
  });

  it('generates foley for frames, goes idle when they stop and resumes in a new segment', async () => {
    const p = await LiveFoleyPipeline.create({
      runner,
      manifest: bundle.manifest,
      latencyBudgetMs: 400,
      stallMs: 300,
    });
    const events: string[] = [];
    p.on('idle', () => events.push('idle'));
    p.on('active', () => events.push('active'));
    let generated = 0;
    p.on('packet', (pk) => {
      if (pk.generated) generated++;
    });
    const feed = (count: number, startMs: number) =>
      new Promise<void>((resolve) => {
        let n = 0;
        const t0 = performance.now();
        const timer = setInterval(() => {
          const now = performance.now();
          p.pushFrame({
            rgb: new Uint8Array(96 * 96 * 3).fill((n * 17) % 256),
            mediaTimeMs: startMs + (now - t0),
            arrivalMs: now,
          });
          if (++n >= count) {
            clearInterval(timer);
            resolve();
          }
        }, 40);
      });
    await feed(40, 0);
    await new Promise<void>((r) => p.once('idle', () => r()));
    await feed(20, 60_000);
    await new Promise<void>((r) => setTimeout(r, 600));
    assert.deepEqual(events.slice(0, 3), ['active', 'idle', 'active']);
    assert.equal(p.stats.segments, 2);
    assert.ok(p.stats.chunksGenerated + p.stats.chunksSkipped >= 10);
    assert.ok(generated > 0 || p.stats.chunksSkipped > 0);
    for (const latency of p.stats.latenciesMs)
      assert.ok(latency < p.offsetMs + 100, `latency ${latency} vs offset ${p.offsetMs}`);
    p.close();
  });

  it('skips chunks whose deadline has passed, reports skip as its level, and rests the governor at short-window', async () => {
    // A clock 10 s ahead of the frames' arrival stamps: every chunk is already late.
    const lateClock: SchedulerLike = {
      now: () => performance.now() + 10_000,
      schedule: asyncScheduler.schedule.bind(asyncScheduler) as SchedulerLike['schedule'],
    };
    const p = await LiveFoleyPipeline.create({
      runner,
      manifest: bundle.manifest,
      latencyBudgetMs: 400,
      skipCalibration: true,
      scheduler: lateClock,
    });
    const levels: string[] = [];
    p.on('levelchange', (level) => levels.push(level.name));
    const audio: LiveAudio[] = [];
    p.on('audio', (a) => audio.push(a));
    const t0 = performance.now();
    for (let i = 0; i < 20; i++)
      p.pushFrame({ rgb: new Uint8Array(96 * 96 * 3).fill(i), mediaTimeMs: i * 40, arrivalMs: t0 + i * 40 });
    await new Promise<void>((r) => setTimeout(r, 200));
    assert.ok(audio.length >= 3, `${audio.length} chunks`);
    assert.ok(audio.every((a) => !a.generated && a.samples.every((v) => v === 0)));
    assert.equal(p.currentLevel.name, 'skip');
    assert.deepEqual(levels, ['skip'], 'one change, not one per chunk');
    assert.equal(p.governor.level.name, 'short-window');
    assert.equal(p.stats.chunksSkipped, audio.length);
    assert.deepEqual(
      p.stats.levelChanges.map(([, level]) => level),
      [3],
    );
    p.close();
  });
});
