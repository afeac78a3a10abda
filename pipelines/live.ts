/**
 * The live pipeline as a facade for the apps: frames go in with `pushFrame`, events come out
 * (packet, audio, levelchange, idle, active, close), with running stats. The work is the RxJS
 * composition in live/compose.ts; this class only feeds it, counts and re-emits.
 */
import { type SchedulerLike, Subject, type Subscription } from 'rxjs';
import { FoleyGenerator, resolveGenerationSettings } from '../src/diffusion/foley-generator.js';
import { Logger } from '../src/logger.js';
import { OpusEncoder } from '../src/media/opus-encoder.js';
import type { InferenceRunner } from '../src/models/inference-runner.js';
import { CONTACT_DETECTOR_KEY, type Manifest, readsContactDetector } from '../src/models/manifest.js';
import { VideoEncoder } from '../src/models/video-encoder.js';
import { TypedEmitter } from '../src/typed-emitter.js';
import { calibrateLevels } from './live/calibrate.js';
import type { LiveAudio } from './live/chunk-audio.js';
import { performanceScheduler } from './live/clock.js';
import { type LiveEvent, liveFoley } from './live/compose.js';
import { LevelCosts, type QualityLevel } from './live/DegradationLadder.js';
import type { InputFrame } from './live/FrameGrid.js';
import { LevelGovernor } from './live/LevelGovernor.js';
import type { LivePacket } from './live/pace-opus.js';
import { LivePlan, type LivePlanOptions } from './live/plan.js';
import { type LiveStats, LiveStatsCounter } from './live/stats.js';

export type { LiveAudio } from './live/chunk-audio.js';
export { buildLadder, type QualityLevel } from './live/DegradationLadder.js';
export type { LivePacket } from './live/pace-opus.js';
export {
  CROSSFADE_JOINS,
  type CrossfadeJoin,
  LATENCY_PRESET_NAMES,
  LATENCY_PRESETS,
  type LatencyPreset,
  type LatencyPresetSettings,
  latencyPreset,
} from './live/plan.js';
export type { LiveStats } from './live/stats.js';

const logger = new Logger('live:LiveFoleyPipeline');

export interface LivePipelineOptions extends LivePlanOptions {
  runner: InferenceRunner;
  manifest: Manifest;
  /** Fix the offset instead of calibrating it (must fit the budget). */
  offsetMs?: number;
  /** Skip calibration (tests of the timing logic); costs start at 0. */
  skipCalibration?: boolean;
  /** Clock and timers (default: performance.now() and real timers); a TestScheduler in tests. */
  scheduler?: SchedulerLike;
}

export type LivePipelineEvents = {
  packet: [LivePacket];
  audio: [LiveAudio];
  /** The level chunks are made at changed (with a chunk's audio): the governor's level, or skip while chunks are skipped. */
  levelchange: [QualityLevel];
  idle: [];
  active: [];
  close: [];
};

export class LiveFoleyPipeline extends TypedEmitter<LivePipelineEvents> {
  readonly plan: LivePlan;
  readonly costs: LevelCosts;
  readonly governor: LevelGovernor;
  readonly stats: LiveStats;
  readonly #counter: LiveStatsCounter;
  readonly #frames = new Subject<InputFrame>();
  readonly #opus = new OpusEncoder();
  readonly #scheduler: SchedulerLike;
  #subscription: Subscription | null = null;
  #offsetMs = 0;
  #closed = false;
  #lastChunkSkipped = false;
  #reportedLevel: QualityLevel;

  private constructor(readonly options: LivePipelineOptions) {
    super();
    this.plan = new LivePlan(options.manifest, options, options.runner.models.includes('align_classifier'));
    this.costs = new LevelCosts(this.plan.ladder.length);
    this.#reportedLevel = this.plan.ladder[0]!;
    this.#scheduler = options.scheduler ?? performanceScheduler;
    this.#counter = new LiveStatsCounter(this.plan.ladder.length, this.#scheduler.now());
    this.stats = this.#counter.stats;
    this.governor = new LevelGovernor(this.plan.ladder, this.costs, {
      lateAllowanceMs: this.plan.lateAllowanceMs,
      logger,
      onChange: (level, nowMs) => this.#counter.countLevelChange(level.level, nowMs),
    });
  }

  /** Builds the pipeline, calibrates the levels' costs, fixes the offset and starts the pacer. */
  static async create(options: LivePipelineOptions): Promise<LiveFoleyPipeline> {
    const pipeline = new LiveFoleyPipeline(options);
    const { plan, costs } = pipeline;
    const encoder = new VideoEncoder(options.runner);
    const generator = new FoleyGenerator(
      options.runner,
      resolveGenerationSettings(options.manifest, { seed: plan.seed }),
    );
    const featureMs = options.skipCalibration
      ? 0
      : await calibrateLevels(plan, encoder, generator, costs, logger);
    pipeline.#offsetMs = plan.chooseOffset(costs, featureMs, options.offsetMs);
    pipeline.stats.offsetMs = pipeline.#offsetMs;
    pipeline.#subscription = pipeline.#frames
      .pipe(
        liveFoley({
          plan,
          offsetMs: pipeline.#offsetMs,
          encoder,
          synthesizer: generator,
          costs,
          governor: pipeline.governor,
          scheduler: pipeline.#scheduler,
          logger,
          opusEncoder: pipeline.#opus,
          onFrameBridged: () => pipeline.stats.framesBridged++,
        }),
      )
      .subscribe({
        next: (event) => pipeline.#onEvent(event),
        error: (error: Error) => {
          logger.error(`live pipeline failed: ${error.message}`);
          pipeline.close();
        },
      });
    return pipeline;
  }

  /** The fixed delay of the foley audio behind the video as it arrives at the server, ms. */
  get offsetMs(): number {
    return this.#offsetMs;
  }

  get ladder(): QualityLevel[] {
    return this.plan.ladder;
  }

  get frameMs(): number {
    return this.plan.frameMs;
  }

  get chunkFrames(): number {
    return this.plan.chunkFrames;
  }

  get lookaheadFrames(): number {
    return this.plan.lookaheadFrames;
  }

  get samplesPerFrame16k(): number {
    return this.plan.samplesPerFrame16k;
  }

  /** Frames the scheduler must wait for before and beyond a chunk, as latency, ms. */
  get structuralLatencyMs(): number {
    return this.plan.structuralLatencyMs;
  }

  /** The level chunks are made at: the governor's, or skip while chunks are being skipped. */
  get currentLevel(): QualityLevel {
    return this.#lastChunkSkipped ? this.plan.ladder[this.plan.ladder.length - 1]! : this.governor.level;
  }

  #updateLevel(): void {
    const level = this.currentLevel;
    if (level === this.#reportedLevel) return;
    this.#reportedLevel = level;
    this.safeEmit('levelchange', level);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Opus pre-skip of the encoder (for Ogg headers). */
  get opusPreSkip(): number {
    return this.#opus.preSkipSamples;
  }

  /** Where a video frame enters the pipeline. */
  pushFrame(frame: InputFrame): void {
    if (this.#closed) return;
    this.stats.framesIn++;
    if (this.stats.idle) {
      this.stats.idle = false;
      this.safeEmit('active');
    }
    this.#frames.next(frame);
  }

  #onEvent(event: LiveEvent): void {
    switch (event.case) {
      case 'segment':
        this.stats.segments++;
        break;
      case 'audio': {
        this.#counter.countChunk(event.value, this.plan.chunkFrames * this.plan.frameMs);
        this.#lastChunkSkipped = !this.plan.ladder[event.value.level]!.generate;
        this.#updateLevel();
        this.safeEmit('audio', event.value);
        break;
      }
      case 'packet':
        this.#counter.countPacket(event.value);
        this.safeEmit('packet', event.value);
        break;
      case 'idle':
        if (!this.stats.idle) {
          this.stats.idle = true;
          this.safeEmit('idle');
        }
        break;
    }
  }

  /** Idempotent. Stops the composition (pacer included); the shared runner stays open (its owner closes it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscription?.unsubscribe();
    this.#subscription = null;
    this.#frames.complete();
    this.#opus.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}

export namespace LiveFoleyPipeline {
  /** Model keys the live path opens in the inference worker. */
  export function models(manifest: Manifest): string[] {
    const keys = ['video_encoder', manifest.sampling.unet, 'latent_decoder', 'vocoder'];
    if (manifest.models.align_classifier) keys.push('align_classifier');
    if (readsContactDetector(manifest)) keys.push(CONTACT_DETECTOR_KEY);
    return keys;
  }
}
