export {
  addressKey,
  ConnectionCounts,
  DEFAULT_SERVER_LIMITS,
  type PeerLimits,
  type ServerLimits,
} from './ConnectionLimits.js';
export { FoleyServer, type FoleyServerEvents, type FoleyServerOptions } from './FoleyServer.js';
export * from './messages.js';
export { OggOpusMuxer } from './OggOpusMuxer.js';
export { ROOM_MEDIA_CODECS, Room } from './Room.js';
export {
  ROOM_NAME_PATTERN,
  RoomTokens,
  roleAllows,
  TOKEN_ROLES,
  type TokenCheck,
  type TokenRole,
} from './tokens.js';
