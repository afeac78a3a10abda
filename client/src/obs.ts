/**
 * OBS browser source: the room's foley as Ogg Opus over a WebSocket, decoded by
 * opus-recorder's decoder worker, played through a jitter-buffer AudioWorklet.
 * Starts without a gesture (OBS allows autoplay), shows connection state and a
 * level meter, and reconnects by itself. URL: ?room=NAME&token=TOKEN[&buffer=60]
 */
import { pageParams, socketUrl, type RoomStatus } from './signaling.js';

const $ = (id: string) => document.getElementById(id)!;
const { params } = pageParams();
const targetMs = Number(params.get('buffer') ?? 60);
const record = params.get('record') === '1';

interface Recording { wallMs: number; samples: Float32Array }
const state = {
  connection: 'connecting', room: null as RoomStatus | null, pages: 0, decodedBlocks: 0,
  bufferedMs: 0, underruns: 0, level: 0, playing: false, audioState: 'suspended', reconnects: 0,
  jitterTargetMs: targetMs, outputLatencyMs: 0,
  recordings: [] as Recording[],
};
(window as unknown as { __obs: typeof state }).__obs = state;

let ctx: AudioContext | null = null;
let node: AudioWorkletNode | null = null;
let decoder: Worker | null = null;

function totalOffsetMs(): number | null {
  if (!state.room || state.room.offsetMs === null) return null;
  return Math.round(state.room.offsetMs + targetMs + state.outputLatencyMs);
}

function show(): void {
  $('connection').textContent = state.connection;
  $('connection').className = state.connection === 'connected' ? 'ok' : 'warn';
  $('room').textContent = state.room ? `${state.room.room}: ${state.room.state}${state.room.level ? ` (${state.room.level})` : ''}` : '—';
  const offset = totalOffsetMs();
  $('offset').textContent = offset === null ? '—' : `${offset} ms (server ${state.room!.offsetMs} + buffer ${targetMs} + output ${Math.round(state.outputLatencyMs)})`;
  $('audio').textContent = `${state.audioState}${state.playing ? ', playing' : ''}; buffered ${state.bufferedMs.toFixed(0)} ms; underruns ${state.underruns}`;
  const db = state.level > 0 ? 20 * Math.log10(state.level) : -100;
  ($('meter') as HTMLElement).style.width = `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%`;
  $('start').style.display = state.audioState === 'running' ? 'none' : 'inline-block';
}

async function setupAudio(): Promise<void> {
  ctx = new AudioContext({ sampleRate: 48000, latencyHint: 'interactive' });
  await ctx.audioWorklet.addModule('/dist/jitter-worklet.js');
  node = new AudioWorkletNode(ctx, 'jitter-buffer', {
    numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [2],
    processorOptions: { targetMs, maxExtraMs: 120, record },
  });
  node.port.onmessage = (event) => {
    const d = event.data as { level?: { rms: number; peak: number }; bufferedMs?: number; underruns?: number; playing?: boolean;
      recorded?: { startFrame: number; samples: Float32Array } };
    if (d.recorded && ctx) {
      // Map the block's context frame to wall-clock time when it reaches the output.
      const ts = ctx.getOutputTimestamp();
      const frameSec = d.recorded.startFrame / ctx.sampleRate;
      const perfMs = ts.performanceTime && ts.contextTime !== undefined && ts.performanceTime > 0
        ? ts.performanceTime + (frameSec - ts.contextTime) * 1000
        : performance.now() + (frameSec - ctx.currentTime) * 1000 + (ctx.baseLatency + (ctx.outputLatency || 0)) * 1000;
      state.recordings.push({ wallMs: performance.timeOrigin + perfMs, samples: d.recorded.samples });
      return;
    }
    if (d.level) state.level = d.level.rms;
    state.bufferedMs = d.bufferedMs ?? 0;
    state.underruns = d.underruns ?? 0;
    state.playing = d.playing ?? false;
    state.outputLatencyMs = ((ctx?.baseLatency ?? 0) + (ctx?.outputLatency ?? 0)) * 1000;
    show();
  };
  node.connect(ctx.destination);
  ctx.onstatechange = () => { state.audioState = ctx!.state; show(); };
  try { await ctx.resume(); } catch { /* needs a gesture outside OBS: the Start button */ }
  state.audioState = ctx.state;
}

function startDecoder(): Worker {
  const worker = new Worker('/vendor/decoderWorker.min.js');
  worker.postMessage({ command: 'init', decoderSampleRate: 48000, outputBufferSampleRate: 48000, bufferLength: 960, numberOfChannels: 1 });
  worker.onmessage = (event: MessageEvent<Float32Array[] | null>) => {
    if (!event.data || !node) return;
    state.decodedBlocks++;
    const pcm = event.data[0]!;
    node.port.postMessage({ pcm }, [pcm.buffer]);
  };
  return worker;
}

let backoffMs = 500;
function connect(): void {
  state.connection = 'connecting';
  show();
  const ws = new WebSocket(socketUrl('/listen'));
  ws.binaryType = 'arraybuffer';
  // A fresh decoder per connection: the stream restarts with its header pages.
  decoder?.terminate();
  decoder = startDecoder();
  node?.port.postMessage({ reset: true });
  let fatal = false;
  ws.onopen = () => { state.connection = 'connected'; backoffMs = 500; show(); };
  ws.onmessage = (event) => {
    if (typeof event.data === 'string') {
      try {
        const m = JSON.parse(event.data) as { case: string; value: RoomStatus & { code?: string; message?: string; status?: RoomStatus } };
        if (m.case === 'status') state.room = m.value;
        else if (m.case === 'welcome') state.room = m.value.status!;
        else if (m.case === 'error') { state.connection = `error: ${m.value.message}`; fatal = m.value.code === 'NOT_ALLOWED'; }
      } catch { /* ignore */ }
      show();
      return;
    }
    state.pages++;
    decoder!.postMessage({ command: 'decode', pages: new Uint8Array(event.data as ArrayBuffer) });
  };
  ws.onclose = (event) => {
    if (fatal || event.code === 4401 || event.code === 4400) { state.connection = `refused: ${event.reason || 'bad token'}`; show(); return; }
    state.connection = `reconnecting in ${backoffMs} ms`;
    state.reconnects++;
    show();
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 5000);
  };
}

$('start').addEventListener('click', () => void ctx?.resume());
void setupAudio().then(connect, (error: Error) => { state.connection = `audio failed: ${error.message}`; show(); });
show();
