import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/models/bundle.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { runSoak } from './soak.js';
import { formatSoak, summarizeSoak } from './soak-report.js';

describe('soak driver', () => {
  it('samples a server process publishing into two rooms: RSS of the server and its mediasoup worker, latencies, chunks, audio on /listen', async () => {
    const run = await runSoak({
      name: 'smoke',
      rooms: 2,
      minutes: 0.25,
      sampleSeconds: 5,
      warmupSeconds: 10,
      bundleDir: TINY_BUNDLE_DIR,
      clip: join(packageRoot(), 'samples', 'clip.mp4'),
    });
    const summary = summarizeSoak(run);
    console.log(formatSoak(summary));
    assert.equal(run.samples.length, 3);
    assert.ok(
      run.baselineRssMb.server > 50 && run.baselineRssMb.mediasoupWorker > 1,
      JSON.stringify(run.baselineRssMb),
    );
    const last = run.samples[run.samples.length - 1]!;
    assert.ok(last.serverRssMb > run.baselineRssMb.server * 0.5);
    assert.deepEqual(
      last.rooms.map((r) => r.room),
      ['soak-0', 'soak-1'],
    );
    for (const [i, room] of last.rooms.entries()) {
      const windows = run.samples.map((s) => s.rooms[i]!);
      console.log(
        `${room.room}: frames with latency per window ${windows.map((w) => w.latenciesMs.length).join(' ')}; Ogg pages ${windows.map((w) => w.listenPages).join(' ')}`,
      );
      assert.equal(room.attached, true);
      assert.equal(room.attachments, 1);
      assert.ok(
        windows.some((w) => w.latenciesMs.length > 0),
        `${room.room}: frame latencies in some window`,
      );
      assert.ok(room.chunksGenerated > 0, `${room.room}: chunks generated`);
      assert.ok(
        windows.some((w) => w.listenPages > 0),
        `${room.room}: Ogg pages on /listen`,
      );
      assert.equal(room.announcedOffsetMs, room.offsetMs);
    }
    assert.equal(summary.interruptions, 0);
    assert.equal(summary.statedOffsetChanges, 0);
  });
});
