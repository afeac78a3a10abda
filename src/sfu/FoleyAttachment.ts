import type { types as ms } from 'mediasoup';
import {
  LiveFoleyPipeline,
  type LivePacket,
  type LivePipelineOptions,
  type QualityLevel,
} from '../../pipelines/live.js';
import { Logger } from '../logger.js';
import { defaultBundleDir, loadBundle } from '../models/bundle.js';
import { InferenceRunner } from '../models/inference-runner.js';
import { TypedEmitter } from '../typed-emitter.js';
import { OpusAudioProducer } from './OpusAudioProducer.js';
import { RtpVideoIngest, type RtpVideoIngestStats } from './RtpVideoIngest.js';

const logger = new Logger('sfu:FoleyAttachment');

export type FoleyAttachmentEvents = {
  /** Every 20 ms Opus packet, also sent into the audio producer (for Ogg fan-out). */
  packet: [LivePacket];
  levelchange: [QualityLevel];
  /** The video stalled or left; audio continues as silence. */
  idle: [];
  active: [];
  resolutionchange: [{ width: number; height: number }];
  close: [];
};

export interface AttachFoleyOptions extends Partial<Omit<LivePipelineOptions, 'runner' | 'manifest'>> {
  /** The user's router (must have audio/opus in its mediaCodecs). */
  router: ms.Router;
  /** A video producer on that router (VP8 or H.264). */
  producer: ms.Producer;
  /** A started InferenceRunner to share between attachments; else one is started from `bundleDir`. */
  runner?: InferenceRunner;
  /** Bundle folder when no runner is given. Default: the package's own models/default. */
  bundleDir?: string;
  /** Local address for the internal PlainTransports. Default 127.0.0.1. */
  listenIp?: string;
  appData?: Record<string, unknown>;
}

/**
 * Foley attached to one video producer: ingest → live pipeline → Opus producer on
 * the same router. Closing the attachment closes all three; closing the video
 * producer closes the attachment.
 */
export class FoleyAttachment extends TypedEmitter<FoleyAttachmentEvents> {
  #closed = false;
  /** On the shared runner: removed on close, or every closed attachment stays referenced. */
  readonly #onRunnerDied = (error: Error): void => {
    logger.error(`inference worker died: ${error.message}`);
    this.close();
  };

  private constructor(
    readonly ingest: RtpVideoIngest,
    readonly pipeline: LiveFoleyPipeline,
    readonly output: OpusAudioProducer,
    readonly runner: InferenceRunner,
    readonly ownsRunner: boolean,
  ) {
    super();
    ingest.on('frame', (frame) => pipeline.pushFrame(frame));
    ingest.on('resolutionchange', (size) => this.safeEmit('resolutionchange', size));
    ingest.on('close', () => this.close());
    pipeline.on('packet', (packet) => {
      output.send(packet);
      this.safeEmit('packet', packet);
    });
    pipeline.on('levelchange', (level) => this.safeEmit('levelchange', level));
    pipeline.on('idle', () => this.safeEmit('idle'));
    pipeline.on('active', () => this.safeEmit('active'));
    output.on('close', () => this.close());
    runner.on('died', this.#onRunnerDied);
  }

  /** The server-side audio producer carrying the foley track. */
  get audioProducer(): ms.Producer {
    return this.output.producer;
  }

  /** Fixed delay of the foley behind the video as it reaches the server, ms. */
  get offsetMs(): number {
    return this.pipeline.offsetMs;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get ingestStats(): RtpVideoIngestStats {
    return this.ingest.stats;
  }

  static async create(options: AttachFoleyOptions): Promise<FoleyAttachment> {
    const {
      router,
      producer,
      listenIp,
      appData,
      runner: givenRunner,
      bundleDir,
      ...pipelineOptions
    } = options;
    let runner = givenRunner;
    let ownsRunner = false;
    if (!runner) {
      const bundle = await loadBundle(bundleDir ?? defaultBundleDir());
      runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
      ownsRunner = true;
    }
    const manifest = runner.bundle.manifest;
    let ingest: RtpVideoIngest | undefined;
    let pipeline: LiveFoleyPipeline | undefined;
    try {
      ingest = await RtpVideoIngest.create({
        router,
        producer,
        outWidth: manifest.video.width,
        outHeight: manifest.video.height,
        ...(listenIp ? { listenIp } : {}),
      });
      pipeline = await LiveFoleyPipeline.create({ ...pipelineOptions, runner, manifest });
      const output = await OpusAudioProducer.create({
        router,
        ...(listenIp ? { listenIp } : {}),
        appData: { videoProducerId: producer.id, offsetMs: pipeline.offsetMs, ...appData },
      });
      return new FoleyAttachment(ingest, pipeline, output, runner, ownsRunner);
    } catch (error) {
      ingest?.close();
      pipeline?.close();
      if (ownsRunner) await runner.close();
      throw error;
    }
  }

  /** Idempotent: stops ingest, pipeline and audio producer (and the runner if it owns it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.runner.off('died', this.#onRunnerDied);
    this.ingest.close();
    this.pipeline.close();
    this.output.close();
    if (this.ownsRunner) void this.runner.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}

/**
 * Attaches foley to a video producer of your router and returns the attachment:
 * `attachment.audioProducer` is the foley track (consume it like any producer),
 * `attachment.offsetMs` the fixed audio delay, `attachment.close()` stops it.
 */
export function attachFoley(options: AttachFoleyOptions): Promise<FoleyAttachment> {
  return FoleyAttachment.create(options);
}
