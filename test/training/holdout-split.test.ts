import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MediaInputError, UsageError } from '../../src/errors.js';
import { heldOutCount, splitHoldout } from '../../src/training/holdout-split.js';

const NAMES = Object.freeze(Array.from({ length: 10 }, (_, i) => `clip-${String(i).padStart(2, '0')}.mp4`));

describe('held-out split', () => {
  it('gives the same split for the same names, share and seed, whatever order the names come in', () => {
    const first = splitHoldout(NAMES, 0.2, 7);
    assert.deepEqual(splitHoldout([...NAMES].reverse(), 0.2, 7), first);
    assert.equal(first.heldOut.length, 2);
    assert.equal(first.train.length, 8);
    assert.deepEqual([...first.train, ...first.heldOut].sort(), [...NAMES]);
    assert.deepEqual(first.train, [...first.train].sort());
  });

  it('draws another split for another seed', () => {
    const splits = new Set([0, 1, 2, 3, 4].map((seed) => splitHoldout(NAMES, 0.3, seed).heldOut.join()));
    assert.ok(splits.size > 1, [...splits].join(' | '));
  });

  it('holds out at least one video and leaves at least one to train on', () => {
    assert.deepEqual(
      [heldOutCount(2, 0.01), heldOutCount(2, 0.99), heldOutCount(3, 0.34), heldOutCount(100, 0.2)],
      [1, 1, 1, 20],
    );
    const two = splitHoldout(['b.mp4', 'a.mp4'], 0.9, 0);
    assert.equal(two.heldOut.length, 1);
    assert.equal(two.train.length, 1);
  });

  it('refuses fewer than two videos and a share outside (0, 1), naming the problem', () => {
    assert.throws(
      () => splitHoldout(['a.mp4'], 0.2, 0),
      (e: unknown) => {
        assert.ok(e instanceof MediaInputError);
        assert.match(e.message, /needs at least 2 usable videos .*got 1/);
        return true;
      },
    );
    for (const share of [0, 1, -0.5, Number.NaN])
      assert.throws(() => splitHoldout(NAMES, share, 0), UsageError, String(share));
  });
});
