/**
 * Foley of a WHIP publish as the OBS page receives it, scored against the clip's events:
 * FFmpeg's WHIP muxer (node-av) publishes the sample clip, paced in real time, looped; a
 * listener on the room taps the Ogg stream the OBS page gets, with the time each page left.
 *
 * Putting the tapped audio on the clip's timeline: the publisher sends media time T at wall
 * time start + T; audio for a frame leaves the server the room's offset after the frame
 * arrives, so a sample that left at wall time W is the sound of clip time W − offset − start.
 * What the network and ingest add is constant and found as the median distance from the
 * events to the nearest onsets (±200 ms) before the ±80 ms score, as the offline evaluation
 * scores. Needs the trained bundle models/default; skips with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderFoley, WHOLE_CLIP } from '../../pipelines/render.js';
import { resolveGenerationSettings } from '../../src/diffusion/foley-generator.js';
import { scoreOnsets } from '../../src/dsp/onset-matching.js';
import { loadBundle, packageRoot } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { FoleyServer } from '../../src/server/FoleyServer.js';
import type { FoleyAttachment } from '../../src/sfu/FoleyAttachment.js';
import { SAMPLE_CLIP } from '../helpers/media-fixtures.js';
import {
  ONSET_WINDOW_S,
  onsetsOf,
  readClipEvents,
  scoreLoopedOnsets,
  scoreSummary,
  type TappedPage,
  tappedOnsetsWallMs,
} from '../helpers/onset-scoring.js';
import { publishOverWhip } from '../helpers/whip-publisher.js';

const BUNDLE_DIR = process.env.FOLEY_ONSET_BUNDLE ?? join(packageRoot(), 'models', 'default');
const SAMPLE_EVENTS = join(packageRoot(), 'samples', 'clip.events.json');
const skip = !existsSync(join(BUNDLE_DIR, 'manifest.json'))
  ? `no trained bundle at ${BUNDLE_DIR} (onsets of random weights mean nothing)`
  : false;

/** Loops of the clip scored after the warm-up. */
const LOOPS = 5;
/** Skipped after the first generated packet: start-up and the first chunks. */
const WARMUP_MS = 1000;
/** The offset the browser onset test gives the live path: enough slack for full quality on 2 cores. */
const FIDELITY_OFFSET_MS = 560;

describe('onsets of a WHIP publish at the OBS page', { skip, timeout: 600_000 }, () => {
  let dir: string;
  let runner: InferenceRunner;
  let server: FoleyServer | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foley-whip-onsets-'));
    const bundle = await loadBundle(BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, {
      models: [...InferenceRunner.renderModels(bundle), 'mel'],
    });
  });
  after(async () => {
    await server?.close();
    await runner?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('scores an onset F1 (±80 ms) of at least 0.9 times the offline render of the same clip at full quality', async (t) => {
    const events = readClipEvents(SAMPLE_EVENTS);
    const clipMs = events.seconds * 1000;
    const m = runner.bundle.manifest;

    // 1. The offline render: what the model and detector score on this clip.
    const offline = await renderFoley(SAMPLE_CLIP, runner, {
      generation: resolveGenerationSettings(m, { seed: 0 }),
      windowFrames: WHOLE_CLIP,
      overlapFrames: 0,
    });
    const offlineScore = scoreOnsets(
      events.events.map((e) => e.time),
      await onsetsOf(runner, offline.waveform),
      ONSET_WINDOW_S,
    );
    t.diagnostic(`offline render: ${scoreSummary(offlineScore)}`);
    assert.ok(offlineScore.f1 > 0.5, `the offline render scores ${scoreSummary(offlineScore)}`);

    // 2. The clip as OBS would send it: H.264 without B-frames, a keyframe each second. OBS
    // encodes the camera's raw frames once; this re-encodes an already compressed clip. At
    // x264's default CRF 23 that second generation's loss costs the live chunker F1 that the
    // offline render never pays (docs/experiments.md, section 6); CRF 16 costs none measurable.
    const clip = join(dir, 'clip-baseline.mp4');
    execFileSync('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-i', SAMPLE_CLIP, '-an'],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline'],
      ...['-pix_fmt', 'yuv420p', '-crf', '16', '-g', '25', '-bf', '0', clip],
    ]);

    server = await FoleyServer.start({
      port: 0,
      runner,
      processMetrics: false,
      accessLog: () => {},
      pipeline: { latencyBudgetMs: 600, offsetMs: FIDELITY_OFFSET_MS },
    });
    const room = await server.getRoom('main');
    const pages: TappedPage[] = [];
    room.addListener({
      send: (data) => pages.push({ data, wallMs: performance.timeOrigin + performance.now() }),
      sendStatus: () => {},
    });
    let firstGeneratedEpochMs: number | null = null;
    let attachment: FoleyAttachment | null = null;
    room.on('attachment', (attached) => {
      attachment ??= attached;
      attached.on('packet', (p) => {
        if (firstGeneratedEpochMs === null && p.generated)
          firstGeneratedEpochMs = performance.timeOrigin + p.sentMs;
      });
    });

    // 3. The WHIP publish, long enough for the warm-up and the scored loops.
    const { url, bearerToken } = server.whipEndpoint('main');
    // One loop for the start-up and the warm-up, one for the audio's offset past the last scored loop.
    const loops = LOOPS + 2;
    const { startEpochMs } = await publishOverWhip(clip, url, bearerToken, { loops, clipMs });
    assert.ok(attachment && firstGeneratedEpochMs !== null, 'the WHIP publish produced generated foley');
    const live = attachment as FoleyAttachment;
    const stats = live.pipeline.stats;
    const offsetMs = live.offsetMs;
    const made = stats.chunksGenerated + stats.chunksSkipped;
    const madeFull = stats.levelCounts[0]!;
    t.diagnostic(
      `live: offset ${offsetMs} ms, chunks ${stats.chunksGenerated} generated / ${stats.chunksSkipped} skipped, per level [${stats.levelCounts.join(', ')}] (${live.pipeline.ladder.map((l) => l.name).join(', ')}), grid slots bridged ${stats.framesBridged} (frames in ${stats.framesIn})`,
    );

    // 4. The tapped audio's onsets on the clip's timeline, scored over LOOPS loops after the warm-up.
    const onsetsClipMs = (await tappedOnsetsWallMs(runner, pages, dir)).map(
      (wallMs) => wallMs - offsetMs - startEpochMs,
    );
    const scored = scoreLoopedOnsets({
      events,
      onsetsClipMs,
      warmedMs: firstGeneratedEpochMs! - offsetMs - startEpochMs + WARMUP_MS,
      loops: LOOPS,
      publishedLoops: loops,
      // Taps stop with the publish: the last offset's worth of audio is missing.
      audioEndMs: loops * clipMs - offsetMs,
    });
    assert.ok(
      scored.coarseMatches >= 8,
      `only ${scored.coarseMatches} live onsets within 200 ms of the ${scored.score.reference} events`,
    );
    const liveScore = scored.score;
    const { fromMs, toMs, shiftS } = scored;
    t.diagnostic(
      `live over clip time ${fromMs.toFixed(0)}..${toMs.toFixed(0)} ms: ${scoreSummary(liveScore)} after a ${(shiftS * 1000).toFixed(1)} ms shift; live/offline F1 ${(liveScore.f1 / offlineScore.f1).toFixed(3)}`,
    );
    // A broken path (misaligned, silent or noise) scores far below this floor.
    assert.ok(
      liveScore.f1 >= 0.5 * offlineScore.f1,
      `live onset F1 ${liveScore.f1.toFixed(3)} < 50% of offline ${offlineScore.f1.toFixed(3)}`,
    );
    if (madeFull < 0.9 * made) {
      // The bound is for foley at full quality; a run starved of CPU is reported, not judged.
      t.diagnostic(`0.9 x offline not judged: ${madeFull} of ${made} chunks at full quality`);
      return;
    }
    // Issue 19's bound. Five loops: fewer were too noisy.
    assert.ok(
      liveScore.f1 >= 0.9 * offlineScore.f1,
      `live onset F1 ${liveScore.f1.toFixed(3)} < 90% of offline ${offlineScore.f1.toFixed(3)} with ${madeFull} of ${made} chunks at full quality`,
    );
  });
});
