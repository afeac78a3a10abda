/**
 * The /listen socket of the OBS and overlay pages: waits for the welcome (with a timeout),
 * keeps the room status, hands each Ogg page to a per-connection sink, and reconnects with
 * backoff unless the server refused the page (bad or expired token, a role it does not grant).
 */
import { DEFAULT_REQUEST_TIMEOUT_MS, type RoomStatus, socketUrl } from './signaling.js';

export interface ListenConnectionState {
  connection: string;
  error: string;
  room: RoomStatus | null;
  pages: number;
  reconnects: number;
}

export interface ListenConnectionOptions {
  state: ListenConnectionState;
  show: () => void;
  /** Called for each new socket (the stream restarts with its header pages); returns its page sink. */
  onConnect: (ws: WebSocket) => (page: Uint8Array, arrivalMs: number) => void;
  /** Called when a socket closes, before any reconnect. */
  onClose?: (ws: WebSocket) => void;
}

/** Close codes after which reconnecting cannot help: bad request, bad token, role not allowed. */
const FINAL_CLOSE_CODES = new Set([4400, 4401, 4403]);

export function connectListen(options: ListenConnectionOptions): void {
  const { state, show } = options;
  let backoffMs = 500;
  const connect = (): void => {
    state.connection = 'connecting';
    state.error = '';
    show();
    const ws = new WebSocket(socketUrl('/listen'));
    ws.binaryType = 'arraybuffer';
    const pushPage = options.onConnect(ws);
    let welcomed = false;
    let refused = false;
    let welcomeTimer: ReturnType<typeof setTimeout> | undefined;
    ws.onopen = () => {
      state.connection = 'waiting for the server';
      show();
      welcomeTimer = setTimeout(() => {
        state.error = `no welcome from the server within ${DEFAULT_REQUEST_TIMEOUT_MS} ms`;
        ws.close();
      }, DEFAULT_REQUEST_TIMEOUT_MS);
    };
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') {
        state.pages++;
        pushPage(new Uint8Array(event.data as ArrayBuffer), performance.now());
        return;
      }
      let m: { case: string; value: unknown };
      try {
        m = JSON.parse(event.data) as { case: string; value: unknown };
      } catch {
        return;
      }
      if (m.case === 'welcome') {
        welcomed = true;
        clearTimeout(welcomeTimer);
        state.connection = 'connected';
        state.error = '';
        backoffMs = 500;
        state.room = (m.value as { status: RoomStatus }).status;
      } else if (m.case === 'status') {
        state.room = m.value as RoomStatus;
      } else if (m.case === 'error') {
        const e = m.value as { code: string; message: string };
        state.error = `${e.code}: ${e.message}`;
        // Before the welcome, an error is the server refusing this page; after it, a note.
        refused = !welcomed;
      }
      show();
    };
    ws.onclose = (event) => {
      clearTimeout(welcomeTimer);
      options.onClose?.(ws);
      if (refused || FINAL_CLOSE_CODES.has(event.code)) {
        state.connection = `refused: ${event.reason || state.error || 'bad token'}`;
        state.error = '';
        show();
        return;
      }
      state.connection = `reconnecting in ${backoffMs} ms`;
      state.reconnects++;
      show();
      setTimeout(connect, backoffMs);
      backoffMs = Math.min(backoffMs * 2, 5000);
    };
  };
  connect();
}
