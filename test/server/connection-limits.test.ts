import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/errors.js';
import {
  addressKey,
  ConnectionCounts,
  DEFAULT_SERVER_LIMITS,
  resolveServerLimits,
} from '../../src/server/ConnectionLimits.js';

describe('ConnectionCounts', () => {
  it('counts up to the limit per key and refuses the next', () => {
    const counts = new ConnectionCounts(2);
    const a1 = counts.acquire('a');
    const a2 = counts.acquire('a');
    assert.ok(a1 && a2);
    assert.equal(counts.acquire('a'), null);
    assert.ok(counts.acquire('b'), 'other keys have their own count');
  });
  it('frees a slot on release, and a second release of the same slot frees nothing more', () => {
    const counts = new ConnectionCounts(1);
    const release = counts.acquire('a')!;
    release();
    release();
    assert.equal(counts.count('a'), 0);
    assert.ok(counts.acquire('a'));
    assert.equal(counts.acquire('a'), null);
  });
});

describe('addressKey', () => {
  it('counts IPv4 and IPv4-mapped IPv6 as the same address', () => {
    assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
    assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
  });
  it('counts IPv6 addresses by their /64', () => {
    assert.equal(addressKey('2001:db8:1:2::5'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.notEqual(addressKey('2001:db8:1:3::5'), addressKey('2001:db8:1:2::5'));
  });
});

describe('resolveServerLimits', () => {
  it('fills left-out limits with the defaults', () => {
    assert.deepEqual(resolveServerLimits({ maxRooms: 3 }), { ...DEFAULT_SERVER_LIMITS, maxRooms: 3 });
    assert.deepEqual(resolveServerLimits({ maxRooms: undefined }), { ...DEFAULT_SERVER_LIMITS });
  });
  it('names a limit that is not a positive integer, or not a limit at all', () => {
    assert.throws(() => resolveServerLimits({ maxConnectionsPerIp: 0 }), {
      name: 'UsageError',
      message: /limits\.maxConnectionsPerIp\] must be a positive integer, got 0/,
    });
    assert.throws(() => resolveServerLimits({ maxRooms: 1.5 }), UsageError);
    assert.throws(() => resolveServerLimits({ maxPeers: 3 } as never), /unknown limit "maxPeers"/);
  });
});
