/** Viewer page: consumes the room's foley producer over WebRTC and plays it. */
import type { types } from 'mediasoup-client';
import { Device } from 'mediasoup-client';
import { roomWords } from './room-status.js';
import { describeError, type RoomStatus, Signaling, socketUrl } from './signaling.js';

const $ = (id: string) => document.getElementById(id)!;
const state = {
  status: 'connecting',
  error: '',
  room: null as RoomStatus | null,
  consumerId: '',
  producerId: '',
  packetsReceived: 0,
  bytesReceived: 0,
  audioLevel: 0,
};
(window as unknown as { __viewer: typeof state }).__viewer = state;

function show(): void {
  $('status').textContent = state.status;
  $('room').textContent = roomWords(state.room);
  $('error').textContent = state.error;
  $('stats').textContent = `${state.packetsReceived} packets, ${state.bytesReceived} bytes`;
}

interface InboundRtpStats {
  type: string;
  packetsReceived?: number;
  bytesReceived?: number;
  audioLevel?: number;
}

async function main(): Promise<void> {
  const signaling = new Signaling(socketUrl('/ws', { role: 'view' }));
  let consumer: types.Consumer | null = null;
  let transport: types.Transport | null = null;
  let device: Device | null = null;
  let consuming = false;

  const consume = async (status: RoomStatus) => {
    if (
      !device ||
      !transport ||
      consuming ||
      !status.foleyProducerId ||
      status.foleyProducerId === state.producerId
    )
      return;
    consuming = true;
    try {
      consumer?.close();
      const c = await signaling.request('consumeFoley', {
        transportId: transport.id,
        rtpCapabilities: device.rtpCapabilities,
      });
      consumer = await transport.consume({
        id: c.consumerId,
        producerId: c.producerId,
        kind: 'audio',
        rtpParameters: c.rtpParameters as never,
      });
      await signaling.request('resumeConsumer', { consumerId: c.consumerId });
      state.consumerId = c.consumerId;
      state.producerId = c.producerId;
      state.error = '';
      const audio = $('player') as HTMLAudioElement;
      audio.srcObject = new MediaStream([consumer.track]);
      await audio.play().catch(() => {
        state.error = 'press play to hear the foley';
      });
      state.status = 'receiving';
    } catch (error) {
      state.error = describeError(error);
    } finally {
      consuming = false;
      show();
    }
  };

  signaling.onStatus = (s) => {
    state.room = s;
    show();
    void consume(s);
  };
  signaling.onClose = (code) => {
    state.status = `disconnected (${code})`;
    show();
  };
  await signaling.opened;
  state.status = 'connected';
  show();
  const { rtpCapabilities } = await signaling.request('getRouterRtpCapabilities', {});
  device = new Device();
  await device.load({ routerRtpCapabilities: rtpCapabilities as never });
  const t = await signaling.request('createTransport', { direction: 'recv' });
  const recv = device.createRecvTransport({
    id: t.id,
    iceParameters: t.iceParameters as never,
    iceCandidates: t.iceCandidates as never,
    dtlsParameters: t.dtlsParameters as never,
  });
  recv.on('connect', ({ dtlsParameters }, callback, errback) => {
    signaling
      .request('connectTransport', { transportId: recv.id, dtlsParameters })
      .then(() => callback(), errback);
  });
  transport = recv;
  state.status = 'waiting for foley';
  show();
  if (state.room) await consume(state.room);
  setInterval(async () => {
    if (!consumer) return;
    const stats = await consumer.getStats();
    stats.forEach((r: InboundRtpStats) => {
      if (r.type === 'inbound-rtp') {
        state.packetsReceived = r.packetsReceived ?? 0;
        state.bytesReceived = r.bytesReceived ?? 0;
        state.audioLevel = r.audioLevel ?? 0;
      }
    });
    show();
  }, 500);
}

main().catch((error: unknown) => {
  state.error = describeError(error);
  state.status = 'failed';
  show();
});
