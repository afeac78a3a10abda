import * as mediasoup from 'mediasoup';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import { loadBundle } from '../models/bundle.js';
import { InferenceRunner } from '../models/inference-runner.js';
import { FoleyAttachment } from '../sfu/FoleyAttachment.js';
import { FfmpegRtpSource } from './FfmpegRtpSource.js';
import { ROOM_MEDIA_CODECS } from './Room.js';

export interface LiveBenchOptions {
  bundleDir: string;
  clip: string;
  durationSeconds: number;
  rooms: number;
  latencyBudgetMs?: number;
  codec?: 'vp8' | 'h264';
  chunkFrames?: number;
  lookaheadFrames?: number;
  /** Inference worker threads shared by the rooms. Default 1. */
  inferenceWorkers?: number;
  onProgress?: (elapsedSeconds: number) => void;
}

export interface LiveBenchRoomReport {
  room: number;
  offsetMs: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; count: number };
  /** Compute time over generated audio time (< 1 is faster than real time). */
  realTimeFactor: number;
  chunks: { generated: number; skipped: number; late: number };
  /** Chunks per degradation level, by level name. */
  levels: Record<string, number>;
  levelChanges: number;
  /** Median latency of the last 10% of the run minus that of the first 10%, ms. */
  offsetDriftMs: number;
  packets: { sent: number; withFoley: number };
  ingest: { framesDecoded: number; keyframeRequests: number; framesDropped: number; decodeErrors: number };
}

export interface LiveBenchReport {
  bundle: string;
  clip: string;
  durationSeconds: number;
  inferenceWorkers: number;
  rooms: LiveBenchRoomReport[];
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))]!;
}

function median(values: number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/**
 * `foley bench --live`: the clip goes through the full server path — ffmpeg sends it as
 * RTP over loopback into a mediasoup producer, the attachment ingests, decodes,
 * generates and sends Opus into a server-side producer — and the pipeline's own
 * per-frame latency records (frame arrival → Opus packet) are summarized.
 */
export async function runLiveBench(options: LiveBenchOptions): Promise<LiveBenchReport> {
  const bundle = await loadBundle(options.bundleDir);
  const runner = await InferenceRunner.start(bundle, {
    models: LiveFoleyPipeline.models(bundle.manifest),
    workers: options.inferenceWorkers ?? 1,
  });
  const worker = await mediasoup.createWorker({ logLevel: 'warn', rtcMinPort: 40000, rtcMaxPort: 49999 });
  const sources: FfmpegRtpSource[] = [];
  const attachments: FoleyAttachment[] = [];
  try {
    for (let i = 0; i < options.rooms; i++) {
      const router = await worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
      const source = await FfmpegRtpSource.start({
        router,
        clip: options.clip,
        codec: options.codec ?? 'vp8',
      });
      sources.push(source);
      const attachment = await FoleyAttachment.create({
        router,
        producer: source.producer,
        runner,
        ...(options.latencyBudgetMs ? { latencyBudgetMs: options.latencyBudgetMs } : {}),
        ...(options.chunkFrames ? { chunkFrames: options.chunkFrames } : {}),
        ...(options.lookaheadFrames !== undefined ? { lookaheadFrames: options.lookaheadFrames } : {}),
      });
      attachments.push(attachment);
    }
    const startMs = performance.now();
    for (let s = 1; s <= options.durationSeconds; s++) {
      await new Promise((r) => setTimeout(r, Math.max(0, startMs + s * 1000 - performance.now())));
      options.onProgress?.(s);
    }
    return {
      bundle: bundle.manifest.name,
      clip: options.clip,
      durationSeconds: options.durationSeconds,
      inferenceWorkers: runner.workerCount,
      rooms: attachments.map((a, room) => {
        const s = a.pipeline.stats;
        const sorted = [...s.latenciesMs].sort((x, y) => x - y);
        const n = s.latenciesMs.length;
        const tenth = Math.max(1, Math.floor(n / 10));
        const levels: Record<string, number> = {};
        for (const level of a.pipeline.ladder) levels[level.name] = s.levelCounts[level.level] ?? 0;
        const ingest = a.ingestStats;
        return {
          room,
          offsetMs: a.offsetMs,
          latencyMs: {
            p50: quantile(sorted, 0.5),
            p95: quantile(sorted, 0.95),
            p99: quantile(sorted, 0.99),
            max: quantile(sorted, 1),
            count: n,
          },
          realTimeFactor: s.generatedAudioMs > 0 ? s.computeMs / s.generatedAudioMs : Number.NaN,
          chunks: { generated: s.chunksGenerated, skipped: s.chunksSkipped, late: s.chunksLate },
          levels,
          levelChanges: s.levelChanges.length,
          offsetDriftMs:
            n >= 20
              ? median(s.latenciesMs.slice(n - tenth)) - median(s.latenciesMs.slice(0, tenth))
              : Number.NaN,
          packets: { sent: s.packetsSent, withFoley: s.packetsGenerated },
          ingest: {
            framesDecoded: ingest.framesDecoded,
            keyframeRequests: ingest.keyframeRequests,
            framesDropped: ingest.framesDropped,
            decodeErrors: ingest.decodeErrors,
          },
        };
      }),
    };
  } finally {
    for (const a of attachments) a.close();
    for (const s of sources) s.close();
    worker.close();
    await runner.close();
  }
}

export function formatLiveBench(report: LiveBenchReport): string {
  const lines = [
    `live bench: bundle ${report.bundle}, clip ${report.clip}, ${report.durationSeconds} s, ${report.rooms.length} room(s), ${report.inferenceWorkers} inference worker(s)`,
  ];
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  for (const r of report.rooms) {
    lines.push(
      `room ${r.room}: offset ${r.offsetMs} ms; latency frame→Opus p50 ${f(r.latencyMs.p50)} p95 ${f(r.latencyMs.p95)} p99 ${f(r.latencyMs.p99)} max ${f(r.latencyMs.max)} ms (${r.latencyMs.count} frames)`,
      `  real-time factor ${r.realTimeFactor.toFixed(3)}; chunks generated ${r.chunks.generated}, skipped ${r.chunks.skipped}, late ${r.chunks.late}; level changes ${r.levelChanges}`,
      `  levels: ${Object.entries(r.levels)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      `  offset drift ${f(r.offsetDriftMs)} ms; packets ${r.packets.sent} (${r.packets.withFoley} with foley)`,
      `  ingest: ${r.ingest.framesDecoded} frames decoded, ${r.ingest.keyframeRequests} keyframe requests, ${r.ingest.framesDropped} dropped, ${r.ingest.decodeErrors} decode errors`,
    );
  }
  return lines.join('\n');
}
