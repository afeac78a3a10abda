import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/models/bundle.js';

const run = promisify(execFile);
const BIN = join(packageRoot(), 'bin', 'foley');

describe('the foley launcher (bin/foley)', () => {
  let dir: string;
  /** NODE_OPTIONS that print the allocator settings Node started with, before the command runs. */
  let printMallocEnv: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'foley-bin-'));
    const preload = join(dir, 'print-malloc-env.mjs');
    writeFileSync(
      preload,
      'process.stdout.write("malloc " + process.env.MALLOC_ARENA_MAX + " " + process.env.MALLOC_MMAP_THRESHOLD_ + "\\n");\n',
    );
    printMallocEnv = `--import=${preload}`;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('starts Node with the allocator settings that keep memory level, and runs the command', async () => {
    const { MALLOC_ARENA_MAX: _a, MALLOC_MMAP_THRESHOLD_: _m, ...env } = process.env;
    const { stdout } = await run(BIN, ['--version'], { env: { ...env, NODE_OPTIONS: printMallocEnv } });
    const [settings, version] = stdout.trim().split('\n');
    assert.equal(settings, 'malloc 2 131072');
    assert.match(version ?? '', /^\d+\.\d+\.\d+/);
  });

  it('leaves settings already in the environment alone, and passes the exit code through', async () => {
    const { stdout } = await run(BIN, ['--version'], {
      env: {
        ...process.env,
        MALLOC_ARENA_MAX: '4',
        MALLOC_MMAP_THRESHOLD_: '65536',
        NODE_OPTIONS: printMallocEnv,
      },
    });
    assert.equal(stdout.split('\n')[0], 'malloc 4 65536');
    await assert.rejects(
      run(BIN, ['render', '/nonexistent/clip.mp4', '-o', join(dir, 'x.wav')]),
      (error: { code?: number }) => {
        assert.equal(error.code, 4);
        return true;
      },
    );
  });
});
