/**
 * Resamples frames that arrive at the camera's own rate onto the model's frame grid
 * (25 fps: one latent frame per 40 ms). A grid slot takes the nearest frame in media
 * time and is filled as soon as a frame at or past the slot arrives, so the grid adds
 * no waiting of its own.
 *
 * A segment is one continuous run of media time. A stall (no frame for `stallMs`), a
 * backwards step or a jump in media time starts a new segment: the pipeline then
 * restarts its windows instead of filling the gap. A shorter gap (a frame lost on the
 * network) is bridged: a later frame fills the skipped slots with the nearest picture,
 * and `bridge` repeats the last picture into the next slot when its frame is overdue.
 */

export interface GridFrame {
  /** Slot index in the segment; media time = index · frameMs after the segment start. */
  index: number;
  rgb: Uint8Array;
  /** performance.now() when the frame shown in the slot arrived, ms. */
  arrivalMs: number;
  /** Media time of the slot, ms since the ingest's first frame. */
  mediaTimeMs: number;
}

export interface InputFrame {
  rgb: Uint8Array;
  mediaTimeMs: number;
  arrivalMs: number;
}

export interface FrameGridOptions {
  frameMs: number;
  /** No frame for this long ends the segment. */
  stallMs: number;
  /** A media-time jump larger than this ends the segment. */
  maxJumpMs: number;
}

export interface GridPushResult {
  /** True when this frame started a new segment (the caller resets its state first). */
  newSegment: boolean;
  filled: GridFrame[];
}

export class FrameGrid {
  #segment = -1;
  #originMediaMs = 0;
  #nextIndex = 0;
  #previous: InputFrame | null = null;

  constructor(readonly options: FrameGridOptions) {}

  get segment(): number {
    return this.#segment;
  }

  /** Media time of slot 0 of the current segment. */
  get originMediaMs(): number {
    return this.#originMediaMs;
  }

  /** Slots filled so far in the current segment. */
  get filledCount(): number {
    return this.#nextIndex;
  }

  get lastArrivalMs(): number {
    return this.#previous?.arrivalMs ?? -Infinity;
  }

  push(frame: InputFrame): GridPushResult {
    const { frameMs, stallMs, maxJumpMs } = this.options;
    const prev = this.#previous;
    const newSegment =
      prev === null ||
      frame.arrivalMs - prev.arrivalMs > stallMs ||
      frame.mediaTimeMs < prev.mediaTimeMs ||
      frame.mediaTimeMs - prev.mediaTimeMs > maxJumpMs;
    if (newSegment) {
      this.#segment++;
      this.#originMediaMs = frame.mediaTimeMs;
      this.#nextIndex = 0;
      this.#previous = null;
    }
    const filled: GridFrame[] = [];
    for (;;) {
      const slotMediaMs = this.#originMediaMs + this.#nextIndex * frameMs;
      if (slotMediaMs > frame.mediaTimeMs) break;
      const p = this.#previous;
      const usePrevious = p !== null && slotMediaMs - p.mediaTimeMs < frame.mediaTimeMs - slotMediaMs;
      const source = usePrevious ? p! : frame;
      filled.push({
        index: this.#nextIndex,
        rgb: source.rgb,
        arrivalMs: source.arrivalMs,
        mediaTimeMs: slotMediaMs,
      });
      this.#nextIndex++;
    }
    this.#previous = frame;
    return { newSegment, filled };
  }

  /**
   * Fills the next slot with the last picture (its frame is overdue: lost or late), so the
   * chunk it belongs to need not wait for the frame after. Null before the first frame.
   */
  bridge(nowMs: number): GridFrame | null {
    const p = this.#previous;
    if (p === null) return null;
    const slot: GridFrame = {
      index: this.#nextIndex,
      rgb: p.rgb,
      arrivalMs: nowMs,
      mediaTimeMs: this.#originMediaMs + this.#nextIndex * this.options.frameMs,
    };
    this.#nextIndex++;
    return slot;
  }

  /** Media time of the next slot to fill. */
  get nextSlotMediaMs(): number {
    return this.#originMediaMs + this.#nextIndex * this.options.frameMs;
  }

  /** Forgets the segment; the next frame starts a new one. */
  reset(): void {
    this.#previous = null;
  }
}
