/**
 * Chooses each chunk's quality level with hysteresis. The governor holds a current level
 * (a generating one). A chunk whose budget the current level's cost estimate would miss is
 * made at the best cheaper level that fits, and the current level goes down to it at once;
 * when none fits the chunk is made at the cheapest generating level if it would be late by
 * less than `lateAllowanceMs` (its audio plays from where it lands; a skipped chunk plays
 * none), else skipped, and the current level drops to the cheapest generating one. A level
 * goes up one step only after the current level has held for `upHoldMs`, and that hold
 * doubles (up to `maxUpHoldMs`) each time a step up had to be taken back within it, so a
 * steady overload settles instead of flapping (the per-chunk choice changed level several
 * times a second). Changes are logged at debug; a summary at most every
 * `summaryEveryMs`, at info (warn when chunks were skipped).
 */
import type { Logger } from '../../src/logger.js';
import type { LevelCosts, QualityLevel } from './DegradationLadder.js';

export interface LevelGovernorOptions {
  /**
   * How late the cheapest level may be expected to finish and still be made rather than
   * skipped, ms. Default 0: a chunk no level makes in time is skipped.
   */
  lateAllowanceMs?: number;
  /** Time at a level before a better one is tried, ms. Default 1500. */
  upHoldMs?: number;
  /** Longest hold after repeated failed steps up, ms. Default 30000. */
  maxUpHoldMs?: number;
  /** Least time between two summary lines, ms. Default 10000. */
  summaryEveryMs?: number;
  logger?: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Called on every change of the current level. */
  onChange?: (level: QualityLevel, nowMs: number) => void;
}

export class LevelGovernor {
  readonly #ladder: readonly QualityLevel[];
  readonly #costs: LevelCosts;
  readonly #options: LevelGovernorOptions;
  readonly #baseHoldMs: number;
  /** The cheapest generating level: where the current level rests when chunks are skipped. */
  readonly #floor: QualityLevel;
  #level: QualityLevel;
  #changedAtMs = Number.NEGATIVE_INFINITY;
  #holdMs: number;
  #wentUp = false;
  #changesSinceSummary = 0;
  #skipsSinceSummary = 0;
  #summaryAtMs: number | null = null;

  constructor(ladder: readonly QualityLevel[], costs: LevelCosts, options: LevelGovernorOptions = {}) {
    this.#ladder = ladder;
    this.#costs = costs;
    this.#options = options;
    this.#baseHoldMs = options.upHoldMs ?? 1500;
    this.#holdMs = this.#baseHoldMs;
    this.#level = ladder[0]!;
    this.#floor = [...ladder].reverse().find((l) => l.generate) ?? ladder[0]!;
  }

  /** The current level (a generating one). */
  get level(): QualityLevel {
    return this.#level;
  }

  /** Time the current level must hold before a step up is tried, ms. */
  get upHoldMs(): number {
    return this.#holdMs;
  }

  #fits(level: QualityLevel, budgetMs: number): boolean {
    return !level.generate || this.#costs.estimate(level.level) <= budgetMs;
  }

  /** The level for a chunk with `budgetMs` left before its audio is due, at time `nowMs`. */
  choose(budgetMs: number, nowMs: number): QualityLevel {
    const current = this.#level;
    const held = nowMs - this.#changedAtMs >= this.#holdMs;
    let chosen = current;
    if (!this.#fits(current, budgetMs)) {
      // The first cheaper level that fits; the estimates of those that did not decay
      // (LevelCosts.choose), so a level that cost too much once is tried again later.
      chosen = this.#costs.choose(this.#ladder.slice(current.level), budgetMs);
      const floorLateMs = this.#costs.estimate(this.#floor.level) - budgetMs;
      if (!chosen.generate && floorLateMs < (this.#options.lateAllowanceMs ?? 0)) chosen = this.#floor;
      // A step up taken back within its hold: wait longer before the next try.
      if (this.#wentUp && !held)
        this.#holdMs = Math.min(this.#options.maxUpHoldMs ?? 30_000, this.#holdMs * 2);
      this.#wentUp = false;
      this.#setLevel(chosen.generate ? chosen : this.#floor, budgetMs, nowMs);
    } else {
      // Better levels that do not fit have their estimates decay, every chunk; the hold only
      // gates the step up.
      const best = this.#costs.choose(this.#ladder.slice(0, current.level + 1), budgetMs);
      if (best.level < current.level && held) {
        chosen = this.#ladder[current.level - 1]!;
        this.#wentUp = true;
        this.#setLevel(chosen, budgetMs, nowMs);
      } else if (this.#wentUp && held) {
        this.#wentUp = false; // the step up held: the hold comes back down
        this.#holdMs = this.#baseHoldMs;
      }
    }
    if (!chosen.generate) this.#skipsSinceSummary++;
    this.#summarize(nowMs);
    return chosen;
  }

  #setLevel(level: QualityLevel, budgetMs: number, nowMs: number): void {
    if (level === this.#level) return;
    const from = this.#level;
    this.#level = level;
    this.#changedAtMs = nowMs;
    this.#changesSinceSummary++;
    this.#options.logger?.debug(
      `level ${from.name} -> ${level.name} (budget ${budgetMs.toFixed(0)} ms; estimates ${this.#ladder
        .map((l) => this.#costs.estimate(l.level).toFixed(0))
        .join('/')} ms; next step up after ${this.#holdMs} ms)`,
    );
    this.#options.onChange?.(level, nowMs);
  }

  #summarize(nowMs: number): void {
    if (this.#summaryAtMs === null) this.#summaryAtMs = nowMs;
    const periodMs = nowMs - this.#summaryAtMs;
    if (periodMs < (this.#options.summaryEveryMs ?? 10_000)) return;
    if (this.#changesSinceSummary > 0 || this.#skipsSinceSummary > 0) {
      const log = this.#options.logger;
      (this.#skipsSinceSummary > 0 ? log?.warn : log?.info)?.call(
        log,
        `quality over the last ${(periodMs / 1000).toFixed(0)} s: ${this.#changesSinceSummary} level changes, ${this.#skipsSinceSummary} chunks skipped; now ${this.#level.name}`,
      );
    }
    this.#summaryAtMs = nowMs;
    this.#changesSinceSummary = 0;
    this.#skipsSinceSummary = 0;
  }
}
