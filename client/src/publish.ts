/** Publisher page: camera or screen → mediasoup-client → the room; shows the room's state and sync offset. */
import { Device } from 'mediasoup-client';
import { roomWords, syncOffsetWords } from './room-status.js';
import {
  describeError,
  pageParams,
  type RoomStatus,
  Signaling,
  SignalingError,
  socketUrl,
} from './signaling.js';

const $ = (id: string) => document.getElementById(id)!;
const state = {
  status: 'connecting',
  error: '',
  producerId: '',
  /** The server's offset (audio behind the video as it reaches the server), ms. */
  offsetMs: null as number | null,
  /** What the page shows as "Sync offset". */
  syncOffset: '—',
  room: null as RoomStatus | null,
};
(window as unknown as { __publisher: typeof state }).__publisher = state;

/** The model reads 96x96 pictures: the server needs about twice that on the short side, not more. */
const SENT_SHORT_SIDE = 180;

/**
 * The one encoding the page sends: scaled down so the short side is SENT_SHORT_SIDE (a camera's
 * 640x480 goes as 240x180, a 1920x1080 screen as 320x180). The server decodes every frame it
 * receives, and decoding grows with the pixels, on the cores the rooms' inference needs
 * (docs/experiments.md, section 37).
 */
function sentEncoding(track: MediaStreamTrack): RTCRtpEncodingParameters {
  const { width, height } = track.getSettings();
  const shortSide = Math.min(width ?? 0, height ?? 0);
  const scaleResolutionDownBy = shortSide > SENT_SHORT_SIDE ? shortSide / SENT_SHORT_SIDE : 1;
  return { maxBitrate: 500_000, scaleResolutionDownBy };
}

function show(): void {
  state.syncOffset = syncOffsetWords(state.room);
  $('status').textContent = state.status;
  $('error').textContent = state.error;
  $('offset').textContent = state.syncOffset;
  $('foley').textContent = state.room
    ? `${roomWords(state.room)}${!state.room.note && state.room.level ? ` (quality: ${state.room.level})` : ''}`
    : '—';
}

async function publish(source: 'camera' | 'screen'): Promise<void> {
  const { params } = pageParams();
  const codecName = (params.get('codec') ?? 'vp8').toLowerCase();
  const signaling = new Signaling(socketUrl('/ws', { role: 'publish' }));
  signaling.onStatus = (s) => {
    state.room = s;
    if (s.offsetMs !== null) state.offsetMs = s.offsetMs;
    show();
  };
  signaling.onError = (code, message) => {
    state.error = `${code}: ${message}`;
    show();
  };
  signaling.onClose = (code, reason) => {
    state.status = `disconnected (${code}${reason ? ` ${reason}` : ''})`;
    show();
  };
  await signaling.opened;
  state.status = 'connected';
  show();

  const { rtpCapabilities } = await signaling.request('getRouterRtpCapabilities', {});
  const device = new Device();
  await device.load({ routerRtpCapabilities: rtpCapabilities as never });
  const t = await signaling.request('createTransport', { direction: 'send' });
  const transport = device.createSendTransport({
    id: t.id,
    iceParameters: t.iceParameters as never,
    iceCandidates: t.iceCandidates as never,
    dtlsParameters: t.dtlsParameters as never,
  });
  transport.on('connect', ({ dtlsParameters }, callback, errback) => {
    signaling
      .request('connectTransport', { transportId: transport.id, dtlsParameters })
      .then(() => callback(), errback);
  });
  transport.on('produce', ({ rtpParameters }, callback, errback) => {
    signaling.request('produce', { transportId: transport.id, kind: 'video', rtpParameters }).then((r) => {
      state.offsetMs = r.offsetMs;
      callback({ id: r.producerId });
    }, errback);
  });
  let produced = false;
  // One rule for both orders: DTLS may connect before or after produce() resolves.
  const transportStatus = (s: string): string =>
    produced && !['failed', 'disconnected', 'closed'].includes(s) ? 'publishing' : `transport ${s}`;
  transport.on('connectionstatechange', (s) => {
    state.status = transportStatus(s);
    show();
  });

  const stream =
    source === 'screen'
      ? await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 25 } })
      : await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, frameRate: 25 } });
  const track = stream.getVideoTracks()[0]!;
  ($('preview') as HTMLVideoElement).srcObject = stream;
  const codec = device.rtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === `video/${codecName}`);
  if (!codec) throw new SignalingError('UNSUPPORTED_CODEC', `this browser cannot send video/${codecName}`);
  const producer = await transport.produce({ track, codec, encodings: [sentEncoding(track)] });
  state.producerId = producer.id;
  produced = true;
  state.status = transportStatus(transport.connectionState);
  show();
}

function start(source: 'camera' | 'screen'): void {
  state.error = '';
  publish(source).catch((error: unknown) => {
    state.error = describeError(error);
    state.status = 'failed';
    show();
  });
}

$('camera').addEventListener('click', () => start('camera'));
$('screen').addEventListener('click', () => start('screen'));
if (pageParams().params.get('autostart') !== '0') start('camera');
show();
