/**
 * Issue 18's loss target for onsets: at 10% RTP loss the live onset F1 at the OBS page is at
 * least 0.8 × that at 0% loss (loss-onsets.ts: the sample clip as VP8, paced, through the loss
 * relay into the live pipeline with the trained bundle, scored at ±80 ms). Like the WHIP onset
 * test, the bound is judged only when the foley ran at full quality (≥ 90% of chunks at the
 * full level in both runs); a run starved of CPU is reported, and only a floor is asserted.
 * Needs models/default; skips with the reason otherwise. `npm run loss-sweep` measures 0/5/10/20%
 * for VP8 and H.264.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import { loadBundle, packageRoot } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { SAMPLE_CLIP } from '../helpers/media-fixtures.js';
import { type ClipEvents, readClipEvents } from '../helpers/onset-scoring.js';
import { encodeForPublishing } from '../helpers/paced-rtp-publisher.js';
import { type LossOnsetRun, lossRunLine, measureLossOnsets } from './loss-onsets.js';

const BUNDLE_DIR = process.env.FOLEY_ONSET_BUNDLE ?? join(packageRoot(), 'models', 'default');
const SAMPLE_EVENTS = join(packageRoot(), 'samples', 'clip.events.json');
const skip = !existsSync(join(BUNDLE_DIR, 'manifest.json'))
  ? `no trained bundle at ${BUNDLE_DIR} (onsets of random weights mean nothing)`
  : false;
/** Two loops of the 8 s clip scored per run (16 events): about 25 s for the two runs. */
const LOOPS = 2;
/** Room for the trained bundle's full level on a shared 2-core machine: skips for CPU are not loss. */
const UNHURRIED_OFFSET_MS = 1000;

describe('onsets of foley through packet loss (trained bundle, VP8)', { skip, timeout: 300_000 }, () => {
  let dir: string;
  let worker: ms.Worker;
  let runner: InferenceRunner;
  let encodedClip: string;
  let events: ClipEvents;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foley-loss-onsets-'));
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    const bundle = await loadBundle(BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, {
      models: [...LiveFoleyPipeline.models(bundle.manifest), 'mel'],
      workers: 2,
    });
    encodedClip = encodeForPublishing(SAMPLE_CLIP, 'vp8', dir);
    events = readClipEvents(SAMPLE_EVENTS);
  });
  after(async () => {
    await runner?.close();
    worker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const measure = (lossRate: number): Promise<LossOnsetRun> =>
    measureLossOnsets({
      worker,
      runner,
      codec: 'vp8',
      lossRate,
      encodedClip,
      events,
      loops: LOOPS,
      offsetMs: UNHURRIED_OFFSET_MS,
      dir: mkdtempSync(join(dir, `loss-${lossRate}-`)),
    });

  it('scores an onset F1 at 10% RTP loss of at least 0.8 times that at 0%, with 90% of chunks sounding, when at full quality', async (t) => {
    // Both runs at once (two routers and pipelines on the shared two-worker runner): half the wall time.
    const [clean, lossy] = await Promise.all([measure(0), measure(0.1)]);
    t.diagnostic(lossRunLine(clean));
    t.diagnostic(lossRunLine(lossy));
    const ratio = lossy.score.f1 / clean.score.f1;
    t.diagnostic(`F1 at 10% / F1 at 0%: ${ratio.toFixed(3)}`);

    assert.equal(clean.droppedShare, 0);
    assert.ok(lossy.droppedShare > 0.07 && lossy.droppedShare < 0.13, `relay dropped ${lossy.droppedShare}`);
    assert.ok(
      clean.coarseMatches >= 6,
      `only ${clean.coarseMatches} onsets within 200 ms of the events at 0%`,
    );
    // A broken path (misaligned, silent or noise) scores far below this floor.
    assert.ok(
      ratio >= 0.5,
      `onset F1 at 10% loss ${lossy.score.f1.toFixed(3)} < 50% of ${clean.score.f1.toFixed(3)} at 0%`,
    );
    const fullShare = Math.min(clean.fullShare, lossy.fullShare);
    if (fullShare < 0.9) {
      // The bounds compare loss, not CPU: a run starved of CPU (chunks skipped or made at lower
      // levels) is reported, not judged. test/live/loss.test.ts holds the chunks with sound on
      // the tiny bundle, whose cost fits any machine.
      t.diagnostic(
        `0.8 x not judged: ${(fullShare * 100).toFixed(0)}% of chunks at full quality in the worse run`,
      );
      return;
    }
    assert.ok(lossy.chunkShare >= 0.9, `chunks with sound at 10% loss ${lossy.chunkShare}`);
    assert.ok(
      ratio >= 0.8,
      `onset F1 at 10% loss ${lossy.score.f1.toFixed(3)} < 80% of ${clean.score.f1.toFixed(3)} at 0% with both runs at full quality`,
    );
  });
});
