import { randomBytes } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import { Logger } from '../logger.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { RoomPeer } from './Room.js';
import type { TransportListenConfig } from './SignalingPeer.js';
import { buildWhipAnswer, parseWhipOffer, type WhipOffer } from './WhipSdp.js';

const logger = new Logger('server:WhipSession');

export type WhipSessionEvents = { close: [reason: string] };

export interface WhipSessionOptions {
  router: ms.Router;
  /** The publisher's SDP offer. */
  offerSdp: string;
  transportConfig: TransportListenConfig;
  /** Time allowed from the answer to a DTLS connection, ms. Default 30 000. */
  connectTimeoutMs?: number;
  /** Time an ICE disconnection may last before the session ends, ms. Default 10 000. */
  disconnectedTimeoutMs?: number;
}

/**
 * One WHIP publisher (RFC 9725): a WebRtcTransport (ICE-lite, DTLS) made from its offer,
 * its H.264 video producer and, if offered, its Opus audio producer (not consumed).
 * It ends on DELETE (`close()`), on a DTLS failure, when it does not connect in time or
 * stays disconnected; closing it closes the transport and so the producers.
 */
export class WhipSession extends TypedEmitter<WhipSessionEvents> implements RoomPeer {
  /** The resource id in the session's URL: unguessable, it is what DELETE needs. */
  readonly id = randomBytes(16).toString('hex');
  #closed = false;
  #connectTimer: NodeJS.Timeout | null = null;
  #disconnectedTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly transport: ms.WebRtcTransport,
    readonly videoProducer: ms.Producer,
    readonly audioProducer: ms.Producer | null,
    readonly answerSdp: string,
    options: WhipSessionOptions,
  ) {
    super();
    const disconnectedTimeoutMs = options.disconnectedTimeoutMs ?? 10_000;
    this.#connectTimer = setTimeout(
      () => this.close('no DTLS connection in time'),
      options.connectTimeoutMs ?? 30_000,
    );
    transport.on('dtlsstatechange', (state: ms.DtlsState) => {
      if (state === 'connected') {
        if (this.#connectTimer) clearTimeout(this.#connectTimer);
        this.#connectTimer = null;
        logger.debug(`session ${this.id}: DTLS connected`);
      } else if (state === 'failed' || state === 'closed') this.close(`DTLS ${state}`);
    });
    transport.on('icestatechange', (state: ms.IceState) => {
      if (state === 'disconnected') {
        this.#disconnectedTimer ??= setTimeout(() => this.close('ICE disconnected'), disconnectedTimeoutMs);
      } else if (this.#disconnectedTimer) {
        clearTimeout(this.#disconnectedTimer);
        this.#disconnectedTimer = null;
      }
    });
    transport.observer.once('close', () => this.close('transport closed'));
    videoProducer.observer.once('close', () => this.close('video producer closed'));
  }

  /** Reads the offer, makes the transport and producers and writes the answer; throws WhipOfferError on a bad offer. */
  static async create(options: WhipSessionOptions): Promise<WhipSession> {
    const { router } = options;
    const offer: WhipOffer = parseWhipOffer(options.offerSdp, router.rtpCapabilities);
    const transport = await router.createWebRtcTransport({
      listenIps: options.transportConfig.listenIps,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
    });
    try {
      await transport.connect({ dtlsParameters: offer.dtlsParameters });
      const videoProducer = await transport.produce({
        kind: 'video',
        rtpParameters: offer.video.rtpParameters,
      });
      let audioProducer: ms.Producer | null = null;
      if (offer.audio) {
        try {
          audioProducer = await transport.produce({
            kind: 'audio',
            rtpParameters: offer.audio.rtpParameters,
          });
        } catch (error) {
          // Audio is optional: the section is answered as rejected and the video goes on.
          logger.warn(`audio section refused: ${(error as Error).message}`);
          offer.audio = null;
        }
      }
      const answer = buildWhipAnswer(offer, transport);
      return new WhipSession(transport, videoProducer, audioProducer, answer, options);
    } catch (error) {
      transport.close();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A WHIP publisher has no channel for status; the room's pages show it. */
  sendStatus(): void {}

  /** Idempotent: closes the transport and its producers. */
  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    if (this.#disconnectedTimer) clearTimeout(this.#disconnectedTimer);
    if (!this.transport.closed) this.transport.close();
    logger.debug(`session ${this.id}: ${reason}`);
    this.safeEmit('close', reason);
    this.removeAllListeners();
  }
}
