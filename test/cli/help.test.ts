import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkRtcPortRange, parseVideoSize } from '../../src/cli/serve.js';
import { EXIT_CODES, UsageError } from '../../src/errors.js';
import { packageRoot } from '../../src/models/bundle.js';
import { runFoley } from '../helpers/foley-cli.js';

/** The built CLI as a user's shell runs it (test/helpers/foley-cli.ts). */
const foley = (args: string[]) => runFoley(args, { timeoutMs: 60_000 });

/** The flags a command accepts, by what its help must describe. */
const FLAGS: Record<string, string[]> = {
  render: [
    '--model',
    '--steps',
    '--cfg',
    '--cg',
    '--restarts',
    '--seed',
    '--window',
    '--overlap',
    '--codec',
    '--device',
    '--threads',
    '--allow-partial',
    '--mix',
    '--quiet',
    '--help',
  ],
  eval: [
    '--json',
    '--limit',
    '--model',
    '--steps',
    '--cfg',
    '--cg',
    '--restarts',
    '--seed',
    '--window',
    '--overlap',
    '--device',
    '--threads',
    '--live',
    '--latency',
    '--chunk-frames',
    '--lookahead-frames',
    '--context-frames',
    '--crossfade-ms',
    '--crossfade-join',
    '--help',
  ],
  bench: [
    '--clip',
    '--model',
    '--repeat',
    '--threads',
    '--threads-sweep',
    '--device',
    '--json',
    '--live',
    '--help',
  ],
  serve: [
    '--model',
    '--host',
    '--port',
    '--secret',
    '--token-ttl',
    '--room',
    '--announced-ip',
    '--rtc-listen-ip',
    '--rtc-min-port',
    '--rtc-max-port',
    '--latency',
    '--latency-budget',
    '--chunk-frames',
    '--lookahead-frames',
    '--context-frames',
    '--crossfade-ms',
    '--crossfade-join',
    '--offset-ms',
    '--inference-workers',
    '--max-rooms',
    '--log-format',
    '--demo',
    '--demo-clip',
  ],
  token: ['--role', '--ttl', '--secret', '--host', '--port', '--base-url', '--help'],
};

describe('foley help', () => {
  it('prints the version from package.json for --version', async () => {
    const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8'));
    const r = await foley(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${version}\n`);
  });

  for (const [command, flags] of Object.entries(FLAGS)) {
    it(`describes every flag of ${command}, the same for "${command} --help" and "help ${command}"`, async () => {
      const direct = await foley([command, '--help']);
      const viaHelp = await foley(['help', command]);
      assert.equal(direct.code, 0, direct.stderr);
      assert.equal(viaHelp.code, 0, viaHelp.stderr);
      assert.equal(viaHelp.stdout, direct.stdout);
      for (const flag of flags) {
        // A flag's line says what it does: the flag, then words.
        const line = direct.stdout.split('\n').find((l) => new RegExp(`(^|[\\s,])${flag}(\\s|=|$)`).test(l));
        assert.ok(line, `${command} --help does not mention ${flag}`);
        assert.match(line, new RegExp(`${flag}\\b[^\\n]*[a-z]{3,}`), `${command} --help: "${line}"`);
      }
    });
  }

  it('says where --live leads from bench --help, and help bench --live shows its options', async () => {
    const bench = await foley(['help', 'bench', '--live']);
    assert.equal(bench.code, 0, bench.stderr);
    assert.match(bench.stdout, /--rooms N/);
    assert.match(bench.stdout, /--video-size WxH/);
  });

  it('lists every command and every exit code in foley --help', async () => {
    const r = await foley(['--help']);
    assert.equal(r.code, 0);
    for (const command of ['render', 'eval', 'bench', 'serve', 'token', 'help'])
      assert.match(r.stdout, new RegExp(`\\n  ${command} `));
    for (const { meaning } of Object.values(EXIT_CODES)) assert.ok(r.stdout.includes(meaning), meaning);
  });

  it('refuses help for an unknown command with exit 2', async () => {
    const r = await foley(['help', 'rendr']);
    assert.equal(r.code, EXIT_CODES.usage.code);
    assert.match(r.stderr, /unknown command "rendr"/);
  });
});

describe('foley bench --live --video-size', () => {
  it('takes WxH with even sides', () => {
    assert.deepEqual(parseVideoSize('1280x720'), { width: 1280, height: 720 });
    assert.deepEqual(parseVideoSize('16x4096'), { width: 16, height: 4096 });
  });

  it('refuses odd, out-of-range or malformed sizes, naming the flag', () => {
    for (const text of ['1281x720', '1280x8', '8192x720', '1280', '1280x', 'x720', '1280X720', '-2x720']) {
      assert.throws(
        () => parseVideoSize(text),
        (e: unknown) =>
          e instanceof UsageError && e.message.includes(`--video-size`) && e.message.includes(text),
        text,
      );
    }
  });
});

describe('foley serve RTC port flags', () => {
  it('accepts a range within 1-65535, either end alone against the other default', () => {
    checkRtcPortRange(40000, 40100);
    checkRtcPortRange(undefined, 45000);
    checkRtcPortRange(45000, undefined);
    checkRtcPortRange(undefined, undefined);
  });

  it('refuses an empty range or a port over 65535, naming the flags', () => {
    assert.throws(() => checkRtcPortRange(50000, 40000), /--rtc-min-port 50000 > --rtc-max-port 40000/);
    assert.throws(
      () => checkRtcPortRange(50000, undefined),
      (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.match(
          e.message,
          /--rtc-min-port 50000 > --rtc-max-port 49999 \(the other end at its default\)/,
        );
        return true;
      },
    );
    assert.throws(
      () => checkRtcPortRange(undefined, 70000),
      /--rtc-max-port must be a port, 1-65535, got 70000/,
    );
  });

  it('exits 2 on an empty range before starting anything', async () => {
    const r = await foley(['serve', '--rtc-min-port', '41000', '--rtc-max-port', '40000']);
    assert.equal(r.code, EXIT_CODES.usage.code);
    assert.match(r.stderr, /RTC port range is empty/);
  });
});
