import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { packageRoot } from '../../src/models/bundle.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const MAIN = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

describe('foley serve --demo', () => {
  it('refuses an unknown --log-format by name', () => {
    const run = spawnSync(process.execPath, [MAIN, 'serve', '--log-format', 'yaml'], { encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--log-format must be one of text, json, got "yaml"/);
  });

  it('loops a clip through the live path so the printed OBS URL plays foley with no camera, logs JSON, and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [
        MAIN,
        'serve',
        '--demo',
        '--demo-clip',
        join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4'),
        '--model',
        TINY_BUNDLE_DIR,
        '--port',
        '0',
        '--log-format',
        'json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      while (!stdout.includes('demo: ')) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no demo line; stdout:\n${stdout}\nstderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(
        stdout,
        /WHIP \(OBS: Stream > Service WHIP\): server http:\/\/127\.0\.0\.1:\d+\/whip\/main/,
      );
      const obs = new URL(/OBS browser source \(listen only\): (\S+)/.exec(stdout)![1]!);
      const ws = new WebSocket(
        `ws://${obs.host}/listen?room=${obs.searchParams.get('room')}&token=${obs.searchParams.get('token')}`,
      );
      const audioPages = await new Promise<number>((resolve, reject) => {
        let pages = 0;
        const timer = setTimeout(() => reject(new Error(`only ${pages} audio pages in 30 s`)), 30_000);
        ws.on('message', (data, isBinary) => {
          // Header pages have granule 0; audio pages count up in 48 kHz samples.
          if (isBinary && (data as Buffer).readBigUInt64LE(6) > 0n && ++pages >= 25) {
            clearTimeout(timer);
            resolve(pages);
          }
        });
        ws.once('error', reject);
      });
      ws.close();
      assert.equal(audioPages, 25);
      const health = await fetch(`http://${obs.host}/healthz`);
      assert.equal(health.status, 200);
      // Audio pages flow (silence) before the first chunk is counted: wait for both.
      let metrics = '';
      const left = Date.now() + 30_000;
      const settled = (m: string) =>
        /^foley_peers\{role="listen"\} 0$/m.test(m) && /^foley_chunks_total\{level="[^"]+"\} [1-9]/m.test(m);
      while (!settled(metrics) && Date.now() < left) {
        metrics = await (await fetch(`http://${obs.host}/metrics`)).text();
        if (!settled(metrics)) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(metrics, /^foley_peers\{role="listen"\} 0$/m);
      assert.match(metrics, /^foley_rooms 1$/m, 'the demo keeps its room open after the listener left');
      assert.match(metrics, /^foley_chunks_total\{level="[^"]+"\} [1-9]/m);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
    const records = stderr
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { level: string; time: string; name: string; msg: string });
    assert.ok(records.length > 0);
    for (const r of records) assert.ok(r.level && r.time && r.name && r.msg, JSON.stringify(r));
    assert.ok(records.some((r) => r.name === 'server:access' && /^connected \/listen/.test(r.msg)));
  });
});
