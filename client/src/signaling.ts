/**
 * The pages' side of the signaling socket: requests with ids, replies matched by id,
 * notifications to a callback. Message types are the server's (src/server/messages.ts).
 * Every request times out (a page whose request is lost shows an error instead of waiting for ever).
 */
import type { ClientRequest, RoomStatus, ServerMessage, ServerReply } from '../../src/server/messages.js';

export type { RoomStatus };

/** How long a request waits for its reply before it fails. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

export class SignalingError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}

/** The message a page shows for a failure. */
export function describeError(error: unknown): string {
  if (error instanceof SignalingError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

type ReplyOf<C extends ClientRequest['case']> = Extract<ServerReply, { case: ReplyCase<C> }>['value'];
type ReplyCase<C> = C extends 'getRouterRtpCapabilities'
  ? 'routerRtpCapabilities'
  : C extends 'createTransport'
    ? 'transportCreated'
    : C extends 'connectTransport'
      ? 'transportConnected'
      : C extends 'produce'
        ? 'produced'
        : C extends 'consumeFoley'
          ? 'consumed'
          : C extends 'resumeConsumer'
            ? 'consumerResumed'
            : C extends 'ping'
              ? 'pong'
              : never;

export function pageParams(): { room: string; token: string; params: URLSearchParams } {
  const params = new URLSearchParams(location.search);
  return { room: params.get('room') ?? 'main', token: params.get('token') ?? '', params };
}

export function socketUrl(path: '/ws' | '/listen', extra: Record<string, string> = {}): string {
  const { room, token } = pageParams();
  const q = new URLSearchParams({ room, token, ...extra });
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}?${q}`;
}

interface Pending {
  kind: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface SignalingOptions {
  /** How long a request waits for its reply, ms. Default DEFAULT_REQUEST_TIMEOUT_MS. */
  requestTimeoutMs?: number;
}

export class Signaling {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #requestTimeoutMs: number;
  #nextId = 1;
  readonly opened: Promise<void>;
  onStatus: (status: RoomStatus) => void = () => {};
  onError: (code: string, message: string) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};

  constructor(url: string, options: SignalingOptions = {}) {
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.#ws.addEventListener('open', () => resolve(), { once: true });
      this.#ws.addEventListener(
        'error',
        () => reject(new SignalingError('SOCKET', 'cannot connect to the server')),
        { once: true },
      );
    });
    this.#ws.addEventListener('message', (event) => this.#onMessage(event.data as string));
    this.#ws.addEventListener('close', (event) => {
      for (const [id, p] of this.#pending) {
        this.#settle(id);
        p.reject(
          new SignalingError('CLOSED', `[${p.kind}] connection closed (${event.code} ${event.reason})`),
        );
      }
      this.onClose(event.code, event.reason);
    });
  }

  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.#pending.delete(id);
    return p;
  }

  #onMessage(text: string): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    if (message.case === 'status' || message.case === 'welcome') {
      this.onStatus(message.case === 'status' ? message.value : message.value.status);
      return;
    }
    const id = 'id' in message ? message.id : null;
    if (message.case === 'error') {
      const p = id !== null ? this.#settle(id) : undefined;
      if (p) p.reject(new SignalingError(message.value.code, `[${p.kind}] ${message.value.message}`));
      else this.onError(message.value.code, message.value.message);
      return;
    }
    if (id === null || id === undefined) return;
    this.#settle(id)?.resolve(message.value);
  }

  request<C extends ClientRequest['case']>(
    kind: C,
    value: Extract<ClientRequest, { case: C }>['value'],
  ): Promise<ReplyOf<C>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#ws.readyState !== WebSocket.OPEN) {
        reject(new SignalingError('CLOSED', `[${kind}] the connection is not open`));
        return;
      }
      const timer = setTimeout(() => {
        this.#settle(id);
        reject(
          new SignalingError(
            'TIMEOUT',
            `[${kind}] no reply from the server within ${this.#requestTimeoutMs} ms`,
          ),
        );
      }, this.#requestTimeoutMs);
      this.#pending.set(id, { kind, resolve: resolve as (v: unknown) => void, reject, timer });
      this.#ws.send(JSON.stringify({ id, case: kind, value }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}
