export { FoleyServer, type FoleyServerEvents, type FoleyServerOptions } from './FoleyServer.js';
export * from './messages.js';
export { OggOpusMuxer } from './OggOpusMuxer.js';
export { ROOM_MEDIA_CODECS, Room } from './Room.js';
export { ROOM_NAME_PATTERN, RoomTokens } from './tokens.js';
