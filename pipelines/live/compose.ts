/**
 * The live path as one RxJS composition:
 *
 *   frames ─ toSegments            25 fps grid, segments, clock anchor
 *          ─ per segment (switchMap: a new segment drops the old one's work)
 *              toVideoFeatures      sliding CAVP features (shared with render)
 *              generateLiveChunks   deadline, degradation ladder, FoleyGenerator (shared)
 *              liveCrossfade        temporal-merge crossfade (shared crossfadeMerge)
 *              upsampleTo48k
 *          ─ paceOpus               20 ms Opus packets on the scheduler's clock
 *
 * `liveAudio` is the part up to the 48 kHz audio (no pacing): renderLive runs it on files.
 */
import {
  map,
  merge,
  type Observable,
  type OperatorFunction,
  of,
  type SchedulerLike,
  share,
  switchMap,
} from 'rxjs';
import type { Logger } from '../../src/logger.js';
import type { OpusEncoder } from '../../src/media/opus-encoder.js';
import { featureRowDim } from '../../src/models/manifest.js';
import { type FrameFeatureEncoder, toVideoFeatures } from '../operators/video-features.js';
import { type LiveAudio, type LiveAudio48k, liveCrossfade, upsampleTo48k } from './chunk-audio.js';
import { generateLiveChunks, type LiveWindowSynthesizer } from './chunk-generation.js';
import { LevelCosts } from './DegradationLadder.js';
import type { InputFrame } from './FrameGrid.js';
import type { LevelGovernor } from './LevelGovernor.js';
import { type LivePacket, type PacerInput, paceOpus } from './pace-opus.js';
import { type LivePlan, RIGHT_GUARD_FRAMES } from './plan.js';
import type { SegmentTiming } from './SegmentTiming.js';
import { type FrameBridging, type LiveSegment, toSegments } from './segments.js';

/** A frame this much later than the anchor predicts starts a new segment, ms. */
const MAX_LAG_MS = 1000;
/** A media-time jump larger than this starts a new segment, ms. */
const MAX_JUMP_MS = 1000;
/** Room between bridging a chunk's missing frames and the latest start that keeps its level, ms. */
const BRIDGE_MARGIN_MS = 10;

export interface LiveParts {
  plan: LivePlan;
  offsetMs: number;
  encoder: FrameFeatureEncoder;
  synthesizer: LiveWindowSynthesizer;
  costs: LevelCosts;
  governor: LevelGovernor;
  scheduler: SchedulerLike;
  logger?: Logger;
  /** A grid slot was bridged with the last picture (its frame was lost or too late). */
  onFrameBridged?: () => void;
}

export type LiveEvent =
  | { case: 'segment'; value: number }
  | { case: 'audio'; value: LiveAudio }
  | { case: 'packet'; value: LivePacket }
  | { case: 'idle' };

/** One segment's frames -> its 48 kHz audio, with the segment announced first. */
function segmentAudio(parts: LiveParts): (segment: LiveSegment) => Observable<PacerInput> {
  const { plan, offsetMs } = parts;
  const m = plan.manifest;
  return ({ timing, frames }) =>
    merge(
      of<PacerInput>({ case: 'segment', value: timing }),
      frames.pipe(
        map((slot) => ({ index: slot.index, data: slot.rgb })),
        toVideoFeatures(parts.encoder, {
          chunkFrames: plan.chunkFrames,
          contextFrames: m.features.contextFrames,
          lookaheadFrames: plan.lookaheadFrames,
          aheadFeatures: { rightContextFrames: m.features.rightContextFrames },
          flushAtEnd: false,
          frameBytes: m.video.width * m.video.height * 3,
          dim: featureRowDim(m),
          runOptions: (startFrame) => ({
            deadlineMs: plan.deadlineMs(timing, startFrame / plan.chunkFrames, offsetMs),
          }),
        }),
        generateLiveChunks(parts.synthesizer, {
          chunkFrames: plan.chunkFrames,
          guardFrames: RIGHT_GUARD_FRAMES,
          timeMultiple: m.latent.timeMultiple,
          dim: featureRowDim(m),
          latentChannels: m.latent.channels,
          latentMelBins: m.latent.melBins,
          ladder: plan.ladder,
          costs: parts.costs,
          governor: parts.governor,
          deadlineMs: (chunk) => plan.deadlineMs(timing, chunk, offsetMs),
          scheduler: parts.scheduler,
          ...(parts.logger ? { logger: parts.logger } : {}),
          inexactFrames: Math.max(0, m.features.rightContextFrames - plan.lookaheadFrames),
        }),
        liveCrossfade({
          segment: timing.id,
          chunkFrames: plan.chunkFrames,
          samplesPerFrame: plan.samplesPerFrame16k,
          crossfadeSamples: plan.crossfadeSamples16k,
          join: plan.crossfadeJoin,
        }),
        upsampleTo48k(),
        map((value: LiveAudio48k): PacerInput => ({ case: 'audio', value })),
      ),
    );
}

/**
 * When slot `index` of a segment must be in: the latest start of the chunk that needs it (its
 * own frames and its look-ahead) that still leaves `computeMs()` (features and generation at
 * the governor's level) before the chunk's deadline; never before half a frame past the time the
 * chunk's last frame should arrive. Frames later than this are bridged; earlier ones are used.
 */
export function chunkStartDueMs(
  plan: LivePlan,
  offsetMs: number,
  computeMs: () => number,
): (timing: SegmentTiming, index: number) => number {
  const { chunkFrames, lookaheadFrames, frameMs } = plan;
  return (timing, index) => {
    const chunk = Math.max(0, Math.ceil((index + 1 - lookaheadFrames) / chunkFrames) - 1);
    const lastSlot = (chunk + 1) * chunkFrames + lookaheadFrames - 1;
    const lastSlotArrivalMs = timing.anchorMs + timing.originMediaMs + lastSlot * frameMs;
    const latestStartMs = plan.deadlineMs(timing, chunk, offsetMs) - computeMs() - BRIDGE_MARGIN_MS;
    return Math.max(lastSlotArrivalMs + frameMs / 2, latestStartMs);
  };
}

/** The encoder, timed on the scheduler's clock into `costs` (one level: the feature pass). */
function timedEncoder(
  encoder: FrameFeatureEncoder,
  scheduler: SchedulerLike,
  costs: LevelCosts,
): FrameFeatureEncoder {
  return {
    async encode(frames, frameCount, options) {
      const startedMs = scheduler.now();
      const features = await encoder.encode(frames, frameCount, options);
      costs.observe(0, scheduler.now() - startedMs);
      return features;
    },
  };
}

/**
 * Frames -> per-segment 48 kHz audio (and segment starts), without pacing. `bridgeOverdueFrames`:
 * frames arrive on the scheduler's clock (live), so a slot still missing when its chunk must
 * start is bridged (chunkStartDueMs); not for files.
 */
export function liveAudio(
  parts: LiveParts,
  { bridgeOverdueFrames = false }: { bridgeOverdueFrames?: boolean } = {},
): OperatorFunction<InputFrame, PacerInput> {
  const { plan } = parts;
  let bridging: FrameBridging | undefined;
  let encoder = parts.encoder;
  if (bridgeOverdueFrames) {
    const featureCosts = new LevelCosts(1);
    encoder = timedEncoder(parts.encoder, parts.scheduler, featureCosts);
    const onFrameBridged = parts.onFrameBridged;
    bridging = {
      scheduler: parts.scheduler,
      slotDueMs: chunkStartDueMs(
        plan,
        parts.offsetMs,
        () => featureCosts.estimate(0) + parts.costs.estimate(parts.governor.level.level),
      ),
      ...(onFrameBridged ? { onBridged: () => onFrameBridged() } : {}),
    };
  }
  return (frames) =>
    frames.pipe(
      toSegments({
        frameMs: plan.frameMs,
        stallMs: plan.stallMs,
        maxJumpMs: MAX_JUMP_MS,
        maxLagMs: MAX_LAG_MS,
        leadFrames: plan.chunkFrames + plan.lookaheadFrames,
        historyFrames: plan.historyFrames(parts.offsetMs),
        ...(bridging ? { bridging } : {}),
      }),
      switchMap(segmentAudio({ ...parts, encoder })),
    );
}

/** Frames -> the live events: each chunk's audio as generated, and the paced Opus packets. */
export function liveFoley(
  parts: LiveParts & { opusEncoder: OpusEncoder },
): OperatorFunction<InputFrame, LiveEvent> {
  const { plan } = parts;
  return (frames) => {
    const audio$ = frames.pipe(liveAudio(parts, { bridgeOverdueFrames: true }), share());
    const chunks$ = audio$.pipe(
      map(
        (item): LiveEvent =>
          item.case === 'segment'
            ? { case: 'segment', value: item.value.id }
            : { case: 'audio', value: item.value.audio },
      ),
    );
    const packets$ = audio$.pipe(
      paceOpus({
        scheduler: parts.scheduler,
        offsetMs: parts.offsetMs,
        frameMs: plan.frameMs,
        chunkFrames: plan.chunkFrames,
        stallMs: plan.stallMs,
        packetPhase48k: plan.packetPhase48k,
        encoder: parts.opusEncoder,
      }),
    );
    return merge(chunks$, packets$);
  };
}
