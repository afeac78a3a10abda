import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { RoomTokens } from '../../src/server/tokens.js';

describe('RoomTokens', () => {
  it('is the base64url HMAC-SHA256 of the room name under the secret', () => {
    const expected = createHmac('sha256', 's3cret').update('main').digest('base64url');
    assert.equal(new RoomTokens('s3cret').tokenFor('main'), expected);
  });
  it('verifies only the right room, secret and token', () => {
    const tokens = new RoomTokens('s3cret');
    const t = tokens.tokenFor('main');
    assert.equal(tokens.verify('main', t), true);
    assert.equal(tokens.verify('other', t), false);
    assert.equal(new RoomTokens('different').verify('main', t), false);
    assert.equal(tokens.verify('main', `${t}x`), false);
    assert.equal(tokens.verify('main', undefined), false);
    assert.equal(tokens.verify('main', 'x'.repeat(1000)), false);
    assert.equal(tokens.verify('../etc', tokens.tokenFor('../etc')), false);
  });
  it('makes a random secret per instance when none is given', () => {
    assert.notEqual(new RoomTokens().tokenFor('main'), new RoomTokens().tokenFor('main'));
  });
});
