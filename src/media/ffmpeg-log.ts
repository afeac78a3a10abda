/**
 * FFmpeg's own log, held back for the CLI. FFmpeg prints its errors ("partial file",
 * "Invalid NAL unit size") to stderr as they happen, ahead of the one line that says what
 * went wrong; once captured they are kept (the last few) and printed after that line.
 */
import './node-av-setup.js';
import { AV_LOG_ERROR } from 'node-av/constants';
import { Log } from 'node-av/lib';

const MAX_LINES = 20;
let lines: string[] = [];
let dropped = 0;

/** Routes FFmpeg's error-level messages into the buffer instead of stderr. */
export function captureFfmpegLog(): void {
  lines = [];
  dropped = 0;
  Log.setCallback(
    (_level, message) => {
      const line = message.trimEnd();
      if (!line) return;
      lines.push(line);
      if (lines.length > MAX_LINES) {
        lines.shift();
        dropped++;
      }
    },
    { maxLevel: AV_LOG_ERROR },
  );
}

/** The captured lines so far (the last MAX_LINES), and how many earlier ones were dropped. */
export function capturedFfmpegLog(): { lines: string[]; dropped: number } {
  return { lines: [...lines], dropped };
}
