import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { parseSoakArgs } from './soak.js';
import { formatSoak, type SoakRun, type SoakSample, summarizeSoak } from './soak-report.js';

/** A run of `minutes` with a sample every 10 s; rss(t) and latency(t, room) give each sample's values. */
function run(options: {
  minutes?: number;
  rooms?: number;
  rss?: (tSeconds: number) => number;
  latencyMs?: (tSeconds: number) => number;
  attached?: (tSeconds: number) => boolean;
}): SoakRun {
  const minutes = options.minutes ?? 10;
  const rooms = options.rooms ?? 1;
  const samples: SoakSample[] = [];
  let generated = 0;
  for (let t = 10; t <= minutes * 60; t += 10) {
    generated += 50;
    samples.push({
      tSeconds: t,
      serverRssMb: (options.rss?.(t) ?? 300) - 10,
      mediasoupWorkerRssMb: 10,
      serverHeapUsedMb: 20,
      serverExternalMb: 5,
      loadAverage1m: 1,
      rooms: Array.from({ length: rooms }, (_, i) => ({
        room: `soak-${i}`,
        attached: options.attached?.(t) ?? true,
        attachments: 1,
        offsetMs: 390,
        announcedOffsetMs: 390,
        latenciesMs: Array.from({ length: 250 }, (_, k) => (options.latencyMs?.(t) ?? 370) + (k % 5)),
        chunksGenerated: generated,
        chunksSkipped: 0,
        chunksLate: 0,
        chunksFull: generated,
        levelName: 'full',
        listenPages: 500,
      })),
    });
  }
  return {
    name: 'test',
    rooms,
    minutes,
    sampleSeconds: 10,
    warmupSeconds: 120,
    bundle: 'default',
    mallocEnv: [],
    baselineRssMb: { server: 190, mediasoupWorker: 10 },
    serverLog: { warn: 0, error: 0, top: [] },
    samples,
  };
}

const check = (summary: ReturnType<typeof summarizeSoak>, prefix: string) => {
  const found = summary.checks.find((c) => c.name.startsWith(prefix));
  assert.ok(found, `a check named "${prefix}…"`);
  return found;
};

describe('soak summary', () => {
  it('passes a run whose RSS rose only during warm-up, with MB per room counted from the no-room baseline', () => {
    const summary = summarizeSoak(run({ rss: (t) => (t < 120 ? 200 + t : 320) }));
    assert.equal(summary.warmupEndSeconds, 120);
    assert.equal(summary.rssMb.warmupEnd, 320);
    assert.equal(summary.rssGrowthPct, 0);
    assert.equal(summary.mbPerRoom, 120);
    assert.equal(summary.offsetDriftMs, 0);
    assert.deepEqual(summary.statedOffsetsMs, { 'soak-0': [390] });
    assert.equal(summary.pass, true);
    assert.match(formatSoak(summary), /result\s+PASS/);
  });

  it('fails when RSS after warm-up strays more than 10% from the warm-up end, even if it comes back', () => {
    const summary = summarizeSoak(run({ rss: (t) => (t === 300 ? 340 : 300) }));
    assert.ok(Math.abs(summary.rssMaxDeviationPct - 13.33) < 0.01);
    assert.equal(summary.rssGrowthPct, 0);
    assert.equal(check(summary, 'RSS within').pass, false);
    assert.equal(summary.pass, false);
    assert.match(formatSoak(summary), /FAIL RSS within ±10% of warm-up end \(largest deviation, %\)\s+13\.3/);
  });

  it('takes the warm-up end and the end as medians of a minute, so one dipped sample is not the reference', () => {
    const summary = summarizeSoak(run({ rss: (t) => (t === 120 ? 270 : 300) }));
    assert.equal(summary.rssMb.warmupEnd, 300);
    assert.equal(summary.rssMb.end, 300);
    assert.equal(summary.rssMaxDeviationPct, 10);
    assert.equal(check(summary, 'RSS within').pass, true);
  });

  it('fails at 150 MB or more per room', () => {
    const summary = summarizeSoak(run({ rooms: 2, rss: () => 500 }));
    assert.equal(summary.mbPerRoom, 150);
    assert.equal(check(summary, 'MB per room').pass, false);
  });

  it('reads drift as the last minute’s median latency minus the first minute’s after warm-up, and fails at 20 ms', () => {
    const drifting = summarizeSoak(run({ latencyMs: (t) => 370 + (t - 120) / 20 }));
    // 0.05 ms a second: the minutes around t = 145 s and t = 575 s are about 21.5 ms apart.
    assert.ok(drifting.offsetDriftMs > 20 && drifting.offsetDriftMs < 23, String(drifting.offsetDriftMs));
    assert.equal(check(drifting, 'offset drift').pass, false);
    const steady = summarizeSoak(run({ latencyMs: (t) => 370 + (t - 120) / 40 }));
    assert.ok(steady.offsetDriftMs < 20 && steady.offsetDriftMs > 5);
    assert.equal(check(steady, 'offset drift').pass, true);
  });

  it("counts a change of a room's stated offset, not rooms with offsets of their own", () => {
    const twoRooms = run({ rooms: 2 });
    for (const s of twoRooms.samples) s.rooms[1]!.offsetMs = 350;
    assert.equal(summarizeSoak(twoRooms).statedOffsetChanges, 0);
    twoRooms.samples[30]!.rooms[0]!.offsetMs = 400;
    const summary = summarizeSoak(twoRooms);
    assert.equal(summary.statedOffsetChanges, 1);
    assert.deepEqual(summary.statedOffsetsMs, { 'soak-0': [390, 400], 'soak-1': [350] });
    assert.equal(summary.pass, false);
  });

  it('counts a window without foley attached as an interruption and fails', () => {
    const summary = summarizeSoak(run({ attached: (t) => t !== 400 }));
    assert.equal(summary.interruptions, 1);
    assert.equal(summary.pass, false);
  });

  it('fails the RSS check of a run that ended before its warm-up did', () => {
    const summary = summarizeSoak(run({ minutes: 1.5 }));
    assert.equal(check(summary, 'RSS within').pass, false);
  });
});

describe('soak command line', () => {
  it('runs both profiles by default, single (1 room, 30 min) then multi (4 rooms, 10 min)', () => {
    const options = parseSoakArgs([]);
    assert.deepEqual(options.runs, [
      { name: 'single', rooms: 1, minutes: 30 },
      { name: 'multi', rooms: 4, minutes: 10 },
    ]);
    assert.equal(options.sampleSeconds, 10);
    assert.equal(options.warmupSeconds, 120);
  });

  it('lets --minutes and --rooms override a profile', () => {
    assert.deepEqual(parseSoakArgs(['--profile', 'multi', '--minutes', '2']).runs, [
      { name: 'multi', rooms: 4, minutes: 2 },
    ]);
    assert.deepEqual(parseSoakArgs(['--minutes', '2']).runs, [
      { name: 'single', rooms: 1, minutes: 2 },
      { name: 'multi', rooms: 4, minutes: 2 },
    ]);
    assert.deepEqual(parseSoakArgs(['--rooms', '3', '--minutes', '5']).runs, [
      { name: '3 room(s)', rooms: 3, minutes: 5 },
    ]);
  });

  it('refuses a bad flag value by name', () => {
    assert.throws(
      () => parseSoakArgs(['--profile', 'triple']),
      (e: Error) => {
        assert.ok(e instanceof UsageError);
        assert.match(e.message, /--profile must be one of single, multi, got "triple"/);
        return true;
      },
    );
    assert.throws(() => parseSoakArgs(['--rooms', '0']), /--rooms must be a positive integer, got "0"/);
    assert.throws(() => parseSoakArgs(['--minutes', '0.1']), /fewer than 2 samples/);
    assert.throws(() => parseSoakArgs(['--model', '/nonexistent']), /--model: no bundle at \/nonexistent/);
  });
});
