import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Room names: what a URL parameter may carry. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * What a token lets its holder do in its room. publish: send video (and view, listen);
 * view: receive the foley over WebRTC (and listen); listen: only the Ogg stream (the OBS page).
 */
export type TokenRole = 'publish' | 'view' | 'listen';
export const TOKEN_ROLES: readonly TokenRole[] = Object.freeze(['publish', 'view', 'listen']);

const GRANTS: Record<TokenRole, readonly TokenRole[]> = {
  publish: ['publish', 'view', 'listen'],
  view: ['view', 'listen'],
  listen: ['listen'],
};

/** Whether a token of role `held` may connect as `wanted`. */
export function roleAllows(held: TokenRole, wanted: TokenRole): boolean {
  return GRANTS[held].includes(wanted);
}

export type TokenCheck =
  | { ok: true; role: TokenRole; expiresAtMs: number | null }
  | { ok: false; reason: string };

export interface RoomTokensOptions {
  /** Clock for expiry, ms since the epoch (tests pass their own). */
  now?: () => number;
}

/**
 * Room tokens: `ROLE.EXPIRY.MAC`, where EXPIRY is seconds since the epoch (0: never) and
 * MAC is the base64url HMAC-SHA256 of room, role and expiry under the server's secret.
 * A token is good for its one room and role (and the roles below it) until it expires.
 */
export class RoomTokens {
  readonly #secret: Buffer;
  readonly #now: () => number;

  constructor(secret?: string, options: RoomTokensOptions = {}) {
    this.#secret = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
    this.#now = options.now ?? Date.now;
  }

  /** A token for `room` and `role`; with `ttlSeconds` it expires that long from now. */
  tokenFor(room: string, role: TokenRole, options: { ttlSeconds?: number } = {}): string {
    if (!ROOM_NAME_PATTERN.test(room))
      throw new RangeError(`[tokens] room names are 1-64 characters of A-Z a-z 0-9 _ -, got "${room}"`);
    if (!TOKEN_ROLES.includes(role))
      throw new RangeError(`[tokens] role must be one of ${TOKEN_ROLES.join(', ')}, got "${role}"`);
    const ttl = options.ttlSeconds;
    if (ttl !== undefined && !(Number.isFinite(ttl) && ttl > 0))
      throw new RangeError(`[tokens] ttlSeconds must be a positive number of seconds, got ${ttl}`);
    const expiry = ttl === undefined ? 0 : Math.ceil(this.#now() / 1000 + ttl);
    return `${role}.${expiry}.${this.#mac(room, role, String(expiry))}`;
  }

  /** Checks a token for `room`; the reason of a refusal says what is wrong without repeating the token. */
  verify(room: string, token: unknown): TokenCheck {
    if (typeof token !== 'string' || token === '') return { ok: false, reason: 'no token given' };
    if (token.length > 160) return { ok: false, reason: `token is ${token.length} characters, too long` };
    if (!ROOM_NAME_PATTERN.test(room)) return { ok: false, reason: 'bad room name' };
    const parts = token.split('.');
    if (parts.length === 1)
      return {
        ok: false,
        reason: 'token carries no role (made by an older foley serve); use the URLs foley serve prints now',
      };
    const [role, expiry, mac] = parts as [string, string, string];
    if (parts.length !== 3 || !/^(0|[1-9][0-9]{0,11})$/.test(expiry))
      return { ok: false, reason: 'malformed token (expected ROLE.EXPIRY.MAC)' };
    if (!TOKEN_ROLES.includes(role as TokenRole))
      return { ok: false, reason: `token role must be one of ${TOKEN_ROLES.join(', ')}` };
    const expected = Buffer.from(this.#mac(room, role, expiry));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, reason: `token is not valid for room "${room}"` };
    const expiresAtMs = expiry === '0' ? null : Number(expiry) * 1000;
    if (expiresAtMs !== null && this.#now() >= expiresAtMs)
      return { ok: false, reason: `token expired at ${new Date(expiresAtMs).toISOString()}` };
    return { ok: true, role: role as TokenRole, expiresAtMs };
  }

  #mac(room: string, role: string, expiry: string): string {
    return createHmac('sha256', this.#secret)
      .update(`foley-room-token\n${room}\n${role}\n${expiry}`, 'utf8')
      .digest('base64url');
  }
}
