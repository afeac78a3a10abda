/**
 * The pages' side of the signaling socket: requests with ids, replies matched by id,
 * notifications to a callback. Message types are the server's (src/server/messages.ts).
 */
import type { ClientRequest, RoomStatus, ServerMessage, ServerReply } from '../../src/server/messages.js';

export type { RoomStatus };

export class SignalingError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'SignalingError';
  }
}

type ReplyOf<C extends ClientRequest['case']> = Extract<ServerReply, { case: ReplyCase<C> }>['value'];
type ReplyCase<C> = C extends 'getRouterRtpCapabilities' ? 'routerRtpCapabilities'
  : C extends 'createTransport' ? 'transportCreated'
  : C extends 'connectTransport' ? 'transportConnected'
  : C extends 'produce' ? 'produced'
  : C extends 'consumeFoley' ? 'consumed'
  : C extends 'resumeConsumer' ? 'consumerResumed'
  : C extends 'ping' ? 'pong' : never;

export function pageParams(): { room: string; token: string; params: URLSearchParams } {
  const params = new URLSearchParams(location.search);
  return { room: params.get('room') ?? 'main', token: params.get('token') ?? '', params };
}

export function socketUrl(path: '/ws' | '/listen', extra: Record<string, string> = {}): string {
  const { room, token } = pageParams();
  const q = new URLSearchParams({ room, token, ...extra });
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}?${q}`;
}

export class Signaling {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  readonly opened: Promise<void>;
  onStatus: (status: RoomStatus) => void = () => {};
  onError: (code: string, message: string) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};

  constructor(url: string) {
    this.#ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.#ws.addEventListener('open', () => resolve(), { once: true });
      this.#ws.addEventListener('error', () => reject(new SignalingError('SOCKET', 'cannot connect to the server')), { once: true });
    });
    this.#ws.addEventListener('message', (event) => this.#onMessage(event.data as string));
    this.#ws.addEventListener('close', (event) => {
      for (const p of this.#pending.values()) p.reject(new SignalingError('CLOSED', `connection closed (${event.code} ${event.reason})`));
      this.#pending.clear();
      this.onClose(event.code, event.reason);
    });
  }

  #onMessage(text: string): void {
    let message: ServerMessage;
    try { message = JSON.parse(text) as ServerMessage; } catch { return; }
    if (message.case === 'status' || message.case === 'welcome') {
      this.onStatus(message.case === 'status' ? message.value : message.value.status);
      return;
    }
    const id = 'id' in message ? message.id : null;
    if (message.case === 'error') {
      const p = id !== null ? this.#pending.get(id) : undefined;
      if (p) { this.#pending.delete(id!); p.reject(new SignalingError(message.value.code, message.value.message)); }
      else this.onError(message.value.code, message.value.message);
      return;
    }
    if (id === null || id === undefined) return;
    const p = this.#pending.get(id);
    if (p) { this.#pending.delete(id); p.resolve(message.value); }
  }

  request<C extends ClientRequest['case']>(kind: C, value: Extract<ClientRequest, { case: C }>['value']): Promise<ReplyOf<C>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#ws.send(JSON.stringify({ id, case: kind, value }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}
