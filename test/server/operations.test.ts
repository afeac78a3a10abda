import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import { configureLogging } from '../../src/logger.js';
import { loadBundle } from '../../src/models/bundle.js';
import { InferenceRunner } from '../../src/models/inference-runner.js';
import { FfmpegRtpSource } from '../../src/server/FfmpegRtpSource.js';
import { FoleyServer, type ServerHealth } from '../../src/server/FoleyServer.js';
import { FIXTURES_DIR, TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';

const PROMTOOL = spawnSync('promtool', ['--version']).error ? null : 'promtool';

/** Lint problems promtool reports for prom-client's own default metrics (gauges named *_total). */
const PROM_CLIENT_DEFAULT_PROBLEMS = new Set([
  'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
]);

/** Resolves when `predicate` holds, polling every 20 ms; fails after `deadlineMs`. */
async function until(predicate: () => boolean, what: string, deadlineMs = 20_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The value of one sample line (`name{labels} value`) in Prometheus text, or null. */
function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : null;
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('FoleyServer /healthz and /metrics', () => {
  let runner: InferenceRunner;
  let server: FoleyServer;

  before(async () => {
    const bundle = await loadBundle(TINY_BUNDLE_DIR);
    runner = await InferenceRunner.start(bundle, { models: LiveFoleyPipeline.models(bundle.manifest) });
    server = await FoleyServer.start({ port: 0, runner, secret: 'ops-secret', accessLog: () => {} });
  });
  after(async () => {
    await server.close();
    await runner.close();
  });

  it('answers /healthz with 200 and JSON naming the live worker and runner', async () => {
    const res = await fetch(`${server.baseUrl}/healthz`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as ServerHealth;
    assert.equal(body.status, 'ok');
    assert.deepEqual(body.mediasoupWorker, { alive: true, pid: server.worker.pid });
    assert.equal(body.inferenceRunner.alive, true);
    assert.equal(body.inferenceRunner.workers, 1);
    const post = await fetch(`${server.baseUrl}/healthz`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  it('counts a room, its OBS listener, chunks per level and frame-to-Opus latency, in a format promtool accepts', async () => {
    const ws = await openSocket(
      `ws://127.0.0.1:${server.port}/listen?room=ops&token=${server.tokens.tokenFor('ops', 'listen')}`,
    );
    const refused = await openSocket(`ws://127.0.0.1:${server.port}/listen?room=ops&token=listen.0.forged`);
    await new Promise((r) => refused.once('close', r));
    await until(() => server.rooms.has('ops'), 'the room');
    const room = server.rooms.get('ops')!;
    const source = await FfmpegRtpSource.start({
      router: room.router,
      clip: join(FIXTURES_DIR, 'clip-2s-96px-25fps.mp4'),
      codec: 'vp8',
    });
    try {
      const attachment = await room.attach(source.producer);
      await until(
        () =>
          attachment.pipeline.stats.chunksGenerated >= 3 && attachment.pipeline.stats.latenciesMs.length > 0,
        'three generated chunks',
      );
      const res = await fetch(`${server.baseUrl}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      assert.equal(sample(text, 'foley_rooms'), 1);
      assert.equal(sample(text, 'foley_peers{role="listen"}'), 1);
      assert.equal(sample(text, 'foley_peers{role="publish"}'), 0);
      assert.equal(sample(text, 'foley_connections_refused_total{reason="token"}'), 1);
      // Which level a chunk gets depends on the machine's load; every generated chunk is counted at one.
      const chunksByLevel = attachment.pipeline.ladder.map(
        (level) => sample(text, `foley_chunks_total{level="${level.name}"}`) ?? 0,
      );
      assert.ok(
        chunksByLevel.reduce((a, b) => a + b, 0) >= 3,
        `chunks counted per level: ${chunksByLevel.join('/')}`,
      );
      assert.ok((sample(text, 'foley_frame_to_opus_latency_seconds_count') ?? 0) >= 1, 'latency observed');
      assert.notEqual(sample(text, 'foley_inference_queue_length'), null);
      assert.notEqual(sample(text, 'foley_chunks_skipped_total'), null);
      assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0, 'process metrics');
      // Debian's "prometheus" package (scripts/setup-system.sh installs it).
      assert.ok(PROMTOOL, 'promtool is installed (apt-get install prometheus)');
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      const problems = `${check.stdout}${check.stderr}`.split('\n').filter((l) => l.trim() !== '');
      assert.ok(check.status === 0 || check.status === 3, `promtool failed (${check.status}): ${problems}`);
      assert.deepEqual(
        problems.filter((p) => !PROM_CLIENT_DEFAULT_PROBLEMS.has(p)),
        [],
        'no lint problems besides those of prom-client defaults',
      );
    } finally {
      source.close();
      ws.close();
    }
  });

  it('answers 503 once the inference runner is gone, naming it', async () => {
    await runner.close();
    const res = await fetch(`${server.baseUrl}/healthz`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as ServerHealth;
    assert.equal(body.status, 'unavailable');
    assert.equal(body.inferenceRunner.alive, false);
    assert.equal(body.mediasoupWorker.alive, true);
  });
});

describe('FoleyServer health after the mediasoup worker dies', () => {
  it('reports the worker dead', async () => {
    const server = await FoleyServer.start({ port: 0, bundleDir: TINY_BUNDLE_DIR, accessLog: () => {} });
    try {
      const died = new Promise((r) => server.once('died', r));
      process.kill(server.worker.pid, 'SIGKILL');
      await died;
      const health = await server.health();
      assert.equal(health.status, 'unavailable');
      assert.equal(health.mediasoupWorker.alive, false);
    } finally {
      await server.close();
    }
  });
});

describe('FoleyServer access log', () => {
  it('logs a refusal as one JSON line with its fields and never the token', async () => {
    const lines: string[] = [];
    configureLogging({ format: 'json', destination: { write: (line) => lines.push(line) } });
    const server = await FoleyServer.start({ port: 0, bundleDir: TINY_BUNDLE_DIR, processMetrics: false });
    try {
      const ws = await openSocket(`ws://127.0.0.1:${server.port}/ws?room=main&token=view.0.secretmac`);
      await new Promise((r) => ws.once('close', r));
      const records = lines.map((l) => JSON.parse(l)).filter((r) => r.name === 'server:access');
      assert.equal(records.length, 1);
      const record = records[0];
      assert.equal(record.level, 'info');
      assert.equal(record.refused, 'token');
      assert.equal(record.room, 'main');
      assert.equal(record.path, '/ws');
      assert.match(record.time, /^\d{4}-\d\d-\d\dT/);
      assert.match(record.msg, /^refused \/ws room "main" from 127\.0\.0\.1: token refused/);
      assert.ok(!lines.join('').includes('secretmac'));
    } finally {
      await server.close();
      configureLogging({ format: 'text' });
    }
  });
});
