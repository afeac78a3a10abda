/**
 * Foley through packet loss: a clip is published as RTP (VP8; H.264 in one case) to a real
 * router, the ingest's consumer sends through a UDP relay that drops a set share of RTP, and
 * the live pipeline (tiny bundle) makes foley of what gets through. Measured: the share of 20 ms packets and
 * of chunk-long stretches (8 packets) that carry generated audio, from the first one on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { LiveFoleyPipeline, type LivePacket } from '../../pipelines/live.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { FfmpegRtpSource } from '../../src/server/FfmpegRtpSource.js';
import { ROOM_MEDIA_CODECS, roomNote } from '../../src/server/Room.js';
import { RtpVideoIngest, type RtpVideoIngestStats } from '../../src/sfu/RtpVideoIngest.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { encodeForPublishing, PacedRtpPublisher } from '../helpers/paced-rtp-publisher.js';
import { UdpLossRelay } from '../helpers/udp-loss-relay.js';

const RUN_MS = 9_000;
const FIXTURE_CLIP = join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4');
const PACKETS_PER_CHUNK = 8; // 4 frames x 40 ms / 20 ms
/**
 * Room for compute far beyond the tiny bundle's needs, so that chunks skipped for CPU on a
 * shared machine do not pass for chunks lost to the network: this test measures the loss.
 */
const UNHURRIED_OFFSET_MS = 1000;

interface LossRun {
  packetShare: number;
  chunkShare: number;
  chunks: number;
  droppedShare: number;
  ingest: RtpVideoIngestStats;
  /** Last loss rate the ingest reported by event (what the room's note shows). */
  reportedLossRate: number;
}

describe('foley through packet loss (relay between the consumer and the ingest)', () => {
  let worker: ms.Worker;
  let runner: InferenceRunner;
  let dir: string;
  let runs: Record<'vp8At10' | 'h264At10' | 'vp8At20', Promise<LossRun>> | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'foley-loss-'));
    worker = await mediasoup.createWorker({ logLevel: 'error' });
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
    // The three loss runs are real time and independent (own router, relay and pipeline; the
    // tiny bundle's cost is far inside the offset), so they run at once, beside the first test.
    runs = {
      vp8At10: runWithLoss(0.1),
      h264At10: runWithLoss(0.1, 'h264'),
      vp8At20: runWithLoss(0.2),
    };
    for (const run of Object.values(runs)) run.catch(() => {}); // each test awaits its own
  });
  after(async () => {
    if (runs) await Promise.allSettled(Object.values(runs));
    await runner.close();
    worker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * VP8: the system's ffmpeg loops the clip. H.264: paced here (FfmpegRtpSource's H.264 stream
   * stops after one loop of the clip), parameter sets in band, a keyframe each second.
   */
  async function startSource(
    router: ms.Router,
    codec: 'vp8' | 'h264',
  ): Promise<{ producer: ms.Producer; close(): void }> {
    if (codec === 'vp8') return FfmpegRtpSource.start({ router, clip: FIXTURE_CLIP, codec });
    const publisher = await PacedRtpPublisher.create(router, codec);
    const publishing = publisher.publish(
      encodeForPublishing(FIXTURE_CLIP, codec, dir),
      RUN_MS / 2000 + 1,
      2000,
    );
    publishing.catch(() => {});
    return publisher;
  }

  async function runWithLoss(lossRate: number, codec: 'vp8' | 'h264' = 'vp8'): Promise<LossRun> {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    const source = await startSource(router, codec);
    let relay: UdpLossRelay | null = null;
    const manifest = runner.bundle.manifest;
    const ingest = await RtpVideoIngest.create({
      router,
      producer: source.producer,
      outWidth: manifest.video.width,
      outHeight: manifest.video.height,
      routeRtp: async (to) => {
        relay = await UdpLossRelay.start({ forwardTo: to, lossRate, seed: 7 });
        return relay.address;
      },
    });
    const pipeline = await LiveFoleyPipeline.create({
      runner,
      manifest,
      latencyBudgetMs: UNHURRIED_OFFSET_MS,
      offsetMs: UNHURRIED_OFFSET_MS,
    });
    const packets: LivePacket[] = [];
    ingest.on('frame', (frame) => pipeline.pushFrame(frame));
    let reportedLossRate = 0;
    ingest.on('lossratechange', (rate) => {
      reportedLossRate = rate;
    });
    pipeline.on('packet', (p) => packets.push(p));
    await new Promise((r) => setTimeout(r, RUN_MS));
    const stats = { ...ingest.stats };
    const ps = pipeline.stats;
    const pipelineLine = `pipeline: generated ${ps.chunksGenerated}, skipped ${ps.chunksSkipped}, late ${ps.chunksLate}, segments ${ps.segments}, frames in ${ps.framesIn}`;
    const droppedShare = relay!.droppedShare;
    ingest.close();
    pipeline.close();
    relay!.close();
    source.close();
    router.close();

    const s = stats;
    const ingestLine =
      `ingest missed ${s.packetsMissed}, ` +
      `recovered ${s.packetsRecovered}, lost ${s.packetsLost}, nacks ${s.nacksSent}, ` +
      `frames lost ${s.framesLost}, decoded after loss ${s.framesDecodedAfterLoss}, ` +
      `assembled ${s.framesAssembled}, dropped ${s.framesDropped}, decode errors ${s.decodeErrors}, decoded ${s.framesDecoded}, keyframe requests ${s.keyframeRequests}, ` +
      `recent loss ${(s.recentLossRate * 100).toFixed(1)}%`;
    const first = packets.findIndex((p) => p.generated);
    assert.ok(
      first >= 0,
      `no generated audio (${codec}, ${lossRate * 100}% loss): ${ingestLine}; ${pipelineLine}`,
    );
    const tail = packets.slice(first);
    const chunks: boolean[] = [];
    for (let i = 0; i + PACKETS_PER_CHUNK <= tail.length; i += PACKETS_PER_CHUNK) {
      chunks.push(tail.slice(i, i + PACKETS_PER_CHUNK).some((p) => p.generated));
    }
    const run = {
      packetShare: tail.filter((p) => p.generated).length / tail.length,
      chunkShare: chunks.filter(Boolean).length / chunks.length,
      chunks: chunks.length,
      droppedShare,
      ingest: stats,
      reportedLossRate,
    };
    console.log(
      `${codec} loss ${lossRate * 100}%: dropped ${(droppedShare * 100).toFixed(1)}% of RTP; ` +
        `chunks with sound ${(run.chunkShare * 100).toFixed(1)}% of ${run.chunks}, ` +
        `packets ${(run.packetShare * 100).toFixed(1)}%; ${ingestLine}; ${pipelineLine}`,
    );
    return run;
  }

  it('a frame lost once waits for its retransmission and is decoded: no frame lost, no damaged picture', async () => {
    const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
    // 96 px VP8: a delta frame is one packet, so a lost packet is a whole frame, found missing
    // only when the next frame (complete at once) arrives.
    const publisher = await PacedRtpPublisher.create(router, 'vp8');
    const publishing = publisher.publish(encodeForPublishing(FIXTURE_CLIP, 'vp8', dir), 3, 2000);
    publishing.catch(() => {});
    let relay: UdpLossRelay | null = null;
    const ingest = await RtpVideoIngest.create({
      router,
      producer: publisher.producer,
      outWidth: 96,
      outHeight: 96,
      routeRtp: async (to) => {
        relay = await UdpLossRelay.start({ forwardTo: to, lossRate: 0, dropIndices: [40, 70, 100, 130] });
        return relay.address;
      },
    });
    await new Promise((r) => setTimeout(r, 6000));
    const s = { ...ingest.stats };
    const dropped = relay!.stats.rtpDropped;
    ingest.close();
    relay!.close();
    publisher.close();
    await publishing;
    router.close();
    assert.equal(dropped, 4);
    assert.equal(s.packetsMissed, 4);
    assert.equal(s.packetsRecovered, 4);
    assert.equal(s.framesLost, 0, `frames lost: ${JSON.stringify(s)}`);
    assert.equal(s.framesDecodedAfterLoss, 0, `frames decoded after loss: ${JSON.stringify(s)}`);
  });

  it('at 10% RTP loss at least 90% of chunks have sound, and NACKs bring most packets back', async () => {
    const run = await runs!.vp8At10;
    assert.ok(run.droppedShare > 0.07 && run.droppedShare < 0.13, `relay dropped ${run.droppedShare}`);
    assert.ok(run.chunkShare >= 0.9, `chunks with sound ${run.chunkShare}`);
    assert.ok(run.ingest.packetsRecovered > 0.5 * run.ingest.packetsMissed, 'retransmissions arrive');
    assert.ok(
      run.ingest.recentLossRate > 0.05 && run.ingest.recentLossRate < 0.2,
      `loss rate ${run.ingest.recentLossRate}`,
    );
    assert.match(
      roomNote('active', null, true, run.reportedLossRate) ?? '',
      /^input lossy: \d+% packets lost$/,
    );
  });

  it('H.264 (the WHIP path) at 10% RTP loss: at least 90% of chunks have sound, and NACKs bring most packets back', async () => {
    const run = await runs!.h264At10;
    assert.ok(run.droppedShare > 0.07 && run.droppedShare < 0.13, `relay dropped ${run.droppedShare}`);
    assert.ok(run.chunkShare >= 0.9, `chunks with sound ${run.chunkShare}`);
    assert.ok(run.ingest.packetsRecovered > 0.5 * run.ingest.packetsMissed, 'retransmissions arrive');
  });

  it('at 20% RTP loss at least 70% of chunks have sound', async () => {
    const run = await runs!.vp8At20;
    assert.ok(run.droppedShare > 0.16 && run.droppedShare < 0.24, `relay dropped ${run.droppedShare}`);
    assert.ok(run.chunkShare >= 0.7, `chunks with sound ${run.chunkShare}`);
  });
});
