import { isIPv6 } from 'node:net';
import { UsageError } from '../errors.js';

/** What one signaling connection may hold at once (a page needs one transport and one producer or consumer). */
export interface PeerLimits {
  maxTransportsPerPeer: number;
  maxProducersPerPeer: number;
  maxConsumersPerPeer: number;
}

/** Bounds that keep one token holder from using up the mediasoup worker for everyone else. */
export interface ServerLimits extends PeerLimits {
  /** Rooms that exist at once. */
  maxRooms: number;
  /** Open sockets (/ws and /listen) from one address; IPv6 addresses count per /64. */
  maxConnectionsPerIp: number;
  /** Open sockets in one room. */
  maxConnectionsPerRoom: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxRooms: 16,
  maxConnectionsPerIp: 16,
  maxConnectionsPerRoom: 32,
  maxTransportsPerPeer: 4,
  maxProducersPerPeer: 1,
  maxConsumersPerPeer: 4,
});

/** The defaults with `given` over them; each limit must be a positive integer. */
export function resolveServerLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  const limits = { ...DEFAULT_SERVER_LIMITS };
  for (const [name, value] of Object.entries(given) as Array<[keyof ServerLimits, unknown]>) {
    if (!(name in DEFAULT_SERVER_LIMITS))
      throw new UsageError(
        `[FoleyServer, limits] unknown limit "${name}"; known: ${Object.keys(DEFAULT_SERVER_LIMITS).join(', ')}`,
      );
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
      throw new UsageError(`[FoleyServer, limits.${name}] must be a positive integer, got ${String(value)}`);
    limits[name] = value;
  }
  return limits;
}

/** The key an address is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Open connections counted per key, at most `max` each. `acquire` counts one and hands
 * back its release (safe to call twice); it returns null when the key is at the limit.
 */
export class ConnectionCounts {
  readonly #counts = new Map<string, number>();

  constructor(readonly max: number) {}

  count(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  acquire(key: string): (() => void) | null {
    const n = this.count(key);
    if (n >= this.max) return null;
    this.#counts.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.count(key) - 1;
      if (left > 0) this.#counts.set(key, left);
      else this.#counts.delete(key);
    };
  }
}
