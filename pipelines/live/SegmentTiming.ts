/**
 * The clock of one live segment: where its media time sits on the wall clock (the anchor),
 * and, per grid frame, when it arrived and whether its sound was generated (for latency
 * accounting). A frame with media time T arrives at wall time ≈ T + anchorMs.
 *
 * The anchor follows the least delayed arrivals of the last ~3 s: a source whose first frames
 * came late (encoder start-up, a burst) or whose clock drifts is tracked in small steps per
 * packet (`slew`, called by the pacer) so audio never jumps. Until the first chunk's frames
 * are in it moves freely.
 *
 * Frame history is a ring of `historyFrames` slots: the pacer reads frames about offsetMs
 * behind the newest, so the ring is sized from the offset, not from the stream's length.
 */

/** Frames of arrival history the anchor target looks at (~3 s). */
const ANCHOR_WINDOW_FRAMES = 90;
/** Largest later-ward anchor correction per 20 ms packet, ms (2.5% time warp at most). */
const ANCHOR_SLEW_MS = 0.5;
/** Largest earlier-ward correction per packet, ms (skips up to 20% of the audio while it lasts). */
const ANCHOR_CATCH_UP_MS = 4;

export interface SegmentTimingOptions {
  id: number;
  originMediaMs: number;
  /** Arrival − media time of the segment's first frame, ms. */
  firstDelayMs: number;
  /** Frames the first chunk waits for (chunk + look-ahead): until then the anchor moves freely. */
  leadFrames: number;
  historyFrames: number;
}

export class SegmentTiming {
  readonly id: number;
  readonly originMediaMs: number;
  /** Wall − media anchor: a frame of media time T arrives at ≈ T + anchorMs. */
  anchorMs: number;
  /** Where the anchor slews to: the least delayed arrival over the last few seconds. */
  #anchorTargetMs: number;
  readonly #recentDelaysMs: number[] = [];
  readonly #leadFrames: number;
  readonly #arrivalsMs: Float64Array;
  readonly #generated: Uint8Array;
  /** Grid slots filled so far. */
  filled = 0;
  lastArrivalMs = Number.NEGATIVE_INFINITY;

  constructor(options: SegmentTimingOptions) {
    this.id = options.id;
    this.originMediaMs = options.originMediaMs;
    this.anchorMs = options.firstDelayMs;
    this.#anchorTargetMs = options.firstDelayMs;
    this.#leadFrames = options.leadFrames;
    this.#arrivalsMs = new Float64Array(options.historyFrames);
    this.#generated = new Uint8Array(options.historyFrames);
  }

  get historyFrames(): number {
    return this.#arrivalsMs.length;
  }

  /** A frame arrived `delayMs` after its media time (before its grid slots are recorded). */
  trackArrival(delayMs: number, arrivalMs: number): void {
    this.lastArrivalMs = arrivalMs;
    this.#recentDelaysMs.push(delayMs);
    if (this.#recentDelaysMs.length > ANCHOR_WINDOW_FRAMES) this.#recentDelaysMs.shift();
    this.#anchorTargetMs = Math.min(...this.#recentDelaysMs);
    if (this.filled < this.#leadFrames) this.anchorMs = Math.min(this.anchorMs, delayMs);
  }

  recordSlot(index: number, arrivalMs: number): void {
    const i = index % this.historyFrames;
    this.#arrivalsMs[i] = arrivalMs;
    this.#generated[i] = 0;
    this.filled = index + 1;
  }

  /**
   * One packet's step toward the target. Earlier (frames arrive sooner than predicted): catch
   * up fast, dropping a little audio; later: slowly, so a burst of late frames does not
   * stretch the audio.
   */
  slew(): void {
    this.anchorMs += Math.max(
      -ANCHOR_CATCH_UP_MS,
      Math.min(ANCHOR_SLEW_MS, this.#anchorTargetMs - this.anchorMs),
    );
  }

  markGenerated(startFrame: number, frames: number, generated: boolean): void {
    for (let i = startFrame; i < startFrame + frames; i++)
      this.#generated[i % this.historyFrames] = generated ? 1 : 0;
  }

  /** Whether frame `index`'s sound was generated; false once it left the history. */
  isGenerated(index: number): boolean {
    return (
      index >= 0 &&
      index < this.filled &&
      this.filled - index < this.historyFrames &&
      this.#generated[index % this.historyFrames] === 1
    );
  }

  arrivalMs(index: number): number {
    return this.#arrivalsMs[index % this.historyFrames]!;
  }
}
