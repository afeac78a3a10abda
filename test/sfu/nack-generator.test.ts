import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NackGenerator, parseGenericNack, serializeGenericNack } from '../../src/sfu/rtp/NackGenerator.js';

describe('NackGenerator', () => {
  it('asks for a gap at once, again each retry interval, and stops when the packet arrives', () => {
    const nack = new NackGenerator({ retryIntervalMs: 40, maxRetries: 5 });
    assert.deepEqual(nack.onPacket(100, 0), []);
    assert.deepEqual(nack.onPacket(101, 1), []);
    assert.deepEqual(nack.onPacket(104, 2), [102, 103]);
    assert.deepEqual(nack.onTimer(20), [], 'not again before the retry interval');
    assert.deepEqual(nack.onTimer(45), [102, 103]);
    nack.onPacket(102, 50); // retransmitted
    assert.deepEqual(nack.onTimer(90), [103]);
    assert.equal(nack.stats.packetsRecovered, 1);
    assert.equal(nack.stats.packetsExpected, 5);
  });

  it('gives a packet up after its retries and counts it lost', () => {
    const nack = new NackGenerator({ retryIntervalMs: 10, maxRetries: 3 });
    nack.onPacket(65535, 0);
    assert.deepEqual(nack.onPacket(1, 0), [0], 'across the sequence number wrap');
    assert.deepEqual(nack.onTimer(10), [0]);
    assert.deepEqual(nack.onTimer(20), [0]);
    assert.deepEqual(nack.onTimer(30), []);
    assert.equal(nack.stats.packetsLost, 1);
    assert.equal(nack.missingCount, 0);
  });

  it('does not ask for a jump wider than maxGapPackets (a restarted stream)', () => {
    const nack = new NackGenerator({ maxGapPackets: 100 });
    nack.onPacket(0, 0);
    assert.deepEqual(nack.onPacket(5000, 1), []);
    assert.equal(nack.missingCount, 0);
  });
});

describe('generic NACK (RFC 4585)', () => {
  it('packs sequence numbers into PID+BLP entries and parses them back', () => {
    const seqs = [65530, 65531, 65535, 2, 40];
    const packet = serializeGenericNack(1, 0xdeadbeef, seqs);
    assert.equal(packet[1], 205);
    assert.equal(packet[0]! & 0x1f, 1);
    assert.equal(packet.length, 12 + 2 * 4, 'two entries: 65530 (+1, +5, +8) and 40');
    const parsed = parseGenericNack(packet)!;
    assert.equal(parsed.mediaSsrc, 0xdeadbeef);
    assert.deepEqual(parsed.sequenceNumbers, seqs);
  });
});
