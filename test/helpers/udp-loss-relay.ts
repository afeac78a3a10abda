/**
 * A UDP relay on 127.0.0.1 that forwards RTP and RTCP both ways and drops a set share of
 * the RTP packets (seeded, so a run can be repeated). RTCP always passes: the loss under
 * test is of media, and NACKs and keyframe requests must be able to answer it.
 *
 * One socket: datagrams from `forwardTo` go to the peer that last sent from anywhere else;
 * datagrams from that peer go to `forwardTo`. Place it where a sender would send to the
 * receiver: the sender sends to `relay.port` instead.
 */
import dgram from 'node:dgram';
import { seededUniform } from '../../src/diffusion/seeded-random.js';

export interface UdpLossRelayOptions {
  /** The receiver the relay stands in front of. */
  forwardTo: { ip: string; port: number };
  /** Share of RTP packets dropped, 0..1. */
  lossRate: number;
  /** Seed of the drop decisions. */
  seed?: number;
  /** Also drop exactly these RTP packets: 0-based indices among the RTP packets the relay saw. */
  dropIndices?: readonly number[];
}

export interface UdpLossRelayStats {
  rtpForwarded: number;
  rtpDropped: number;
  rtcpForwarded: number;
}

export class UdpLossRelay {
  readonly stats: UdpLossRelayStats = { rtpForwarded: 0, rtpDropped: 0, rtcpForwarded: 0 };
  #peer: { address: string; port: number } | null = null;
  #closed = false;
  #rtpSeen = 0;

  private constructor(
    readonly socket: dgram.Socket,
    readonly options: UdpLossRelayOptions,
    readonly random: () => number,
  ) {
    socket.on('message', (msg, from) => this.#onDatagram(msg, from));
  }

  static async start(options: UdpLossRelayOptions): Promise<UdpLossRelay> {
    if (!(options.lossRate >= 0 && options.lossRate <= 1)) {
      throw new RangeError(`[udp-loss-relay] lossRate must be within 0..1, got ${options.lossRate}`);
    }
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setRecvBufferSize(4 * 1024 * 1024);
    socket.setSendBufferSize(4 * 1024 * 1024);
    return new UdpLossRelay(socket, options, seededUniform(options.seed ?? 1));
  }

  get address(): { ip: string; port: number } {
    return { ip: '127.0.0.1', port: this.socket.address().port };
  }

  /** Share of RTP packets dropped so far. */
  get droppedShare(): number {
    const total = this.stats.rtpForwarded + this.stats.rtpDropped;
    return total > 0 ? this.stats.rtpDropped / total : 0;
  }

  #onDatagram(msg: Buffer, from: dgram.RemoteInfo): void {
    if (this.#closed) return;
    const { forwardTo } = this.options;
    const fromReceiver = from.address === forwardTo.ip && from.port === forwardTo.port;
    if (!fromReceiver) this.#peer = { address: from.address, port: from.port };
    const to = fromReceiver ? this.#peer : { address: forwardTo.ip, port: forwardTo.port };
    if (!to) return;
    if (isRtp(msg)) {
      const index = this.#rtpSeen++;
      if (this.random() < this.options.lossRate || this.options.dropIndices?.includes(index)) {
        this.stats.rtpDropped++;
        return;
      }
      this.stats.rtpForwarded++;
    } else {
      this.stats.rtcpForwarded++;
    }
    this.socket.send(msg, to.port, to.address);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close();
  }
}

/** RTP v2 and not RTCP (whose packet types 192..223 overlap payload types 64..95 with the marker). */
function isRtp(msg: Buffer): boolean {
  if (msg.length < 12 || msg[0]! >> 6 !== 2) return false;
  const packetType = msg[1]!;
  return packetType < 192 || packetType > 223;
}
