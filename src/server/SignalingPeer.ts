import type { types as ms } from 'mediasoup';
import type { WebSocket } from 'ws';
import { FoleyError } from '../errors.js';
import { Logger } from '../logger.js';
import { DECODABLE_MIME_TYPES } from '../sfu/VideoFrameDecoder.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { PeerLimits } from './ConnectionLimits.js';
import {
  type ClientMessage,
  describeError,
  MessageError,
  parseClientMessage,
  type Role,
  type RoomStatus,
  type ServerMessage,
  type ServerReply,
} from './messages.js';
import type { Room, RoomPeer } from './Room.js';

const logger = new Logger('server:SignalingPeer');

export interface TransportListenConfig {
  listenIps: Array<{ ip: string; announcedIp?: string }>;
}

export interface SignalingPeerOptions {
  transportConfig: TransportListenConfig;
  limits: PeerLimits;
  /** Messages that arrived before the peer existed, handled first in order. */
  earlyMessages?: EarlyMessage[];
}

export type SignalingPeerEvents = { close: [] };

/** A message that arrived before the peer existed (while its room was being created). */
export interface EarlyMessage {
  data: Buffer;
  isBinary: boolean;
}

/**
 * One signaling WebSocket of a publisher or viewer page. Owns the transports,
 * producers and consumers it created; closing the peer closes them.
 */
export class SignalingPeer extends TypedEmitter<SignalingPeerEvents> implements RoomPeer {
  readonly #transports = new Map<string, ms.WebRtcTransport>();
  readonly #consumers = new Map<string, ms.Consumer>();
  readonly #producers = new Map<string, ms.Producer>();
  /** Transports connect was called on (mediasoup refuses a second call without a reason). */
  readonly #connected = new Set<string>();
  /** Creations awaiting mediasoup, counted against the limits before the await so pipelined requests cannot pass them. */
  readonly #reserved = { transports: 0, producers: 0, consumers: 0 };
  #closed = false;
  readonly transportConfig: TransportListenConfig;
  readonly limits: PeerLimits;

  constructor(
    readonly socket: WebSocket,
    readonly room: Room,
    readonly role: Role,
    options: SignalingPeerOptions,
  ) {
    super();
    this.transportConfig = options.transportConfig;
    this.limits = options.limits;
    socket.on('message', (data, isBinary) => void this.#onMessage(data as Buffer, isBinary));
    socket.on('close', () => this.close());
    socket.on('error', (error) => logger.debug(`socket error: ${error.message}`));
    this.send({ case: 'welcome', value: { room: room.name, role, status: room.status() } });
    for (const m of options.earlyMessages ?? []) void this.#onMessage(m.data, m.isBinary);
  }

  /** The room's status changed (Room calls this for every peer in it). */
  sendStatus(status: RoomStatus): void {
    this.send({ case: 'status', value: status });
  }

  send(message: ServerMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  async #onMessage(data: Buffer, isBinary: boolean): Promise<void> {
    if (this.#closed) return;
    let message: ClientMessage;
    try {
      if (isBinary)
        throw new MessageError('BAD_MESSAGE', 'binary frames are not accepted on the signaling socket');
      const parsed = parseClientMessage(data.toString('utf8'));
      if (parsed.id === null)
        throw new MessageError('NOT_ALLOWED', `[${parsed.case}] is sent on the /listen socket, not /ws`);
      message = parsed;
    } catch (error) {
      const e = error instanceof MessageError ? error : new MessageError('BAD_MESSAGE', String(error));
      this.send({ id: e.requestId, case: 'error', value: { code: e.code, message: e.message } });
      return;
    }
    try {
      const reply = await this.#handle(message);
      this.send({ ...reply, id: message.id } as ServerMessage);
    } catch (error) {
      const code =
        error instanceof MessageError
          ? error.code
          : error instanceof FoleyError && error.code === 'UNSUPPORTED_CODEC'
            ? 'UNSUPPORTED_CODEC'
            : 'INTERNAL';
      const text =
        code === 'INTERNAL'
          ? `[room:${this.room.name}, ${message.case}] ${describeError(error)}`
          : describeError(error);
      if (code === 'INTERNAL') logger.warn(text);
      this.send({ id: message.id, case: 'error', value: { code, message: text } });
    }
  }

  /**
   * Counts one creation of `kind` against its limit before the caller awaits mediasoup,
   * and releases the count when `create` settles; throws LIMIT when the peer is at it.
   */
  async #withinLimit<T>(
    kind: 'transports' | 'producers' | 'consumers',
    request: string,
    create: () => Promise<T>,
  ): Promise<T> {
    const held = { transports: this.#transports, producers: this.#producers, consumers: this.#consumers }[
      kind
    ];
    const max = {
      transports: this.limits.maxTransportsPerPeer,
      producers: this.limits.maxProducersPerPeer,
      consumers: this.limits.maxConsumersPerPeer,
    }[kind];
    const inUse = held.size + this.#reserved[kind];
    if (inUse >= max) {
      throw new MessageError(
        'LIMIT',
        `[${request}] at most ${max} ${kind} per connection (this one has ${held.size} open, ${this.#reserved[kind]} being created)`,
      );
    }
    this.#reserved[kind]++;
    try {
      return await create();
    } finally {
      this.#reserved[kind]--;
    }
  }

  /**
   * Runs a mediasoup call that takes the page's parameters as they came. mediasoup refuses
   * bad ones with a TypeError (from its own checks or the worker's, often without a reason)
   * or an UnsupportedError: the page's fault, so BAD_MESSAGE naming the parameters.
   */
  async #withPageParameters<T>(request: string, parameters: string, call: () => Promise<T> | T): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof TypeError) && (error as Error)?.name !== 'UnsupportedError') throw error;
      const reason = (error as Error).message.replace(/\s*\[method:[^\]]*\]\s*/, '').trim();
      throw new MessageError(
        'BAD_MESSAGE',
        `[${request}] mediasoup refused the ${parameters}: ${reason || 'no reason given (check each field against mediasoup-client)'}`,
      );
    }
  }

  #transport(id: string): ms.WebRtcTransport {
    const t = this.#transports.get(id);
    if (!t) throw new MessageError('NOT_FOUND', `no transport ${id} on this connection`);
    return t;
  }

  async #handle(message: ClientMessage): Promise<ServerReply> {
    const router = this.room.router;
    switch (message.case) {
      case 'ping':
        return { case: 'pong', value: { serverTimeMs: Date.now() } };
      case 'getRouterRtpCapabilities':
        return { case: 'routerRtpCapabilities', value: { rtpCapabilities: router.rtpCapabilities } };
      case 'createTransport': {
        const wanted = this.role === 'publish' ? 'send' : 'recv';
        if (message.value.direction !== wanted) {
          throw new MessageError('NOT_ALLOWED', `role "${this.role}" may only create a ${wanted} transport`);
        }
        const transport = await this.#withinLimit('transports', 'createTransport', async () => {
          const created = await router.createWebRtcTransport({
            listenIps: this.transportConfig.listenIps,
            enableUdp: true,
            enableTcp: true,
            preferUdp: true,
          });
          if (this.#closed) {
            created.close();
            throw new MessageError('NOT_FOUND', 'connection closed');
          }
          this.#transports.set(created.id, created);
          return created;
        });
        transport.observer.once('close', () => {
          this.#transports.delete(transport.id);
          this.#connected.delete(transport.id);
        });
        return {
          case: 'transportCreated',
          value: {
            id: transport.id,
            iceParameters: transport.iceParameters,
            iceCandidates: transport.iceCandidates,
            dtlsParameters: transport.dtlsParameters,
          },
        };
      }
      case 'connectTransport': {
        const transport = this.#transport(message.value.transportId);
        // Marked before the await, so a pipelined second connect is refused as well.
        if (this.#connected.has(transport.id))
          throw new MessageError('NOT_ALLOWED', `transport ${transport.id} is already connected`);
        this.#connected.add(transport.id);
        try {
          await this.#withPageParameters('connectTransport', 'dtlsParameters', () =>
            transport.connect({ dtlsParameters: message.value.dtlsParameters as ms.DtlsParameters }),
          );
        } catch (error) {
          this.#connected.delete(transport.id);
          throw error;
        }
        return { case: 'transportConnected', value: { transportId: message.value.transportId } };
      }
      case 'produce': {
        if (this.role !== 'publish') throw new MessageError('NOT_ALLOWED', 'only a publisher may produce');
        const rtpParameters = message.value.rtpParameters as ms.RtpParameters;
        const mimeType = String(rtpParameters.codecs?.[0]?.mimeType ?? 'none');
        if (!DECODABLE_MIME_TYPES.some((m) => m.toLowerCase() === mimeType.toLowerCase())) {
          throw new MessageError(
            'UNSUPPORTED_CODEC',
            `[publish, codec:${mimeType}] unsupported video codec; publish one of ${DECODABLE_MIME_TYPES.join(', ')}`,
          );
        }
        const transport = this.#transport(message.value.transportId);
        const producer = await this.#withinLimit('producers', 'produce', async () => {
          const created = await this.#withPageParameters('produce', 'rtpParameters', () =>
            transport.produce({ kind: 'video', rtpParameters }),
          );
          this.#producers.set(created.id, created);
          return created;
        });
        producer.observer.once('close', () => this.#producers.delete(producer.id));
        let attachment: Awaited<ReturnType<Room['attach']>>;
        try {
          attachment = await this.room.attach(producer);
        } catch (error) {
          // Frees the producer slot so the page can publish again.
          producer.close();
          throw error;
        }
        return { case: 'produced', value: { producerId: producer.id, offsetMs: attachment.offsetMs } };
      }
      case 'consumeFoley': {
        const foley = this.room.attachment?.audioProducer;
        if (!foley) throw new MessageError('NOT_FOUND', 'the room has no foley track yet (no publisher)');
        const rtpCapabilities = message.value.rtpCapabilities as ms.RtpCapabilities;
        const consumable = await this.#withPageParameters('consumeFoley', 'rtpCapabilities', () =>
          router.canConsume({ producerId: foley.id, rtpCapabilities }),
        );
        if (!consumable) {
          throw new MessageError('UNSUPPORTED_CODEC', 'these RTP capabilities cannot receive audio/opus');
        }
        const transport = this.#transport(message.value.transportId);
        const consumer = await this.#withinLimit('consumers', 'consumeFoley', async () => {
          const created = await this.#withPageParameters('consumeFoley', 'rtpCapabilities', () =>
            transport.consume({ producerId: foley.id, rtpCapabilities, paused: true }),
          );
          this.#consumers.set(created.id, created);
          return created;
        });
        consumer.observer.once('close', () => this.#consumers.delete(consumer.id));
        return {
          case: 'consumed',
          value: {
            consumerId: consumer.id,
            producerId: foley.id,
            kind: 'audio',
            rtpParameters: consumer.rtpParameters,
          },
        };
      }
      case 'resumeConsumer': {
        const consumer = this.#consumers.get(message.value.consumerId);
        if (!consumer) throw new MessageError('NOT_FOUND', `no consumer ${message.value.consumerId}`);
        await consumer.resume();
        return { case: 'consumerResumed', value: { consumerId: consumer.id } };
      }
    }
  }

  /** Idempotent: closes every transport (and so the producer and consumers). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#transports.values()) t.close();
    this.#transports.clear();
    this.#consumers.clear();
    this.#producers.clear();
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(1000);
    this.safeEmit('close');
    this.removeAllListeners();
  }
}
