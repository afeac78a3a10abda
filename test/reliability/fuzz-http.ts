/**
 * HTTP oddities against a real FoleyServer, sent as raw bytes so nothing is normalized on
 * the way: path traversal, long URLs, bad methods, huge headers, bad WHIP requests. Every
 * answer must come within the deadline, be the expected 4xx with a reason, never a 5xx;
 * /healthz must still answer afterwards.
 */
import { FoleyServer } from '../../src/server/FoleyServer.js';
import { TINY_BUNDLE_DIR } from '../helpers/media-fixtures.js';
import { rawRequest } from '../helpers/raw-http.js';
import { type FuzzFailure, type SectionReport, tally } from './fuzz-report.js';

interface HttpCase {
  id: string;
  request: Buffer | string;
  /** Statuses that count as right. */
  expect: number[];
  /** Whether our own handler answers (so a body naming the reason is required), or Node's HTTP parser does. */
  reasonInBody: boolean;
}

const req = (method: string, path: string, headers: Record<string, string> = {}, body = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join(
      '',
    )}${body || method === 'POST' ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`;

function httpCases(server: FoleyServer): HttpCase[] {
  const publish = `Bearer ${server.tokens.tokenFor('fuzz-whip', 'publish')}`;
  const listen = `Bearer ${server.tokens.tokenFor('fuzz-whip', 'listen')}`;
  const ours = (id: string, request: string | Buffer, ...expect: number[]): HttpCase => ({
    id,
    request,
    expect,
    reasonInBody: true,
  });
  const parser = (id: string, request: string | Buffer, ...expect: number[]): HttpCase => ({
    id,
    request,
    expect,
    reasonInBody: false,
  });
  const cases: HttpCase[] = [];
  for (const path of [
    '/../../etc/passwd',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/%252e%252e/%252e%252e/etc/passwd',
    '/..%2f..%2fpackage.json',
    '/dist/../../package.json',
    '/dist/..%5c..%5cpackage.json',
    '/..\\..\\package.json',
    '/dist/%2e%2e/%2e%2e/package.json',
    '/publish.html%00.txt',
    '/publish.html/',
    '/vendor/..%2f..%2f..%2fpackage.json',
    '/%c0%ae%c0%ae/package.json',
    '/client/index.html',
    '/.git/config',
    '/node_modules/opus-recorder/package.json',
    `/${'a'.repeat(8000)}`,
    `/nope.html?${'q='.repeat(3000)}`,
  ])
    cases.push(ours(`traversal ${path.slice(0, 48)}`, req('GET', path), 404));
  cases.push(
    parser('NUL in the path', req('GET', '/publish.html\u0000.txt'), 400),
    parser('URL past the header limit', req('GET', `/${'a'.repeat(70_000)}`), 431, 414, 400),
    parser('one 20 KiB header', req('GET', '/healthz', { 'X-Big': 'b'.repeat(20_000) }), 431),
    parser(
      '300 headers',
      req(
        'GET',
        '/healthz',
        Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`X-H${i}`, 'v'.repeat(60)])),
      ),
      431,
    ),
    parser('unknown method', req('FOO', '/healthz'), 400, 405, 501),
    parser('garbage request line', 'GARBAGE\r\n\r\n', 400),
    parser('lower-case method', req('get', '/healthz'), 400),
    parser('HTTP/0.9 request', 'GET /\r\n\r\n', 400, 200),
    parser(
      'bad Content-Length',
      'POST /whip/fuzz-whip HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
      400,
    ),
    parser(
      'both Content-Length and chunked',
      'POST /whip/fuzz-whip HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ),
    ours('POST on a page', req('POST', '/publish.html'), 405),
    ours('DELETE on a page', req('DELETE', '/obs.html'), 405),
    ours('PUT on /healthz', req('PUT', '/healthz'), 405),
    ours('POST on /metrics', req('POST', '/metrics'), 405),
    ours('PROPFIND on the root', req('PROPFIND', '/'), 405),
    ours('HEAD on an unknown path', req('HEAD', '/nope.html'), 404),
    ours(
      'upgrade on an unknown path',
      req('GET', '/nope', { Upgrade: 'websocket', Connection: 'Upgrade' }),
      404,
    ),
    parser(
      'websocket upgrade without a key',
      req('GET', '/ws', { Upgrade: 'websocket', Connection: 'Upgrade' }),
      400,
    ),
    ours(
      'WHIP without a token',
      req('POST', '/whip/fuzz-whip', { 'Content-Type': 'application/sdp' }, 'v=0'),
      401,
    ),
    ours(
      'WHIP with a wrong token',
      req(
        'POST',
        '/whip/fuzz-whip',
        { Authorization: 'Bearer nope', 'Content-Type': 'application/sdp' },
        'v=0',
      ),
      401,
    ),
    ours(
      'WHIP with Basic auth',
      req(
        'POST',
        '/whip/fuzz-whip',
        { Authorization: 'Basic YTpi', 'Content-Type': 'application/sdp' },
        'v=0',
      ),
      401,
    ),
    ours(
      'WHIP with a listen token',
      req('POST', '/whip/fuzz-whip', { Authorization: listen, 'Content-Type': 'application/sdp' }, 'v=0'),
      403,
    ),
    ours(
      'WHIP with a bad room name',
      req('POST', '/whip/bad%20room', { Authorization: publish, 'Content-Type': 'application/sdp' }, 'v=0'),
      400,
    ),
    ours(
      'WHIP as text/plain',
      req('POST', '/whip/fuzz-whip', { Authorization: publish, 'Content-Type': 'text/plain' }, 'v=0'),
      415,
    ),
    ours(
      'WHIP without a content type',
      req('POST', '/whip/fuzz-whip', { Authorization: publish }, 'v=0'),
      415,
    ),
    ours(
      'WHIP with garbage SDP',
      req(
        'POST',
        '/whip/fuzz-whip',
        { Authorization: publish, 'Content-Type': 'application/sdp' },
        'garbage\r\n\u0000\u00ff',
      ),
      400,
    ),
    ours(
      'WHIP with an empty offer',
      req('POST', '/whip/fuzz-whip', { Authorization: publish, 'Content-Type': 'application/sdp' }, ''),
      400,
    ),
    ours(
      'WHIP with an audio-only offer',
      req(
        'POST',
        '/whip/fuzz-whip',
        { Authorization: publish, 'Content-Type': 'application/sdp' },
        'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n',
      ),
      400,
    ),
    ours(
      'WHIP with a 1 MiB offer',
      req(
        'POST',
        '/whip/fuzz-whip',
        { Authorization: publish, 'Content-Type': 'application/sdp' },
        `v=0\r\n${'a=x\r\n'.repeat(200_000)}`,
      ),
      413,
    ),
    ours('GET on a WHIP endpoint', req('GET', '/whip/fuzz-whip'), 405),
    ours(
      'DELETE of an unknown WHIP session',
      req('DELETE', '/whip/fuzz-whip/0000', { Authorization: publish }),
      404,
    ),
    ours(
      'PATCH of a WHIP session',
      req(
        'PATCH',
        '/whip/fuzz-whip/0000',
        { Authorization: publish, 'Content-Type': 'application/trickle-ice-sdpfrag' },
        'a=x',
      ),
      405,
    ),
    ours('WHIP path too deep', req('POST', '/whip/fuzz-whip/a/b', { Authorization: publish }), 404),
  );
  return cases;
}

export async function fuzzHttp(_options: { seed: number }): Promise<SectionReport> {
  const started = performance.now();
  const failures: FuzzFailure[] = [];
  const outcomes: Record<string, number> = {};
  const server = await FoleyServer.start({ port: 0, bundleDir: TINY_BUNDLE_DIR, secret: 'fuzz-http' });
  const cases = httpCases(server);
  try {
    for (const c of cases) {
      const answer = await rawRequest(server.port, c.request);
      tally(outcomes, answer.status === null ? `no-answer:${answer.error}` : String(answer.status));
      const fail = (detail: string) => failures.push({ caseId: `http/${c.id}`, detail });
      if (answer.status === null) {
        fail(`no HTTP answer (${answer.error})`);
        continue;
      }
      if (answer.status >= 500)
        fail(`answered ${answer.status} ${answer.statusText}: ${answer.body.slice(0, 160)}`);
      else if (!c.expect.includes(answer.status))
        fail(`expected ${c.expect.join(' or ')}, got ${answer.status}: ${answer.body.slice(0, 160)}`);
      if (c.reasonInBody && !c.id.startsWith('HEAD') && answer.body.trim() === '')
        fail(`${answer.status} without a reason in the body`);
      if (!c.reasonInBody && answer.statusText.trim() === '')
        fail(`${answer.status} without a reason phrase`);
    }
    const health = await rawRequest(server.port, req('GET', '/healthz'));
    if (health.status !== 200)
      failures.push({
        caseId: 'http/healthz-after',
        detail: `GET /healthz got ${health.status ?? health.error}`,
      });
  } finally {
    await server.close();
  }
  return { section: 'http', cases: cases.length + 1, outcomes, failures, ms: performance.now() - started };
}
