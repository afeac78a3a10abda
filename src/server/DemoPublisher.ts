import { Logger } from '../logger.js';
import { TypedEmitter } from '../typed-emitter.js';
import { FfmpegRtpSource } from './FfmpegRtpSource.js';
import type { Room, RoomPeer } from './Room.js';

const logger = new Logger('server:DemoPublisher');

export type DemoPublisherEvents = { close: [] };

export interface DemoPublisherOptions {
  room: Room;
  /** Video file played in a loop, in real time. */
  clip: string;
  codec?: 'vp8' | 'h264';
  ffmpegPath?: string;
}

/**
 * `foley serve --demo`: a clip looped into a room through the real live path (ffmpeg
 * sends RTP to a mediasoup producer, foley attaches to it as to a page's camera), so the
 * OBS page has something to play with no camera. It is a member of the room, which so
 * stays open while nobody listens. Closing it stops ffmpeg and the producer.
 */
export class DemoPublisher extends TypedEmitter<DemoPublisherEvents> implements RoomPeer {
  #closed = false;

  private constructor(
    readonly room: Room,
    readonly source: FfmpegRtpSource,
  ) {
    super();
    source.on('exit', (code) => {
      if (!this.#closed) logger.error(`demo ffmpeg exited with code ${code}; the demo stopped`);
      this.close();
    });
    source.on('close', () => this.close());
    room.on('close', () => this.close());
  }

  static async start(options: DemoPublisherOptions): Promise<DemoPublisher> {
    const { room } = options;
    const source = await FfmpegRtpSource.start({
      router: room.router,
      clip: options.clip,
      codec: options.codec ?? 'vp8',
      ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
    });
    const demo = new DemoPublisher(room, source);
    room.addPeer(demo);
    try {
      await room.attach(source.producer);
    } catch (error) {
      demo.close();
      throw error;
    }
    logger.info(`demo clip playing in room ${room.name}`, { room: room.name, clip: options.clip });
    return demo;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The demo has no page to tell. */
  sendStatus(): void {}

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.source.close();
    this.room.removePeer(this);
    this.safeEmit('close');
    this.removeAllListeners();
  }
}
