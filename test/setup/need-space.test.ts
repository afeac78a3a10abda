import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(fileURLToPath(new URL('../../..', import.meta.url)), 'scripts', 'need-space.sh');

const needSpace = (gib: string) =>
  spawnSync('bash', [SCRIPT, tmpdir(), gib, 'the worker build'], { encoding: 'utf8' });

describe('scripts/need-space.sh (the set-up stops on a full disk before it starts)', () => {
  it('passes quietly where the disk has the space', () => {
    const r = needSpace('0');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '');
  });

  it('stops with one plain line naming the folder, what needs the space and how much', () => {
    const r = needSpace('1000000');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^setup: only \\d+ MiB free on ${tmpdir()}; the worker build needs about 1000000 GiB there\\.\\n`,
      ),
    );
    assert.match(r.stderr, /free some space \(or point TMPDIR at a roomier disk\)/);
  });
});
