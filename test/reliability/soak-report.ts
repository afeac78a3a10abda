/**
 * The soak's samples, their summary against the memory and drift targets of issues 18 and
 * 20, and the printed table. Pure functions of the samples, so the pass/fail rules are
 * tested on fixed inputs (soak-report.test.ts).
 */

/** Targets: RSS within ±10% of the warm-up end, under 150 MB per room, latency drift under 20 ms. */
export const SOAK_TARGETS = Object.freeze({
  rssDeviationPct: 10,
  mbPerRoom: 150,
  offsetDriftMs: 20,
});

export interface SoakRoomSample {
  room: string;
  attached: boolean;
  attachments: number;
  offsetMs: number | null;
  /** Offset the room's /listen status announced last (what an OBS page is told), ms. */
  announcedOffsetMs: number | null;
  /** Frame-to-Opus latency of every frame sent in the window, ms. */
  latenciesMs: number[];
  chunksGenerated: number;
  chunksSkipped: number;
  chunksLate: number;
  chunksFull: number;
  levelName: string | null;
  /** Ogg pages the room's /listen socket received in the window (-1: no listener). */
  listenPages: number;
}

export interface SoakSample {
  /** Seconds since the rooms started publishing. */
  tSeconds: number;
  serverRssMb: number;
  mediasoupWorkerRssMb: number;
  serverHeapUsedMb: number;
  serverExternalMb: number;
  loadAverage1m: number;
  rooms: SoakRoomSample[];
}

export interface SoakRun {
  name: string;
  rooms: number;
  minutes: number;
  sampleSeconds: number;
  warmupSeconds: number;
  bundle: string;
  /** glibc malloc tunables in the server's environment (MALLOC_*), as NAME=VALUE. */
  mallocEnv: string[];
  /** Server + mediasoup worker RSS after start-up, before any room, MB. */
  baselineRssMb: { server: number; mediasoupWorker: number };
  /** Warning and error lines the server logged, and the most frequent messages. */
  serverLog: { warn: number; error: number; top: string[] };
  samples: SoakSample[];
}

export interface SoakCheck {
  name: string;
  value: number;
  /** Decimals the value is printed with. */
  digits: number;
  limit: string;
  pass: boolean;
}

export interface SoakSummary {
  name: string;
  rooms: number;
  minutes: number;
  bundle: string;
  mallocEnv: string[];
  /** Sample at the end of warm-up (the first at or after warmupSeconds). */
  warmupEndSeconds: number;
  /**
   * Server + mediasoup worker RSS, MB: warmupEnd and end are medians over the first and the
   * last minute after warm-up.
   */
  rssMb: { baseline: number; warmupEnd: number; end: number; min: number; max: number };
  serverRssMb: { warmupEnd: number; end: number };
  mediasoupWorkerRssMb: { warmupEnd: number; end: number };
  /** End over warm-up end (minute medians), %. */
  rssGrowthPct: number;
  /** Largest distance of a sample after warm-up from the warm-up end's minute median, %. */
  rssMaxDeviationPct: number;
  /** (End RSS - baseline) / rooms. */
  mbPerRoom: number;
  /**
   * Per room: median latency over the last minute minus that over the first minute after
   * warm-up, ms; the largest in magnitude over the rooms.
   */
  offsetDriftMs: number;
  /** Stated offsets seen over the run, per room (one value each when it never changed). */
  statedOffsetsMs: Record<string, number[]>;
  /** Offsets the rooms' /listen statuses announced (what OBS pages were told), per room. */
  announcedOffsetsMs: Record<string, number[]>;
  /** Changes of a room's stated offset, all rooms. */
  statedOffsetChanges: number;
  latencyMs: {
    firstWindow: { p50: number; p95: number; count: number };
    lastWindow: { p50: number; p95: number; count: number };
  };
  chunks: { generated: number; skipped: number; late: number; full: number };
  /** Samples after the first in which some room had no foley attached or a new attachment. */
  interruptions: number;
  serverLog: { warn: number; error: number; top: string[] };
  /** Windows after warm-up in which a room's listener got no Ogg page. */
  silentListenWindows: number;
  loadAverage1m: { start: number; end: number; max: number };
  checks: SoakCheck[];
  pass: boolean;
}

export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))]!;
}

const totalRss = (s: SoakSample) => s.serverRssMb + s.mediasoupWorkerRssMb;

export function summarizeSoak(run: SoakRun): SoakSummary {
  const { samples } = run;
  if (samples.length === 0) throw new Error(`[soak:${run.name}] no samples: the run ended before the first`);
  const warmIndex = Math.max(
    0,
    samples.findIndex((s) => s.tSeconds >= run.warmupSeconds),
  );
  const afterWarmup = samples.findIndex((s) => s.tSeconds >= run.warmupSeconds) >= 0;
  const warm = samples[warmIndex]!;
  const last = samples[samples.length - 1]!;
  const steady = samples.slice(warmIndex);
  // A minute's worth of windows at each end of the steady part (fewer if it is short): RSS
  // swings with the load from one window to the next, so one sample is no reference.
  const perMinute = Math.max(1, Math.round(60 / run.sampleSeconds));
  const group = Math.max(1, Math.min(perMinute, Math.floor(steady.length / 2)));
  const ends = (pick: (s: SoakSample) => number) => ({
    warmupEnd: quantile(steady.slice(0, group).map(pick), 0.5),
    end: quantile(steady.slice(-group).map(pick), 0.5),
  });
  const { warmupEnd: warmRss, end: endRss } = ends(totalRss);
  const steadyRss = steady.map(totalRss);
  const rssMaxDeviationPct = Math.max(...steadyRss.map((r) => (Math.abs(r - warmRss) / warmRss) * 100));
  const baseline = run.baselineRssMb.server + run.baselineRssMb.mediasoupWorker;
  const mbPerRoom = (endRss - baseline) / run.rooms;
  const roomNames = last.rooms.map((r) => r.room);
  let offsetDriftMs = 0;
  for (const name of roomNames) {
    const latencies = (windows: SoakSample[]) =>
      windows.flatMap((s) => s.rooms.find((r) => r.room === name)?.latenciesMs ?? []);
    const first = quantile(latencies(steady.slice(0, group)), 0.5);
    const end = quantile(latencies(steady.slice(-group)), 0.5);
    const drift = end - first;
    if (!Number.isFinite(drift)) offsetDriftMs = Number.NaN;
    else if (Number.isFinite(offsetDriftMs) && Math.abs(drift) > Math.abs(offsetDriftMs))
      offsetDriftMs = drift;
  }
  const offsetsByRoom = (pick: (r: SoakRoomSample) => number | null) =>
    Object.fromEntries(
      roomNames.map((name) => [
        name,
        [
          ...new Set(
            samples
              .map((s) => pick(s.rooms.find((r) => r.room === name)!))
              .filter((o): o is number => o !== null),
          ),
        ],
      ]),
    );
  const statedOffsetsMs = offsetsByRoom((r) => r.offsetMs);
  const announcedOffsetsMs = offsetsByRoom((r) => r.announcedOffsetMs);
  const statedOffsetChanges = Object.values(statedOffsetsMs).reduce(
    (n, offsets) => n + Math.max(0, offsets.length - 1),
    0,
  );
  const windowLatency = (s: SoakSample) => {
    const all = s.rooms.flatMap((r) => r.latenciesMs);
    return { p50: quantile(all, 0.5), p95: quantile(all, 0.95), count: all.length };
  };
  const chunks = { generated: 0, skipped: 0, late: 0, full: 0 };
  for (const r of last.rooms) {
    chunks.generated += r.chunksGenerated;
    chunks.skipped += r.chunksSkipped;
    chunks.late += r.chunksLate;
    chunks.full += r.chunksFull;
  }
  let interruptions = 0;
  for (let i = 1; i < samples.length; i++) {
    const before = samples[i - 1]!;
    if (samples[i]!.rooms.some((r, k) => !r.attached || r.attachments !== before.rooms[k]?.attachments))
      interruptions++;
  }
  const silentListenWindows = steady
    .slice(1)
    .reduce((n, s) => n + s.rooms.filter((r) => r.listenPages === 0).length, 0);
  const loads = samples.map((s) => s.loadAverage1m);
  const checks: SoakCheck[] = [
    {
      name: `RSS within ±${SOAK_TARGETS.rssDeviationPct}% of warm-up end (largest deviation, %)`,
      value: rssMaxDeviationPct,
      digits: 1,
      limit: `<= ${SOAK_TARGETS.rssDeviationPct}`,
      pass: afterWarmup && rssMaxDeviationPct <= SOAK_TARGETS.rssDeviationPct,
    },
    {
      name: 'MB per room',
      value: mbPerRoom,
      digits: 1,
      limit: `< ${SOAK_TARGETS.mbPerRoom}`,
      pass: mbPerRoom < SOAK_TARGETS.mbPerRoom,
    },
    {
      name: 'offset drift (ms)',
      value: offsetDriftMs,
      digits: 1,
      limit: `|x| < ${SOAK_TARGETS.offsetDriftMs}`,
      pass: Number.isFinite(offsetDriftMs) && Math.abs(offsetDriftMs) < SOAK_TARGETS.offsetDriftMs,
    },
    {
      name: 'stated offset changes',
      value: statedOffsetChanges,
      digits: 0,
      limit: '= 0',
      pass: statedOffsetChanges === 0,
    },
    {
      name: 'publisher interruptions',
      value: interruptions,
      digits: 0,
      limit: '= 0',
      pass: interruptions === 0,
    },
  ];
  return {
    name: run.name,
    rooms: run.rooms,
    minutes: run.minutes,
    bundle: run.bundle,
    mallocEnv: run.mallocEnv,
    warmupEndSeconds: warm.tSeconds,
    rssMb: {
      baseline,
      warmupEnd: warmRss,
      end: endRss,
      min: Math.min(...steadyRss),
      max: Math.max(...steadyRss),
    },
    serverRssMb: ends((s) => s.serverRssMb),
    mediasoupWorkerRssMb: ends((s) => s.mediasoupWorkerRssMb),
    rssGrowthPct: ((endRss - warmRss) / warmRss) * 100,
    rssMaxDeviationPct,
    mbPerRoom,
    offsetDriftMs,
    statedOffsetsMs,
    announcedOffsetsMs,
    statedOffsetChanges,
    serverLog: run.serverLog,
    latencyMs: { firstWindow: windowLatency(warm), lastWindow: windowLatency(last) },
    chunks,
    interruptions,
    silentListenWindows,
    loadAverage1m: { start: loads[0]!, end: loads[loads.length - 1]!, max: Math.max(...loads) },
    checks,
    pass: checks.every((c) => c.pass),
  };
}

export function formatSoak(summary: SoakSummary): string {
  const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
  const s = summary;
  const total = s.chunks.generated + s.chunks.skipped;
  const byRoom = (offsets: Record<string, number[]>) =>
    Object.entries(offsets)
      .map(([room, values]) => `${room} ${values.join(' -> ') || 'n/a'}`)
      .join(', ');
  const pct = (n: number) => (total > 0 ? `${((n / total) * 100).toFixed(1)}%` : 'n/a');
  const rows: Array<[string, string]> = [
    ['rooms x minutes', `${s.rooms} x ${s.minutes}`],
    ['bundle', s.bundle],
    ['malloc environment', s.mallocEnv.join(' ') || 'glibc defaults'],
    ['RSS baseline (no room), MB', f(s.rssMb.baseline)],
    [
      `RSS at warm-up end (${f(s.warmupEndSeconds, 0)} s, median of a minute), MB`,
      `${f(s.rssMb.warmupEnd)} (server ${f(s.serverRssMb.warmupEnd)} + mediasoup worker ${f(s.mediasoupWorkerRssMb.warmupEnd)})`,
    ],
    [
      'RSS at end (median of the last minute), MB',
      `${f(s.rssMb.end)} (server ${f(s.serverRssMb.end)} + mediasoup worker ${f(s.mediasoupWorkerRssMb.end)})`,
    ],
    ['RSS after warm-up min / max, MB', `${f(s.rssMb.min)} / ${f(s.rssMb.max)}`],
    ['RSS growth (end / warm-up end)', `${f(s.rssGrowthPct)}%`],
    ['RSS largest deviation after warm-up', `${f(s.rssMaxDeviationPct)}%`],
    ['MB per room ((end - baseline) / rooms)', f(s.mbPerRoom)],
    ['stated offset by room, ms', byRoom(s.statedOffsetsMs)],
    ['offset announced on /listen by room, ms', byRoom(s.announcedOffsetsMs)],
    ['offset drift (median latency, last - first minute), ms', f(s.offsetDriftMs)],
    [
      'latency p50 / p95, first window after warm-up, ms',
      `${f(s.latencyMs.firstWindow.p50)} / ${f(s.latencyMs.firstWindow.p95)} (${s.latencyMs.firstWindow.count} frames)`,
    ],
    [
      'latency p50 / p95, last window, ms',
      `${f(s.latencyMs.lastWindow.p50)} / ${f(s.latencyMs.lastWindow.p95)} (${s.latencyMs.lastWindow.count} frames)`,
    ],
    [
      'chunks: full / generated / skipped / late',
      `${s.chunks.full} (${pct(s.chunks.full)}) / ${s.chunks.generated} / ${s.chunks.skipped} (${pct(s.chunks.skipped)}) / ${s.chunks.late}`,
    ],
    ['publisher interruptions', String(s.interruptions)],
    ['listen windows with no audio after warm-up', String(s.silentListenWindows)],
    ['server log: warnings / errors', `${s.serverLog.warn} / ${s.serverLog.error}`],
    ...s.serverLog.top.map((line): [string, string] => ['  most frequent', line]),
    [
      'load average (1 min): start / end / max',
      `${f(s.loadAverage1m.start, 2)} / ${f(s.loadAverage1m.end, 2)} / ${f(s.loadAverage1m.max, 2)}`,
    ],
  ];
  for (const c of s.checks)
    rows.push([`${c.pass ? 'PASS' : 'FAIL'} ${c.name}`, `${f(c.value, c.digits)} (target ${c.limit})`]);
  rows.push(['result', s.pass ? 'PASS' : 'FAIL']);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`soak ${s.name}:`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}
