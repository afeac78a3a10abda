import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { RoomTokens, roleAllows } from '../../src/server/tokens.js';

describe('RoomTokens', () => {
  it('is ROLE.EXPIRY.MAC, the MAC a base64url HMAC-SHA256 of room, role and expiry under the secret', () => {
    const mac = createHmac('sha256', 's3cret')
      .update('foley-room-token\nmain\nlisten\n0')
      .digest('base64url');
    assert.equal(new RoomTokens('s3cret').tokenFor('main', 'listen'), `listen.0.${mac}`);
  });

  it('verifies only the right room, secret and token, and gives the role', () => {
    const tokens = new RoomTokens('s3cret');
    const t = tokens.tokenFor('main', 'view');
    assert.deepEqual(tokens.verify('main', t), { ok: true, role: 'view', expiresAtMs: null });
    assert.match(reason(tokens, 'other', t), /not valid for room "other"/);
    assert.match(reason(new RoomTokens('different'), 'main', t), /not valid for room "main"/);
    assert.match(reason(tokens, 'main', `${t}x`), /not valid/);
    assert.match(reason(tokens, 'main', undefined), /no token given/);
    assert.match(reason(tokens, 'main', 'x'.repeat(1000)), /too long/);
    assert.match(reason(tokens, '../etc', t), /bad room name/);
  });

  it('refuses a token whose role was changed, since the MAC covers the role', () => {
    const tokens = new RoomTokens('s3cret');
    const listen = tokens.tokenFor('main', 'listen');
    assert.match(reason(tokens, 'main', listen.replace(/^listen\./, 'publish.')), /not valid/);
    assert.match(reason(tokens, 'main', listen.replace(/^listen\./, 'admin.')), /role must be one of/);
  });

  it('refuses an old role-less token with a message that says so', () => {
    const old = createHmac('sha256', 's3cret').update('main').digest('base64url');
    assert.match(reason(new RoomTokens('s3cret'), 'main', old), /carries no role.*older foley serve/);
  });

  it('expires a token after its lifetime, by the injected clock', () => {
    let nowMs = Date.UTC(2026, 0, 1);
    const tokens = new RoomTokens('s3cret', { now: () => nowMs });
    const t = tokens.tokenFor('main', 'publish', { ttlSeconds: 60 });
    assert.deepEqual(tokens.verify('main', t), { ok: true, role: 'publish', expiresAtMs: nowMs + 60_000 });
    nowMs += 59_999;
    assert.equal(tokens.verify('main', t).ok, true);
    nowMs += 1;
    assert.match(reason(tokens, 'main', t), /expired at 2026-01-01T00:01:00\.000Z/);
    assert.match(
      reason(tokens, 'main', t.replace(/\.\d+\./, '.99999999999.')),
      /not valid/,
      'expiry is signed',
    );
  });

  it('names a bad room, role or lifetime when making a token', () => {
    const tokens = new RoomTokens('s3cret');
    assert.throws(() => tokens.tokenFor('a b', 'view'), /room names are/);
    assert.throws(
      () => tokens.tokenFor('main', 'owner' as never),
      /role must be one of publish, view, listen/,
    );
    assert.throws(() => tokens.tokenFor('main', 'view', { ttlSeconds: 0 }), /ttlSeconds must be a positive/);
  });

  it('makes a random secret per instance when none is given', () => {
    assert.notEqual(new RoomTokens().tokenFor('main', 'view'), new RoomTokens().tokenFor('main', 'view'));
  });
});

describe('roleAllows', () => {
  it('lets publish do everything, view view and listen, and listen only listen', () => {
    assert.ok(
      roleAllows('publish', 'publish') && roleAllows('publish', 'view') && roleAllows('publish', 'listen'),
    );
    assert.ok(!roleAllows('view', 'publish') && roleAllows('view', 'view') && roleAllows('view', 'listen'));
    assert.ok(
      !roleAllows('listen', 'publish') && !roleAllows('listen', 'view') && roleAllows('listen', 'listen'),
    );
  });
});

function reason(tokens: RoomTokens, room: string, token: unknown): string {
  const check = tokens.verify(room, token);
  assert.equal(check.ok, false);
  return check.ok ? '' : check.reason;
}
