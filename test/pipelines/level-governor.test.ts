import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildLadder, LevelCosts, type QualityLevel } from '../../pipelines/live/DegradationLadder.js';
import { LevelGovernor } from '../../pipelines/live/LevelGovernor.js';

const LADDER = buildLadder({
  steps: 4,
  restarts: 2,
  cfgScale: 3,
  cgScale: 3,
  maxContextFrames: 12,
  minContextFrames: 8,
});
/** What each level really costs on the overloaded machine, ms: only fewer-steps and below fit 120 ms. */
const ACTUAL_MS = [190, 150, 100, 90];
const CHUNK_MS = 160;
const BUDGET_MS = 120;

/** Chunks every 160 ms of virtual time for `seconds`, each observed at its level's real cost. */
function steadyOverload(
  choose: (budgetMs: number, nowMs: number) => QualityLevel,
  costs: LevelCosts,
  seconds: number,
): { levels: number[]; changesAtMs: number[] } {
  const levels: number[] = [];
  const changesAtMs: number[] = [];
  for (let nowMs = 0; nowMs < seconds * 1000; nowMs += CHUNK_MS) {
    const level = choose(BUDGET_MS, nowMs);
    if (levels.length > 0 && level.level !== levels[levels.length - 1]) changesAtMs.push(nowMs);
    levels.push(level.level);
    if (level.generate) costs.observe(level.level, ACTUAL_MS[level.level]!);
  }
  return { levels, changesAtMs };
}

function seededCosts(): LevelCosts {
  const costs = new LevelCosts(LADDER.length);
  // Calibrated on a quiet machine: everything fitted then.
  [90, 70, 50, 45].forEach((ms, level) => costs.seed(level, ms));
  return costs;
}

describe('LevelGovernor', () => {
  it('under a steady overload changes level at most once a second, where the per-chunk choice flapped', () => {
    const baselineCosts = seededCosts();
    const baseline = steadyOverload((budget) => baselineCosts.choose(LADDER, budget), baselineCosts, 40);
    assert.ok(
      baseline.changesAtMs.length > 40,
      `the scenario overloads: per-chunk choice changed ${baseline.changesAtMs.length} times`,
    );

    const costs = seededCosts();
    const governor = new LevelGovernor(LADDER, costs);
    const { levels, changesAtMs } = steadyOverload((b, t) => governor.choose(b, t), costs, 40);
    assert.ok(changesAtMs.length <= 40, `${changesAtMs.length} changes in 40 s`);
    // Calmer than that: the failed steps up space out (hold doubles), so few changes in all.
    assert.ok(changesAtMs.length <= 12, `${changesAtMs.length} changes in 40 s: ${changesAtMs.join(', ')}`);
    const lastTenSeconds = changesAtMs.filter((t) => t >= 30_000).length;
    assert.ok(lastTenSeconds <= 2, `${lastTenSeconds} changes in the last 10 s`);
    // It settles at the best level that fits and skips nothing.
    assert.equal(levels[levels.length - 1], 2);
    assert.ok(!levels.includes(4), 'no chunk skipped');
  });

  it('goes down at once when a chunk would miss its deadline, and up one step only after the hold', () => {
    const costs = new LevelCosts(LADDER.length);
    [100, 60, 40, 30].forEach((ms, level) => costs.seed(level, ms));
    const governor = new LevelGovernor(LADDER, costs, { upHoldMs: 1000 });
    assert.equal(governor.choose(150, 0).name, 'full');
    assert.equal(governor.choose(50, 160).name, 'fewer-steps', 'down two levels in one chunk');
    assert.equal(governor.choose(10, 320).name, 'skip', 'nothing fits: skipped');
    assert.equal(governor.level.name, 'short-window', 'the level rests at the cheapest generating one');
    assert.equal(governor.choose(500, 480).name, 'short-window', 'held: no step up yet');
    assert.equal(governor.choose(500, 1320).name, 'fewer-steps', 'one step up after the hold');
    assert.equal(governor.choose(500, 1480).name, 'fewer-steps', 'the next step waits for its own hold');
  });

  it('retries generating after a spike made every level look too slow', () => {
    const costs = new LevelCosts(LADDER.length);
    [400, 350, 300, 250].forEach((ms, level) => costs.seed(level, ms)); // measured during a spike
    const governor = new LevelGovernor(LADDER, costs);
    const { levels } = steadyOverload((b, t) => governor.choose(b, t), costs, 10);
    assert.equal(levels[0], 4, 'skipped while every estimate is over the budget');
    const firstMade = levels.findIndex((level) => level !== 4);
    // Estimates that do not fit decay 2% a chunk: 250 ms reaches the 120 ms budget in 36 chunks.
    assert.ok(firstMade > 0 && firstMade * CHUNK_MS < 8000, `first chunk made after ${firstMade} skips`);
    assert.ok(
      levels.slice(firstMade).every((level) => level !== 4),
      'generating from then on',
    );
  });

  it('doubles the hold after a step up taken back, and reports changes and a summary without flooding', () => {
    const costs = new LevelCosts(LADDER.length);
    [100, 60, 40, 30].forEach((ms, level) => costs.seed(level, ms));
    const debug: string[] = [];
    const info: string[] = [];
    const warn: string[] = [];
    const changes: string[] = [];
    const governor = new LevelGovernor(LADDER, costs, {
      upHoldMs: 1000,
      summaryEveryMs: 10_000,
      logger: { debug: (m) => debug.push(m), info: (m) => info.push(m), warn: (m) => warn.push(m) },
      onChange: (level) => changes.push(level.name),
    });
    governor.choose(70, 0); // full does not fit: no-classifier
    assert.equal(governor.choose(200, 1000).name, 'full'); // held 1 s: step up
    costs.observe(0, 300); // full is slow after all
    assert.equal(governor.choose(120, 1160).name, 'no-classifier'); // back down within the hold
    assert.equal(governor.upHoldMs, 2000);
    assert.deepEqual(changes, ['no-classifier', 'full', 'no-classifier']);
    assert.equal(debug.length, 3);
    assert.equal(info.length + warn.length, 0, 'no summary before 10 s');
    governor.choose(120, 10_500);
    assert.equal(info.length, 1);
    assert.match(info[0]!, /3 level changes, 0 chunks skipped; now no-classifier/);
    assert.equal(governor.choose(10, 11_000).name, 'skip'); // nothing fits: down to short-window
    assert.equal(governor.choose(120, 15_000).name, 'fewer-steps'); // held 4 s: one step up
    assert.equal(info.length + warn.length, 1, 'at most one summary per 10 s');
    assert.equal(governor.choose(120, 21_000).name, 'no-classifier');
    assert.equal(warn.length, 1, 'skips are summarized at warn');
    assert.match(warn[0]!, /3 level changes, 1 chunks skipped; now no-classifier/);
  });

  it('makes a chunk late at the cheapest level when it would be late by less than the allowance, else skips it', () => {
    const costs = seededCosts(); // short-window (the floor) 45 ms
    const strict = new LevelGovernor(LADDER, costs);
    assert.equal(strict.choose(40, 0).name, 'skip', 'no allowance: 5 ms late is skipped');
    const lenient = new LevelGovernor(LADDER, seededCosts(), { lateAllowanceMs: 80 });
    assert.equal(lenient.choose(40, 0).name, 'short-window', '5 ms late: made');
    assert.equal(lenient.choose(-30, 160).name, 'short-window', 'already 30 ms past due: 75 ms late, made');
    assert.equal(lenient.choose(-40, 320).name, 'skip', '85 ms late: skipped');
    assert.equal(lenient.level.name, 'short-window', 'the level rests at the floor either way');
  });
});
