/**
 * 48 kHz audio of one segment, indexed by sample position from the segment's start.
 * The pipeline writes generated audio in order, ahead of time; the pacer reads it
 * when its packet is due. Positions not yet written read as silence and are
 * reported as missing. Audio that lands after the reader has passed its start (a late chunk)
 * plays from the reader's position, faded in over LATE_FADE_SAMPLES so it does not click.
 */
export const LATE_FADE_SAMPLES = 240; // 5 ms at 48 kHz

export class AudioTimeline {
  readonly #ring: Float32Array;
  #writtenUpTo = 0;
  #readUpTo = 0;

  constructor(readonly capacitySamples = 48000 * 8) {
    this.#ring = new Float32Array(capacitySamples);
  }

  /** Highest sample position written + 1. */
  get writtenUpTo(): number {
    return this.#writtenUpTo;
  }

  write(position: number, samples: Float32Array): void {
    const cap = this.capacitySamples;
    // Positions the reader has passed were played (as silence); a late write starts at the reader.
    const first = Math.max(0, position, this.#readUpTo);
    const fadeSamples = position < this.#readUpTo ? LATE_FADE_SAMPLES : 0;
    for (let pos = first; pos < position + samples.length; pos++) {
      const k = pos - first;
      const gain = k < fadeSamples ? (k + 1) / (fadeSamples + 1) : 1;
      this.#ring[pos % cap] = samples[pos - position]! * gain;
    }
    this.#writtenUpTo = Math.max(this.#writtenUpTo, position + samples.length);
  }

  /** Reads `out.length` samples at `position`; returns false when some were not written yet. */
  read(position: number, out: Float32Array): boolean {
    const cap = this.capacitySamples;
    for (let i = 0; i < out.length; i++) {
      const pos = position + i;
      if (pos >= 0 && pos < this.#writtenUpTo) {
        out[i] = this.#ring[pos % cap]!;
        this.#ring[pos % cap] = 0; // a wrap-around never replays stale audio
      } else {
        out[i] = 0;
      }
    }
    this.#readUpTo = Math.max(this.#readUpTo, position + out.length);
    return position >= 0 && position + out.length <= this.#writtenUpTo;
  }

  reset(): void {
    this.#ring.fill(0);
    this.#writtenUpTo = 0;
    this.#readUpTo = 0;
  }
}
