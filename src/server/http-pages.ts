/**
 * The HTTP side of `foley serve` that holds no server state: the built pages and their
 * scripts (GET and HEAD only), the 405 answer, and reading a bounded request body (WHIP offers).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import type http from 'node:http';
import { extname, join } from 'node:path';
import { packageRoot } from '../models/bundle.js';

/** Answers 405 to anything but GET and HEAD; true when the request may go on. */
export function onlyGetOrHead(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${req.method} is not allowed here; use GET or HEAD\n`);
  return false;
}

/** Largest WHIP offer taken, bytes (OBS's and FFmpeg's are a few KiB). */
export const MAX_WHIP_OFFER_BYTES = 64 * 1024;

/** How much of a too-large body is read and dropped so the client can read the 413 (past it, the connection is cut). */
const MAX_DRAINED_BODY_BYTES = 8 * 1024 * 1024;

/**
 * A request body as UTF-8, refused past `maxBytes`. A refused body is still read to its end
 * (up to MAX_DRAINED_BODY_BYTES) before the refusal: closing a socket with unread data
 * resets it, and the client would see ECONNRESET instead of the 413.
 */
export function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = () => new Error(`the offer is over ${maxBytes} bytes`);
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_DRAINED_BODY_BYTES) {
        reject(tooLarge());
        req.destroy();
      } else if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('end', () =>
      size > maxBytes ? reject(tooLarge()) : resolve(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** Serves a page of client/ (or its built script) by path: 404 unknown, 405 not GET/HEAD, 503 not built. */
export function serveStaticPage(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const root = packageRoot();
  const files: Record<string, string> = {
    '/': join(root, 'client', 'index.html'),
    '/publish.html': join(root, 'client', 'publish.html'),
    '/obs.html': join(root, 'client', 'obs.html'),
    '/overlay.html': join(root, 'client', 'overlay.html'),
    '/viewer.html': join(root, 'client', 'viewer.html'),
    '/dist/publish.js': join(root, 'client', 'dist', 'publish.js'),
    '/dist/obs.js': join(root, 'client', 'dist', 'obs.js'),
    '/dist/overlay.js': join(root, 'client', 'dist', 'overlay.js'),
    '/dist/viewer.js': join(root, 'client', 'dist', 'viewer.js'),
    '/dist/jitter-worklet.js': join(root, 'client', 'dist', 'jitter-worklet.js'),
    '/vendor/decoderWorker.min.js': join(
      root,
      'node_modules',
      'opus-recorder',
      'dist',
      'decoderWorker.min.js',
    ),
    '/vendor/decoderWorker.min.wasm': join(
      root,
      'node_modules',
      'opus-recorder',
      'dist',
      'decoderWorker.min.wasm',
    ),
  };
  const file = files[url.pathname];
  const head = req.method === 'HEAD';
  const reply = (status: number, headers: http.OutgoingHttpHeaders, text: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(head ? undefined : text);
  };
  if (!file) {
    reply(404, {}, 'not found\n');
    return;
  }
  if (req.method !== 'GET' && !head) {
    reply(405, { allow: 'GET, HEAD' }, `${req.method} is not allowed here; use GET or HEAD\n`);
    return;
  }
  const stat = existsSync(file) ? statSync(file) : null;
  if (!stat?.isFile()) {
    reply(503, {}, `${url.pathname} is not built; run: npm run build:client\n`);
    return;
  }
  res.writeHead(200, {
    'content-type': MIME[extname(file)] ?? 'application/octet-stream',
    'content-length': stat.size,
    'cache-control': 'no-store',
  });
  if (head) res.end();
  else createReadStream(file).pipe(res);
}
