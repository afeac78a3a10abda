/**
 * OBS browser source: the room's foley as Ogg Opus over a WebSocket, decoded by
 * opus-recorder's decoder worker, played through a jitter-buffer AudioWorklet.
 * Starts without a gesture (OBS allows autoplay), shows connection state and a
 * level meter, and reconnects by itself. URL: ?room=NAME&token=TOKEN[&buffer=60][&hidden=1]
 * hidden=1 (or audio-only=1) shows nothing, for a source that only plays: the overlay
 * page (overlay.html) is then what the stream shows.
 *
 * It measures what it adds to the sync offset (from a packet's earliest arrival to the
 * moment its audio reaches the output) and reports it to the server, which adds it to
 * the room's sync offset that every page shows.
 */
import type { ClientNotification } from '../../src/server/messages.js';
import type { JitterBufferInput, JitterBufferRecording, JitterBufferReport } from './jitter-worklet.js';
import { connectListen } from './listen-connection.js';
import { OggOpusStream, OPUS_SAMPLE_RATE } from './ogg-opus-stream.js';
import { roomWords } from './room-status.js';
import { pageParams, type RoomStatus } from './signaling.js';

const $ = (id: string) => document.getElementById(id)!;
const { params } = pageParams();
const targetMs = Number(params.get('buffer') ?? 60);
const record = params.get('record') === '1';
const hidden = params.get('hidden') === '1' || params.get('audio-only') === '1';
const SAMPLE_RATE = OPUS_SAMPLE_RATE;
/** How often the measured playout latency is averaged and reported, ms. */
const REPORT_EVERY_MS = 1000;
/**
 * Fill above the target the jitter buffer keeps (and drains by playing faster) before it
 * drops audio, ms: a page starved of CPU for a moment gets its audio late, not cut.
 */
const MAX_EXTRA_MS = 200;

interface Recording {
  /** Epoch ms at which the block's first sample reached the output. */
  wallMs: number;
  samples: Float32Array;
  /** Per render quantum (128 samples): the granule it started at (NaN: silence), and its rate. */
  granules: Float64Array;
  rates: Float32Array;
}

const state = {
  connection: 'connecting',
  error: '',
  room: null as RoomStatus | null,
  pages: 0,
  decodedBlocks: 0,
  bufferedMs: 0,
  /** The jitter buffer's average fill, ms. */
  averageFillMs: 0,
  playbackRate: 1,
  underruns: 0,
  droppedMs: 0,
  level: 0,
  playing: false,
  audioState: 'suspended',
  reconnects: 0,
  jitterTargetMs: targetMs,
  /** AudioContext baseLatency + outputLatency, ms. */
  outputLatencyMs: 0,
  /** Measured: from a packet's earliest arrival to its audio at the output, ms (null until playing). */
  addedMs: null as number | null,
  /** Reports sent to the server. */
  latencyReports: 0,
  /** Opus pre-skip of the stream (codec delay), samples. */
  preSkip: 0,
  /** What the page shows as "Sync offset". */
  syncOffset: '—',
  recordings: [] as Recording[],
  /** hidden=1: the page draws nothing (it only plays). */
  hidden,
};
(window as unknown as { __obs: typeof state }).__obs = state;

let ctx: AudioContext | null = null;
let node: AudioWorkletNode | null = null;
/** This connection's decoded stream and its clock (where each granule was due). */
let stream: OggOpusStream | null = null;
let socket: WebSocket | null = null;
let addedSamples: number[] = [];

/** Performance-clock ms at which context frame `frame` reaches the output. */
function outputTimeOfFrame(frame: number): number {
  const c = ctx!;
  const ts = c.getOutputTimestamp();
  if (ts.performanceTime !== undefined && ts.contextTime !== undefined && ts.performanceTime > 0)
    return ts.performanceTime + (frame / c.sampleRate - ts.contextTime) * 1000;
  return performance.now() + (frame / c.sampleRate - c.currentTime) * 1000 + state.outputLatencyMs;
}

function onReport(r: JitterBufferReport): void {
  state.level = r.level.rms;
  state.bufferedMs = r.bufferedMs;
  state.averageFillMs = r.averageFillMs;
  state.playbackRate = r.playbackRate;
  state.underruns = r.underruns;
  state.droppedMs = r.droppedMs;
  state.playing = r.playing;
  state.outputLatencyMs = ((ctx?.baseLatency ?? 0) + (ctx?.outputLatency ?? 0)) * 1000;
  const dueMs = r.granule === null ? null : (stream?.dueMs(r.granule) ?? null);
  if (dueMs !== null && ctx) addedSamples.push(outputTimeOfFrame(r.frame) - dueMs);
  show();
}

function reportPlayoutLatency(): void {
  if (addedSamples.length > 0) {
    state.addedMs = addedSamples.reduce((a, b) => a + b, 0) / addedSamples.length;
    addedSamples = [];
  } else if (!state.playing) {
    state.addedMs = null;
  }
  if (state.addedMs !== null && socket?.readyState === WebSocket.OPEN && state.connection === 'connected') {
    const report: ClientNotification = {
      id: null,
      case: 'playoutLatency',
      value: { addedMs: Math.round(state.addedMs) },
    };
    socket.send(JSON.stringify(report));
    state.latencyReports++;
  }
  show();
}

// ---- display --------------------------------------------------------------------------

function syncOffsetWords(): string {
  const room = state.room;
  if (!room || room.offsetMs === null) return '—';
  const added = state.addedMs === null ? null : Math.round(state.addedMs);
  const total =
    room.syncOffsetMs !== null
      ? Math.round(room.syncOffsetMs)
      : added === null
        ? null
        : room.offsetMs + added;
  if (total === null) return `${room.offsetMs} ms at the server (this page is not playing yet)`;
  const page =
    added === null
      ? 'this page: not playing'
      : `this page ${added}: buffer ${Math.round(state.averageFillMs)}, output ${Math.round(state.outputLatencyMs)}`;
  return `${total} ms (server ${room.offsetMs} + ${page})`;
}

function show(): void {
  state.syncOffset = syncOffsetWords();
  state.preSkip = stream?.preSkip ?? state.preSkip;
  if (hidden) return;
  $('connection').textContent = state.error ? `${state.connection} (${state.error})` : state.connection;
  $('connection').className = state.connection === 'connected' && !state.error ? 'ok' : 'warn';
  $('room').textContent = state.room
    ? `${state.room.room}: ${roomWords(state.room)}${!state.room.note && state.room.level ? ` (quality: ${state.room.level})` : ''}`
    : '—';
  $('offset').textContent = state.syncOffset;
  $('audio').textContent =
    `${state.audioState}${state.playing ? ', playing' : ''}; buffered ${state.bufferedMs.toFixed(0)} ms ` +
    `(target ${targetMs}, average ${state.averageFillMs.toFixed(0)}); underruns ${state.underruns}`;
  const db = state.level > 0 ? 20 * Math.log10(state.level) : -100;
  ($('meter') as HTMLElement).style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
  $('start').style.display = state.audioState === 'running' ? 'none' : 'inline-block';
}

// ---- audio ----------------------------------------------------------------------------

async function setupAudio(): Promise<void> {
  const context = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: 'interactive' });
  ctx = context;
  await context.audioWorklet.addModule('/dist/jitter-worklet.js');
  const worklet = new AudioWorkletNode(context, 'jitter-buffer', {
    numberOfInputs: 0,
    numberOfOutputs: 1,
    outputChannelCount: [2],
    processorOptions: { targetMs, maxExtraMs: MAX_EXTRA_MS, record },
  });
  node = worklet;
  worklet.port.onmessage = (event: MessageEvent<JitterBufferReport | JitterBufferRecording>) => {
    const d = event.data;
    if (d.case === 'report') onReport(d);
    else
      state.recordings.push({
        wallMs: performance.timeOrigin + outputTimeOfFrame(d.startFrame),
        samples: d.samples,
        granules: d.granules,
        rates: d.rates,
      });
  };
  worklet.connect(context.destination);
  context.onstatechange = () => {
    state.audioState = context.state;
    show();
  };
  try {
    await context.resume();
  } catch {
    /* needs a gesture outside OBS: the Start button */
  }
  state.audioState = context.state;
  setInterval(reportPlayoutLatency, REPORT_EVERY_MS);
}

function post(message: JitterBufferInput, transfer: Transferable[] = []): void {
  node?.port.postMessage(message, transfer);
}

// ---- connection -----------------------------------------------------------------------

function connect(): void {
  connectListen({
    state,
    show,
    onConnect: (ws) => {
      socket = ws;
      // A fresh decoder and stream clock per connection: the stream restarts with its header pages.
      stream?.close();
      const connectionStream = new OggOpusStream((pcm, granule) => {
        state.decodedBlocks++;
        post({ pcm, granule }, [pcm.buffer]);
      });
      stream = connectionStream;
      post({ reset: true });
      addedSamples = [];
      return (page, arrivalMs) => connectionStream.push(page, arrivalMs);
    },
    onClose: (ws) => {
      if (socket === ws) socket = null;
    },
  });
}

$('start').addEventListener('click', () => void ctx?.resume());
void setupAudio().then(connect, (error: Error) => {
  state.connection = `audio failed: ${error.message}`;
  show();
});
show();
