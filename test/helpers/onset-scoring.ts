/**
 * Scoring of live foley against a looped clip's events, as the offline evaluation scores
 * (onset F1 at ±80 ms): the tapped Ogg pages (what the OBS page gets) are decoded, their
 * onsets put on the wall clock from each page's send time, then on the clip's timeline. A
 * constant delay (network, ingest) is found as the median distance from the events to the
 * nearest onsets within ±200 ms and taken off before the score.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectOnsets } from '../../src/dsp/onset-detection.js';
import { type OnsetScores, scoreOnsets } from '../../src/dsp/onset-matching.js';
import type { InferenceRunner } from '../../src/models/inference-runner.js';
import { MelFrontend } from '../../src/models/mel-frontend.js';

/** Onset matching window, as the offline evaluation scores. */
export const ONSET_WINDOW_S = 0.08;
/** Window of the first match that finds the constant delay. */
const COARSE_WINDOW_S = 0.2;
const RATE_16K = 16000;

export interface ClipEvents {
  seconds: number;
  events: Array<{ time: number }>;
}

export function readClipEvents(path: string): ClipEvents {
  return JSON.parse(readFileSync(path, 'utf8')) as ClipEvents;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** For each reference time, estimate − reference of the nearest estimate within ±windowS, s. */
function nearestOffsets(ref: number[], est: number[], windowS: number): number[] {
  const out: number[] = [];
  for (const r of ref) {
    let best = Number.POSITIVE_INFINITY;
    for (const e of est) if (Math.abs(e - r) < Math.abs(best)) best = e - r;
    if (Math.abs(best) <= windowS) out.push(best);
  }
  return out;
}

/** Onset times (s) of a 16 kHz waveform, through the bundle's mel front end and detector. */
export async function onsetsOf(runner: InferenceRunner, waveform16k: Float32Array): Promise<number[]> {
  const { mel, melFrames } = await new MelFrontend(runner).melSpectrogram(waveform16k);
  return detectOnsets(mel, melFrames, runner.bundle.manifest.audio);
}

export function scoreSummary(s: OnsetScores): string {
  return `F1 ${s.f1.toFixed(3)} (matched ${s.matched}/${s.reference} events, ${s.estimated} onsets)`;
}

/** An Ogg page as a listener got it, with when (ms, on any clock the caller maps from). */
export interface TappedPage {
  data: Buffer;
  wallMs: number;
}

const granuleOf = (page: Buffer): number => Number(page.readBigInt64LE(6));

/**
 * Onsets of a tapped Ogg Opus stream (header pages first), each at the wall time its sample
 * left: a page's last sample is its granule, and one 20 ms page leaves per 20 ms. `dir` holds
 * the decoded file.
 */
export async function tappedOnsetsWallMs(
  runner: InferenceRunner,
  pages: TappedPage[],
  dir: string,
): Promise<number[]> {
  const audioPages = pages.filter((p) => granuleOf(p.data) > 0);
  if (audioPages.length === 0) return [];
  const oggFile = join(dir, 'tapped.ogg');
  writeFileSync(oggFile, Buffer.concat(pages.map((p) => p.data)));
  // FFmpeg drops the pre-skip.
  const raw = execFileSync(
    'ffmpeg',
    ['-loglevel', 'error', '-y', '-i', oggFile, '-f', 'f32le', '-ac', '1', '-ar', String(RATE_16K), '-'],
    { maxBuffer: 1 << 28 },
  );
  const tapped = new Float32Array(Uint8Array.from(raw).buffer);
  const firstPage = audioPages[0]!;
  const wallOfSecond = (s: number): number => {
    const granule48k = s * 48000;
    let lo = 0;
    let hi = audioPages.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (granuleOf(audioPages[mid]!.data) < granule48k) lo = mid + 1;
      else hi = mid;
    }
    const page = audioPages[lo] ?? firstPage;
    return page.wallMs - (granuleOf(page.data) - granule48k) / 48;
  };
  return (await onsetsOf(runner, tapped)).map(wallOfSecond);
}

export interface LoopedScoreOptions {
  events: ClipEvents;
  /** Onsets on the looped clip's timeline (ms from the first loop's start). */
  onsetsClipMs: number[];
  /** Clip time from which the foley counts as warmed up, ms. */
  warmedMs: number;
  /** Loops scored. */
  loops: number;
  /** Loops published (events past them are not referenced). */
  publishedLoops: number;
  /** Clip time up to which the tapped audio is complete, ms (default: the published loops' end). */
  audioEndMs?: number;
}

export interface LoopedScore {
  score: OnsetScores;
  /** The constant delay taken off, s. */
  shiftS: number;
  /** Events with an onset within ±200 ms (what the delay was found from). */
  coarseMatches: number;
  fromMs: number;
  toMs: number;
}

/**
 * Scores `loops` loops of the clip from the first loop boundary after `warmedMs`; throws when
 * they end past the complete audio (the foley started too late). The window's
 * edges lie mid-way through the clip's longest event-free gap: an edge near an event would count
 * that event's onset, just outside, as a false one (or miss it).
 */
export function scoreLoopedOnsets(options: LoopedScoreOptions): LoopedScore {
  const { events, loops } = options;
  const clipMs = events.seconds * 1000;
  const eventMs = events.events.map((e) => e.time * 1000).sort((a, b) => a - b);
  let gapMidMs = 0;
  let gapMs = -1;
  for (let i = 0; i < eventMs.length; i++) {
    const next = i + 1 < eventMs.length ? eventMs[i + 1]! : eventMs[0]! + clipMs;
    if (next - eventMs[i]! > gapMs) {
      gapMs = next - eventMs[i]!;
      gapMidMs = (eventMs[i]! + gapMs / 2) % clipMs;
    }
  }
  const fromMs = gapMidMs + Math.ceil((options.warmedMs - gapMidMs) / clipMs) * clipMs;
  const toMs = fromMs + loops * clipMs;
  const audioEndMs = options.audioEndMs ?? options.publishedLoops * clipMs;
  if (toMs > audioEndMs) {
    throw new RangeError(
      `[looped-score] foley started too late to score ${loops} loops: window ${fromMs.toFixed(0)}..${toMs.toFixed(0)} ms, audio complete to ${audioEndMs.toFixed(0)} ms`,
    );
  }
  const referenceS: number[] = [];
  for (let loop = 0; loop < options.publishedLoops; loop++)
    for (const e of events.events) {
      const at = loop * clipMs + e.time * 1000;
      if (at >= fromMs && at < toMs) referenceS.push(at / 1000);
    }
  const estimatedS = options.onsetsClipMs.filter((x) => x >= fromMs && x < toMs).map((x) => x / 1000);
  const coarse = nearestOffsets(referenceS, estimatedS, COARSE_WINDOW_S);
  const shiftS = coarse.length > 0 ? median(coarse) : 0;
  const score = scoreOnsets(
    referenceS,
    estimatedS.map((x) => x - shiftS),
    ONSET_WINDOW_S,
  );
  return { score, shiftS, coarseMatches: coarse.length, fromMs, toMs };
}
