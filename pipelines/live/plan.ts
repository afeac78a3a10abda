/**
 * The live path's fixed numbers, derived once from the options and the bundle: frame and
 * chunk sizes, the quality ladder, the structural latency and the offset.
 *
 * Timing model. A frame with media time T arrives at wall time ≈ T + a (a: the segment's
 * anchor). The packet that carries the sound of media time T is sent at T + a + offsetMs,
 * where offsetMs is fixed for the session and stated to the streamer (OBS sync offset):
 *
 *   offsetMs = (chunkFrames − 1 + lookaheadFrames) · frameMs   waiting for the chunk's frames
 *            + holdbackMs + alignmentMs + jitterMs              merge and packetization
 *            (holdbackMs: crossfadeMs when joins are held, 0 when they fade over the guard;
 *            alignmentMs: the upsampler's delay, 0.5 ms, as packets start where chunks'
 *            audio does: pace-opus.ts)
 *            + compute allowance                                 calibrated at start, capped by the budget
 */
import { UsageError } from '../../src/errors.js';
import { OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE } from '../../src/media/opus-encoder.js';
import type { Manifest } from '../../src/models/manifest.js';
import { buildLadder, type LevelCosts, type QualityLevel } from './DegradationLadder.js';
import { PACKET_GRID_SLACK_MS, PACKET_MS } from './pace-opus.js';
import type { SegmentTiming } from './SegmentTiming.js';
import { Upsampler3x } from './Upsampler3x.js';

/** Room for event-loop and scheduling jitter in the offset, ms. */
const JITTER_MS = 15;
/**
 * Room in the compute allowance for chunks slower than the warm calibration (a collection
 * pause, the other thread's work), ms; without it a third of balanced chunks ran below the
 * full level (docs/experiments.md section 31).
 */
const COMPUTE_JITTER_MS = 20;
/** How far inside the latency budget the offset stays, ms. */
const LATENCY_MARGIN_MS = 5;
/** Latent frames generated past a chunk's end and thrown away (live/ChunkWindow.ts). */
export const RIGHT_GUARD_FRAMES = 2;

/** Named trade-offs between the audio's delay behind the video and its onset accuracy. */
export const LATENCY_PRESET_NAMES = ['low', 'balanced'] as const;
export type LatencyPreset = (typeof LATENCY_PRESET_NAMES)[number];

/**
 * Where two chunks' audio meets. held: over chunk n's last crossfadeMs, held back until chunk n+1
 * regenerates them from the same latents (a seamless join, crossfadeMs more latency). guard: over
 * chunk n+1's first crossfadeMs, against chunk n's guard frames (generated past its end, then
 * thrown away); nothing is held back.
 */
export const CROSSFADE_JOINS = ['held', 'guard'] as const;
export type CrossfadeJoin = (typeof CROSSFADE_JOINS)[number];

/** What a latency preset sets; an option given explicitly overrides it. */
export interface LatencyPresetSettings {
  latencyBudgetMs: number;
  chunkFrames: number;
  /** Absent: the bundle's features.rightContextFrames + 1 (every chunk's features exact, plus a look-ahead one). */
  lookaheadFrames?: number;
  maxContextFrames: number;
  /** Absent: held. */
  crossfadeJoin?: CrossfadeJoin;
  /** Absent: 20. */
  crossfadeMs?: number;
  /** The full levels' restarts at most (absent: the bundle's sampling.restarts). */
  maxRestarts?: number;
  /** How late a chunk may be expected to finish and still be made (LivePlanOptions.lateAllowanceMs), ms. */
  lateAllowanceMs: number;
}

/**
 * balanced: 4-frame chunks that wait for the video encoder's whole context.
 * low: 2-frame chunks that wait for one frame past their end (a chunk's last frame is seen
 * with what follows it, most of the gain of the whole look-ahead), 5 ms crossfades (held joins
 * re-decode the same latents, so a short fade is enough) and one restart per step, so a full-
 * level chunk fits in the 150 ms budget on two cores. Late chunks: half a balanced chunk is
 * made late rather than skipped; the low preset skips, since under a heavy overload (8 rooms of
 * it on 2 cores) late chunks delayed the rooms' next ones and fewer packets carried foley
 * (docs/experiments.md, section 36).
 */
export const LATENCY_PRESETS: Readonly<Record<LatencyPreset, Readonly<LatencyPresetSettings>>> =
  Object.freeze({
    balanced: Object.freeze({
      latencyBudgetMs: 400,
      chunkFrames: 4,
      maxContextFrames: 12,
      lateAllowanceMs: 80,
    }),
    low: Object.freeze({
      latencyBudgetMs: 150,
      chunkFrames: 2,
      lookaheadFrames: 1,
      maxContextFrames: 12,
      crossfadeMs: 5,
      maxRestarts: 1,
      lateAllowanceMs: 0,
    }),
  });

/** The preset named `name`, or a UsageError naming it and the valid ones. */
export function latencyPreset(name: string): Readonly<LatencyPresetSettings> {
  if (!(LATENCY_PRESET_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(
      `[live] unknown latency preset "${name}"; expected one of ${LATENCY_PRESET_NAMES.join(', ')}`,
    );
  }
  return LATENCY_PRESETS[name as LatencyPreset];
}

export interface LivePlanOptions {
  /** Defaults for the budget, chunk, look-ahead and context below (LATENCY_PRESETS). Default balanced. */
  latency?: LatencyPreset;
  /** Upper bound on frame-arrival → Opus-packet latency, ms. Default: the preset's (balanced 400). */
  latencyBudgetMs?: number;
  /** New latent frames per chunk. Default: the preset's (balanced 4 = 160 ms). */
  chunkFrames?: number;
  /** Frames waited for past a chunk so the video encoder sees its right context. Default: the preset's (balanced: manifest contextFrames). */
  lookaheadFrames?: number;
  /** Already generated frames given as context at the full levels, at least (the window's padding adds to it: live/ChunkWindow.ts). Default: the preset's (12). */
  maxContextFrames?: number;
  /** Context at the short-window level. Default 8 (4 cost as much and lost 0.06 onset F1). */
  minContextFrames?: number;
  /** Default: the preset's (20). */
  crossfadeMs?: number;
  /** Where chunks' audio is crossfaded (CROSSFADE_JOINS). Default: the preset's (held). */
  crossfadeJoin?: CrossfadeJoin;
  /** The full levels' restarts at most. Default: the preset's (none: the bundle's). */
  maxRestarts?: number;
  /**
   * How late a chunk may be expected to finish at the cheapest level and still be made rather
   * than skipped, ms: its audio plays from where it lands, faded in, where a skipped chunk plays
   * none. Default: the preset's (balanced 80, low 0). 0: skip every chunk no level makes in time.
   */
  lateAllowanceMs?: number;
  /** No frame for this long: the pipeline goes idle until frames come back. Default 600. */
  stallMs?: number;
  seed?: number;
}

export class LivePlan {
  readonly latency: LatencyPreset;
  readonly frameMs: number;
  readonly samplesPerFrame16k: number;
  readonly chunkFrames: number;
  readonly lookaheadFrames: number;
  readonly crossfadeSamples16k: number;
  readonly crossfadeJoin: CrossfadeJoin;
  readonly latencyBudgetMs: number;
  readonly lateAllowanceMs: number;
  readonly stallMs: number;
  readonly seed: number;
  readonly ladder: QualityLevel[];
  /** The budget is the preset's, not given: a budget error names the preset. */
  readonly #budgetFromPreset: boolean;

  /** `hasClassifier`: the runner opened align_classifier (else the full level runs without it). */
  constructor(
    readonly manifest: Manifest,
    options: LivePlanOptions,
    hasClassifier: boolean,
  ) {
    const m = manifest;
    const preset = latencyPreset(options.latency ?? 'balanced');
    this.latency = options.latency ?? 'balanced';
    this.frameMs = 1000 / m.video.fps;
    this.samplesPerFrame16k = m.latent.melFramesPerLatentFrame * m.audio.hopSamples;
    this.chunkFrames = options.chunkFrames ?? preset.chunkFrames;
    // Every chunk's features exact, plus one exact look-ahead feature: the encoder's reach ahead + 1.
    this.lookaheadFrames =
      options.lookaheadFrames ??
      preset.lookaheadFrames ??
      Math.min(m.features.contextFrames, m.features.rightContextFrames + 1);
    this.crossfadeSamples16k = Math.round(
      ((options.crossfadeMs ?? preset.crossfadeMs ?? 20) * m.audio.sampleRate) / 1000,
    );
    this.crossfadeJoin = options.crossfadeJoin ?? preset.crossfadeJoin ?? 'held';
    if (!(CROSSFADE_JOINS as readonly string[]).includes(this.crossfadeJoin)) {
      throw new UsageError(
        `[live] unknown crossfade join "${this.crossfadeJoin}"; expected one of ${CROSSFADE_JOINS.join(', ')}`,
      );
    }
    if (
      this.crossfadeJoin === 'guard' &&
      this.crossfadeSamples16k > RIGHT_GUARD_FRAMES * this.samplesPerFrame16k
    ) {
      throw new UsageError(
        `[live] a crossfade over the guard frames must fit in them (${RIGHT_GUARD_FRAMES} frames); crossfadeMs is ${this.crossfadeMs}`,
      );
    }
    this.latencyBudgetMs = options.latencyBudgetMs ?? preset.latencyBudgetMs;
    this.#budgetFromPreset = options.latencyBudgetMs === undefined;
    this.stallMs = options.stallMs ?? 600;
    this.seed = options.seed ?? 1234;
    if (m.audio.sampleRate * 3 !== OPUS_SAMPLE_RATE) {
      throw new UsageError(
        `[live] the bundle's audio is ${m.audio.sampleRate} Hz; the live path upsamples 16000 Hz ×3 to 48 kHz`,
      );
    }
    if (this.chunkFrames < 1 || !Number.isInteger(this.chunkFrames)) {
      throw new UsageError(`[live] chunkFrames must be a positive integer, got ${this.chunkFrames}`);
    }
    if (this.lookaheadFrames < 0 || !Number.isInteger(this.lookaheadFrames)) {
      throw new UsageError(`[live] lookaheadFrames must be an integer >= 0, got ${this.lookaheadFrames}`);
    }
    this.lateAllowanceMs = options.lateAllowanceMs ?? preset.lateAllowanceMs;
    if (!(this.lateAllowanceMs >= 0) || !Number.isFinite(this.lateAllowanceMs)) {
      throw new UsageError(`[live] lateAllowanceMs must be a number >= 0, got ${options.lateAllowanceMs}`);
    }
    const maxContext = options.maxContextFrames ?? preset.maxContextFrames;
    const minContext = Math.min(options.minContextFrames ?? 8, maxContext);
    if (minContext * this.samplesPerFrame16k < this.crossfadeSamples16k && minContext > 0) {
      throw new UsageError('[live] minContextFrames must cover the crossfade');
    }
    const maxRestarts = options.maxRestarts ?? preset.maxRestarts ?? Number.POSITIVE_INFINITY;
    this.ladder = buildLadder({
      steps: m.sampling.steps,
      restarts: Math.min(m.sampling.restarts, maxRestarts),
      cfgScale: m.sampling.cfgScale,
      cgScale: hasClassifier ? m.sampling.cgScale : 0,
      maxContextFrames: maxContext,
      minContextFrames: minContext,
    });
  }

  get crossfadeMs(): number {
    return (this.crossfadeSamples16k * 1000) / this.manifest.audio.sampleRate;
  }

  /** Audio a chunk keeps back for the next one's crossfade, ms. */
  get holdbackMs(): number {
    return this.crossfadeJoin === 'held' ? this.crossfadeMs : 0;
  }

  /**
   * Where a segment's Opus packets start (48 kHz samples modulo a packet): where each chunk's
   * audio starts in the timeline, so a chunk is due with its own first packet.
   */
  get packetPhase48k(): number {
    const holdback16k = this.crossfadeJoin === 'held' ? this.crossfadeSamples16k : 0;
    const first = -3 * holdback16k - Upsampler3x.delaySamples48k;
    return ((first % OPUS_FRAME_SAMPLES) + OPUS_FRAME_SAMPLES) % OPUS_FRAME_SAMPLES;
  }

  /**
   * How much earlier than its first sample's media time (+ offset) a chunk is due, ms: the
   * upsampler's delay when every chunk starts on the packet grid, else a whole packet (the
   * packet carrying its first sample may start up to a packet before it).
   */
  get #alignmentMs(): number {
    const chunk48k = 3 * this.chunkFrames * this.samplesPerFrame16k;
    if (chunk48k % OPUS_FRAME_SAMPLES !== 0) return PACKET_MS;
    return (Upsampler3x.delaySamples48k * 1000) / OPUS_SAMPLE_RATE + PACKET_GRID_SLACK_MS;
  }

  /** Frames the scheduler must wait for before and beyond a chunk, as latency, ms. */
  get structuralLatencyMs(): number {
    return (
      (this.chunkFrames - 1 + this.lookaheadFrames) * this.frameMs +
      this.holdbackMs +
      this.#alignmentMs +
      JITTER_MS
    );
  }

  /** Throws a UsageError when the latency budget leaves no compute time after the structural latency. */
  checkBudget(): void {
    const structural = this.structuralLatencyMs;
    if (this.latencyBudgetMs >= structural + 10) return;
    const budget = this.#budgetFromPreset
      ? `the ${this.latency} latency preset's budget of ${this.latencyBudgetMs} ms`
      : `latency budget ${this.latencyBudgetMs} ms`;
    throw new UsageError(
      `[live] ${budget} leaves no compute time: chunks of ${this.chunkFrames} frames + look-ahead ${this.lookaheadFrames} + crossfade + jitter margin take ${Math.ceil(structural)} ms. ` +
        'Raise --latency-budget or lower --chunk-frames / --lookahead-frames',
    );
  }

  /**
   * The fixed offset: `fixedMs` if given (checked), else structural + 1.3 × a chunk's cost at
   * the full level (features + generation, warm) + COMPUTE_JITTER_MS, within the budget.
   */
  chooseOffset(costs: LevelCosts, featureMs: number, fixedMs?: number): number {
    const structural = this.structuralLatencyMs;
    if (fixedMs !== undefined) {
      this.checkFixedOffset(fixedMs);
      return fixedMs;
    }
    this.checkBudget();
    // Measured latencies run a few ms past the offset, so it stays LATENCY_MARGIN_MS inside the budget.
    const cap = Math.max(structural + 10, this.latencyBudgetMs - LATENCY_MARGIN_MS);
    return Math.round(Math.min(cap, structural + 1.3 * (featureMs + costs.estimate(0)) + COMPUTE_JITTER_MS));
  }

  /** Refuses a fixed offset that cannot hold a chunk's frames, look-ahead and crossfade. */
  checkFixedOffset(fixedMs: number): void {
    const structural = this.structuralLatencyMs;
    if (!(fixedMs >= structural)) {
      throw new UsageError(
        `[live] offset ${fixedMs} ms is below the structural minimum ${Math.ceil(structural)} ms (chunk, look-ahead, crossfade, jitter margin)`,
      );
    }
  }

  /** Wall time by which chunk n's first emitted sample must be in the timeline. */
  deadlineMs(timing: SegmentTiming, chunk: number, offsetMs: number): number {
    const firstMediaMs = chunk * this.chunkFrames * this.frameMs - this.holdbackMs;
    return timing.anchorMs + timing.originMediaMs + firstMediaMs + offsetMs - this.#alignmentMs;
  }

  /** Arrival-history slots a segment keeps: the frames the pacer reads behind the newest, with room. */
  historyFrames(offsetMs: number): number {
    return Math.ceil(offsetMs / this.frameMs) + 2 * (this.chunkFrames + this.lookaheadFrames) + 16;
  }
}
