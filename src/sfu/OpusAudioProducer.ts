import { randomInt } from 'node:crypto';
import type dgram from 'node:dgram';
import type { types as ms } from 'mediasoup';
import { Logger } from '../logger.js';
import type { OpusPacket } from '../media/opus-encoder.js';
import { TypedEmitter } from '../typed-emitter.js';
import { AttachError } from './errors.js';
import { serializeRtpPacket } from './rtp/RtpPacket.js';
import { bindUdpSocket } from './udpSocket.js';

const logger = new Logger('sfu:OpusAudioProducer');

const OPUS_PAYLOAD_TYPE = 111;

export type OpusAudioProducerEvents = {
  close: [];
};

export interface OpusAudioProducerOptions {
  router: ms.Router;
  listenIp?: string;
  appData?: Record<string, unknown>;
}

/**
 * Where a sample leaves into the room: a server-side mediasoup audio producer fed
 * with Opus RTP over a local PlainTransport (comedia: mediasoup learns our address
 * from the first packet). Any consumer of the router hears it.
 */
export class OpusAudioProducer extends TypedEmitter<OpusAudioProducerEvents> {
  readonly #socket: dgram.Socket;
  readonly #transport: ms.PlainTransport;
  readonly producer: ms.Producer;
  readonly #remotePort: number;
  readonly #remoteIp: string;
  readonly #ssrc: number;
  readonly #timestampBase = randomInt(0, 2 ** 31);
  #sequenceNumber = randomInt(0, 2 ** 15);
  #closed = false;
  packetsSent = 0;

  private constructor(
    socket: dgram.Socket,
    transport: ms.PlainTransport,
    producer: ms.Producer,
    ssrc: number,
  ) {
    super();
    this.#socket = socket;
    this.#transport = transport;
    this.producer = producer;
    this.#ssrc = ssrc;
    this.#remoteIp = transport.tuple.localIp;
    this.#remotePort = transport.tuple.localPort;
    socket.on('error', (error) => logger.warn(`socket error: ${error.message}`));
    producer.on('transportclose', () => this.close());
    transport.observer.on('close', () => this.close());
  }

  static async create(options: OpusAudioProducerOptions): Promise<OpusAudioProducer> {
    const { router } = options;
    const listenIp = options.listenIp ?? '127.0.0.1';
    const opus = router.rtpCapabilities.codecs?.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
    if (!opus) {
      throw new AttachError(
        '[sfu:audio-out] the router has no audio/opus codec; add { kind: "audio", mimeType: "audio/opus", clockRate: 48000, channels: 2 } to its mediaCodecs',
      );
    }
    const socket = await bindUdpSocket(listenIp);
    const transport = await router.createPlainTransport({ listenIp, rtcpMux: false, comedia: true });
    try {
      const ssrc = randomInt(1, 2 ** 31);
      const producer = await transport.produce({
        kind: 'audio',
        rtpParameters: {
          codecs: [
            {
              mimeType: 'audio/opus',
              clockRate: 48000,
              channels: 2,
              payloadType: OPUS_PAYLOAD_TYPE,
              parameters: { 'sprop-stereo': 0, useinbandfec: 0 },
              rtcpFeedback: [],
            },
          ],
          encodings: [{ ssrc }],
        },
        appData: { foley: true, ...options.appData },
      });
      return new OpusAudioProducer(socket, transport, producer, ssrc);
    } catch (error) {
      transport.close();
      socket.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one Opus packet as RTP; its timestamp follows the packet's sample position. */
  send(packet: OpusPacket): void {
    if (this.#closed) return;
    const datagram = serializeRtpPacket({
      payloadType: OPUS_PAYLOAD_TYPE,
      marker: false,
      sequenceNumber: this.#sequenceNumber,
      timestamp: (this.#timestampBase + packet.samplePosition) >>> 0,
      ssrc: this.#ssrc,
      payload: packet.data,
    });
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
    this.packetsSent++;
    this.#socket.send(datagram, this.#remotePort, this.#remoteIp);
  }

  /** Idempotent: closes the producer, its transport and the socket. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.producer.closed) this.producer.close();
    this.#transport.close();
    this.#socket.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}
