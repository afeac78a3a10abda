import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { makeRoomTokenLink } from '../../src/cli/token-command.js';
import { UsageError } from '../../src/errors.js';
import { packageRoot } from '../../src/models/bundle.js';
import { RoomTokens } from '../../src/server/tokens.js';

const run = promisify(execFile);
const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
const NO_ENV = {};

describe('foley token', () => {
  it('makes a view token the server verifies, with the viewer page URL for the room', () => {
    const link = makeRoomTokenLink(['stage-2', '--secret', 's3cret'], NO_ENV)!;
    assert.equal(link.role, 'view');
    const check = new RoomTokens('s3cret').verify('stage-2', link.token);
    assert.deepEqual(check, { ok: true, role: 'view', expiresAtMs: null });
    assert.deepEqual(link.pages, [
      {
        label: 'viewer (receive foley)',
        url: `http://127.0.0.1:8080/viewer.html?room=stage-2&token=${link.token}`,
      },
    ]);
    assert.equal(link.whipUrl, null);
    assert.equal(new RoomTokens('other').verify('stage-2', link.token).ok, false);
  });

  it('gives listen tokens the OBS and overlay pages and publish tokens the publish page and WHIP', () => {
    const listen = makeRoomTokenLink(['main', '--role', 'listen', '--base-url', 'https://f.example.org/'], {
      FOLEY_SECRET: 'env-secret',
    })!;
    assert.deepEqual(
      listen.pages.map((p) => p.url),
      [
        `https://f.example.org/obs.html?room=main&token=${listen.token}`,
        `https://f.example.org/overlay.html?room=main&token=${listen.token}`,
      ],
    );
    assert.equal(new RoomTokens('env-secret').verify('main', listen.token).ok, true);
    const publish = makeRoomTokenLink(
      ['main', '--role', 'publish', '--host', '10.0.0.5', '--port', '9000', '--secret', 'x'],
      NO_ENV,
    )!;
    assert.equal(publish.pages[0]!.url, `http://10.0.0.5:9000/publish.html?room=main&token=${publish.token}`);
    assert.equal(publish.whipUrl, 'http://10.0.0.5:9000/whip/main');
  });

  it('prefers --secret over FOLEY_SECRET and sets the expiry from --ttl', () => {
    const before = Math.floor(Date.now() / 1000);
    const link = makeRoomTokenLink(['main', '--secret', 'flag', '--ttl', '600'], { FOLEY_SECRET: 'env' })!;
    const check = new RoomTokens('flag').verify('main', link.token);
    assert.ok(check.ok);
    assert.ok(link.expiresAtSeconds! >= before + 600 && link.expiresAtSeconds! <= before + 602);
    assert.equal(check.expiresAtMs, link.expiresAtSeconds! * 1000);
  });

  it('refuses a missing secret, a bad role, room, ttl or URL, and --base-url with --host', () => {
    const cases: Array<[string[], RegExp]> = [
      [['main'], /no secret: pass --secret or set FOLEY_SECRET/],
      [
        ['main', '--secret', 's', '--role', 'admin'],
        /--role must be one of publish, view, listen, got "admin"/,
      ],
      [['bad room!', '--secret', 's'], /room names are 1-64 characters/],
      [['main', '--secret', 's', '--ttl', '0'], /--ttl must be >= 1, got 0/],
      [['main', '--secret', 's', '--base-url', 'ftp://x'], /--base-url expects an http\(s\) URL/],
      [['main', '--secret', 's', '--base-url', 'http://x', '--port', '1'], /replaces --host and --port/],
      [[], /expects one room name, got 0/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(
        () => makeRoomTokenLink(argv, NO_ENV),
        (e: unknown) => {
          assert.ok(e instanceof UsageError, String(e));
          assert.match(e.message, message);
          return true;
        },
      );
    }
  });

  it('prints the token alone on the first line and the page URL, exit 0; exit 2 without a secret', async () => {
    const env = { ...process.env, FOLEY_SECRET: 'cli-secret' };
    const { stdout } = await run(process.execPath, [CLI, 'token', 'main', '--role', 'publish'], { env });
    const [token, ...rest] = stdout.trimEnd().split('\n');
    assert.equal(new RoomTokens('cli-secret').verify('main', token)?.ok, true);
    assert.ok(rest.some((l) => l.includes(`/publish.html?room=main&token=${token}`)));
    assert.ok(rest.some((l) => l.includes('/whip/main')));
    const noSecret = { ...process.env };
    delete noSecret.FOLEY_SECRET;
    await assert.rejects(run(process.execPath, [CLI, 'token', 'main'], { env: noSecret }), (e: unknown) => {
      const err = e as { code: number; stderr: string };
      assert.equal(err.code, 2);
      assert.match(err.stderr, /no secret/);
      return true;
    });
  });
});
