/**
 * One measurement of foley through packet loss, scored by onsets: the sample clip is published
 * as RTP (VP8 or H.264, paced and looped here, so each media time's send time is known) to a
 * real router; the ingest's consumer sends through the seeded UDP loss relay; the live
 * pipeline makes foley with a trained bundle; its Opus packets are put in Ogg pages as a
 * room's OBS page gets them, each at the time it left, and scored against the clip's events
 * at ±80 ms (helpers/onset-scoring.ts, as the WHIP onset test scores).
 *
 * Used by loss-onsets.test.ts (0% vs 10%) and the sweep script loss-sweep.ts.
 */
import type { types as ms } from 'mediasoup';
import { LiveFoleyPipeline, type LivePacket } from '../../pipelines/live.js';
import type { OnsetScores } from '../../src/dsp/onset-matching.js';
import type { InferenceRunner } from '../../src/models/inference-runner.js';
import { OggOpusMuxer } from '../../src/server/OggOpusMuxer.js';
import { ROOM_MEDIA_CODECS } from '../../src/server/Room.js';
import { RtpVideoIngest, type RtpVideoIngestStats } from '../../src/sfu/RtpVideoIngest.js';
import {
  type ClipEvents,
  scoreLoopedOnsets,
  type TappedPage,
  tappedOnsetsWallMs,
} from '../helpers/onset-scoring.js';
import { PacedRtpPublisher, type PublisherCodec } from '../helpers/paced-rtp-publisher.js';
import { UdpLossRelay } from '../helpers/udp-loss-relay.js';

/** Skipped after the first generated packet: start-up and the first chunks. */
const WARMUP_MS = 1000;
/** 20 ms packets per chunk of 4 frames × 40 ms. */
const PACKETS_PER_CHUNK = 8;

export interface LossOnsetOptions {
  worker: ms.Worker;
  /** Opened with the live models and 'mel' (onset detection). */
  runner: InferenceRunner;
  codec: PublisherCodec;
  lossRate: number;
  /** From encodeForPublishing. */
  encodedClip: string;
  events: ClipEvents;
  /** Loops scored (the publish adds one for the warm-up and the window's alignment). */
  loops: number;
  offsetMs: number;
  /** Scratch folder for the decoded tap. */
  dir: string;
  seed?: number;
}

export interface LossOnsetRun {
  codec: PublisherCodec;
  lossRate: number;
  score: OnsetScores;
  /** Events with a live onset within ±200 ms (what the constant delay was found from). */
  coarseMatches: number;
  shiftMs: number;
  /** Share of chunk-long stretches of packets with generated audio, from the first on. */
  chunkShare: number;
  chunks: number;
  /** Share of the generated and skipped chunks made at the full level. */
  fullShare: number;
  madeChunks: number;
  droppedShare: number;
  framesBridged: number;
  framesIn: number;
  ingest: RtpVideoIngestStats;
}

export async function measureLossOnsets(options: LossOnsetOptions): Promise<LossOnsetRun> {
  const { runner, events, loops, offsetMs } = options;
  const manifest = runner.bundle.manifest;
  const clipMs = events.seconds * 1000;
  const router = await options.worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
  let relay: UdpLossRelay | null = null;
  let ingest: RtpVideoIngest | null = null;
  let pipeline: LiveFoleyPipeline | null = null;
  let publisher: PacedRtpPublisher | null = null;
  try {
    publisher = await PacedRtpPublisher.create(router, options.codec);
    ingest = await RtpVideoIngest.create({
      router,
      producer: publisher.producer,
      outWidth: manifest.video.width,
      outHeight: manifest.video.height,
      routeRtp: async (to) => {
        relay = await UdpLossRelay.start({
          forwardTo: to,
          lossRate: options.lossRate,
          seed: options.seed ?? 7,
        });
        return relay.address;
      },
    });
    const live = await LiveFoleyPipeline.create({
      runner,
      manifest,
      latencyBudgetMs: offsetMs,
      offsetMs,
    });
    pipeline = live;
    ingest.on('frame', (frame) => live.pushFrame(frame));
    // The OBS page's stream: one Ogg page per packet, granule at its end, as Room fans out.
    const muxer = new OggOpusMuxer(1, live.opusPreSkip);
    const pages: TappedPage[] = muxer.headerPages().map((data) => ({ data, wallMs: 0 }));
    const packets: LivePacket[] = [];
    let granule = 0n;
    live.on('packet', (p) => {
      packets.push(p);
      granule += 960n;
      pages.push({ data: muxer.audioPage(p.data, granule), wallMs: p.sentMs });
    });

    await publisher.publish(options.encodedClip, loops + 1, clipMs);
    await new Promise((r) => setTimeout(r, offsetMs + 200));

    const stats = live.stats;
    const made = stats.chunksGenerated + stats.chunksSkipped;
    const ingestStats = { ...ingest.stats };
    const droppedShare = (relay as UdpLossRelay | null)?.droppedShare ?? 0;
    const startMs = publisher.startMs;
    const framesBridged = stats.framesBridged;
    const framesIn = stats.framesIn;
    const fullShare = made > 0 ? stats.levelCounts[0]! / made : 0;
    ingest.close();
    live.close();

    const firstGenerated = packets.find((p) => p.generated);
    if (!firstGenerated)
      throw new Error(`[loss-onsets] no generated audio (${options.codec}, loss ${options.lossRate})`);
    const tail = packets.slice(packets.indexOf(firstGenerated));
    const chunks: boolean[] = [];
    for (let i = 0; i + PACKETS_PER_CHUNK <= tail.length; i += PACKETS_PER_CHUNK)
      chunks.push(tail.slice(i, i + PACKETS_PER_CHUNK).some((p) => p.generated));

    const onsetsClipMs = (await tappedOnsetsWallMs(runner, pages, options.dir)).map(
      (wallMs) => wallMs - offsetMs - startMs,
    );
    const scored = scoreLoopedOnsets({
      events,
      onsetsClipMs,
      warmedMs: firstGenerated.sentMs - offsetMs - startMs + WARMUP_MS,
      loops,
      publishedLoops: loops + 1,
    });
    return {
      codec: options.codec,
      lossRate: options.lossRate,
      score: scored.score,
      coarseMatches: scored.coarseMatches,
      shiftMs: scored.shiftS * 1000,
      chunkShare: chunks.filter(Boolean).length / chunks.length,
      chunks: chunks.length,
      fullShare,
      madeChunks: made,
      droppedShare,
      framesBridged,
      framesIn,
      ingest: ingestStats,
    };
  } finally {
    ingest?.close();
    pipeline?.close();
    (relay as UdpLossRelay | null)?.close();
    publisher?.close();
    router.close();
  }
}

/** One line per run, for diagnostics and the sweep's table. */
export function lossRunLine(run: LossOnsetRun): string {
  const s = run.ingest;
  return (
    `${run.codec} loss ${(run.lossRate * 100).toFixed(0)}% (dropped ${(run.droppedShare * 100).toFixed(1)}%): ` +
    `onset F1 ${run.score.f1.toFixed(3)} (matched ${run.score.matched}/${run.score.reference}, ${run.score.estimated} onsets, shift ${run.shiftMs.toFixed(1)} ms), ` +
    `chunks with sound ${(run.chunkShare * 100).toFixed(1)}% of ${run.chunks}, full quality ${(run.fullShare * 100).toFixed(0)}% of ${run.madeChunks}, ` +
    `bridged ${run.framesBridged} of ${run.framesIn} frames in; ingest missed ${s.packetsMissed}, recovered ${s.packetsRecovered}, lost ${s.packetsLost}, ` +
    `frames lost ${s.framesLost}, decoded after loss ${s.framesDecodedAfterLoss}, dropped ${s.framesDropped}, keyframe requests ${s.keyframeRequests}`
  );
}
