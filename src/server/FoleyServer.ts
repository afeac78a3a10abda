import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import { LiveFoleyPipeline } from '../../pipelines/live.js';
import { UsageError } from '../errors.js';
import { type LogFields, Logger } from '../logger.js';
import { loadBundle, packageRoot } from '../models/bundle.js';
import { DEFAULT_INFERENCE_WORKERS, InferenceRunner } from '../models/inference-runner.js';
import { TypedEmitter } from '../typed-emitter.js';
import { addressKey, ConnectionCounts, resolveServerLimits, type ServerLimits } from './ConnectionLimits.js';
import { DemoPublisher } from './DemoPublisher.js';
import { MAX_WHIP_OFFER_BYTES, onlyGetOrHead, readBody, serveStaticPage } from './http-pages.js';
import {
  describeError,
  type ErrorCode,
  MessageError,
  parseClientMessage,
  type Role,
  type RoomStatus,
  type ServerMessage,
} from './messages.js';
import { ROOM_MEDIA_CODECS, Room, type RoomPipelineOptions } from './Room.js';
import { ServerMetrics } from './ServerMetrics.js';
import { type EarlyMessage, SignalingPeer, type TransportListenConfig } from './SignalingPeer.js';
import { ROOM_NAME_PATTERN, RoomTokens, roleAllows, type TokenRole } from './tokens.js';
import { WhipOfferError } from './WhipSdp.js';
import { WhipSession } from './WhipSession.js';

const logger = new Logger('server:FoleyServer');
const accessLogger = new Logger('server:access');

/** How long /healthz waits for the mediasoup worker to answer, ms. */
const HEALTH_PROBE_TIMEOUT_MS = 1000;

/** The /healthz body. */
export interface ServerHealth {
  status: 'ok' | 'unavailable';
  mediasoupWorker: { alive: boolean; pid: number };
  inferenceRunner: { alive: boolean; workers: number; queuedRuns: number };
  rooms: number;
}

export interface FoleyServerOptions {
  host?: string;
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** HMAC secret for room tokens; random per start when not given. */
  secret?: string;
  /** Lifetime of the tokens roomUrls() makes, seconds (default: they do not expire). */
  tokenTtlSeconds?: number;
  /**
   * Where connection lines go (one per accepted or refused connection, never a token), with
   * their fields (path, room, address, role or refusal reason); default the info log.
   */
  accessLog?: (line: string, fields: LogFields) => void;
  /** Process metrics (CPU, memory, event loop) on /metrics besides the server's own. Default true. */
  processMetrics?: boolean;
  /** Bundle folder (default models/default) or a started runner to share. */
  bundleDir?: string;
  runner?: InferenceRunner;
  /** Inference worker threads of the runner it starts (ignored with `runner`). Default: DEFAULT_INFERENCE_WORKERS. */
  inferenceWorkers?: number;
  /** Address WebRTC candidates carry (set to the LAN address to publish from another machine). */
  announcedIp?: string;
  /** Address mediasoup listens on for WebRTC. Default 127.0.0.1. */
  rtcListenIp?: string;
  rtcMinPort?: number;
  rtcMaxPort?: number;
  defaultRoom?: string;
  /** Rooms, connections and per-connection mediasoup objects (DEFAULT_SERVER_LIMITS for any left out). */
  limits?: Partial<ServerLimits>;
  pipeline?: RoomPipelineOptions;
}

export type FoleyServerEvents = {
  roomcreated: [Room];
  /** The mediasoup worker died; the server closed itself. */
  died: [Error];
  close: [];
};

/** `text` cut to at most `maxBytes` of UTF-8 (a WebSocket close reason is limited to 123). */
function truncateUtf8(text: string, maxBytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1);
  return out;
}

/** Why a connection was refused, as the refusals counter labels it. */
type RefusalReason = 'limit' | 'bad_request' | 'token' | 'forbidden' | 'closing' | 'error';

function refusalReason(closeCode: number): RefusalReason {
  switch (closeCode) {
    case 4429:
      return 'limit';
    case 4400:
      return 'bad_request';
    case 4401:
      return 'token';
    case 4403:
      return 'forbidden';
    case 4503:
      return 'closing';
    default:
      return 'error';
  }
}

/** Messages a socket may send before its room exists; more close it. */
const MAX_EARLY_MESSAGES = 16;

/**
 * `foley serve`: HTTP for the pages in client/, WebSocket signaling (/ws), the Ogg
 * Opus stream for OBS (/listen), one mediasoup worker and a router per room, and one
 * inference runner shared by all rooms (deadline-ordered queue). Every connection needs
 * the room's token.
 */
export class FoleyServer extends TypedEmitter<FoleyServerEvents> {
  readonly rooms = new Map<string, Room>();
  readonly #roomsPending = new Map<string, Promise<Room>>();
  readonly tokens: RoomTokens;
  #closed = false;
  readonly #peers = new Set<SignalingPeer>();
  /** Sockets per room name waiting for that room to be created. */
  readonly #joining = new Map<string, number>();
  readonly #connectionsPerAddress: ConnectionCounts;
  readonly #connectionsPerRoom: ConnectionCounts;
  readonly metrics: ServerMetrics;
  readonly #demos = new Set<DemoPublisher>();
  /** WHIP publishers by resource id. */
  readonly #whipSessions = new Map<string, { room: string; session: WhipSession }>();

  private constructor(
    readonly options: FoleyServerOptions,
    readonly limits: ServerLimits,
    readonly worker: ms.Worker,
    readonly runner: InferenceRunner,
    readonly ownsRunner: boolean,
    readonly http: http.Server,
    readonly wss: WebSocketServer,
  ) {
    super();
    this.tokens = new RoomTokens(options.secret);
    this.#connectionsPerAddress = new ConnectionCounts(limits.maxConnectionsPerIp);
    this.#connectionsPerRoom = new ConnectionCounts(limits.maxConnectionsPerRoom);
    this.metrics = new ServerMetrics(
      {
        roomCount: () => this.rooms.size,
        peerCounts: () => this.#peerCounts(),
        whipSessionCount: () => this.#whipSessions.size,
        inferenceQueueLength: () => (this.runner.isClosed ? 0 : this.runner.queuedRuns),
      },
      { processMetrics: options.processMetrics ?? true },
    );
    worker.on('died', (error: Error) => {
      logger.error(`mediasoup worker died: ${error.message}`);
      this.safeEmit('died', error);
      void this.close();
    });
  }

  static async start(options: FoleyServerOptions = {}): Promise<FoleyServer> {
    const limits = resolveServerLimits(options.limits);
    const worker = await mediasoup.createWorker({
      logLevel: 'warn',
      rtcMinPort: options.rtcMinPort ?? 40000,
      rtcMaxPort: options.rtcMaxPort ?? 49999,
    });
    let runner = options.runner;
    let ownsRunner = false;
    try {
      if (!runner) {
        const bundle = await loadBundle(options.bundleDir ?? join(packageRoot(), 'models', 'default'));
        runner = await InferenceRunner.start(bundle, {
          models: LiveFoleyPipeline.models(bundle.manifest),
          workers: options.inferenceWorkers ?? DEFAULT_INFERENCE_WORKERS,
        });
        ownsRunner = true;
      }
    } catch (error) {
      worker.close();
      throw error;
    }
    const httpServer = http.createServer();
    // maxPayload is the hard cap (the socket closes with 1009 above it); messages
    // between MAX_MESSAGE_BYTES and it get an error reply.
    const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
    const server = new FoleyServer(options, limits, worker, runner, ownsRunner, httpServer, wss);
    httpServer.on('request', (req, res) => server.#onRequest(req, res));
    httpServer.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== '/ws' && url.pathname !== '/listen') {
        const body = 'not found: WebSocket paths are /ws and /listen\n';
        socket.end(
          `HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        return;
      }
      wss.handleUpgrade(
        req,
        socket,
        head,
        (ws) => void server.#onConnection(ws, url, addressKey(req.socket.remoteAddress)),
      );
    });
    const port = options.port ?? 8080;
    const host = options.host ?? '127.0.0.1';
    try {
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => resolve());
      });
    } catch (error) {
      // The worker and the inference runner would keep the process alive after a failed start.
      await server.close();
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE')
        throw new UsageError(
          `[serve] port ${port} on ${host} is in use: pass --port N or stop the other server`,
        );
      if (code === 'EACCES' || code === 'EADDRNOTAVAIL')
        throw new UsageError(`[serve] cannot listen on ${host}:${port} (${code}): check --host and --port`);
      throw error;
    }
    return server;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get baseUrl(): string {
    const host = this.options.host && this.options.host !== '0.0.0.0' ? this.options.host : '127.0.0.1';
    return `http://${host}:${this.port}`;
  }

  get defaultRoom(): string {
    return this.options.defaultRoom ?? 'main';
  }

  /** The page URLs of a room, each with a token of its own role (the OBS page's can only listen). */
  roomUrls(room: string): { publish: string; obs: string; overlay: string; viewer: string } {
    const ttl =
      this.options.tokenTtlSeconds !== undefined ? { ttlSeconds: this.options.tokenTtlSeconds } : {};
    const q = (role: TokenRole) =>
      `room=${encodeURIComponent(room)}&token=${this.tokens.tokenFor(room, role, ttl)}`;
    return {
      publish: `${this.baseUrl}/publish.html?${q('publish')}`,
      obs: `${this.baseUrl}/obs.html?${q('listen')}`,
      overlay: `${this.baseUrl}/overlay.html?${q('listen')}`,
      viewer: `${this.baseUrl}/viewer.html?${q('view')}`,
    };
  }

  /** Where OBS publishes to a room over WHIP (Settings, Stream, Service WHIP) and the Bearer token it needs. */
  whipEndpoint(room: string): { url: string; bearerToken: string } {
    const ttl =
      this.options.tokenTtlSeconds !== undefined ? { ttlSeconds: this.options.tokenTtlSeconds } : {};
    return { url: `${this.baseUrl}/whip/${room}`, bearerToken: this.tokens.tokenFor(room, 'publish', ttl) };
  }

  /** Loops `clip` into a room through the live path (`foley serve --demo`); it stops when the server closes. */
  async startDemo(options: { room?: string; clip: string; codec?: 'vp8' | 'h264' }): Promise<DemoPublisher> {
    const room = await this.getRoom(options.room ?? this.defaultRoom);
    const demo = await DemoPublisher.start({
      room,
      clip: options.clip,
      ...(options.codec ? { codec: options.codec } : {}),
    });
    if (this.#closed) {
      demo.close();
      throw new Error('[FoleyServer] closed while the demo was starting');
    }
    this.#demos.add(demo);
    demo.once('close', () => this.#demos.delete(demo));
    return demo;
  }

  async getRoom(name: string): Promise<Room> {
    const existing = this.rooms.get(name);
    if (existing) return existing;
    const pending = this.#roomsPending.get(name);
    if (pending) return pending;
    const creating = (async () => {
      const router = await this.worker.createRouter({ mediaCodecs: ROOM_MEDIA_CODECS });
      const room = new Room(name, router, this.runner, this.options.pipeline ?? {});
      this.rooms.set(name, room);
      room.on('close', () => {
        if (this.rooms.get(name) === room) this.rooms.delete(name);
      });
      room.on('empty', () => this.#closeIfUnused(room));
      room.on('attachment', (attachment) => this.metrics.observeAttachment(attachment));
      this.safeEmit('roomcreated', room);
      return room;
    })();
    this.#roomsPending.set(name, creating);
    try {
      return await creating;
    } finally {
      this.#roomsPending.delete(name);
    }
  }

  /**
   * What a connection may be: /listen is a listener; /ws is a publisher or viewer as its
   * `role` parameter asks (the token's own role when left out), if the token grants it.
   */
  #connectionRole(url: URL, held: TokenRole): TokenRole | { refusal: string; closeCode: number } {
    if (url.pathname === '/listen') return 'listen';
    const asked = url.searchParams.get('role') ?? (held === 'listen' ? null : held);
    if (asked === null)
      return { refusal: 'a listen token opens only /listen (the OBS page), not /ws', closeCode: 4403 };
    if (asked !== 'publish' && asked !== 'view')
      return { refusal: 'role must be "publish" or "view"', closeCode: 4400 };
    if (!roleAllows(held, asked))
      return { refusal: `a ${held} token may not ${asked} in this room`, closeCode: 4403 };
    return asked;
  }

  #accessLog(line: string, fields: LogFields): void {
    if (this.options.accessLog) this.options.accessLog(line, fields);
    else accessLogger.info(line, fields);
  }

  /** A refused connection: logged (throttled when it repeats) and counted by reason. */
  #refused(where: string, fields: LogFields, reason: RefusalReason, message: string): void {
    this.metrics.connectionsRefused.inc({ reason });
    this.#accessLog(`refused ${where}: ${message}`, { ...fields, refused: reason });
  }

  #peerCounts(): Record<'publish' | 'view' | 'listen', number> {
    const counts = { publish: this.#whipSessions.size, view: 0, listen: 0 };
    for (const peer of this.#peers) counts[peer.role]++;
    for (const room of this.rooms.values()) counts.listen += room.oggListenerCount;
    return counts;
  }

  /** Whether the mediasoup worker answers a request and the inference runner is open. */
  async health(): Promise<ServerHealth> {
    let workerAlive = !this.worker.closed;
    if (workerAlive) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), HEALTH_PROBE_TIMEOUT_MS);
      });
      workerAlive = await Promise.race([
        this.worker.getResourceUsage().then(
          () => true,
          () => false,
        ),
        timeout,
      ]);
      clearTimeout(timer);
    }
    const runnerAlive = !this.runner.isClosed;
    return {
      status: workerAlive && runnerAlive && !this.#closed ? 'ok' : 'unavailable',
      mediasoupWorker: { alive: workerAlive, pid: this.worker.pid },
      inferenceRunner: {
        alive: runnerAlive,
        workers: this.runner.workerCount,
        queuedRuns: runnerAlive ? this.runner.queuedRuns : 0,
      },
      rooms: this.rooms.size,
    };
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = url.pathname.startsWith('/whip/')
      ? this.#serveWhip(req, res, url)
      : url.pathname === '/healthz'
        ? this.#serveHealth(req, res)
        : url.pathname === '/metrics'
          ? this.#serveMetrics(req, res)
          : null;
    if (route) {
      route.catch((error) => {
        logger.error(`${url.pathname} failed: ${describeError(error)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${url.pathname} failed: ${describeError(error)}\n`);
      });
      return;
    }
    serveStaticPage(req, res);
  }

  /** The SFU listen addresses of a new transport (a page's or a WHIP publisher's). */
  #transportConfig(): TransportListenConfig {
    return {
      listenIps: [
        {
          ip: this.options.rtcListenIp ?? '127.0.0.1',
          ...(this.options.announcedIp ? { announcedIp: this.options.announcedIp } : {}),
        },
      ],
    };
  }

  /**
   * WHIP (RFC 9725): POST /whip/ROOM with an SDP offer and a publish token as Bearer makes a
   * session (201, the answer, its URL in Location); DELETE on that URL ends it. Trickle ICE
   * and ICE restarts (PATCH) are not supported: 405, as the RFC allows. OPTIONS answers CORS.
   */
  async #serveWhip(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const [, , roomName = '', resourceId, ...rest] = url.pathname.split('/');
    const isResource = resourceId !== undefined && resourceId !== '';
    const allow = isResource ? 'DELETE, OPTIONS' : 'POST, OPTIONS';
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'Location, Accept-Post',
    };
    const reply = (status: number, text: string, headers: http.OutgoingHttpHeaders = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...cors, ...headers });
      res.end(`${text}\n`);
    };
    if (rest.length > 0) return reply(404, 'not found');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        allow,
        'access-control-allow-methods': allow,
        'access-control-allow-headers': 'Authorization, Content-Type, If-Match',
        'access-control-max-age': '86400',
        ...(isResource ? {} : { 'accept-post': 'application/sdp' }),
      });
      res.end();
      return;
    }
    if (isResource) {
      if (req.method !== 'DELETE') {
        const what =
          req.method === 'PATCH'
            ? 'trickle ICE and ICE restarts are not supported'
            : `${req.method} is not allowed`;
        return reply(405, `${what}; DELETE ends the session`, { allow });
      }
      const entry = this.#whipSessions.get(resourceId);
      if (!entry || entry.room !== roomName) return reply(404, `no WHIP session ${resourceId} in this room`);
      entry.session.close('DELETE');
      return reply(200, 'session ended');
    }
    if (req.method !== 'POST')
      return reply(405, `${req.method} is not allowed; POST an SDP offer`, { allow });
    await this.#acceptWhip(req, roomName, reply);
  }

  async #acceptWhip(
    req: http.IncomingMessage,
    roomName: string,
    reply: (status: number, text: string, headers?: http.OutgoingHttpHeaders) => void,
  ): Promise<void> {
    const address = addressKey(req.socket.remoteAddress);
    const where = `/whip room ${JSON.stringify(roomName.slice(0, 64))} from ${address}`;
    const fields = { path: '/whip', room: roomName.slice(0, 64), address };
    const releases: Array<() => void> = [];
    const release = () => {
      for (const r of releases.splice(0)) r();
    };
    const refuse = (status: number, reason: RefusalReason, message: string, headers = {}) => {
      release();
      this.#refused(where, fields, reason, message);
      reply(status, message, headers);
    };
    if (!ROOM_NAME_PATTERN.test(roomName))
      return refuse(400, 'bad_request', 'room names are 1-64 characters of A-Z a-z 0-9 _ -');
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? null;
    const check = this.tokens.verify(roomName, bearer);
    if (!check.ok)
      return refuse(401, 'token', `token refused for room "${roomName}": ${check.reason}`, {
        'www-authenticate': 'Bearer realm="foley", error="invalid_token"',
      });
    if (!roleAllows(check.role, 'publish'))
      return refuse(403, 'forbidden', `a ${check.role} token may not publish in this room`);
    if (this.#closed) return refuse(503, 'closing', 'server is closing');
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/sdp')
      return refuse(415, 'bad_request', `the offer must be sent as application/sdp, got "${contentType}"`);
    const releaseAddress = this.#connectionsPerAddress.acquire(address);
    if (!releaseAddress)
      return refuse(
        429,
        'limit',
        `too many connections from this address (the limit is ${this.limits.maxConnectionsPerIp})`,
      );
    releases.push(releaseAddress);
    if (!this.rooms.has(roomName) && !this.#roomsPending.has(roomName)) {
      if (this.rooms.size + this.#roomsPending.size >= this.limits.maxRooms)
        return refuse(
          429,
          'limit',
          `too many rooms (the limit is ${this.limits.maxRooms}); try again when one is left`,
        );
    }
    const releaseRoomSlot = this.#connectionsPerRoom.acquire(roomName);
    if (!releaseRoomSlot)
      return refuse(
        429,
        'limit',
        `too many connections in room "${roomName}" (the limit is ${this.limits.maxConnectionsPerRoom})`,
      );
    releases.push(releaseRoomSlot);
    let offerSdp: string;
    try {
      offerSdp = await readBody(req, MAX_WHIP_OFFER_BYTES);
    } catch (error) {
      return refuse(413, 'bad_request', describeError(error));
    }
    this.#joining.set(roomName, (this.#joining.get(roomName) ?? 0) + 1);
    let room: Room | null = null;
    let session: WhipSession;
    try {
      room = await this.getRoom(roomName);
      session = await WhipSession.create({
        router: room.router,
        offerSdp,
        transportConfig: this.#transportConfig(),
      });
    } catch (error) {
      this.#leaveJoining(roomName);
      // A room made for this offer alone is closed again.
      if (room) this.#closeIfUnused(room);
      if (error instanceof WhipOfferError) return refuse(400, 'bad_request', error.message);
      logger.warn(`room ${roomName}: WHIP session failed: ${describeError(error)}`);
      return refuse(500, 'error', `[whip, room:${roomName}] ${describeError(error)}`);
    }
    this.#leaveJoining(roomName);
    if (this.#closed || room.closed) {
      session.close('server closing');
      return refuse(503, 'closing', 'server is closing');
    }
    this.#whipSessions.set(session.id, { room: roomName, session });
    room.addPeer(session);
    session.once('close', (reason) => {
      this.#whipSessions.delete(session.id);
      release();
      room.removePeer(session);
      this.#accessLog(`WHIP session ended ${where}: ${reason}`, {
        ...fields,
        role: 'publish',
        ended: reason,
      });
    });
    this.#accessLog(`connected ${where} as publish (WHIP)`, { ...fields, role: 'publish' });
    const location = `/whip/${roomName}/${session.id}`;
    const host = req.headers.host ?? `127.0.0.1:${this.port}`;
    reply(201, session.answerSdp.trimEnd(), {
      'content-type': 'application/sdp',
      location: `http://${host}${location}`,
    });
    room.attach(session.videoProducer).catch((error) => {
      if (session.closed) return;
      logger.warn(`room ${roomName}: foley could not attach to the WHIP video: ${describeError(error)}`);
      session.close('foley could not attach');
    });
  }

  async #serveHealth(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!onlyGetOrHead(req, res)) return;
    const health = await this.health();
    const body = `${JSON.stringify(health)}\n`;
    res.writeHead(health.status === 'ok' ? 200 : 503, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async #serveMetrics(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!onlyGetOrHead(req, res)) return;
    const body = await this.metrics.text();
    res.writeHead(200, { 'content-type': this.metrics.contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  #leaveJoining(roomName: string): void {
    const joining = (this.#joining.get(roomName) ?? 1) - 1;
    if (joining > 0) this.#joining.set(roomName, joining);
    else this.#joining.delete(roomName);
  }

  /** Closes a room nobody is in or joining (its router with it), so its name and slot are free again. */
  #closeIfUnused(room: Room): void {
    if (room.closed || room.memberCount > 0 || (this.#joining.get(room.name) ?? 0) > 0) return;
    logger.debug(`room ${room.name}: last member left, closing`);
    room.close();
  }

  async #onConnection(ws: WebSocket, url: URL, address: string): Promise<void> {
    const roomName = url.searchParams.get('room') ?? '';
    const where = `${url.pathname} room ${JSON.stringify(roomName.slice(0, 64))} from ${address}`;
    const fields = { path: url.pathname, room: roomName.slice(0, 64), address };
    const reject = (
      message: string,
      closeCode: number,
      code: ErrorCode = 'NOT_ALLOWED',
      reason: RefusalReason = refusalReason(closeCode),
    ) => {
      this.#refused(where, fields, reason, message);
      const reply: ServerMessage = { id: null, case: 'error', value: { code, message } };
      ws.send(JSON.stringify(reply), () => ws.close(closeCode, truncateUtf8(message, 120)));
    };
    ws.on('error', (error) => logger.debug(`ws error: ${error.message}`));
    const releaseAddress = this.#connectionsPerAddress.acquire(address);
    if (!releaseAddress) {
      return reject(
        `too many connections from this address (the limit is ${this.limits.maxConnectionsPerIp})`,
        4429,
        'LIMIT',
      );
    }
    ws.once('close', releaseAddress);
    if (!ROOM_NAME_PATTERN.test(roomName))
      return reject('room names are 1-64 characters of A-Z a-z 0-9 _ -', 4400);
    const check = this.tokens.verify(roomName, url.searchParams.get('token'));
    if (!check.ok) return reject(`token refused for room "${roomName}": ${check.reason}`, 4401);
    if (this.#closed) return reject('server is closing', 4503);
    const role = this.#connectionRole(url, check.role);
    if (typeof role !== 'string') return reject(role.refusal, role.closeCode);
    const maxRooms = this.limits.maxRooms;
    if (!this.rooms.has(roomName) && !this.#roomsPending.has(roomName)) {
      if (this.rooms.size + this.#roomsPending.size >= maxRooms)
        return reject(`too many rooms (the limit is ${maxRooms}); try again when one is left`, 4429, 'LIMIT');
    }
    const releaseRoomSlot = this.#connectionsPerRoom.acquire(roomName);
    if (!releaseRoomSlot) {
      return reject(
        `too many connections in room "${roomName}" (the limit is ${this.limits.maxConnectionsPerRoom})`,
        4429,
        'LIMIT',
      );
    }
    this.#accessLog(`connected ${where} as ${role}`, { ...fields, role });
    ws.once('close', releaseRoomSlot);
    // Requests sent while the room is being created are kept and handled once it exists
    // (a page that sends on open would otherwise wait for a reply that never comes).
    const early: EarlyMessage[] = [];
    const hold = (data: RawData, isBinary: boolean) => {
      if (early.length >= MAX_EARLY_MESSAGES) {
        ws.close(4429, `more than ${MAX_EARLY_MESSAGES} messages before the room was ready`);
        return;
      }
      early.push({ data: data as Buffer, isBinary });
    };
    ws.on('message', hold);
    // Counted as joining so the room is not closed as empty before this socket is in it.
    this.#joining.set(roomName, (this.#joining.get(roomName) ?? 0) + 1);
    let room: Room;
    try {
      room = await this.getRoom(roomName);
    } catch (error) {
      logger.warn(`room ${roomName}: could not be created: ${describeError(error)}`);
      return reject(`room "${roomName}" could not be created: ${describeError(error)}`, 1011);
    } finally {
      const joining = (this.#joining.get(roomName) ?? 1) - 1;
      if (joining > 0) this.#joining.set(roomName, joining);
      else this.#joining.delete(roomName);
      ws.off('message', hold);
    }
    if (ws.readyState !== ws.OPEN || this.#closed || room.closed) {
      // The socket left (or the server closed) while the room was being created.
      this.#closeIfUnused(room);
      if (ws.readyState === ws.OPEN) reject('server is closing', 4503);
      return;
    }
    if (url.pathname === '/listen') {
      this.#addListener(ws, room, early);
      return;
    }
    const peer = new SignalingPeer(ws, room, role as Role, {
      transportConfig: this.#transportConfig(),
      limits: this.limits,
      earlyMessages: early,
    });
    this.#peers.add(peer);
    room.addPeer(peer);
    peer.once('close', () => {
      this.#peers.delete(peer);
      room.removePeer(peer);
    });
  }

  #addListener(ws: WebSocket, room: Room, early: EarlyMessage[]): void {
    const listener = {
      send: (data: Buffer) => {
        // A listener that cannot keep up is dropped rather than buffered without end.
        if (ws.bufferedAmount > 512 * 1024) {
          ws.close(4008, 'too slow');
          return;
        }
        if (ws.readyState === ws.OPEN) ws.send(data, { binary: true });
      },
      sendStatus: (status: RoomStatus) => {
        if (ws.readyState === ws.OPEN)
          ws.send(JSON.stringify({ case: 'status', value: status } satisfies ServerMessage));
      },
    };
    ws.send(
      JSON.stringify({
        case: 'welcome',
        value: { room: room.name, role: 'listen', status: room.status() },
      } satisfies ServerMessage),
    );
    room.addListener(listener);
    const onMessage = (data: Buffer, isBinary: boolean) => {
      // The listen socket takes playoutLatency notifications only; anything else gets an error reply.
      try {
        if (isBinary) throw new MessageError('NOT_ALLOWED', 'the listen socket accepts no binary frames');
        const message = parseClientMessage(data.toString('utf8'));
        if (message.id !== null)
          throw new MessageError(
            'NOT_ALLOWED',
            `the listen socket takes no requests (got "${message.case}"); only playoutLatency notifications`,
            message.id,
          );
        room.reportPlayoutLatency(listener, message.value.addedMs);
      } catch (error) {
        const e =
          error instanceof MessageError ? error : new MessageError('BAD_MESSAGE', describeError(error));
        const reply: ServerMessage = {
          id: e.requestId,
          case: 'error',
          value: { code: e.code, message: e.message },
        };
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(reply));
      }
    };
    ws.on('message', (data, isBinary) => onMessage(data as Buffer, isBinary));
    for (const m of early) onMessage(m.data, m.isBinary);
    ws.on('close', () => room.removeListener(listener));
  }

  /** Idempotent. Closes rooms, connections, the mediasoup worker and (if owned) the inference worker. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const peer of this.#peers) peer.close();
    for (const { session } of this.#whipSessions.values()) session.close('server closing');
    for (const demo of this.#demos) demo.close();
    for (const room of this.rooms.values()) room.close();
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.worker.close();
    if (this.ownsRunner) await this.runner.close();
    this.safeEmit('close');
    this.removeAllListeners();
  }
}
