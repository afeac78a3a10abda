import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { LiveAudio, LivePacket } from '../../pipelines/live.js';
import type { FoleyAttachment } from '../sfu/FoleyAttachment.js';

/** What the gauges read at each scrape. */
export interface ServerMetricsSource {
  roomCount(): number;
  /** Open connections per role (a WHIP session counts as a publisher). */
  peerCounts(): Record<'publish' | 'view' | 'listen', number>;
  whipSessionCount(): number;
  inferenceQueueLength(): number;
}

export interface ServerMetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC) of prom-client. Default true. */
  processMetrics?: boolean;
}

/** Frame arrival to Opus packet, seconds: the budget is 0.4 by default. */
const LATENCY_BUCKETS_SECONDS = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.75, 1, 2];

/**
 * The server's Prometheus metrics in a registry of its own (two servers in one process
 * do not share series). Gauges are read from the server when scraped; counters and the
 * latency histogram are fed by the attachments' events.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly frameToOpusLatency: Histogram;
  readonly chunks: Counter<'level'>;
  readonly chunksSkipped: Counter;
  readonly chunksLate: Counter;
  readonly connectionsRefused: Counter<'reason'>;

  constructor(source: ServerMetricsSource, options: ServerMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'foley_rooms',
      help: 'Rooms open.',
      registers,
      collect() {
        this.set(source.roomCount());
      },
    });
    new Gauge({
      name: 'foley_peers',
      help: 'Open connections by role (publish includes WHIP sessions, listen the OBS pages).',
      labelNames: ['role'],
      registers,
      collect() {
        for (const [role, count] of Object.entries(source.peerCounts())) this.set({ role }, count);
      },
    });
    new Gauge({
      name: 'foley_whip_sessions',
      help: 'WHIP publishers connected.',
      registers,
      collect() {
        this.set(source.whipSessionCount());
      },
    });
    new Gauge({
      name: 'foley_inference_queue_length',
      help: 'Inference runs waiting for a worker thread.',
      registers,
      collect() {
        this.set(source.inferenceQueueLength());
      },
    });
    this.frameToOpusLatency = new Histogram({
      name: 'foley_frame_to_opus_latency_seconds',
      help: "Time from a video frame's arrival to the Opus packet that carries its sound.",
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    this.chunks = new Counter({
      name: 'foley_chunks_total',
      help: 'Audio chunks by quality level (the last level is a skipped chunk).',
      labelNames: ['level'],
      registers,
    });
    this.chunksSkipped = new Counter({
      name: 'foley_chunks_skipped_total',
      help: 'Chunks skipped (played as silence) because inference was behind.',
      registers,
    });
    this.chunksLate = new Counter({
      name: 'foley_chunks_late_total',
      help: 'Generated chunks that finished after their deadline.',
      registers,
    });
    this.connectionsRefused = new Counter({
      name: 'foley_connections_refused_total',
      help: 'Connections refused, by reason.',
      labelNames: ['reason'],
      registers,
    });
  }

  /** Counts an attachment's chunks and packets until it closes. */
  observeAttachment(attachment: FoleyAttachment): void {
    const ladder = attachment.pipeline.ladder;
    const onPacket = (packet: LivePacket) => {
      for (const latencyMs of packet.frameLatenciesMs) this.frameToOpusLatency.observe(latencyMs / 1000);
    };
    const onAudio = (audio: LiveAudio) => {
      this.chunks.inc({ level: ladder[audio.level]?.name ?? String(audio.level) });
      if (!audio.generated) this.chunksSkipped.inc();
      else if (audio.late) this.chunksLate.inc();
    };
    attachment.on('packet', onPacket);
    attachment.pipeline.on('audio', onAudio);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
