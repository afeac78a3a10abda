import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/models/bundle.js';

const run = promisify(execFile);

describe('foley serve before the live set-up', () => {
  it('names the missing mediasoup worker and the set-up command instead of crashing on spawn', async () => {
    const missing = join(packageRoot(), 'no-such-dir', 'mediasoup-worker');
    const result = await run(
      process.execPath,
      [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'serve'],
      {
        env: { ...process.env, MEDIASOUP_WORKER_BIN: missing },
        timeout: 30_000,
      },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.split('\n')[0],
      `foley: [serve] the mediasoup worker is not built (no ${missing}): in a checkout run npm run setup:live; elsewhere reinstall mediasoup with its install script (make, g++ and Python <= 3.9) or set MEDIASOUP_WORKER_BIN`,
    );
  });
});
