/**
 * Signaling fuzz: a real FoleyServer (tiny bundle, real mediasoup worker) takes generated
 * messages over several sockets. Every message on an open /ws socket must get exactly one
 * typed reply; sockets the server closes must close with a documented code; afterwards
 * rooms and peers are freed, the worker answers, and a legitimate publisher can produce.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { FoleyServer } from '../../src/server/FoleyServer.js';
import { MAX_MESSAGE_BYTES } from '../../src/server/messages.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { FuzzRandom } from './fuzz-random.js';
import { eventually, type FuzzFailure, type SectionReport, sleep, tally } from './fuzz-report.js';

export interface SignalingFuzzOptions {
  seed: number;
  /** Messages over the fuzzed /ws and /listen sockets together. */
  messages: number;
  /** Sockets opened and closed at once (some before the server answers). */
  churnSockets: number;
}

const REPLY_CASES = new Set([
  'routerRtpCapabilities',
  'transportCreated',
  'transportConnected',
  'produced',
  'consumed',
  'consumerResumed',
  'pong',
  'error',
]);
const ERROR_CODES = new Set([
  'BAD_JSON',
  'BAD_MESSAGE',
  'TOO_LARGE',
  'UNKNOWN_CASE',
  'NOT_ALLOWED',
  'UNSUPPORTED_CODEC',
  'NOT_FOUND',
  'BUSY',
  'LIMIT',
  'INTERNAL',
]);
/** Close codes the server documents (FoleyServer, SignalingPeer) or the WebSocket protocol sets for a bad frame. */
const DOCUMENTED_CLOSE_CODES = new Set([1000, 1005, 1007, 1009, 4008, 4400, 4401, 4403, 4429, 4503]);

const VP8 = (ssrc: number) => ({
  codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }],
  encodings: [{ ssrc }],
});
const DTLS = {
  role: 'client',
  fingerprints: [{ algorithm: 'sha-256', value: Array.from({ length: 32 }, () => 'AB').join(':') }],
};
const OPUS_CAPABILITIES = {
  codecs: [
    { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 100 },
  ],
};

/** A value nested `depth` levels deep, alternating objects and arrays. */
function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

/** Values that break naive handlers: wrong types, extremes, unicode, prototype keys. */
function weirdValue(rng: FuzzRandom): unknown {
  const k = rng.int(0, 21);
  switch (k) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return -1;
    case 3:
      return 1.5;
    case 4:
      return 1e308;
    case 5:
      return -1e308;
    case 6:
      return 2 ** 53 + 2;
    case 7:
      return rng.pick(['NaN', 'Infinity', '-0', '1e999']);
    case 8:
      return '';
    case 9:
      return 'x'.repeat(rng.int(129, 20_000));
    case 10:
      return rng.pick(['\u0000', '\ud800', '𝕗𝕠𝕝𝕖𝕪 💥', '\u202eRTL', '\uFEFF', 'a\nb\r\n']);
    case 11:
      return [];
    case 12:
      return [1, 'two', null];
    case 13:
      return {};
    case 14:
      return nested(rng.int(20, 2000));
    case 15:
      return JSON.parse('{"__proto__":{"polluted":true}}');
    case 16:
      return { constructor: { prototype: { polluted: true } } };
    case 17:
      return rng.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']);
    case 18:
      return { toString: 'x', valueOf: 'y', toJSON: 'z' };
    case 19:
      return rng.int(-(2 ** 31), 2 ** 31);
    case 20:
      return rng.bytes(rng.int(1, 64)).toString('latin1');
    default:
      return '00000000-0000-0000-0000-000000000000';
  }
}

interface WsState {
  role: 'publish' | 'view';
  transportIds: string[];
  consumerIds: string[];
  nextId: number;
  sentIds: number[];
}

interface Outgoing {
  data: string | Buffer;
  binary: boolean;
  kind: string;
}

const CASES = [
  'ping',
  'getRouterRtpCapabilities',
  'createTransport',
  'connectTransport',
  'produce',
  'consumeFoley',
  'resumeConsumer',
] as const;

function anyTransportId(rng: FuzzRandom, s: WsState): string {
  return s.transportIds.length > 0 && rng.chance(0.8)
    ? rng.pick(s.transportIds)
    : rng.pick(['nope', crypto.randomUUID(), 'x'.repeat(128)]);
}

/** A well-formed request of `which`, aimed at this socket's own transports where it has any. */
function validRequest(rng: FuzzRandom, s: WsState, which: (typeof CASES)[number]): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  switch (which) {
    case 'createTransport':
      value.direction = s.role === 'publish' ? 'send' : 'recv';
      break;
    case 'connectTransport':
      value.transportId = anyTransportId(rng, s);
      value.dtlsParameters = structuredClone(DTLS);
      break;
    case 'produce':
      value.transportId = anyTransportId(rng, s);
      value.kind = 'video';
      value.rtpParameters = VP8(rng.int(1, 2 ** 31));
      break;
    case 'consumeFoley':
      value.transportId = anyTransportId(rng, s);
      value.rtpCapabilities = structuredClone(OPUS_CAPABILITIES);
      break;
    case 'resumeConsumer':
      value.consumerId =
        s.consumerIds.length > 0 && rng.chance(0.5) ? rng.pick(s.consumerIds) : crypto.randomUUID();
      break;
  }
  return { id: s.nextId++, case: which, value };
}

/** Sets a random path inside `target` (a request) to a weird value, or deletes it. */
function mutate(rng: FuzzRandom, request: Record<string, unknown>): void {
  const current = request.value;
  if (typeof current !== 'object' || current === null || Array.isArray(current)) {
    // An earlier mutation replaced the value itself: keep to the envelope.
    request[rng.pick(['id', 'case', 'value'])] = weirdValue(rng);
    return;
  }
  const value = current as Record<string, unknown>;
  const keys = Object.keys(value);
  switch (rng.int(0, 6)) {
    case 0:
      if (keys.length > 0) delete value[rng.pick(keys)];
      else request.value = weirdValue(rng);
      break;
    case 1:
      if (keys.length > 0) value[rng.pick(keys)] = weirdValue(rng);
      else value.extra = weirdValue(rng);
      break;
    case 2:
      request.id = weirdValue(rng);
      break;
    case 3:
      request.case = rng.chance(0.5)
        ? weirdValue(rng)
        : rng.pick(['PING', 'Ping', 'produce ', 'createtransport', 'playoutLatency']);
      break;
    case 4:
      request.value = weirdValue(rng);
      break;
    case 5: {
      // Deep inside the parameters mediasoup reads: codecs, encodings, fingerprints.
      const inner = (value.rtpParameters ?? value.dtlsParameters ?? value.rtpCapabilities) as
        | Record<string, unknown>
        | undefined;
      if (inner && typeof inner === 'object') {
        const list = (inner.codecs ?? inner.fingerprints) as Array<Record<string, unknown>> | undefined;
        const entry = list?.[0];
        if (entry) entry[rng.pick(Object.keys(entry))] = weirdValue(rng);
        else inner[rng.pick(Object.keys(inner))] = weirdValue(rng);
      } else value[rng.pick(['transportId', 'kind', 'direction', 'consumerId'])] = weirdValue(rng);
      break;
    }
    default:
      request[rng.pick(['__proto__', 'constructor', 'extra', 'value2'])] = weirdValue(rng);
  }
}

/** Garbage DTLS for connectTransport on one of the socket's real transports. */
function garbageDtls(rng: FuzzRandom): unknown {
  return rng.pick([
    {},
    { fingerprints: 'x' },
    { fingerprints: [] },
    { role: 'banana', fingerprints: [{ algorithm: 'sha-256', value: 'zz' }] },
    { role: 'client', fingerprints: [{ algorithm: 'md5000', value: 'AB' }] },
    { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'x'.repeat(10_000) }] },
    { role: 'client', fingerprints: Array.from({ length: 1000 }, () => ({ algorithm: 'sha-1', value: '' })) },
    { role: 'client', fingerprints: [nested(300)] },
    JSON.parse('{"__proto__":{"role":"server"},"fingerprints":[{"algorithm":"sha-256","value":"AB"}]}'),
  ]);
}

/** Garbage RTP parameters for produce on one of the socket's real transports. */
function garbageRtp(rng: FuzzRandom): unknown {
  return rng.pick([
    { codecs: [] },
    { codecs: [{}] },
    { codecs: [{ mimeType: 'video/VP8' }] },
    { codecs: [{ mimeType: 'video/VP8', clockRate: 'fast', payloadType: 96 }], encodings: [{ ssrc: 1 }] },
    { codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 1e9 }], encodings: [{ ssrc: -1 }] },
    { codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }], encodings: 'all' },
    { codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }], encodings: [nested(500)] },
    { codecs: [{ mimeType: 'video/h264', clockRate: 90000, payloadType: 102, parameters: nested(50) }] },
    { codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: 'nack' }] },
    {
      codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }],
      encodings: [{ ssrc: 5 }],
      headerExtensions: [{ uri: 'x', id: 999 }],
    },
    { codecs: [{ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 }], rtcp: { cname: 5 } },
  ]);
}

/** One message for a /ws socket; each gets exactly one reply. */
function generateWsMessage(rng: FuzzRandom, s: WsState): Outgoing {
  const roll = rng.next();
  const json = (o: unknown) => JSON.stringify(o);
  if (roll < 0.15) {
    const request = validRequest(rng, s, rng.pick(CASES));
    return { data: json(request), binary: false, kind: 'valid' };
  }
  if (roll < 0.5) {
    const request = validRequest(rng, s, rng.pick(CASES));
    for (let i = rng.int(1, 3); i > 0; i--) mutate(rng, request);
    return { data: json(request), binary: false, kind: 'mutated' };
  }
  if (roll < 0.58) {
    // Out of order: produce, connect, consume or resume on things never created.
    const which = rng.pick(['connectTransport', 'produce', 'consumeFoley', 'resumeConsumer'] as const);
    const request = validRequest(rng, { ...s, transportIds: [], consumerIds: [] }, which);
    s.nextId = Math.max(s.nextId, (request.id as number) + 1);
    return { data: json(request), binary: false, kind: 'out-of-order' };
  }
  if (roll < 0.66) {
    const request = validRequest(rng, s, 'connectTransport');
    (request.value as Record<string, unknown>).dtlsParameters = garbageDtls(rng);
    return { data: json(request), binary: false, kind: 'garbage-dtls' };
  }
  if (roll < 0.74) {
    const request = validRequest(rng, s, 'produce');
    (request.value as Record<string, unknown>).rtpParameters = garbageRtp(rng);
    return { data: json(request), binary: false, kind: 'garbage-rtp' };
  }
  if (roll < 0.79) {
    const request = validRequest(rng, s, rng.pick(CASES));
    if (s.sentIds.length > 0) request.id = rng.pick(s.sentIds);
    return { data: json(request), binary: false, kind: 'duplicate-id' };
  }
  if (roll < 0.85) {
    const id = s.nextId++;
    return {
      data: rng.pick([
        `{"__proto__":{"polluted":true},"id":${id},"case":"ping","value":{}}`,
        `{"id":${id},"case":"ping","value":{"__proto__":{"polluted":true}}}`,
        `{"id":${id},"case":"__proto__","value":{}}`,
        `{"id":${id},"case":"constructor","value":{"prototype":{"polluted":true}}}`,
        `{"id":${id},"case":"createTransport","value":{"__proto__":{"direction":"send"}}}`,
      ]),
      binary: false,
      kind: 'prototype-keys',
    };
  }
  if (roll < 0.91) {
    const id = s.nextId++;
    return {
      data: rng.pick([
        '',
        ' ',
        'null',
        '[]',
        '"ping"',
        '42',
        `{"id":${id},"case":"ping","value":NaN}`,
        `{"id":${id},"case":"ping"`,
        `{"id":${id},"case":"ping","value":{}}}`,
        `{"id":${id},"id":${id + 1},"case":"ping","value":{}}`,
        rng.bytes(rng.int(1, 200)).toString('base64'),
        '\u0000'.repeat(rng.int(1, 100)),
      ]),
      binary: false,
      kind: 'junk-text',
    };
  }
  if (roll < 0.96) return { data: rng.bytes(rng.int(0, 4096)), binary: true, kind: 'binary' };
  if (roll < 0.985) {
    const depth = rng.int(1000, 20_000);
    return { data: '['.repeat(depth) + ']'.repeat(depth), binary: false, kind: 'deep-nesting' };
  }
  const size = rng.int(MAX_MESSAGE_BYTES + 1, 900 * 1024);
  return {
    data: json({ id: s.nextId++, case: 'ping', value: { pad: 'x'.repeat(size) } }),
    binary: false,
    kind: 'oversized',
  };
}

/** One message for a /listen socket, and whether it gets a reply (a valid notification does not). */
function generateListenMessage(rng: FuzzRandom): Outgoing & { replied: boolean } {
  const roll = rng.next();
  if (roll < 0.2)
    return {
      data: JSON.stringify({ id: null, case: 'playoutLatency', value: { addedMs: rng.int(0, 5000) } }),
      binary: false,
      kind: 'valid-notification',
      replied: false,
    };
  if (roll < 0.7) {
    const value: Record<string, unknown> = { addedMs: weirdValue(rng) };
    const message: Record<string, unknown> = { id: null, case: 'playoutLatency', value };
    if (rng.chance(0.3)) message.id = weirdValue(rng);
    if (message.id === null || message.id === undefined) {
      // A weird value that is still a valid ms count gets no reply: keep it invalid.
      if (typeof value.addedMs === 'number' && value.addedMs >= 0 && value.addedMs <= 5000)
        value.addedMs = -1;
    }
    return { data: JSON.stringify(message), binary: false, kind: 'mutated-notification', replied: true };
  }
  if (roll < 0.85)
    return {
      data: JSON.stringify({ id: rng.int(0, 1000), case: rng.pick(CASES), value: {} }),
      binary: false,
      kind: 'request-on-listen',
      replied: true,
    };
  if (roll < 0.93) return { data: rng.bytes(rng.int(1, 512)), binary: true, kind: 'binary', replied: true };
  return { data: '{nope', binary: false, kind: 'junk-text', replied: true };
}

interface Socket {
  ws: WebSocket;
  /** Replies and errors: every text message but welcome and status. */
  replies: Array<Record<string, unknown>>;
  welcome: Record<string, unknown> | null;
  close: { code: number; reason: string } | null;
  nonJson: number;
  changed: Promise<void>;
}

/** Opens a socket and keeps what arrives; resolves once it is open, or with the close when it never opens. */
function openSocket(url: string, localAddress: string): Promise<Socket> {
  const ws = new WebSocket(url, { localAddress, maxPayload: 4 * 1024 * 1024 });
  let wake = () => {};
  const socket: Socket = {
    ws,
    replies: [],
    welcome: null,
    close: null,
    nonJson: 0,
    changed: new Promise<void>((r) => {
      wake = r;
    }),
  };
  const notify = () => {
    const w = wake;
    socket.changed = new Promise<void>((r) => {
      wake = r;
    });
    w();
  };
  ws.on('message', (data, isBinary) => {
    if (isBinary) return; // Ogg pages on /listen
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(data.toString());
    } catch {
      socket.nonJson++;
      notify();
      return;
    }
    if (m.case === 'welcome') socket.welcome = m;
    else if (m.case !== 'status') socket.replies.push(m);
    notify();
  });
  ws.on('close', (code, reason) => {
    socket.close = { code, reason: reason.toString() };
    notify();
  });
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('open', () => resolve(socket));
    ws.once('close', () => resolve(socket));
  });
}

async function waitFor(socket: Socket, predicate: () => boolean, deadlineMs: number): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (!predicate()) {
    if (socket.close) return predicate();
    const left = end - Date.now();
    if (left <= 0) return false;
    await Promise.race([socket.changed, sleep(Math.min(left, 250))]);
  }
  return true;
}

function checkReply(reply: Record<string, unknown>): string | null {
  if (!REPLY_CASES.has(String(reply.case))) return `untyped reply case ${JSON.stringify(reply.case)}`;
  if (reply.case !== 'error') {
    if (typeof reply.id !== 'number') return `result ${String(reply.case)} without a request id`;
    return null;
  }
  const value = reply.value as { code?: unknown; message?: unknown } | undefined;
  if (!value || !ERROR_CODES.has(String(value.code)))
    return `error with unknown code ${JSON.stringify(value?.code)}`;
  if (typeof value.message !== 'string' || value.message.trim() === '')
    return `error ${value.code} with an empty message`;
  return null;
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** The sum of one metric's samples in Prometheus text. */
function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').at(-1));
  }
  return sum;
}

export async function fuzzSignaling(options: SignalingFuzzOptions): Promise<SectionReport> {
  const started = performance.now();
  const rng = new FuzzRandom(options.seed).fork(1);
  const failures: FuzzFailure[] = [];
  const outcomes: Record<string, number> = {};
  const fail = (caseId: string, detail: string) => failures.push({ caseId: `signaling/${caseId}`, detail });
  const crashes: string[] = [];
  const onCrash = (error: unknown) => crashes.push(String((error as Error)?.stack ?? error));
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  const server = await FoleyServer.start({
    port: 0,
    bundleDir: TINY_BUNDLE_DIR,
    secret: `fuzz-${options.seed}`,
  });
  const runnerListenersBefore = server.runner.listenerCount('died');
  // Which room each router was made for, to name a router left in the worker.
  const routers = new Map<string, { router: { closed: boolean }; room: string | null }>();
  server.worker.observer.on('newrouter', (router) => routers.set(router.id, { router, room: null }));
  server.on('roomcreated', (room) => {
    const entry = routers.get(room.router.id);
    if (entry) entry.room = room.name;
  });
  const base = `ws://127.0.0.1:${server.port}`;
  const wsUrl = (room: string, role: string, token = server.tokens.tokenFor(room, 'publish')) =>
    `${base}/ws?room=${room}&token=${encodeURIComponent(token)}&role=${role}`;
  let cases = 0;
  let address = 0;
  // Spread over loopback addresses so the per-address limit (16) leaves room for every socket.
  const nextAddress = () => `127.0.0.${2 + (address++ % 200)}`;
  try {
    // 1. Fuzzed /ws and /listen sockets, messages pipelined in bursts.
    const wsSockets = 6;
    const listenSockets = 2;
    const perSocket = Math.ceil(options.messages / (wsSockets + listenSockets));
    const fuzzOne = async (index: number): Promise<void> => {
      const r = rng.fork(100 + index);
      const listen = index >= wsSockets;
      const room = `fuzz-${index % 3}`;
      const role = index % 2 === 0 ? 'publish' : 'view';
      const url = listen
        ? `${base}/listen?room=${room}&token=${server.tokens.tokenFor(room, 'listen')}`
        : wsUrl(room, role);
      const socket = await openSocket(url, nextAddress());
      const id = `${listen ? 'listen' : 'ws'}-${index}`;
      if (!(await waitFor(socket, () => socket.welcome !== null, 10_000))) {
        fail(id, `no welcome (close ${JSON.stringify((socket as Socket).close)})`);
        return;
      }
      const state: WsState = { role, transportIds: [], consumerIds: [], nextId: 1, sentIds: [] };
      const sentIds = new Set<number>();
      let expected = 0;
      let sent = 0;
      const closedBy = () => (socket as Socket).close;
      while (sent < perSocket && !closedBy()) {
        const burst = Math.min(r.int(1, 24), perSocket - sent);
        for (let i = 0; i < burst; i++) {
          const m = listen ? generateListenMessage(r) : { ...generateWsMessage(r, state), replied: true };
          if (!listen && typeof m.data === 'string') {
            for (const idMatch of m.data.slice(0, 200).matchAll(/"id":(\d+)/g)) {
              sentIds.add(Number(idMatch[1]));
              state.sentIds.push(Number(idMatch[1]));
            }
          }
          socket.ws.send(m.data, { binary: m.binary });
          tally(outcomes, `sent:${m.kind}`);
          if (m.replied) expected++;
          sent++;
        }
        const ok = await waitFor(socket, () => socket.replies.length >= expected, 15_000);
        if (!ok) {
          fail(
            `${id}#${sent}`,
            closedBy()
              ? `closed ${closedBy()!.code} "${closedBy()!.reason}" with ${expected - socket.replies.length} requests unanswered`
              : `${expected - socket.replies.length} of ${expected} requests unanswered after 15 s`,
          );
          break;
        }
        for (const reply of socket.replies.slice(-burst)) {
          const value = reply.value as Record<string, unknown> | undefined;
          if (reply.case === 'transportCreated' && typeof value?.id === 'string')
            state.transportIds.push(value.id);
          if (reply.case === 'consumed' && typeof value?.consumerId === 'string')
            state.consumerIds.push(value.consumerId);
        }
      }
      await sleep(100); // a reply too many would arrive by now
      cases += sent;
      if (socket.replies.length !== expected && !failures.some((f) => f.caseId.includes(id)))
        fail(id, `sent ${sent} messages expecting ${expected} replies, got ${socket.replies.length}`);
      if (socket.nonJson > 0) fail(id, `${socket.nonJson} replies were not JSON`);
      for (const [i, reply] of socket.replies.entries()) {
        const problem = checkReply(reply);
        if (problem) fail(`${id}@reply${i}`, `${problem}: ${JSON.stringify(reply).slice(0, 200)}`);
        if (!listen && typeof reply.id === 'number' && !sentIds.has(reply.id))
          fail(`${id}@reply${i}`, `reply to id ${reply.id}, which was never sent`);
        const code = reply.case === 'error' ? (reply.value as { code: string }).code : String(reply.case);
        tally(outcomes, code);
        if (code === 'INTERNAL')
          fail(
            `${id}@reply${i}`,
            `bad input answered INTERNAL: ${(reply.value as { message: string }).message.slice(0, 200)}`,
          );
      }
      socket.ws.close();
    };
    await Promise.all(Array.from({ length: wsSockets + listenSockets }, (_, i) => fuzzOne(i)));

    // 2. Frames the server must close on, each on a socket of its own.
    const closesWith = async (caseId: string, send: (ws: WebSocket) => void, codes: number[]) => {
      cases++;
      const socket = await openSocket(wsUrl('fuzz-close', 'view'), nextAddress());
      await waitFor(socket, () => socket.welcome !== null, 10_000);
      send(socket.ws);
      await waitFor(socket, () => false, 10_000);
      const code = socket.close?.code ?? null;
      tally(outcomes, `close:${code}`);
      if (code === null || !codes.includes(code))
        fail(caseId, `expected close ${codes.join(' or ')}, got ${code}`);
      socket.ws.terminate();
    };
    await closesWith('hard-cap', (ws) => ws.send('x'.repeat(2 * 1024 * 1024)), [1009]);
    await closesWith(
      'hard-cap-binary',
      (ws) => ws.send(Buffer.alloc(1024 * 1024 + 1), { binary: true }),
      [1009],
    );
    await closesWith(
      'invalid-utf8',
      (ws) => ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }),
      [1007],
    );

    // 3. Refused connections: a typed error, then a documented close code.
    const refusals: Array<[string, string, number]> = [
      ['no-token', `${base}/ws?room=fuzz-r&role=view`, 4401],
      ['wrong-token', wsUrl('fuzz-r', 'view', 'publish.0.AAAA'), 4401],
      ['other-room-token', wsUrl('fuzz-r', 'view', server.tokens.tokenFor('elsewhere', 'publish')), 4401],
      ['bad-room-name', `${base}/ws?room=${encodeURIComponent('../etc')}&token=x&role=view`, 4400],
      ['huge-room-name', `${base}/ws?room=${'a'.repeat(5000)}&token=x&role=view`, 4400],
      ['bad-role', wsUrl('fuzz-r', 'admin'), 4400],
      ['listen-token-on-ws', wsUrl('fuzz-r', 'view', server.tokens.tokenFor('fuzz-r', 'listen')), 4403],
      ['view-token-publishes', wsUrl('fuzz-r', 'publish', server.tokens.tokenFor('fuzz-r', 'view')), 4403],
    ];
    for (const [caseId, url, code] of refusals) {
      cases++;
      const socket = await openSocket(url, nextAddress());
      await waitFor(socket, () => socket.close !== null, 10_000);
      const reply = socket.replies[0];
      tally(outcomes, `close:${socket.close?.code ?? null}`);
      if (socket.close?.code !== code)
        fail(caseId, `expected close ${code}, got ${JSON.stringify(socket.close)}`);
      if (!reply || checkReply(reply))
        fail(caseId, `no typed error before the close: ${JSON.stringify(reply)}`);
      socket.ws.terminate();
    }

    // 4. Sockets opened and dropped at once, some sending first, some on a burst of early messages.
    const churn = Array.from({ length: options.churnSockets }, async (_, i) => {
      const r = rng.fork(10_000 + i);
      const room = `churn-${i % 5}`;
      const path = r.chance(0.3)
        ? `${base}/listen?room=${room}&token=${server.tokens.tokenFor(room, 'listen')}`
        : wsUrl(room, r.pick(['publish', 'view']));
      const ws = new WebSocket(path, { localAddress: nextAddress() });
      ws.on('error', () => {});
      const how = r.int(0, 3);
      if (how === 0) setImmediate(() => ws.terminate());
      ws.on('open', () => {
        if (how === 1) ws.terminate();
        else if (how === 2) {
          for (let k = 0; k < 20; k++)
            ws.send(JSON.stringify({ id: k, case: 'createTransport', value: { direction: 'send' } }));
          ws.close();
        } else if (how === 3) {
          ws.send(JSON.stringify({ id: 1, case: 'createTransport', value: { direction: 'send' } }));
          setTimeout(() => ws.terminate(), r.int(0, 30));
        }
      });
      const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
      tally(outcomes, `churn-close:${code}`);
      if (!DOCUMENTED_CLOSE_CODES.has(code) && code !== 1006)
        fail(`churn-${i}`, `closed with undocumented code ${code}`);
    });
    await Promise.all(churn);
    cases += options.churnSockets;

    // 5. Nothing left behind once every socket is gone.
    cases++;
    // Polled, not read once: an upgrade a churned socket started may still reach the server.
    const freed = await eventually(
      async () =>
        server.rooms.size === 0 &&
        server.wss.clients.size === 0 &&
        (await server.worker.dump()).routerIds.length === 0,
      15_000,
    );
    if (!freed)
      fail(
        'leak',
        `after every socket closed: ${server.rooms.size} rooms (${[...server.rooms.keys()].join(', ')}), ${server.wss.clients.size} sockets`,
      );
    const metrics = await httpGet(server.port, '/metrics');
    const peers = metricSum(metrics.body, 'foley_peers');
    const rooms = metricSum(metrics.body, 'foley_rooms');
    outcomes['metrics:rooms-after'] = rooms;
    outcomes['metrics:peers-after'] = peers;
    if (rooms !== 0 || peers !== 0)
      fail('leak', `/metrics after every socket closed: foley_rooms ${rooms}, foley_peers ${peers}`);
    const dump = await server.worker.dump();
    if (dump.routerIds.length > 0) {
      const held = dump.routerIds.map((id: string) => {
        const entry = routers.get(id);
        if (!entry) return 'a router made elsewhere';
        return `room ${entry.room ?? '(none)'}${entry.router.closed ? ' (closed on the Node side)' : ''}`;
      });
      fail('leak', `the mediasoup worker still holds ${dump.routerIds.length} routers: ${held.join(', ')}`);
    }
    const runnerListeners = server.runner.listenerCount('died');
    if (runnerListeners !== runnerListenersBefore)
      fail(
        'leak',
        `the inference runner has ${runnerListeners} died listeners, ${runnerListenersBefore} before the fuzz`,
      );
    const health = await server.health();
    if (!health.mediasoupWorker.alive || health.status !== 'ok')
      fail('worker', `health after the fuzz: ${JSON.stringify(health)}`);
    if (({} as Record<string, unknown>).polluted !== undefined)
      fail('prototype', 'Object.prototype was polluted');

    // 6. A legitimate publisher in a fresh room still gets a transport and a producer.
    cases++;
    const publisher = await openSocket(wsUrl('fuzz-legit', 'publish'), '127.0.0.1');
    await waitFor(publisher, () => publisher.welcome !== null, 10_000);
    publisher.ws.send(JSON.stringify({ id: 1, case: 'createTransport', value: { direction: 'send' } }));
    await waitFor(publisher, () => publisher.replies.length >= 1, 10_000);
    const transport = publisher.replies[0] as { case?: string; value?: { id: string } } | undefined;
    if (transport?.case !== 'transportCreated')
      fail('legit-publisher', `createTransport got ${JSON.stringify(transport)}`);
    else {
      publisher.ws.send(
        JSON.stringify({
          id: 2,
          case: 'produce',
          value: { transportId: transport.value!.id, kind: 'video', rtpParameters: VP8(424242) },
        }),
      );
      await waitFor(publisher, () => publisher.replies.length >= 2, 15_000);
      const produced = publisher.replies[1];
      if (produced?.case !== 'produced') fail('legit-publisher', `produce got ${JSON.stringify(produced)}`);
    }
    publisher.ws.close();
    if (!(await eventually(() => server.rooms.size === 0, 10_000)))
      fail('leak', "the legitimate publisher's room was not freed");
  } finally {
    await server.close();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
  for (const crash of crashes) fail('crash', crash.split('\n').slice(0, 3).join(' | '));
  return { section: 'signaling', cases, outcomes, failures, ms: performance.now() - started };
}
