/**
 * A footage folder for the training tests, made from samples/clip.mp4 (8 s, 25 fps, AAC) with
 * Debian's ffmpeg: three usable videos and one of each kind foley train must name and skip.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SAMPLE_CLIP } from '../helpers/media-fixtures.js';

/** Usable videos and the 4 s segments each gives. */
export const USABLE = Object.freeze({ 'a.mp4': 2, 'b.mp4': 1, 'c.mp4': 1 });
/** Unusable files and what their skip reason must say. */
export const UNUSABLE = Object.freeze({
  'noaudio.mp4': /noaudio\.mp4\] has no audio track/,
  'short.mp4':
    /short\.mp4\] is too short: 2\.00 s \(50 frames at 25 fps\); a segment needs 100 frames \(4\.00 s\)/,
  'garbage.mp4': /garbage\.mp4\] cannot open as media/,
  'cut.mp4': /cut\.mp4\] decoding failed after \d+ frames \(corrupt or truncated\)/,
});

const ffmpeg = (...args: string[]) => execFileSync('ffmpeg', ['-y', '-loglevel', 'error', ...args]);

/** Writes the usable and unusable videos into `dir` (which must exist). */
export function makeFootageFolder(dir: string): void {
  copyFileSync(SAMPLE_CLIP, join(dir, 'a.mp4'));
  ffmpeg('-i', SAMPLE_CLIP, '-t', '5', '-c:v', 'libx264', '-c:a', 'aac', join(dir, 'b.mp4'));
  ffmpeg('-ss', '2', '-i', SAMPLE_CLIP, '-c:v', 'libx264', '-c:a', 'aac', join(dir, 'c.mp4'));
  ffmpeg('-i', SAMPLE_CLIP, '-an', '-c:v', 'copy', join(dir, 'noaudio.mp4'));
  ffmpeg('-i', SAMPLE_CLIP, '-t', '2', '-c:v', 'libx264', '-c:a', 'aac', join(dir, 'short.mp4'));
  const noise = Buffer.alloc(40_000);
  for (let i = 0; i < noise.length; i++) noise[i] = Math.imul(i, 2654435761) >>> 24;
  writeFileSync(join(dir, 'garbage.mp4'), noise);
  // Header first, then cut at 70%: a segment decodes before the damage.
  ffmpeg('-i', SAMPLE_CLIP, '-c', 'copy', '-movflags', '+faststart', join(dir, 'cut-full.mp4'));
  const bytes = readFileSync(join(dir, 'cut-full.mp4'));
  writeFileSync(join(dir, 'cut.mp4'), bytes.subarray(0, Math.floor(bytes.length * 0.7)));
  rmSync(join(dir, 'cut-full.mp4'));
  // A side file, as footage folders have: counted, not named.
  writeFileSync(join(dir, 'notes.txt'), 'shot on a phone\n');
}
