/** How long a listen page's playout latency report counts, ms (pages report about once a second). */
export const PLAYOUT_REPORT_TTL_MS = 5000;

/**
 * The latest playout latency each listen page of a room reported (what its jitter buffer
 * and audio output add), and the largest of those still fresh: the room's pages should
 * line up with the one that plays last.
 */
export class PlayoutLatencyReports<Key> {
  readonly #latest = new Map<Key, { addedMs: number; atMs: number }>();

  constructor(readonly ttlMs = PLAYOUT_REPORT_TTL_MS) {}

  report(key: Key, addedMs: number, nowMs: number): void {
    this.#latest.set(key, { addedMs, atMs: nowMs });
  }

  remove(key: Key): void {
    this.#latest.delete(key);
  }

  /** The largest added latency reported in the last `ttlMs`, or null when none is fresh; drops stale reports. */
  largestMs(nowMs: number): number | null {
    let largest: number | null = null;
    for (const [key, r] of this.#latest) {
      if (nowMs - r.atMs >= this.ttlMs) this.#latest.delete(key);
      else if (largest === null || r.addedMs > largest) largest = r.addedMs;
    }
    return largest;
  }

  /** When the oldest fresh report goes stale (ms on the reports' clock), or null with none. */
  nextExpiryMs(): number | null {
    let oldest: number | null = null;
    for (const r of this.#latest.values()) if (oldest === null || r.atMs < oldest) oldest = r.atMs;
    return oldest === null ? null : oldest + this.ttlMs;
  }
}
