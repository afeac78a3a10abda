import type { types as ms } from 'mediasoup';
import { Logger } from '../logger.js';
import type { InferenceRunner } from '../models/inference-runner.js';
import { type AttachFoleyOptions, FoleyAttachment } from '../sfu/FoleyAttachment.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { RoomStatus } from './messages.js';
import { OggOpusMuxer } from './OggOpusMuxer.js';

const logger = new Logger('server:Room');

/** Router media codecs: VP8 and H.264 are what the ingest decodes; VP9 is routable only so a publisher using it gets a clear error. */
export const ROOM_MEDIA_CODECS: ms.RtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: {} },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
  { kind: 'video', mimeType: 'video/VP9', clockRate: 90000, parameters: { 'profile-id': 0 } },
];

/** A page that plays the room's foley as Ogg Opus (the OBS browser source). */
export interface OggListener {
  send(data: Buffer): void;
  sendStatus(status: RoomStatus): void;
}

export type RoomEvents = {
  status: [RoomStatus];
  /** The foley producer changed (a viewer should consume the new one). */
  foleyproducer: [ms.Producer | null];
  /** The last peer or listener left. */
  empty: [];
  close: [];
};

export type RoomPipelineOptions = Omit<AttachFoleyOptions, 'router' | 'producer' | 'runner' | 'bundleDir'>;

/**
 * One room: a router, at most one publisher's video with foley attached, and the
 * listeners of its Ogg stream. Closing the room closes the attachment and the router.
 */
export class Room extends TypedEmitter<RoomEvents> {
  #attachment: FoleyAttachment | null = null;
  #attaching: Promise<FoleyAttachment> | null = null;
  #state: RoomStatus['state'] = 'waiting';
  readonly #listeners = new Map<OggListener, OggOpusMuxer>();
  readonly #peers = new Set<object>();
  #granule = 0n;
  #closed = false;
  readonly #serial = Math.floor(Math.random() * 2 ** 31);

  constructor(
    readonly name: string,
    readonly router: ms.Router,
    readonly runner: InferenceRunner,
    readonly pipelineOptions: RoomPipelineOptions,
  ) {
    super();
    router.observer.on('close', () => this.close());
  }

  get attachment(): FoleyAttachment | null {
    return this.#attachment;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get oggListenerCount(): number {
    return this.#listeners.size;
  }

  /** Signaling peers and Ogg listeners in the room. */
  get memberCount(): number {
    return this.#peers.size + this.#listeners.size;
  }

  /** A signaling peer joined; its producer and consumers are its own and leave with it. */
  addPeer(peer: object): void {
    if (!this.#closed) this.#peers.add(peer);
  }

  removePeer(peer: object): void {
    if (this.#peers.delete(peer)) this.#emitIfEmpty();
  }

  status(): RoomStatus {
    const a = this.#attachment;
    return {
      room: this.name,
      state: this.#state,
      offsetMs: a ? a.offsetMs : null,
      level: a ? a.pipeline.currentLevel.name : null,
      foleyProducerId: a ? a.audioProducer.id : null,
    };
  }

  /** Attaches foley to a newly published video producer, replacing any earlier one. */
  async attach(producer: ms.Producer): Promise<FoleyAttachment> {
    this.#attachment?.close();
    this.#setState('starting');
    const attaching = FoleyAttachment.create({
      ...this.pipelineOptions,
      router: this.router,
      producer,
      runner: this.runner,
    });
    this.#attaching = attaching;
    let attachment: FoleyAttachment;
    try {
      attachment = await attaching;
    } catch (error) {
      if (this.#attaching === attaching) this.#setState('waiting');
      throw error;
    }
    if (this.#closed || this.#attaching !== attaching) {
      attachment.close();
      throw new Error(`[room:${this.name}] superseded while attaching`);
    }
    this.#attachment = attachment;
    attachment.on('packet', (packet) => this.#fanOut(packet.data));
    attachment.on('idle', () => this.#setState('idle'));
    attachment.on('active', () => this.#setState('active'));
    attachment.on('levelchange', () => this.#broadcastStatus());
    attachment.on('close', () => {
      if (this.#attachment !== attachment) return;
      this.#attachment = null;
      this.#setState('waiting');
      this.safeEmit('foleyproducer', null);
    });
    this.#setState('idle');
    this.safeEmit('foleyproducer', attachment.audioProducer);
    logger.debug(`room ${this.name}: foley attached, offset ${attachment.offsetMs} ms`);
    return attachment;
  }

  addListener(listener: OggListener): void {
    if (this.#closed) return;
    const muxer = new OggOpusMuxer(this.#serial, this.#attachment?.pipeline.opusPreSkip ?? 120);
    for (const page of muxer.headerPages()) listener.send(page);
    this.#listeners.set(listener, muxer);
    listener.sendStatus(this.status());
  }

  removeListener(listener: OggListener): void {
    if (this.#listeners.delete(listener)) this.#emitIfEmpty();
  }

  #emitIfEmpty(): void {
    if (!this.#closed && this.memberCount === 0) this.safeEmit('empty');
  }

  #fanOut(packet: Buffer): void {
    this.#granule += 960n;
    for (const [listener, muxer] of this.#listeners) {
      try {
        listener.send(muxer.audioPage(packet, this.#granule));
      } catch (error) {
        logger.warn(`listener send failed: ${(error as Error).message}`);
        this.removeListener(listener);
      }
    }
  }

  #setState(state: RoomStatus['state']): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#broadcastStatus();
  }

  #broadcastStatus(): void {
    const status = this.status();
    for (const listener of this.#listeners.keys()) {
      try {
        listener.sendStatus(status);
      } catch {
        this.removeListener(listener);
      }
    }
    this.safeEmit('status', status);
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#attachment?.close();
    this.#attachment = null;
    this.#listeners.clear();
    this.#peers.clear();
    if (!this.router.closed) this.router.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}
