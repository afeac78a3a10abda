/**
 * RxJS operator: input frames -> live segments, each with its own frame grid stream.
 *
 * Frames are resampled onto the model's grid (FrameGrid). A stall, a jump or a backward
 * step in media time starts a new segment, and so does a source that fell far behind its
 * own clock (it re-anchors instead of having every chunk skipped as late). Each segment
 * carries its SegmentTiming and an Observable of its grid frames; the previous segment's
 * frames complete when the next starts.
 *
 * With a scheduler, a slot whose frame is `bridgeAfterMs` later than the anchor predicts is
 * bridged with the last picture (a lost frame costs a repeated picture, not the chunk's
 * deadline), until no frame came for `stallMs`: then the segment goes idle as before.
 */
import { Observable, type OperatorFunction, type SchedulerLike, Subject, type Subscription } from 'rxjs';
import { FrameGrid, type GridFrame, type InputFrame } from './FrameGrid.js';
import { SegmentTiming } from './SegmentTiming.js';

export interface LiveSegment {
  timing: SegmentTiming;
  frames: Observable<GridFrame>;
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
  /** Clock and timers of bridging; without one, missing frames are bridged only by the next frame. */
  scheduler?: SchedulerLike;
  /** A slot is bridged when its frame is this much later than the anchor predicts, ms. Default frameMs / 2. */
  bridgeAfterMs?: number;
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
      const { scheduler } = options;
      const bridgeAfterMs = options.bridgeAfterMs ?? options.frameMs / 2;
      let lastRealArrivalMs = Number.NEGATIVE_INFINITY;

      const scheduleBridge = (): void => {
        bridgeTimer?.unsubscribe();
        bridgeTimer = null;
        if (!scheduler || !timing) return;
        const dueMs = grid.nextSlotMediaMs + timing.anchorMs + bridgeAfterMs;
        if (dueMs - lastRealArrivalMs > options.stallMs) return; // a stall, not a lost frame
        bridgeTimer = scheduler.schedule(
          () => {
            bridgeTimer = null;
            if (!timing || !frames) return;
            const slot = grid.bridge(scheduler.now());
            if (!slot) return;
            timing.recordSlot(slot.index, slot.arrivalMs);
            frames.next(slot);
            scheduleBridge();
          },
          Math.max(0, dueMs - scheduler.now()),
        );
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
