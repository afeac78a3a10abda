import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { configureLogging, Logger, REPEAT_WINDOW_MS } from '../src/logger.js';

describe('Logger', () => {
  const lines: string[] = [];
  let nowMs = 1_000;
  const capture = (format: 'text' | 'json') =>
    configureLogging({ format, destination: { write: (line) => lines.push(line) }, now: () => nowMs });
  after(() => configureLogging({ format: 'text' }));

  it('writes text lines with an ISO timestamp, the level, the name and key=value fields', () => {
    lines.length = 0;
    capture('text');
    new Logger('server:Test').info('room opened', { room: 'main', peers: 2 });
    new Logger('server:Test').warn('slow');
    assert.equal(lines.length, 2);
    assert.match(
      lines[0]!,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}server:Test: room opened room="main" peers=2\n$/,
    );
    assert.match(lines[1]!, /Z WARN {2}server:Test: slow\n$/);
  });

  it("keeps a field named like the line's own keys apart from them", () => {
    lines.length = 0;
    capture('json');
    new Logger('serve').info('room main: active', { level: 'fewer-steps', name: 'x' });
    const record = JSON.parse(lines[0]!);
    assert.equal(record.level, 'info');
    assert.equal(record.name, 'serve');
    assert.equal(record.level_, 'fewer-steps');
    assert.equal(record.name_, 'x');
  });

  it('writes one JSON object per line on request, loggers made before included', () => {
    lines.length = 0;
    const early = new Logger('server:Early');
    capture('json');
    early.error('boom', { code: 7 });
    assert.equal(lines.length, 1);
    const record = JSON.parse(lines[0]!);
    assert.deepEqual(
      { level: record.level, name: record.name, msg: record.msg, code: record.code },
      { level: 'error', name: 'server:Early', msg: 'boom', code: 7 },
    );
    assert.ok(!Number.isNaN(Date.parse(record.time)));
  });

  it('prints debug lines only for names FOLEY_DEBUG lists', () => {
    lines.length = 0;
    capture('text');
    const saved = process.env.FOLEY_DEBUG;
    process.env.FOLEY_DEBUG = 'sfu:,live';
    try {
      new Logger('sfu:Ingest').debug('shown');
      new Logger('server:Room').debug('hidden');
    } finally {
      if (saved === undefined) delete process.env.FOLEY_DEBUG;
      else process.env.FOLEY_DEBUG = saved;
    }
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /DEBUG sfu:Ingest: shown/);
  });

  it('counts a line repeated within the window and prints the count with the next one after it', () => {
    lines.length = 0;
    capture('json');
    const logger = new Logger('server:access');
    for (let i = 0; i < 50; i++) {
      logger.info('refused /ws from 10.0.0.1: too many connections');
      nowMs += 100;
    }
    logger.info('another line');
    assert.equal(lines.length, 2, 'the first of the 50 and the other line');
    nowMs += REPEAT_WINDOW_MS;
    logger.info('refused /ws from 10.0.0.1: too many connections');
    const records = lines.map((l) => JSON.parse(l));
    assert.equal(records.length, 4);
    assert.equal(records[2].repeated, 49);
    assert.match(records[2].msg, /repeated 49 more times within 10 s/);
    assert.equal(records[3].msg, 'refused /ws from 10.0.0.1: too many connections');
  });

  it('refuses an unknown LOG_FORMAT by name', () => {
    const saved = process.env.LOG_FORMAT;
    process.env.LOG_FORMAT = 'yaml';
    try {
      assert.throws(() => configureLogging({}), /LOG_FORMAT must be one of text, json, got "yaml"/);
    } finally {
      if (saved === undefined) delete process.env.LOG_FORMAT;
      else process.env.LOG_FORMAT = saved;
    }
  });
});
