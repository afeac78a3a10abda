/**
 * The documented quality steps the live scheduler walks down when compute falls
 * behind, and back up when it catches up. Each chunk takes the best level whose
 * expected cost fits the time left before its audio is due; costs are running
 * estimates per level (wall time including waits for the shared inference worker),
 * so a level comes back as soon as it fits again.
 *
 *   full          manifest steps and restarts, CFG ω, classifier guidance γ, long window
 *   no-classifier γ = 0 (drops the align_classifier pass per step); left out where the
 *                 full level already runs at γ = 0, so no level repeats another
 *   fewer-steps   half the steps (rounded up), no restarts, γ = 0
 *   short-window  half the steps, no restarts, γ = 0, past context cut to the minimum
 *   skip          no generation: the chunk is silent (faded), nothing queues up
 *
 * A level's number is its place in the ladder (0 = full).
 *
 * No level below short-window generates: one step (with or without CFG) scored live onset
 * F1 0.32-0.53 on 30 test clips with 2.3-4.6 onsets per event, noise bursts rather than foley,
 * for a saving of 4 ms a chunk. Silence is the better fallback.
 */

export interface QualityLevel {
  level: number;
  name: string;
  steps: number;
  /** Extra passes of each step (manifest sampling.restarts at the full levels). */
  restarts: number;
  cfgScale: number;
  cgScale: number;
  /** Latent frames of already generated context the window asks for, at least (0 = none; live/ChunkWindow.ts pads it). */
  contextFrames: number;
  /** False only for the skip level. */
  generate: boolean;
}

export interface LadderOptions {
  steps: number;
  restarts: number;
  cfgScale: number;
  cgScale: number;
  maxContextFrames: number;
  minContextFrames: number;
}

export function buildLadder(o: LadderOptions): QualityLevel[] {
  const half = Math.max(1, Math.ceil(o.steps / 2));
  const levels: Omit<QualityLevel, 'level'>[] = [
    {
      name: 'full',
      steps: o.steps,
      restarts: o.restarts,
      cfgScale: o.cfgScale,
      cgScale: o.cgScale,
      contextFrames: o.maxContextFrames,
      generate: true,
    },
    {
      name: 'no-classifier',
      steps: o.steps,
      restarts: o.restarts,
      cfgScale: o.cfgScale,
      cgScale: 0,
      contextFrames: o.maxContextFrames,
      generate: true,
    },
    {
      name: 'fewer-steps',
      steps: half,
      restarts: 0,
      cfgScale: o.cfgScale,
      cgScale: 0,
      contextFrames: o.maxContextFrames,
      generate: true,
    },
    {
      name: 'short-window',
      steps: half,
      restarts: 0,
      cfgScale: o.cfgScale,
      cgScale: 0,
      contextFrames: o.minContextFrames,
      generate: true,
    },
    {
      name: 'skip',
      steps: 0,
      restarts: 0,
      cfgScale: 0,
      cgScale: 0,
      contextFrames: 0,
      generate: false,
    },
  ];
  return levels
    .filter((l) => l.name !== 'no-classifier' || o.cgScale > 0)
    .map((l, level) => ({ level, ...l }));
}

const PROBE_DECAY = 0.98;

/** Running cost estimate per level: an exponential average that leans to the slow side. */
export class LevelCosts {
  readonly #estimateMs: number[];

  constructor(levels: number) {
    this.#estimateMs = new Array<number>(levels).fill(0);
  }

  estimate(level: number): number {
    return this.#estimateMs[level] ?? 0;
  }

  /** Seeds a level from calibration. */
  seed(level: number, ms: number): void {
    this.#estimateMs[level] = ms;
  }

  observe(level: number, ms: number): void {
    const old = this.#estimateMs[level] ?? 0;
    // Rise fast, fall slowly: being late costs a dropped chunk, being early costs quality.
    const alpha = ms > old ? 0.5 : 0.1;
    this.#estimateMs[level] = old === 0 ? ms : old + alpha * (ms - old);
  }

  /**
   * Best level whose estimate fits `budgetMs`; the last (skip) level when none does.
   * The estimates of better levels that did not fit shrink by 2% per chunk, so they
   * are tried again once they may fit (and rise again at once if they still don't).
   */
  choose(levels: readonly QualityLevel[], budgetMs: number): QualityLevel {
    for (const level of levels) {
      if (!level.generate) return level;
      if (this.estimate(level.level) <= budgetMs) return level;
      this.#estimateMs[level.level] = this.estimate(level.level) * PROBE_DECAY;
    }
    return levels[levels.length - 1]!;
  }
}
