import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { FoleyServer } from '../../src/server/FoleyServer.js';
import { RoomTokens } from '../../src/server/tokens.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { rawRequest } from '../helpers/raw-http.js';

interface Received {
  texts: Array<Record<string, any>>;
  binaries: Buffer[];
  closeCode: number | null;
}

/** Opens a socket and collects what arrives until it closes or `untilCount` texts came. */
function connect(
  url: string,
  localAddress?: string,
): Promise<{ ws: WebSocket; got: Received; next: (n?: number) => Promise<Record<string, any>> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, localAddress ? { localAddress } : {});
    const got: Received = { texts: [], binaries: [], closeCode: null };
    const waiters: Array<() => void> = [];
    ws.on('message', (data, isBinary) => {
      if (isBinary) got.binaries.push(data as Buffer);
      else got.texts.push(JSON.parse(data.toString()));
      for (const w of waiters.splice(0)) w();
    });
    ws.on('close', (code) => {
      got.closeCode = code;
      for (const w of waiters.splice(0)) w();
    });
    let consumed = 0;
    const next = async (): Promise<Record<string, any>> => {
      while (got.texts.length <= consumed) {
        if (got.closeCode !== null) throw new Error(`closed (${got.closeCode}) before a reply`);
        await new Promise<void>((r) => waiters.push(r));
      }
      return got.texts[consumed++]!;
    };
    ws.once('open', () => resolve({ ws, got, next }));
    ws.once('error', reject);
  });
}

function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) =>
    ws.readyState === ws.CLOSED ? resolve(-1) : ws.once('close', (code) => resolve(code)),
  );
}

/** Opens a bare socket that sends `ping` in its open handler; resolves with the reply and how long it took. */
function pingOnOpen(
  url: string,
  timeoutMs: number,
): Promise<{ reply: Record<string, any> | null; ms: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    let sentAt = 0;
    const done = (reply: Record<string, any> | null) => {
      clearTimeout(timer);
      ws.close();
      resolve({ reply, ms: performance.now() - sentAt });
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    ws.on('open', () => {
      sentAt = performance.now();
      ws.send(JSON.stringify({ id: 1, case: 'ping', value: {} }));
    });
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.id === 1) done(m);
    });
    ws.on('error', () => done(null));
  });
}

/** Resolves when `predicate` holds, checking after each tick of the event loop; fails after `deadlineMs`. */
async function until(predicate: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const VP8_RTP_PARAMETERS = Object.freeze({
  codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }],
  encodings: [{ ssrc: 11111111 }],
});

/** Sends every request at once (no waiting between them) and collects the replies by id. */
async function pipelined(
  peer: Awaited<ReturnType<typeof connect>>,
  requests: Array<{ case: string; value: unknown }>,
  firstId: number,
): Promise<Array<Record<string, any>>> {
  requests.forEach((r, i) => peer.ws.send(JSON.stringify({ id: firstId + i, ...r })));
  const replies = new Map<number, Record<string, any>>();
  while (replies.size < requests.length) {
    const m = await peer.next();
    if (typeof m.id === 'number' && m.id >= firstId) replies.set(m.id, m);
  }
  return requests.map((_, i) => replies.get(firstId + i)!);
}

describe('FoleyServer (running, tiny bundle)', () => {
  let server: FoleyServer;
  let base: string;
  let token: string;
  const accessLog: string[] = [];

  before(async () => {
    server = await FoleyServer.start({
      port: 0,
      bundleDir: TINY_BUNDLE_DIR,
      secret: 'test-secret',
      accessLog: (line) => accessLog.push(line),
    });
    base = `ws://127.0.0.1:${server.port}`;
    token = server.tokens.tokenFor('main', 'publish');
  });
  after(async () => {
    await server.close();
    await server.close(); // idempotent
  });

  it('prints room URLs that each carry a token of their own role', () => {
    const urls = server.roomUrls('main');
    const roleOf = (url: string) => server.tokens.verify('main', new URL(url).searchParams.get('token'));
    assert.deepEqual(roleOf(urls.publish), { ok: true, role: 'publish', expiresAtMs: null });
    assert.deepEqual(roleOf(urls.obs), { ok: true, role: 'listen', expiresAtMs: null });
    assert.deepEqual(roleOf(urls.viewer), { ok: true, role: 'view', expiresAtMs: null });
    assert.match(urls.obs, /\/obs\.html\?room=main&token=listen\.0\./);
  });

  it('refuses a connection without the right token, with an error reply and close code 4401', async () => {
    for (const bad of ['', 'wrong', server.tokens.tokenFor('other', 'publish')]) {
      const { ws, next } = await connect(
        `${base}/ws?room=main&token=${encodeURIComponent(bad)}&role=publish`,
      );
      const reply = await next();
      assert.equal(reply.case, 'error');
      assert.equal(reply.value.code, 'NOT_ALLOWED');
      assert.equal(await closed(ws), 4401);
    }
    const { ws, next } = await connect(`${base}/listen?room=main&token=nope`);
    assert.equal((await next()).value.code, 'NOT_ALLOWED');
    assert.equal(await closed(ws), 4401);
  });

  it('answers malformed, unknown, binary and oversized messages with errors and stays up', async () => {
    const { ws, next } = await connect(`${base}/ws?room=main&token=${token}&role=publish`);
    assert.equal((await next()).case, 'welcome');
    ws.send('{oops');
    assert.equal((await next()).value.code, 'BAD_JSON');
    ws.send(JSON.stringify({ id: 1, case: 'dropTables', value: {} }));
    const unknown = await next();
    assert.deepEqual([unknown.id, unknown.value.code], [1, 'UNKNOWN_CASE']);
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await next()).value.code, 'BAD_MESSAGE');
    ws.send(JSON.stringify({ id: 2, case: 'ping', value: { pad: 'x'.repeat(200_000) } }));
    assert.equal((await next()).value.code, 'TOO_LARGE');
    ws.send(JSON.stringify({ id: 3, case: 'createTransport', value: { direction: 'recv' } }));
    const notAllowed = await next();
    assert.deepEqual([notAllowed.id, notAllowed.value.code], [3, 'NOT_ALLOWED']);
    ws.send(
      JSON.stringify({
        id: 4,
        case: 'connectTransport',
        value: {
          transportId: 'nope',
          dtlsParameters: { fingerprints: [{ algorithm: 'sha-256', value: 'AB' }] },
        },
      }),
    );
    assert.equal((await next()).value.code, 'NOT_FOUND');
    ws.send(JSON.stringify({ id: 5, case: 'ping', value: {} }));
    const pong = await next();
    assert.deepEqual([pong.id, pong.case], [5, 'pong']);
    ws.close();
  });

  it('answers bad page parameters and a second connect with an error naming them, not INTERNAL', async () => {
    const peer = await connect(`${base}/ws?room=params&token=${server.tokens.tokenFor('params', 'publish')}`);
    await peer.next();
    const [transport] = await pipelined(peer, [{ case: 'createTransport', value: { direction: 'send' } }], 1);
    const transportId = transport!.value.id as string;
    const dtlsParameters = {
      role: 'client',
      fingerprints: [{ algorithm: 'sha-256', value: Array.from({ length: 32 }, () => 'AB').join(':') }],
    };
    const replies = await pipelined(
      peer,
      [
        { case: 'connectTransport', value: { transportId, dtlsParameters: { fingerprints: [] } } },
        { case: 'connectTransport', value: { transportId, dtlsParameters } },
        { case: 'connectTransport', value: { transportId, dtlsParameters } },
        {
          case: 'produce',
          value: { transportId, kind: 'video', rtpParameters: { ...VP8_RTP_PARAMETERS, encodings: 'all' } },
        },
      ],
      2,
    );
    // Apart: pipelined produce requests would meet the one-producer limit first.
    const [noPayloadType] = await pipelined(
      peer,
      [
        {
          case: 'produce',
          value: {
            transportId,
            kind: 'video',
            rtpParameters: {
              codecs: [{ mimeType: 'video/VP8', clockRate: 90000 }],
              encodings: [{ ssrc: 5 }],
            },
          },
        },
      ],
      6,
    );
    replies.push(noPayloadType!);
    const codes = replies.map((r) => [r.case, r.value.code ?? null]);
    assert.deepEqual(codes, [
      ['error', 'BAD_MESSAGE'],
      ['transportConnected', null],
      ['error', 'NOT_ALLOWED'],
      ['error', 'BAD_MESSAGE'],
      ['error', 'BAD_MESSAGE'],
    ]);
    assert.match(replies[0]!.value.message, /dtlsParameters\.fingerprints/);
    assert.match(replies[2]!.value.message, new RegExp(`transport ${transportId} is already connected`));
    assert.match(replies[3]!.value.message, /^\[produce\] mediasoup refused the rtpParameters: .*encodings/);
    assert.match(
      replies[4]!.value.message,
      /^\[produce\] mediasoup refused the rtpParameters: .*payloadType/,
    );
    peer.ws.close();
  });

  it('closes a socket whose message exceeds the hard cap (1 MiB) without crashing', async () => {
    const { ws } = await connect(`${base}/ws?room=main&token=${token}&role=publish`);
    ws.send('x'.repeat(2 * 1024 * 1024));
    assert.equal(await closed(ws), 1009);
    const { next } = await connect(`${base}/ws?room=main&token=${token}&role=view`);
    assert.equal((await next()).case, 'welcome');
  });

  it('refuses a publish with an unsupported codec with a clear error', async () => {
    const { ws, next } = await connect(`${base}/ws?room=main&token=${token}&role=publish`);
    await next();
    ws.send(JSON.stringify({ id: 1, case: 'createTransport', value: { direction: 'send' } }));
    const t = await next();
    assert.equal(t.case, 'transportCreated');
    ws.send(
      JSON.stringify({
        id: 2,
        case: 'produce',
        value: {
          transportId: t.value.id,
          kind: 'video',
          rtpParameters: {
            codecs: [{ mimeType: 'video/VP9', clockRate: 90000, payloadType: 98 }],
            encodings: [{ ssrc: 1 }],
          },
        },
      }),
    );
    const reply = await next();
    assert.equal(reply.value.code, 'UNSUPPORTED_CODEC');
    assert.match(reply.value.message, /video\/VP9.*VP8, video\/H264/);
    ws.close();
  });

  it("lets the OBS page's listen token listen but neither publish nor view", async () => {
    const listenToken = new URL(server.roomUrls('main').obs).searchParams.get('token')!;
    for (const [query, reason] of [
      ['role=publish', /a listen token may not publish/],
      ['role=view', /a listen token may not view/],
      ['', /a listen token opens only \/listen/],
    ] as const) {
      const { ws, next } = await connect(`${base}/ws?room=main&token=${listenToken}&${query}`);
      const reply = await next();
      assert.deepEqual([reply.case, reply.value.code], ['error', 'NOT_ALLOWED']);
      assert.match(reply.value.message, reason);
      assert.equal(await closed(ws), 4403);
    }
    const { ws, next } = await connect(`${base}/listen?room=main&token=${listenToken}`);
    assert.equal((await next()).case, 'welcome');
    ws.close();
  });

  it('lets a view token view but not publish, and a publish token do both', async () => {
    const viewToken = server.tokens.tokenFor('main', 'view');
    const refused = await connect(`${base}/ws?room=main&token=${viewToken}&role=publish`);
    assert.match((await refused.next()).value.message, /a view token may not publish/);
    assert.equal(await closed(refused.ws), 4403);
    for (const [t, role] of [
      [viewToken, 'view'],
      [token, 'view'],
      [token, 'publish'],
    ] as const) {
      const { ws, next } = await connect(`${base}/ws?room=main&token=${t}&role=${role}`);
      const welcome = await next();
      assert.deepEqual([welcome.case, welcome.value.role], ['welcome', role]);
      ws.close();
    }
  });

  it('refuses an old role-less token and an expired one with a reason, and logs refusals without the token', async () => {
    const { createHmac } = await import('node:crypto');
    const roleless = createHmac('sha256', 'test-secret').update('main').digest('base64url');
    const hourAgo = new RoomTokens('test-secret', { now: () => Date.now() - 3_600_000 });
    const expired = hourAgo.tokenFor('main', 'publish', { ttlSeconds: 60 });
    for (const [t, reason] of [
      [roleless, /token carries no role/],
      [expired, /token expired at /],
    ] as const) {
      const { ws, next } = await connect(`${base}/ws?room=main&token=${t}&role=publish`);
      const reply = await next();
      assert.equal(reply.value.code, 'NOT_ALLOWED');
      assert.match(reply.value.message, reason);
      assert.equal(await closed(ws), 4401);
      const line = accessLog.find((l) => reason.test(l));
      assert.ok(line, 'the refusal is logged');
      assert.ok(!line.includes(t.split('.').at(-1)!), 'no token contents in the log');
    }
    assert.ok(accessLog.some((l) => /^connected \/ws room "main" from 127\.0\.0\.1 as publish$/.test(l)));
    assert.ok(accessLog.every((l) => !l.includes(token.split('.')[2]!)));
  });

  it('gives an OBS listener the Opus header pages first and refuses requests and bad notifications', async () => {
    const { ws, got, next } = await connect(`${base}/listen?room=main&token=${token}`);
    const welcome = await next();
    assert.equal(welcome.case, 'welcome');
    assert.equal(welcome.value.status.state, 'waiting');
    while (got.binaries.length < 2) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.binaries[0]!.subarray(28, 36).toString('ascii'), 'OpusHead');
    assert.equal(got.binaries[1]!.subarray(28, 36).toString('ascii'), 'OpusTags');
    const skipStatus = async () => {
      for (;;) {
        const m = await next();
        if (m.case !== 'status') return m;
      }
    };
    ws.send('hello');
    assert.equal((await skipStatus()).value.code, 'BAD_JSON');
    ws.send(JSON.stringify({ id: 9, case: 'ping', value: {} }));
    const request = await skipStatus();
    assert.deepEqual([request.id, request.value.code], [9, 'NOT_ALLOWED']);
    ws.send(Buffer.from([1]), { binary: true });
    assert.equal((await skipStatus()).value.code, 'NOT_ALLOWED');
    for (const addedMs of [-1, 5001, '80', null]) {
      ws.send(JSON.stringify({ id: null, case: 'playoutLatency', value: { addedMs } }));
      const bad = await skipStatus();
      assert.equal(bad.value.code, 'BAD_MESSAGE');
      assert.match(
        bad.value.message,
        /\[playoutLatency\] field "value\.addedMs" must be a number of ms from 0 to 5000/,
      );
    }
    ws.close();
  });

  it('refuses a playoutLatency notification on the signaling socket', async () => {
    const { ws, next } = await connect(`${base}/ws?room=main&token=${token}&role=view`);
    await next();
    ws.send(JSON.stringify({ id: null, case: 'playoutLatency', value: { addedMs: 10 } }));
    const reply = await next();
    assert.equal(reply.value.code, 'NOT_ALLOWED');
    assert.match(reply.value.message, /sent on the \/listen socket/);
    ws.close();
  });

  it('sends every peer the sync offset (server offset plus the largest listen-page playout latency) and a note', async () => {
    const publisher = await connect(
      `${base}/ws?room=sync&token=${server.tokens.tokenFor('sync', 'publish')}`,
    );
    const welcome = await publisher.next();
    assert.deepEqual(
      [welcome.value.status.syncOffsetMs, welcome.value.status.note],
      [null, 'waiting for video'],
    );
    const [transport] = await pipelined(
      publisher,
      [{ case: 'createTransport', value: { direction: 'send' } }],
      1,
    );
    const [produced] = await pipelined(
      publisher,
      [
        {
          case: 'produce',
          value: { transportId: transport!.value.id, kind: 'video', rtpParameters: VP8_RTP_PARAMETERS },
        },
      ],
      2,
    );
    const offsetMs = produced!.value.offsetMs as number;
    const statusWith = async (peer: Awaited<ReturnType<typeof connect>>, syncOffsetMs: number | null) => {
      for (;;) {
        const m = await peer.next();
        if (m.case === 'status' && m.value.syncOffsetMs === syncOffsetMs) return m.value;
      }
    };
    const listenUrl = `${base}/listen?room=sync&token=${server.tokens.tokenFor('sync', 'listen')}`;
    const obsA = await connect(listenUrl);
    const obsB = await connect(listenUrl);
    obsA.ws.send(JSON.stringify({ id: null, case: 'playoutLatency', value: { addedMs: 120 } }));
    obsB.ws.send(JSON.stringify({ id: null, case: 'playoutLatency', value: { addedMs: 80.4 } }));
    const status = await statusWith(publisher, offsetMs + 120);
    assert.equal(status.offsetMs, offsetMs);
    assert.equal(typeof status.note, 'string');
    await statusWith(obsB, offsetMs + 120);
    obsA.ws.close();
    await statusWith(publisher, Math.round(offsetMs + 80.4));
    obsB.ws.close();
    await statusWith(publisher, null);
    publisher.ws.close();
  });
});

describe('FoleyServer HTTP', () => {
  let server: FoleyServer;
  let base: string;

  before(async () => {
    server = await FoleyServer.start({ port: 0, bundleDir: TINY_BUNDLE_DIR, secret: 'http-secret' });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.close();
  });

  it('serves a page to GET, and its headers without a body to HEAD', async () => {
    const get = await fetch(`${base}/publish.html`);
    assert.equal(get.status, 200);
    const body = await get.text();
    assert.match(body, /<html/i);
    const head = await fetch(`${base}/publish.html`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(Number(head.headers.get('content-length')), Buffer.byteLength(body));
    assert.equal(await head.text(), '');
  });

  it('answers a WHIP offer over the size limit with a 413 the client can read, and the next offer still gets an answer', async () => {
    const token = server.tokens.tokenFor('big', 'publish');
    const request = (body: string) =>
      `POST /whip/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const big = await rawRequest(server.port, request(`v=0\r\n${'a=x\r\n'.repeat(200_000)}`));
    assert.equal(big.status, 413, `got ${big.status ?? big.error}`);
    assert.match(big.body, /the offer is over 65536 bytes/);
    const small = await rawRequest(server.port, request('garbage'));
    assert.equal(small.status, 400);
  });

  it('answers a WebSocket upgrade on an unknown path with 404 and a reason', async () => {
    const answer = await rawRequest(
      server.port,
      'GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    assert.equal(answer.status, 404);
    assert.match(answer.body, /WebSocket paths are \/ws and \/listen/);
  });

  it('answers other methods on a page with 405 and Allow, and unknown paths with 404', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${base}/obs.html`, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assert.match(await res.text(), new RegExp(`${method} is not allowed here`));
    }
    assert.equal((await fetch(`${base}/nope.html`)).status, 404);
    assert.equal((await fetch(`${base}/nope.html`, { method: 'HEAD' })).status, 404);
  });
});

describe('FoleyServer rooms', () => {
  let server: FoleyServer;
  let base: string;

  before(async () => {
    server = await FoleyServer.start({
      port: 0,
      bundleDir: TINY_BUNDLE_DIR,
      secret: 'rooms-secret',
      limits: { maxRooms: 64 },
    });
    base = `ws://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.close();
  });

  it('answers a request sent on open in a fresh room within 1 s, 20 rooms out of 20', async () => {
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const room = `fresh-${i}`;
      const { reply, ms } = await pingOnOpen(
        `${base}/ws?room=${room}&token=${server.tokens.tokenFor(room, 'view')}&role=view`,
        5000,
      );
      assert.equal(reply?.case, 'pong', `room ${room}: no reply in 5 s`);
      times.push(ms);
    }
    assert.ok(Math.max(...times) < 1000, `slowest first reply ${Math.max(...times).toFixed(0)} ms`);
  });
});

describe('FoleyServer room lifetime', () => {
  let server: FoleyServer;
  let base: string;
  const url = (room: string, path = '/ws?role=view&') =>
    `${base}${path}${path.endsWith('&') ? '' : '?'}room=${room}&token=${server.tokens.tokenFor(room, 'publish')}`;

  before(async () => {
    server = await FoleyServer.start({ port: 0, bundleDir: TINY_BUNDLE_DIR, secret: 'life-secret' });
    base = `ws://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.close();
  });

  it('closes a room and its router when its last peer and listener leave, so 100 rooms in turn fit a limit of 16', async () => {
    for (let i = 0; i < 100; i++) {
      const name = `turn-${i}`;
      const peer = await connect(url(name));
      assert.equal((await peer.next()).case, 'welcome', `room ${name} accepted`);
      const listener = await connect(url(name, '/listen'));
      assert.equal((await listener.next()).case, 'welcome');
      const room = server.rooms.get(name)!;
      peer.ws.close();
      await closed(peer.ws);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(room.closed, false, 'the listener still holds the room');
      listener.ws.close();
      await until(() => room.closed, `room ${name} to close`);
      assert.equal(room.router.closed, true);
      assert.equal(server.rooms.has(name), false);
    }
    const last = await connect(url('turn-100'));
    assert.equal((await last.next()).case, 'welcome', 'the 101st room is accepted');
    last.ws.close();
    await until(() => server.rooms.size === 0, 'the 101st room to close');
  });

  it('releases a room whose only socket closed while the room was being created', async () => {
    const created: string[] = [];
    const onCreated = (room: { name: string }) => created.push(room.name);
    server.on('roomcreated', onCreated);
    for (let i = 0; i < 20; i++) {
      for (const path of ['/ws?role=publish&', '/listen']) {
        const ws = new WebSocket(url(`gone-${i}`, path));
        ws.on('open', () => ws.terminate());
        ws.on('error', () => {});
        await new Promise((r) => ws.once('close', r));
      }
    }
    await until(() => server.wss.clients.size === 0, 'the server to see every socket close');
    await until(() => server.rooms.size === 0, 'every room to be released');
    server.off('roomcreated', onCreated);
    assert.ok(created.length > 0, 'rooms were created');
  });
});

describe('FoleyServer limits', () => {
  let server: FoleyServer;
  let base: string;
  const url = (room: string, role = 'publish') =>
    `${base}/ws?room=${room}&token=${server.tokens.tokenFor(room, 'publish')}&role=${role}`;

  before(async () => {
    server = await FoleyServer.start({
      port: 0,
      bundleDir: TINY_BUNDLE_DIR,
      secret: 'limits-secret',
      limits: { maxConnectionsPerIp: 40, maxConnectionsPerRoom: 10 },
    });
    base = `ws://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.close();
  });

  it('creates exactly the per-connection limit of 50 pipelined transports and answers the rest with LIMIT', async () => {
    const peer = await connect(url('pipelined'));
    await peer.next();
    const replies = await pipelined(
      peer,
      Array.from({ length: 50 }, () => ({ case: 'createTransport', value: { direction: 'send' } })),
      1,
    );
    const created = replies.filter((r) => r.case === 'transportCreated');
    const limited = replies.filter((r) => r.case === 'error' && r.value.code === 'LIMIT');
    assert.equal(created.length, server.limits.maxTransportsPerPeer);
    assert.equal(limited.length, 50 - server.limits.maxTransportsPerPeer);
    assert.match(limited[0]!.value.message, /^\[createTransport\] at most 4 transports per connection/);
    peer.ws.close();
    await closed(peer.ws);
  });

  it('refuses connections past the per-room limit with close code 4429 and a reason', async () => {
    const peers = [];
    for (let i = 0; i < server.limits.maxConnectionsPerRoom; i++) {
      const p = await connect(url('crowded', 'view'));
      assert.equal((await p.next()).case, 'welcome');
      peers.push(p);
    }
    const extra = await connect(url('crowded', 'view'));
    const refusal = await extra.next();
    assert.deepEqual([refusal.case, refusal.value.code], ['error', 'LIMIT']);
    const closeInfo = new Promise<[number, string]>((r) =>
      extra.ws.once('close', (code, reason) => r([code, reason.toString()])),
    );
    const [code, reason] = await closeInfo;
    assert.equal(code, 4429);
    assert.match(reason, /too many connections in room "crowded" \(the limit is 10\)/);
    peers[0]!.ws.close();
    await closed(peers[0]!.ws);
    await until(() => server.wss.clients.size === peers.length - 1, 'the server to see the close');
    const again = await connect(url('crowded', 'view'));
    assert.equal((await again.next()).case, 'welcome', 'a slot that was freed can be used');
    for (const p of [...peers, again]) p.ws.close();
    await until(() => server.rooms.size === 0, 'the room to be released');
  });
});

describe('FoleyServer under attack (default limits)', () => {
  let server: FoleyServer;
  let base: string;
  const url = (room: string, role = 'publish') =>
    `${base}/ws?room=${room}&token=${server.tokens.tokenFor(room, 'publish')}&role=${role}`;

  before(async () => {
    server = await FoleyServer.start({ port: 0, bundleDir: TINY_BUNDLE_DIR, secret: 'attack-secret' });
    base = `ws://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.close();
  });

  it('lets a new publisher in its own room create its transport and producer while hostile sockets hammer another room', async () => {
    // 50 hostile sockets from four other addresses, with a valid token of room "hostile":
    // the per-room limit refuses 18, the other 32 each pipeline 50 createTransport requests.
    const hostile = await Promise.all(
      Array.from({ length: 50 }, (_, i) => connect(url('hostile'), `127.0.0.${2 + (i % 4)}`)),
    );
    const welcomed = [];
    for (const h of hostile) {
      const first = await h.next();
      if (first.case === 'welcome') welcomed.push(h);
      else assert.equal(first.value.code, 'LIMIT');
    }
    assert.equal(welcomed.length, server.limits.maxConnectionsPerRoom);
    const hammering = welcomed.map((h) =>
      pipelined(
        h,
        Array.from({ length: 50 }, () => ({ case: 'createTransport', value: { direction: 'send' } })),
        1,
      ),
    );

    const publisher = await connect(url('legit'));
    assert.equal((await publisher.next()).case, 'welcome');
    const [transport] = await pipelined(
      publisher,
      [{ case: 'createTransport', value: { direction: 'send' } }],
      1,
    );
    assert.equal(transport!.case, 'transportCreated');
    const [produced, second] = await pipelined(
      publisher,
      [
        {
          case: 'produce',
          value: { transportId: transport!.value.id, kind: 'video', rtpParameters: VP8_RTP_PARAMETERS },
        },
        {
          case: 'produce',
          value: {
            transportId: transport!.value.id,
            kind: 'video',
            rtpParameters: { ...VP8_RTP_PARAMETERS, encodings: [{ ssrc: 22222222 }] },
          },
        },
      ],
      2,
    );
    assert.equal(produced!.case, 'produced', JSON.stringify(produced));
    assert.deepEqual([second!.case, second!.value.code], ['error', 'LIMIT'], 'one producer per connection');

    const hammered = (await Promise.all(hammering)).flat();
    assert.equal(
      hammered.filter((r) => r.case === 'transportCreated').length,
      server.limits.maxConnectionsPerRoom * server.limits.maxTransportsPerPeer,
    );
    for (const h of [...hostile, publisher]) h.ws.close();
    await until(() => server.rooms.size === 0, 'the rooms to be released');
  });
});

describe('FoleyServer mediasoup failures', () => {
  it('answers a failed createTransport with INTERNAL and a message naming the room and request', async () => {
    // An address this machine does not have: mediasoup cannot bind the transport.
    const server = await FoleyServer.start({
      port: 0,
      bundleDir: TINY_BUNDLE_DIR,
      secret: 'fail-secret',
      rtcListenIp: '192.0.2.1',
    });
    try {
      const peer = await connect(
        `ws://127.0.0.1:${server.port}/ws?room=r&token=${server.tokens.tokenFor('r', 'publish')}`,
      );
      await peer.next();
      const [reply] = await pipelined(peer, [{ case: 'createTransport', value: { direction: 'send' } }], 1);
      assert.equal(reply!.value.code, 'INTERNAL');
      assert.match(
        reply!.value.message,
        /^\[room:r, createTransport\] mediasoup router\.createWebRtcTransport failed/,
      );
      peer.ws.close();
    } finally {
      await server.close();
    }
  });
});

describe('FoleyServer per-address limit', () => {
  it('refuses a connection past the per-address limit with close code 4429 and a reason', async () => {
    const server = await FoleyServer.start({
      port: 0,
      bundleDir: TINY_BUNDLE_DIR,
      secret: 'ip-secret',
      limits: { maxConnectionsPerIp: 3 },
    });
    try {
      const base = `ws://127.0.0.1:${server.port}`;
      const open = [];
      for (const room of ['a', 'b', 'c']) {
        const p = await connect(
          `${base}/listen?room=${room}&token=${server.tokens.tokenFor(room, 'listen')}`,
        );
        assert.equal((await p.next()).case, 'welcome');
        open.push(p);
      }
      const extra = await connect(`${base}/ws?room=d&token=${server.tokens.tokenFor('d', 'view')}&role=view`);
      const closeInfo = new Promise<[number, string]>((r) =>
        extra.ws.once('close', (code, reason) => r([code, reason.toString()])),
      );
      assert.equal((await extra.next()).value.code, 'LIMIT');
      const [code, reason] = await closeInfo;
      assert.equal(code, 4429);
      assert.match(reason, /too many connections from this address \(the limit is 3\)/);
      assert.equal(server.rooms.has('d'), false, 'no room is made for a refused connection');
      for (const p of open) p.ws.close();
    } finally {
      await server.close();
    }
  });
});
