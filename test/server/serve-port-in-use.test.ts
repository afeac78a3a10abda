import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/models/bundle.js';
import { FoleyServer } from '../../src/server/FoleyServer.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

describe('foley serve on a port that is taken', () => {
  it('exits 2 naming the port instead of hanging with its worker and runner alive', async () => {
    const first = await FoleyServer.start({ port: 0, bundleDir: TINY_BUNDLE_DIR, accessLog: () => {} });
    try {
      const child = spawn(
        process.execPath,
        [MAIN, 'serve', '--model', TINY_BUNDLE_DIR, '--port', String(first.port)],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(null);
        }, 60_000);
        child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      assert.equal(code, 2, `exit code (null: still running after 60 s); stderr:\n${stderr}`);
      assert.match(stderr.split('\n')[0]!, new RegExp(`port ${first.port} on 127\\.0\\.0\\.1 is in use`));
    } finally {
      await first.close();
    }
  });
});
