/**
 * RxJS operator: input frames -> live segments, each with its own frame grid stream.
 *
 * Frames are resampled onto the model's grid (FrameGrid). A stall, a jump or a backward
 * step in media time starts a new segment, and so does a source that fell far behind its
 * own clock (it re-anchors instead of having every chunk skipped as late). Each segment
 * carries its SegmentTiming and an Observable of its grid frames; the previous segment's
 * frames complete when the next starts.
 *
 * With `bridging`, a slot still empty when the chunk that needs it must start (`slotDueMs`)
 * is bridged with the last picture, so a lost frame costs a repeated picture instead of the
 * chunk's deadline. A late frame that comes before then is used: the grid only bridges what
 * the pipeline would otherwise wait for. No bridging once no frame came for `stallMs`: the
 * segment goes idle as before.
 */
import { Observable, type OperatorFunction, type SchedulerLike, Subject, type Subscription } from 'rxjs';
import { FrameGrid, type GridFrame, type InputFrame } from './FrameGrid.js';
import { SegmentTiming } from './SegmentTiming.js';

export interface LiveSegment {
  timing: SegmentTiming;
  frames: Observable<GridFrame>;
}

export interface FrameBridging {
  scheduler: SchedulerLike;
  /**
   * Wall time (scheduler clock) by which slot `index` must be filled for the chunk that needs
   * it to start in time; the slot is bridged then if still empty. Non-decreasing in `index`.
   */
  slotDueMs: (timing: SegmentTiming, index: number) => number;
  /** Each bridged slot, as it is bridged (for counting). */
  onBridged?: (slot: GridFrame) => void;
}

export interface SegmentOptions {
  frameMs: number;
  /** No frame for this long ends the segment, ms. */
  stallMs: number;
  /** A media-time jump larger than this ends the segment, ms. */
  maxJumpMs: number;
  /** A frame this much later than the anchor predicts starts a new segment, ms. */
  maxLagMs: number;
  /** Frames the first chunk waits for (chunk + look-ahead). */
  leadFrames: number;
  /** Arrival-history slots per segment (SegmentTiming). */
  historyFrames: number;
  /** Bridging of overdue slots on a clock; without it a missing frame is bridged only by the next frame. */
  bridging?: FrameBridging;
}

export function toSegments(options: SegmentOptions): OperatorFunction<InputFrame, LiveSegment> {
  return (source) =>
    new Observable<LiveSegment>((subscriber) => {
      const grid = new FrameGrid({
        frameMs: options.frameMs,
        stallMs: options.stallMs,
        maxJumpMs: options.maxJumpMs,
      });
      let timing: SegmentTiming | null = null;
      let frames: Subject<GridFrame> | null = null;
      let bridgeTimer: Subscription | null = null;
      const { bridging } = options;
      let lastRealArrivalMs = Number.NEGATIVE_INFINITY;

      // A slot falling due more than stallMs after the last frame is a stall, not a lost frame.
      const dueWithinStall = (dueMs: number): boolean => dueMs - lastRealArrivalMs <= options.stallMs;

      const scheduleBridge = (): void => {
        bridgeTimer?.unsubscribe();
        bridgeTimer = null;
        if (!bridging || !timing) return;
        const dueMs = bridging.slotDueMs(timing, grid.filledCount);
        if (!dueWithinStall(dueMs)) return;
        const { scheduler } = bridging;
        bridgeTimer = scheduler.schedule(
          () => {
            bridgeTimer = null;
            bridgeDueSlots();
          },
          Math.max(0, dueMs - scheduler.now()),
        );
      };

      const bridgeDueSlots = (): void => {
        if (!bridging) return;
        const nowMs = bridging.scheduler.now();
        while (timing && frames) {
          // The anchor may have moved since the timer was set: recheck.
          const dueMs = bridging.slotDueMs(timing, grid.filledCount);
          if (dueMs > nowMs || !dueWithinStall(dueMs)) break;
          const slot = grid.bridge(nowMs);
          if (!slot) break;
          timing.recordSlot(slot.index, slot.arrivalMs);
          bridging.onBridged?.(slot);
          frames.next(slot);
        }
        scheduleBridge();
      };

      const subscription = source.subscribe({
        next: (frame) => {
          lastRealArrivalMs = frame.arrivalMs;
          const delayMs = frame.arrivalMs - frame.mediaTimeMs;
          if (timing && delayMs - timing.anchorMs > options.maxLagMs) grid.reset();
          const { newSegment, filled } = grid.push(frame);
          if (newSegment || !timing || !frames) {
            frames?.complete();
            timing = new SegmentTiming({
              id: grid.segment,
              originMediaMs: grid.originMediaMs,
              firstDelayMs: delayMs,
              leadFrames: options.leadFrames,
              historyFrames: options.historyFrames,
            });
            frames = new Subject<GridFrame>();
            subscriber.next({ timing, frames: frames.asObservable() });
          }
          timing.trackArrival(delayMs, frame.arrivalMs);
          for (const slot of filled) {
            timing.recordSlot(slot.index, slot.arrivalMs);
            frames.next(slot);
          }
          scheduleBridge();
        },
        error: (error) => subscriber.error(error),
        complete: () => {
          bridgeTimer?.unsubscribe();
          frames?.complete();
          subscriber.complete();
        },
      });
      return () => {
        bridgeTimer?.unsubscribe();
        subscription.unsubscribe();
        frames = null;
        timing = null;
      };
    });
}
