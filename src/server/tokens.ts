import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Room names: what a URL parameter may carry. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Room tokens: HMAC-SHA256 of the room name under the server's secret, base64url.
 * Anyone with the token may publish to or listen in that room, and nothing else.
 */
export class RoomTokens {
  readonly #secret: Buffer;

  constructor(secret?: string) {
    this.#secret = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
  }

  tokenFor(room: string): string {
    return createHmac('sha256', this.#secret).update(room, 'utf8').digest('base64url');
  }

  verify(room: string, token: unknown): boolean {
    if (typeof token !== 'string' || token.length > 128 || !ROOM_NAME_PATTERN.test(room)) return false;
    const expected = Buffer.from(this.tokenFor(room));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
