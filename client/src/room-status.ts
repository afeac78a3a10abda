/** What the pages show of a room's status: the same words and the same sync figure on every page. */
import type { RoomStatus } from './signaling.js';

const STATE_WORDS: Record<RoomStatus['state'], string> = {
  waiting: 'waiting for a publisher',
  starting: 'starting the foley',
  active: 'making foley',
  idle: 'the video stalled: no foley until frames arrive',
};

/** The room's state in plain words: the server's note, or (none: all is well) what the room is doing. */
export function roomWords(status: RoomStatus | null): string {
  if (!status) return '—';
  return status.note || (STATE_WORDS[status.state] ?? status.state);
}

/**
 * The sync offset the pages show: the server's end-to-end figure (its offset plus what the
 * listen pages add); before a listen page has reported, the server's offset alone.
 */
export function syncOffsetWords(status: RoomStatus | null): string {
  if (!status || status.offsetMs === null) return '—';
  if (status.syncOffsetMs !== null) return `${Math.round(status.syncOffsetMs)} ms`;
  return `${Math.round(status.offsetMs)} ms at the server (no OBS page has reported its playout yet)`;
}
