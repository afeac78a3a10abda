import { loadavg } from 'node:os';
import * as mediasoup from 'mediasoup';
import { type CrossfadeJoin, type LatencyPreset, LiveFoleyPipeline } from '../../pipelines/live.js';
import { loadBundle } from '../models/bundle.js';
import {
  type BatchingOptions,
  DEFAULT_INFERENCE_WORKERS,
  InferenceRunner,
  type ModelRunStats,
  SAMPLING_JOB_KEY,
} from '../models/inference-runner.js';
import { FoleyAttachment } from '../sfu/FoleyAttachment.js';
import { FfmpegRtpSource } from './FfmpegRtpSource.js';
import { ROOM_MEDIA_CODECS } from './Room.js';

export interface LiveBenchOptions {
  bundleDir: string;
  clip: string;
  durationSeconds: number;
  rooms: number;
  /** The live pipeline's latency preset; the three options below override it. */
  latency?: LatencyPreset;
  latencyBudgetMs?: number;
  codec?: 'vp8' | 'h264';
  chunkFrames?: number;
  lookaheadFrames?: number;
  maxContextFrames?: number;
  crossfadeJoin?: CrossfadeJoin;
  crossfadeMs?: number;
  lateAllowanceMs?: number;
  /** Size the clip is published at, as a camera would send it (default 320 wide, the clip's aspect). */
  videoSize?: { width: number; height: number };
  /** The audio's fixed delay instead of each room's calibrated one. */
  offsetMs?: number;
  /** Inference worker threads shared by the rooms. Default: DEFAULT_INFERENCE_WORKERS. */
  inferenceWorkers?: number;
  /** Merging of runs across rooms; false: off. Default: the runner's. */
  batching?: Partial<BatchingOptions> | false;
  /** Intra-op threads per inference worker. Default: the runner's. */
  intraOpThreads?: number;
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
  ingest: {
    framesDecoded: number;
    keyframeRequests: number;
    framesDropped: number;
    decodeErrors: number;
    /** Wall time of decoding and scaling a frame, on average (libuv's pool, its waits included), ms. */
    decodeMsPerFrame: number;
    /** The video's size as decoded, WxH. */
    sourceSize: string;
  };
}

/** All rooms together. */
export interface LiveBenchSummary {
  latencyMs: { p50: number; p95: number; p99: number; max: number; count: number };
  chunks: {
    total: number;
    generated: number;
    skipped: number;
    late: number;
    /** Chunks made at the ladder's first level over all chunks due (generated + skipped). */
    fullQualityShare: number;
    skippedShare: number;
  };
  /**
   * Worker time per generated chunk, ms, by stage: features (video encoder), sampling
   * (UNet and classifier gradient), decodeVocode (latent decoder and vocoder); and the
   * mean time a run waited in the runner's queue, ms.
   */
  stagesMs: { features: number; sampling: number; decodeVocode: number; queueWaitPerRun: number };
  /** Video decoding and scaling per frame over all rooms, ms (wall time on libuv's pool). */
  videoDecodeMsPerFrame: number;
  /** Calls by the number of runs merged into them, all models: batchRuns → calls. */
  callsByBatchRuns: Record<number, number>;
  models: Record<string, ModelRunStats & { meanCallMs: number; meanQueuedMs: number }>;
}

export interface LiveBenchReport {
  bundle: string;
  clip: string;
  /** Size the clip was published at, WxH; null: 320 wide at the clip's aspect. */
  videoSize: string | null;
  durationSeconds: number;
  /** The pipeline's plan (the same in every room): preset, chunk, look-ahead, context, ms figures. */
  plan: {
    latency: LatencyPreset;
    chunkFrames: number;
    lookaheadFrames: number;
    maxContextFrames: number;
    crossfadeJoin: CrossfadeJoin;
    crossfadeMs: number;
    /** How late the cheapest level may be expected to be and still be made rather than skipped, ms. */
    lateAllowanceMs: number;
    /** Restarts per step at the full levels. */
    restarts: number;
    /** Classifier guidance γ at the full level (0: none). */
    cgScale: number;
    latencyBudgetMs: number;
    structuralLatencyMs: number;
  } | null;
  inferenceWorkers: number;
  intraOpThreads: number;
  /** The runner's batching, null when off. */
  batching: BatchingOptions | null;
  /** 1-minute load average at the start and the end (other processes share the cores). */
  loadAverage: { start: number; end: number };
  summary: LiveBenchSummary;
  rooms: LiveBenchRoomReport[];
}

const STAGE_OF_MODEL: Record<string, keyof LiveBenchSummary['stagesMs']> = {
  video_encoder: 'features',
  contact_detector: 'features',
  unet_student: 'sampling',
  unet_teacher: 'sampling',
  align_classifier: 'sampling',
  [SAMPLING_JOB_KEY]: 'sampling',
  latent_decoder: 'decodeVocode',
  vocoder: 'decodeVocode',
};

function latencySummary(values: number[]): LiveBenchSummary['latencyMs'] {
  const sorted = [...values].sort((x, y) => x - y);
  return {
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: quantile(sorted, 1),
    count: sorted.length,
  };
}

function summarize(
  rooms: LiveBenchRoomReport[],
  latencies: number[],
  statsByModel: ReadonlyMap<string, ModelRunStats>,
  fullLevelName: string,
): LiveBenchSummary {
  const generated = rooms.reduce((n, r) => n + r.chunks.generated, 0);
  const skipped = rooms.reduce((n, r) => n + r.chunks.skipped, 0);
  const late = rooms.reduce((n, r) => n + r.chunks.late, 0);
  const full = rooms.reduce((n, r) => n + (r.levels[fullLevelName] ?? 0), 0);
  const total = generated + skipped;
  const stagesMs = { features: 0, sampling: 0, decodeVocode: 0, queueWaitPerRun: 0 };
  const callsByBatchRuns: Record<number, number> = {};
  const models: LiveBenchSummary['models'] = {};
  let runs = 0;
  let queuedMs = 0;
  for (const [key, s] of statsByModel) {
    const stage = STAGE_OF_MODEL[key];
    if (stage && generated > 0) stagesMs[stage] += s.runMs / generated;
    // Queue time is per queued run: calls inside a sampling job never wait in the queue.
    runs += s.runs - s.runsInJobs;
    queuedMs += s.queuedMs;
    for (const [size, calls] of Object.entries(s.callsByBatchRuns))
      callsByBatchRuns[Number(size)] = (callsByBatchRuns[Number(size)] ?? 0) + calls;
    models[key] = {
      ...s,
      callsByBatchRuns: { ...s.callsByBatchRuns },
      meanCallMs: s.calls > 0 ? s.runMs / s.calls : Number.NaN,
      meanQueuedMs: s.runs > s.runsInJobs ? s.queuedMs / (s.runs - s.runsInJobs) : Number.NaN,
    };
  }
  stagesMs.queueWaitPerRun = runs > 0 ? queuedMs / runs : Number.NaN;
  // A room that decoded nothing has NaN per frame and adds nothing.
  const decoding = rooms.filter((r) => r.ingest.framesDecoded > 0);
  const framesDecoded = decoding.reduce((n, r) => n + r.ingest.framesDecoded, 0);
  const decodeMs = decoding.reduce((n, r) => n + r.ingest.decodeMsPerFrame * r.ingest.framesDecoded, 0);
  return {
    latencyMs: latencySummary(latencies),
    chunks: {
      total,
      generated,
      skipped,
      late,
      fullQualityShare: total > 0 ? full / total : Number.NaN,
      skippedShare: total > 0 ? skipped / total : Number.NaN,
    },
    stagesMs,
    videoDecodeMsPerFrame: framesDecoded > 0 ? decodeMs / framesDecoded : Number.NaN,
    callsByBatchRuns,
    models,
  };
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
    workers: options.inferenceWorkers ?? DEFAULT_INFERENCE_WORKERS,
    ...(options.batching !== undefined ? { batching: options.batching } : {}),
    ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
  });
  const loadAtStart = loadavg()[0]!;
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
        ...(options.videoSize ? { width: options.videoSize.width, height: options.videoSize.height } : {}),
      });
      sources.push(source);
      const attachment = await FoleyAttachment.create({
        router,
        producer: source.producer,
        runner,
        ...(options.latency ? { latency: options.latency } : {}),
        ...(options.latencyBudgetMs ? { latencyBudgetMs: options.latencyBudgetMs } : {}),
        ...(options.chunkFrames ? { chunkFrames: options.chunkFrames } : {}),
        ...(options.lookaheadFrames !== undefined ? { lookaheadFrames: options.lookaheadFrames } : {}),
        ...(options.maxContextFrames !== undefined ? { maxContextFrames: options.maxContextFrames } : {}),
        ...(options.crossfadeJoin ? { crossfadeJoin: options.crossfadeJoin } : {}),
        ...(options.crossfadeMs !== undefined ? { crossfadeMs: options.crossfadeMs } : {}),
        ...(options.lateAllowanceMs !== undefined ? { lateAllowanceMs: options.lateAllowanceMs } : {}),
        ...(options.offsetMs !== undefined ? { offsetMs: options.offsetMs } : {}),
      });
      attachments.push(attachment);
    }
    runner.resetTimings();
    const startMs = performance.now();
    for (let s = 1; s <= options.durationSeconds; s++) {
      await new Promise((r) => setTimeout(r, Math.max(0, startMs + s * 1000 - performance.now())));
      options.onProgress?.(s);
    }
    const rooms = attachments.map((a, room): LiveBenchRoomReport => {
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
          decodeMsPerFrame: ingest.framesDecoded > 0 ? ingest.decodeMs / ingest.framesDecoded : Number.NaN,
          sourceSize: `${ingest.sourceWidth}x${ingest.sourceHeight}`,
        },
      };
    });
    const latencies = attachments.flatMap((a) => a.pipeline.stats.latenciesMs);
    const fullLevelName = attachments[0]?.pipeline.ladder[0]?.name ?? 'full';
    const plan = attachments[0]?.pipeline.plan;
    return {
      bundle: bundle.manifest.name,
      clip: options.clip,
      videoSize: options.videoSize ? `${options.videoSize.width}x${options.videoSize.height}` : null,
      durationSeconds: options.durationSeconds,
      plan: plan
        ? {
            latency: plan.latency,
            chunkFrames: plan.chunkFrames,
            lookaheadFrames: plan.lookaheadFrames,
            maxContextFrames: plan.ladder[0]!.contextFrames,
            crossfadeJoin: plan.crossfadeJoin,
            crossfadeMs: plan.crossfadeMs,
            lateAllowanceMs: plan.lateAllowanceMs,
            restarts: plan.ladder[0]!.restarts,
            cgScale: plan.ladder[0]!.cgScale,
            latencyBudgetMs: plan.latencyBudgetMs,
            structuralLatencyMs: plan.structuralLatencyMs,
          }
        : null,
      inferenceWorkers: runner.workerCount,
      intraOpThreads: runner.settings.intraOpThreads,
      batching: runner.batching,
      loadAverage: { start: loadAtStart, end: loadavg()[0]! },
      summary: summarize(rooms, latencies, runner.statsByModel, fullLevelName),
      rooms,
    };
  } finally {
    for (const a of attachments) a.close();
    for (const s of sources) s.close();
    worker.close();
    await runner.close();
  }
}

export function formatLiveBench(report: LiveBenchReport): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'n/a');
  const b = report.batching;
  const s = report.summary;
  const lines = [
    `live bench: bundle ${report.bundle}, clip ${report.clip}${report.videoSize ? ` at ${report.videoSize}` : ''}, ${report.durationSeconds} s, ${report.rooms.length} room(s), ${report.inferenceWorkers} inference worker(s) x ${report.intraOpThreads} intra-op thread(s)`,
    ...(report.plan
      ? [
          `  latency preset ${report.plan.latency}: chunks of ${report.plan.chunkFrames} frames, look-ahead ${report.plan.lookaheadFrames}, context ${report.plan.maxContextFrames}, ${report.plan.crossfadeJoin} ${report.plan.crossfadeMs} ms crossfades, classifier guidance ${report.plan.cgScale > 0 ? `γ ${report.plan.cgScale}` : 'off'}; structural latency ${report.plan.structuralLatencyMs.toFixed(0)} ms, budget ${report.plan.latencyBudgetMs} ms`,
        ]
      : []),
    `  batching ${b ? `up to ${b.maxRuns} runs, deadline window ${b.deadlineWindowMs} ms, gather ${b.gatherDelayMs} ms` : 'off'}; load average ${report.loadAverage.start.toFixed(2)} at start, ${report.loadAverage.end.toFixed(2)} at end`,
    `all rooms: latency frame→Opus p50 ${f(s.latencyMs.p50)} p95 ${f(s.latencyMs.p95)} p99 ${f(s.latencyMs.p99)} max ${f(s.latencyMs.max)} ms (${s.latencyMs.count} frames)`,
    `  chunks ${s.chunks.total}: ${pct(s.chunks.fullQualityShare)} at full quality, ${s.chunks.skipped} skipped (${pct(s.chunks.skippedShare)}), ${s.chunks.late} late`,
    `  worker ms per generated chunk: features ${f(s.stagesMs.features)}, sampling ${f(s.stagesMs.sampling)}, decode+vocode ${f(s.stagesMs.decodeVocode)}; queue wait ${f(s.stagesMs.queueWaitPerRun)} ms per run`,
    `  video decoding and scaling: ${f(s.videoDecodeMsPerFrame)} ms a frame (libuv's pool)`,
    `  calls by runs merged: ${
      Object.entries(s.callsByBatchRuns)
        .map(([size, calls]) => `${size}: ${calls}`)
        .join(', ') || 'none'
    }`,
  ];
  for (const [key, m] of Object.entries(s.models)) {
    lines.push(
      `  ${key}: ${m.calls} calls for ${m.runs} runs, ${f(m.meanCallMs)} ms per call, ${f(m.meanQueuedMs)} ms queued per run`,
    );
  }
  for (const r of report.rooms) {
    lines.push(
      `room ${r.room}: offset ${r.offsetMs} ms; latency frame→Opus p50 ${f(r.latencyMs.p50)} p95 ${f(r.latencyMs.p95)} p99 ${f(r.latencyMs.p99)} max ${f(r.latencyMs.max)} ms (${r.latencyMs.count} frames)`,
      `  real-time factor ${r.realTimeFactor.toFixed(3)}; chunks generated ${r.chunks.generated}, skipped ${r.chunks.skipped}, late ${r.chunks.late}; level changes ${r.levelChanges}`,
      `  levels: ${Object.entries(r.levels)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      `  offset drift ${f(r.offsetDriftMs)} ms; packets ${r.packets.sent} (${r.packets.withFoley} with foley)`,
      `  ingest: ${r.ingest.framesDecoded} frames decoded, ${r.ingest.keyframeRequests} keyframe requests, ${r.ingest.framesDropped} dropped, ${r.ingest.decodeErrors} decode errors; ${r.ingest.sourceSize}, ${f(r.ingest.decodeMsPerFrame)} ms a frame decoding`,
    );
  }
  return lines.join('\n');
}
