export { FoleyServer, type FoleyServerOptions, type FoleyServerEvents } from './FoleyServer.js';
export { Room, ROOM_MEDIA_CODECS } from './Room.js';
export { RoomTokens, ROOM_NAME_PATTERN } from './tokens.js';
export { OggOpusMuxer } from './OggOpusMuxer.js';
export * from './messages.js';
