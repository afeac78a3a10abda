import type { types as ms } from 'mediasoup';
import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import type { QualityLevel } from '../../pipelines/live.js';
import { Logger } from '../logger.js';
import type { InferenceRunner } from '../models/inference-runner.js';
import { type AttachFoleyOptions, FoleyAttachment } from '../sfu/FoleyAttachment.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { RoomStatus } from './messages.js';
import { OggOpusMuxer } from './OggOpusMuxer.js';
import { PlayoutLatencyReports } from './PlayoutLatencyReports.js';

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

/** A signaling peer as the room sees it: it gets every status update. */
export interface RoomPeer {
  sendStatus(status: RoomStatus): void;
}

export type RoomEvents = {
  status: [RoomStatus];
  /** The foley producer changed (a viewer should consume the new one). */
  foleyproducer: [ms.Producer | null];
  /** Foley was attached to a new video producer. */
  attachment: [FoleyAttachment];
  /** The last peer or listener left. */
  empty: [];
  close: [];
};

export type RoomPipelineOptions = Omit<AttachFoleyOptions, 'router' | 'producer' | 'runner' | 'bundleDir'>;

export interface RoomOptions {
  /** Clock and timers of status updates and report expiry (default: RxJS asyncScheduler, Date.now). */
  scheduler?: SchedulerLike;
  /** Least time between two status updates, ms (changes in between are sent together). Default 250. */
  statusMinIntervalMs?: number;
}

/** Packet loss on the input from which the pages are told (share, 0..1). */
export const LOSSY_INPUT_RATE = 0.02;

/** The room's state in plain words for the pages; null while foley runs at full quality. */
export function roomNote(
  state: RoomStatus['state'],
  level: QualityLevel | null,
  hadVideo: boolean,
  inputLossRate = 0,
): string | null {
  switch (state) {
    case 'waiting':
      return 'waiting for video';
    case 'starting':
      return 'starting foley';
    case 'idle':
      return hadVideo ? 'input lost: waiting for video' : 'waiting for video';
    case 'active':
      if (inputLossRate >= LOSSY_INPUT_RATE)
        return `input lossy: ${Math.round(inputLossRate * 100)}% packets lost`;
      if (level && !level.generate) return 'overloaded: skipping';
      if (level && level.level > 0) return 'CPU busy: lighter model';
      return null;
  }
}

/**
 * One room: a router, at most one publisher's video with foley attached, and the
 * listeners of its Ogg stream. Closing the room closes the attachment and the router.
 */
export class Room extends TypedEmitter<RoomEvents> {
  #attachment: FoleyAttachment | null = null;
  #attaching: Promise<FoleyAttachment> | null = null;
  #state: RoomStatus['state'] = 'waiting';
  /** Whether the current publisher's video has arrived at all (idle before it is not "input lost"). */
  #hadVideo = false;
  readonly #listeners = new Map<OggListener, OggOpusMuxer>();
  readonly #peers = new Set<RoomPeer>();
  #granule = 0n;
  #closed = false;
  readonly #serial = Math.floor(Math.random() * 2 ** 31);
  readonly #playout = new PlayoutLatencyReports<OggListener>();
  readonly #scheduler: SchedulerLike;
  readonly #statusMinIntervalMs: number;
  #lastStatusJson = '';
  #lastStatusAtMs = Number.NEGATIVE_INFINITY;
  #statusPending: Subscription | null = null;
  #playoutExpiry: Subscription | null = null;
  /** The offset of the room's first attachment, kept for the next ones (a republish). */
  #offsetMs: number | undefined;

  constructor(
    readonly name: string,
    readonly router: ms.Router,
    readonly runner: InferenceRunner,
    readonly pipelineOptions: RoomPipelineOptions,
    options: RoomOptions = {},
  ) {
    super();
    this.#scheduler = options.scheduler ?? asyncScheduler;
    this.#statusMinIntervalMs = options.statusMinIntervalMs ?? 250;
    this.#lastStatusJson = JSON.stringify(this.status());
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
  addPeer(peer: RoomPeer): void {
    if (!this.#closed) this.#peers.add(peer);
  }

  removePeer(peer: RoomPeer): void {
    if (this.#peers.delete(peer)) this.#emitIfEmpty();
  }

  status(): RoomStatus {
    const a = this.#attachment;
    const level = a ? a.pipeline.currentLevel : null;
    const offsetMs = a ? a.offsetMs : null;
    const addedMs = this.#playout.largestMs(this.#scheduler.now());
    return {
      room: this.name,
      state: this.#state,
      offsetMs,
      level: level ? level.name : null,
      foleyProducerId: a ? a.audioProducer.id : null,
      syncOffsetMs: offsetMs !== null && addedMs !== null ? Math.round(offsetMs + addedMs) : null,
      note: roomNote(this.#state, level, this.#hadVideo, a ? a.ingestStats.recentLossRate : 0),
    };
  }

  /** A listen page's measured playout latency (jitter buffer and audio output), ms. */
  reportPlayoutLatency(listener: OggListener, addedMs: number): void {
    if (this.#closed || !this.#listeners.has(listener)) return;
    this.#playout.report(listener, addedMs, this.#scheduler.now());
    this.#schedulePlayoutExpiry();
    this.#broadcastStatus();
  }

  /** Re-checks the status when the oldest playout report goes stale. */
  #schedulePlayoutExpiry(): void {
    this.#playoutExpiry?.unsubscribe();
    this.#playoutExpiry = null;
    const expiresAtMs = this.#playout.nextExpiryMs();
    if (expiresAtMs === null || this.#closed) return;
    this.#playoutExpiry = this.#scheduler.schedule(
      () => {
        this.#playoutExpiry = null;
        this.#broadcastStatus();
        this.#schedulePlayoutExpiry();
      },
      Math.max(0, expiresAtMs - this.#scheduler.now()),
    );
  }

  /** Attaches foley to a newly published video producer, replacing any earlier one. */
  async attach(producer: ms.Producer): Promise<FoleyAttachment> {
    this.#attachment?.close();
    this.#hadVideo = false;
    this.#setState('starting');
    // A republish keeps the offset the streamer has already set in OBS; a calibration would
    // state a new figure (it varies by some 20 ms between runs on a loaded machine).
    const attaching = FoleyAttachment.create({
      ...this.pipelineOptions,
      ...(this.#offsetMs !== undefined ? { offsetMs: this.#offsetMs } : {}),
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
    this.#offsetMs ??= attachment.offsetMs;
    attachment.on('packet', (packet) => this.#fanOut(packet.data));
    attachment.on('idle', () => this.#setState('idle'));
    attachment.on('active', () => {
      this.#hadVideo = true;
      this.#setState('active');
    });
    attachment.on('levelchange', () => this.#broadcastStatus());
    attachment.ingest.on('lossratechange', () => this.#broadcastStatus());
    attachment.on('close', () => {
      if (this.#attachment !== attachment) return;
      this.#attachment = null;
      this.#setState('waiting');
      this.safeEmit('foleyproducer', null);
    });
    this.#setState('idle');
    this.safeEmit('attachment', attachment);
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
    if (!this.#listeners.delete(listener)) return;
    this.#playout.remove(listener);
    this.#schedulePlayoutExpiry();
    this.#broadcastStatus();
    this.#emitIfEmpty();
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

  /** Sends the status if it changed, at most once per statusMinIntervalMs (later changes wait and go together). */
  #broadcastStatus(): void {
    if (this.#closed || this.#statusPending) return;
    const waitMs = this.#lastStatusAtMs + this.#statusMinIntervalMs - this.#scheduler.now();
    if (waitMs > 0) {
      this.#statusPending = this.#scheduler.schedule(() => {
        this.#statusPending = null;
        this.#sendStatusIfChanged();
      }, waitMs);
      return;
    }
    this.#sendStatusIfChanged();
  }

  #sendStatusIfChanged(): void {
    if (this.#closed) return;
    const status = this.status();
    const json = JSON.stringify(status);
    if (json === this.#lastStatusJson) return;
    this.#lastStatusJson = json;
    this.#lastStatusAtMs = this.#scheduler.now();
    for (const listener of [...this.#listeners.keys()]) {
      try {
        listener.sendStatus(status);
      } catch {
        this.removeListener(listener);
      }
    }
    for (const peer of this.#peers) {
      try {
        peer.sendStatus(status);
      } catch (error) {
        logger.warn(`peer status send failed: ${(error as Error).message}`);
      }
    }
    this.safeEmit('status', status);
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#statusPending?.unsubscribe();
    this.#playoutExpiry?.unsubscribe();
    this.#attachment?.close();
    this.#attachment = null;
    this.#listeners.clear();
    this.#peers.clear();
    if (!this.router.closed) this.router.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}
