/**
 * Signaling messages between the pages in client/ and the server: a `{case, value}`
 * union in each direction. Requests carry an `id`; the reply carries the same id and
 * either the matching result case or `error`. Notifications carry no id.
 * The client pages import these types; the server validates every field it reads.
 */

export type Role = 'publish' | 'view';

export type ClientRequest =
  | { case: 'getRouterRtpCapabilities'; value: Record<string, never> }
  | { case: 'createTransport'; value: { direction: 'send' | 'recv' } }
  | { case: 'connectTransport'; value: { transportId: string; dtlsParameters: unknown } }
  | { case: 'produce'; value: { transportId: string; kind: 'video'; rtpParameters: unknown } }
  | { case: 'consumeFoley'; value: { transportId: string; rtpCapabilities: unknown } }
  | { case: 'resumeConsumer'; value: { consumerId: string } }
  | { case: 'ping'; value: Record<string, never> };

export type ClientMessage = ClientRequest & { id: number };

/** Largest playout latency a listen page may report, ms. */
export const MAX_PLAYOUT_ADDED_MS = 5000;

/**
 * Notifications from a page (id null, no reply). playoutLatency: sent about once a second
 * by the OBS/listen page on its /listen socket, the latency its jitter buffer and audio
 * output add as measured, ms (0..MAX_PLAYOUT_ADDED_MS).
 */
export type ClientNotification = { id: null; case: 'playoutLatency'; value: { addedMs: number } };

export type ServerReply =
  | { case: 'routerRtpCapabilities'; value: { rtpCapabilities: unknown } }
  | {
      case: 'transportCreated';
      value: { id: string; iceParameters: unknown; iceCandidates: unknown; dtlsParameters: unknown };
    }
  | { case: 'transportConnected'; value: { transportId: string } }
  | { case: 'produced'; value: { producerId: string; offsetMs: number } }
  | {
      case: 'consumed';
      value: { consumerId: string; producerId: string; kind: 'audio'; rtpParameters: unknown };
    }
  | { case: 'consumerResumed'; value: { consumerId: string } }
  | { case: 'pong'; value: { serverTimeMs: number } };

export type ErrorCode =
  | 'BAD_JSON'
  | 'BAD_MESSAGE'
  | 'TOO_LARGE'
  | 'UNKNOWN_CASE'
  | 'NOT_ALLOWED'
  | 'UNSUPPORTED_CODEC'
  | 'NOT_FOUND'
  | 'BUSY'
  /** A per-connection, per-address or per-room limit was reached (the message names it). */
  | 'LIMIT'
  | 'INTERNAL';

export interface RoomStatus {
  room: string;
  /** waiting: no publisher; active: foley is being generated; idle: the video stalled. */
  state: 'waiting' | 'starting' | 'active' | 'idle';
  /** Fixed audio delay behind the video as it reaches the server, ms (null before a publisher). */
  offsetMs: number | null;
  level: string | null;
  foleyProducerId: string | null;
  /**
   * offsetMs plus the largest playout latency the room's listen pages reported in the
   * last 5 s: how far the heard foley trails the video; null while either is unknown.
   */
  syncOffsetMs: number | null;
  /** The state in plain words for the pages ("CPU busy: lighter model", "waiting for video"); null at full quality. */
  note: string | null;
}

export type ServerNotification =
  | { case: 'welcome'; value: { room: string; role: Role | 'listen'; status: RoomStatus } }
  | { case: 'status'; value: RoomStatus };

export type ServerMessage =
  | (ServerReply & { id: number })
  | { id: number | null; case: 'error'; value: { code: ErrorCode; message: string } }
  | ServerNotification;

/** Largest signaling message the server reads, bytes; bigger ones get TOO_LARGE. */
export const MAX_MESSAGE_BYTES = 64 * 1024;

export class MessageError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly requestId: number | null = null,
  ) {
    super(message);
    this.name = 'MessageError';
  }
}

/**
 * An error's message, never empty. mediasoup's worker rejects some requests with no
 * reason (only " [method:...]"), e.g. when it cannot bind a port or is out of file descriptors.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error) || 'unknown error';
  const method = /\[method:([^\]]*)\]/.exec(error.message)?.[1];
  const reason = error.message.replace(/\s*\[method:[^\]]*\]\s*/, '').trim();
  if (reason) return error.message.trim();
  if (method)
    return `mediasoup ${method} failed without a reason (the worker may be out of ports or file descriptors, or the listen IP is not on this machine)`;
  return `${error.name} without a message`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128;

/** Fingerprint hashes mediasoup's DTLS accepts. */
const DTLS_ALGORITHMS = ['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'];
const DTLS_ROLES = ['auto', 'client', 'server'];
/** Hex byte pairs joined by colons, as in SDP's a=fingerprint (SHA-512 has 64). */
const FINGERPRINT_VALUE = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){0,63}$/;

/**
 * The DTLS parameters of connectTransport, checked field by field: mediasoup's worker
 * rejects bad ones with no reason at all, which reads as a server fault.
 */
function parseDtlsParameters(
  raw: unknown,
  bad: (field: string, expected: string) => never,
): { role?: string; fingerprints: Array<{ algorithm: string; value: string }> } {
  if (!isObject(raw)) return bad('dtlsParameters', 'an object');
  const role = raw.role;
  if (role !== undefined && (typeof role !== 'string' || !DTLS_ROLES.includes(role)))
    bad('dtlsParameters.role', `one of ${DTLS_ROLES.join(', ')}`);
  const list = raw.fingerprints;
  if (!Array.isArray(list) || list.length === 0 || list.length > 8)
    bad('dtlsParameters.fingerprints', 'an array of 1 to 8 fingerprints');
  const fingerprints = (list as unknown[]).map((f, i) => {
    if (!isObject(f)) return bad(`dtlsParameters.fingerprints[${i}]`, 'an object {algorithm, value}');
    if (typeof f.algorithm !== 'string' || !DTLS_ALGORITHMS.includes(f.algorithm))
      bad(`dtlsParameters.fingerprints[${i}].algorithm`, `one of ${DTLS_ALGORITHMS.join(', ')}`);
    if (typeof f.value !== 'string' || !FINGERPRINT_VALUE.test(f.value))
      bad(`dtlsParameters.fingerprints[${i}].value`, 'hex byte pairs joined by colons ("AB:CD:...")');
    return { algorithm: f.algorithm as string, value: f.value as string };
  });
  return { ...(role !== undefined ? { role: role as string } : {}), fingerprints };
}

/** Parses and validates one text message (a request or a notification); throws MessageError with the reply to send. */
export function parseClientMessage(text: string): ClientMessage | ClientNotification {
  const bytes = text.length > MAX_MESSAGE_BYTES / 3 ? new TextEncoder().encode(text).length : text.length;
  if (bytes > MAX_MESSAGE_BYTES) {
    throw new MessageError('TOO_LARGE', `message is ${bytes} bytes; the limit is ${MAX_MESSAGE_BYTES}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new MessageError('BAD_JSON', `not JSON: ${(error as Error).message}`);
  }
  if (!isObject(raw)) throw new MessageError('BAD_MESSAGE', 'expected an object {id, case, value}');
  if (raw.case === 'playoutLatency') return parseNotification(raw);
  const id = raw.id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
    throw new MessageError('BAD_MESSAGE', 'field "id" must be a non-negative integer');
  }
  const value = raw.value ?? {};
  if (!isObject(value)) throw new MessageError('BAD_MESSAGE', 'field "value" must be an object', id);
  const bad = (field: string, expected: string): never => {
    throw new MessageError(
      'BAD_MESSAGE',
      `[${String(raw.case)}] field "value.${field}" must be ${expected}`,
      id,
    );
  };
  switch (raw.case) {
    case 'getRouterRtpCapabilities':
    case 'ping':
      return { id, case: raw.case, value: {} };
    case 'createTransport':
      if (value.direction !== 'send' && value.direction !== 'recv') bad('direction', '"send" or "recv"');
      return { id, case: 'createTransport', value: { direction: value.direction as 'send' | 'recv' } };
    case 'connectTransport':
      if (!isId(value.transportId)) bad('transportId', 'a transport id');
      return {
        id,
        case: 'connectTransport',
        value: {
          transportId: value.transportId as string,
          dtlsParameters: parseDtlsParameters(value.dtlsParameters, bad),
        },
      };
    case 'produce':
      if (!isId(value.transportId)) bad('transportId', 'a transport id');
      if (value.kind !== 'video') bad('kind', '"video" (the server generates the audio)');
      if (!isObject(value.rtpParameters) || !Array.isArray(value.rtpParameters.codecs))
        bad('rtpParameters', 'RTP parameters with codecs');
      (value.rtpParameters as { codecs: unknown[] }).codecs.forEach((codec, i) => {
        if (!isObject(codec) || typeof codec.mimeType !== 'string')
          bad(`rtpParameters.codecs[${i}].mimeType`, 'a string such as "video/VP8"');
      });
      return {
        id,
        case: 'produce',
        value: {
          transportId: value.transportId as string,
          kind: 'video',
          rtpParameters: value.rtpParameters,
        },
      };
    case 'consumeFoley':
      if (!isId(value.transportId)) bad('transportId', 'a transport id');
      if (!isObject(value.rtpCapabilities)) bad('rtpCapabilities', 'an object');
      return {
        id,
        case: 'consumeFoley',
        value: { transportId: value.transportId as string, rtpCapabilities: value.rtpCapabilities },
      };
    case 'resumeConsumer':
      if (!isId(value.consumerId)) bad('consumerId', 'a consumer id');
      return { id, case: 'resumeConsumer', value: { consumerId: value.consumerId as string } };
    default:
      throw new MessageError(
        'UNKNOWN_CASE',
        `unknown case ${JSON.stringify(String(raw.case).slice(0, 64))}`,
        id,
      );
  }
}

function parseNotification(raw: Record<string, unknown>): ClientNotification {
  if (raw.id !== null && raw.id !== undefined)
    throw new MessageError('BAD_MESSAGE', '[playoutLatency] is a notification: field "id" must be null');
  const value = raw.value;
  const addedMs = isObject(value) ? value.addedMs : undefined;
  if (
    typeof addedMs !== 'number' ||
    !Number.isFinite(addedMs) ||
    addedMs < 0 ||
    addedMs > MAX_PLAYOUT_ADDED_MS
  ) {
    throw new MessageError(
      'BAD_MESSAGE',
      `[playoutLatency] field "value.addedMs" must be a number of ms from 0 to ${MAX_PLAYOUT_ADDED_MS}, got ${typeof addedMs === 'number' ? String(addedMs) : (JSON.stringify(addedMs) ?? 'nothing')}`,
    );
  }
  return { id: null, case: 'playoutLatency', value: { addedMs } };
}
