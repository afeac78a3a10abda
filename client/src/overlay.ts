/**
 * Stream overlay (its own OBS browser source, transparent): event ticks and a scrolling
 * mini-spectrogram of the room's foley, and a status chip (connection, sync offset, the
 * room's state in plain words). It listens on /listen like the OBS page but plays nothing:
 * the OBS page is the audio source, and two would double the sound. Each column and tick is
 * drawn when the OBS page plays that audio (its due time plus the playout the listen pages
 * reported: the room's syncOffsetMs - offsetMs), so ticks line up with what the audience hears.
 * Options: overlay-options.ts.
 */

import { connectListen } from './listen-connection.js';
import { OggOpusStream } from './ogg-opus-stream.js';
import { OverlayOptionError, type OverlayOptions, parseOverlayOptions } from './overlay-options.js';
import { roomWords } from './room-status.js';
import { pageParams, type RoomStatus } from './signaling.js';
import { type SpectralColumn, SpectralOnsetTracker } from './spectral-onsets.js';

const $ = (id: string) => document.getElementById(id)!;
/** What the OBS page adds before it has reported (its default jitter-buffer target), ms. */
const UNREPORTED_PLAYOUT_MS = 60;
/** Band levels drawn: transparent at or below QUIET, the last colour at LOUD, dBFS. */
const SPECTROGRAM_QUIET_DB = -72;
const SPECTROGRAM_LOUD_DB = -12;
/** Width of a tick, spectrogram columns (10 ms each). */
const TICK_COLUMNS = 3;
const TICK_TIMES_KEPT = 200;
/** Columns kept waiting, at most (a background tab gets no animation frames; the oldest go). */
const MAX_PENDING_COLUMNS = 1000;

const state = {
  connection: 'connecting',
  error: '',
  room: null as RoomStatus | null,
  options: null as OverlayOptions | null,
  pages: 0,
  /** Spectrogram columns drawn (each one hop, 10 ms, of audio reaching its play time). */
  columnsDrawn: 0,
  /** Onsets found in the decoded audio, and those drawn as ticks (their time has come). */
  ticksDetected: 0,
  ticksDrawn: 0,
  /** Ticks on screen now (within the shown seconds). */
  ticksShown: 0,
  /** When the latest ticks were drawn, epoch ms (the newest TICK_TIMES_KEPT). */
  tickDrawnAtMs: [] as number[],
  /** How late each of those was drawn after its play time, ms (animation frames, a busy page). */
  tickLateMs: [] as number[],
  /** The stream position (granule) each of those marks. */
  tickGranules: [] as number[],
  /** Columns that arrived (were decoded) after their play time: drawn late. */
  columnsLate: 0,
  /** How long after its due time the OBS page plays a sample, ms (what the overlay waits). */
  playoutAddedMs: UNREPORTED_PLAYOUT_MS,
  reconnects: 0,
};
(window as unknown as { __overlay: typeof state }).__overlay = state;

const root = $('overlay');
const tickCanvas = $('ticks') as HTMLCanvasElement;
const spectrogramCanvas = $('spectrogram') as HTMLCanvasElement;
const tickContext = tickCanvas.getContext('2d')!;
const spectrogramContext = spectrogramCanvas.getContext('2d')!;

// ---- options --------------------------------------------------------------------------

let options: OverlayOptions;
try {
  options = parseOverlayOptions(pageParams().params);
} catch (error) {
  if (!(error instanceof OverlayOptionError)) throw error;
  state.error = error.message;
  $('chip-text').textContent = error.message;
  $('dot').className = 'refused';
  tickCanvas.classList.add('hide');
  spectrogramCanvas.classList.add('hide');
  throw error;
}
state.options = options;
root.className = `${options.position} ${options.theme}`;
root.style.setProperty('--scale', String(options.scale));
$('chip').classList.toggle('hide', !options.chip);
tickCanvas.classList.toggle('hide', !options.ticks);
spectrogramCanvas.classList.toggle('hide', !options.spectrogram);

// ---- drawing --------------------------------------------------------------------------

const BANDS = 32;
let tracker = new SpectralOnsetTracker({ bands: BANDS });
const framesPerSecond = tracker.options.sampleRate / tracker.options.hopSamples;
const historyColumns = Math.round(options.seconds * framesPerSecond);
tickCanvas.width = historyColumns;
tickCanvas.height = 1;
spectrogramCanvas.width = historyColumns;
spectrogramCanvas.height = BANDS;
const TICK_COLOUR = options.theme === 'dark' ? [255, 210, 70] : [200, 40, 40];

/** Columns waiting for their play time, oldest first. */
let pendingColumns: Array<SpectralColumn & { dueMs: number }> = [];
/** Onset frame indices (of this connection's tracker), oldest first. */
let ticks: number[] = [];
/** Index of the newest column drawn (the one playing now); null before the first. */
let nowIndex: number | null = null;
/** Granule of the first sample the tracker got on this connection. */
let trackerBaseGranule: number | null = null;

/** Colour stops (inferno-like on dark themes, blue to black on light ones), level 0..1. */
const PALETTE: Record<OverlayOptions['theme'], Array<[number, number, number]>> = {
  dark: [
    [60, 15, 110],
    [150, 35, 110],
    [225, 75, 60],
    [250, 160, 20],
    [252, 250, 160],
  ],
  light: [
    [120, 150, 230],
    [60, 90, 200],
    [30, 40, 140],
    [20, 20, 70],
    [0, 0, 0],
  ],
};

/** A band level's colour; quiet levels fade out to transparent (the video shows through). */
function bandColour(level: number): string {
  const stops = PALETTE[options.theme];
  const at = Math.max(0, Math.min(1, level)) * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(at));
  const f = at - k;
  const [r, g, b] = stops[k]!.map((v, i) => Math.round(v + (stops[k + 1]![i]! - v) * f)) as [
    number,
    number,
    number,
  ];
  return `rgba(${r},${g},${b},${Math.min(1, 0.35 + level).toFixed(2)})`;
}

function drawColumns(columns: SpectralColumn[]): void {
  const c = spectrogramContext;
  const width = historyColumns;
  const shown = columns.slice(-width);
  const shift = columns.length;
  if (shift >= width) c.clearRect(0, 0, width, BANDS);
  else {
    // Scroll left by the new columns ('copy' keeps the transparency of what moves).
    c.globalCompositeOperation = 'copy';
    c.drawImage(spectrogramCanvas, -shift, 0);
    c.globalCompositeOperation = 'source-over';
    c.clearRect(width - shift, 0, shift, BANDS);
  }
  shown.forEach((column, k) => {
    const x = width - shown.length + k;
    for (let b = 0; b < BANDS; b++) {
      const level =
        (column.bandsDb[b]! - SPECTROGRAM_QUIET_DB) / (SPECTROGRAM_LOUD_DB - SPECTROGRAM_QUIET_DB);
      if (level <= 0) continue;
      c.fillStyle = bandColour(level);
      c.fillRect(x, BANDS - 1 - b, 1, 1);
    }
  });
}

function drawTicks(): void {
  const c = tickContext;
  c.clearRect(0, 0, historyColumns, 1);
  state.ticksShown = 0;
  if (nowIndex === null) return;
  for (const t of ticks) {
    const age = nowIndex - t;
    if (age < 0 || age >= historyColumns) continue;
    state.ticksShown++;
    const alpha = 1 - 0.65 * (age / historyColumns);
    c.fillStyle = `rgba(${TICK_COLOUR.join(',')},${alpha.toFixed(2)})`;
    c.fillRect(historyColumns - 1 - age - Math.floor(TICK_COLUMNS / 2), 0, TICK_COLUMNS, 1);
  }
}

function countTickDrawn(index: number, nowMs: number, dueMs: number): void {
  state.ticksDrawn++;
  const kept = (list: number[], value: number) => {
    list.push(value);
    list.splice(0, list.length - TICK_TIMES_KEPT);
  };
  kept(state.tickDrawnAtMs, performance.timeOrigin + nowMs);
  kept(state.tickLateMs, Math.round(nowMs - dueMs));
  kept(state.tickGranules, (trackerBaseGranule ?? 0) + tracker.sampleOfFrame(index));
}

function frame(): void {
  const now = performance.now();
  const due: typeof pendingColumns = [];
  while (pendingColumns.length && pendingColumns[0]!.dueMs <= now) due.push(pendingColumns.shift()!);
  if (due.length) {
    const previous = nowIndex;
    nowIndex = due[due.length - 1]!.index;
    state.columnsDrawn += due.length;
    for (const column of due)
      if (ticks.includes(column.index) && (previous === null || column.index > previous))
        countTickDrawn(column.index, now, column.dueMs);
    root.dataset.ticks = String(state.ticksDrawn);
    root.dataset.columns = String(state.columnsDrawn);
    if (options.spectrogram) drawColumns(due);
    while (ticks.length && ticks[0]! < nowIndex - historyColumns) ticks.shift();
  }
  if (options.ticks) drawTicks();
  requestAnimationFrame(frame);
}

function onDecoded(stream: OggOpusStream, pcm: Float32Array, granule: number): void {
  trackerBaseGranule ??= granule;
  const update = tracker.push(pcm);
  for (const column of update.columns) {
    const dueMs = stream.dueMs(trackerBaseGranule + tracker.sampleOfFrame(column.index));
    if (dueMs === null) continue;
    if (dueMs + state.playoutAddedMs < performance.now()) state.columnsLate++;
    pendingColumns.push({ ...column, dueMs: dueMs + state.playoutAddedMs });
  }
  if (pendingColumns.length > MAX_PENDING_COLUMNS) {
    pendingColumns.splice(0, pendingColumns.length - MAX_PENDING_COLUMNS);
    const oldest = pendingColumns[0]!.index - historyColumns;
    ticks = ticks.filter((t) => t >= oldest);
  }
  for (const onset of update.onsets) {
    // An onset decided after its column was drawn (the audio came late) shows at once.
    if (nowIndex !== null && onset <= nowIndex) countTickDrawn(onset, performance.now(), Number.NaN);
    ticks.push(onset);
  }
  state.ticksDetected += update.onsets.length;
}

// ---- chip -----------------------------------------------------------------------------

function syncWords(room: RoomStatus | null): string {
  if (!room || room.offsetMs === null) return '';
  if (room.syncOffsetMs !== null) return `sync ${Math.round(room.syncOffsetMs)} ms`;
  return `sync ${Math.round(room.offsetMs)} ms at the server`;
}

function show(): void {
  const room = state.room;
  if (room && room.offsetMs !== null && room.syncOffsetMs !== null)
    state.playoutAddedMs = Math.max(0, room.syncOffsetMs - room.offsetMs);
  const connected = state.connection === 'connected';
  $('dot').className = connected ? 'connected' : state.connection.startsWith('refused') ? 'refused' : '';
  const parts = connected
    ? [syncWords(room), roomWords(room)]
    : [state.error ? `${state.connection}: ${state.error}` : state.connection];
  $('chip-text').textContent = parts.filter(Boolean).join(' · ');
}

// ---- connection -----------------------------------------------------------------------

let stream: OggOpusStream | null = null;

connectListen({
  state,
  show,
  onConnect: () => {
    // A new connection restarts the stream (header pages first): a fresh decoder, tracker and drawing.
    stream?.close();
    const connectionStream = new OggOpusStream((pcm, granule) => onDecoded(connectionStream, pcm, granule));
    stream = connectionStream;
    tracker = new SpectralOnsetTracker({ bands: BANDS });
    trackerBaseGranule = null;
    pendingColumns = [];
    ticks = [];
    nowIndex = null;
    spectrogramContext.clearRect(0, 0, historyColumns, BANDS);
    return (page, arrivalMs) => connectionStream.push(page, arrivalMs);
  },
});
requestAnimationFrame(frame);
