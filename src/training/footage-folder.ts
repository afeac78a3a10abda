/**
 * Finds the videos of a footage folder for `foley train`: every file with a video extension,
 * in subfolders too, in sorted order. Other files (side files such as audio.wav or
 * events.json) are only counted: a footage folder often holds one beside each video, and
 * naming each would bury the skipped videos. Hidden entries are passed over.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { MediaInputError } from '../errors.js';

/** Extensions `foley train` reads (the same `foley eval` finds in a folder). */
export const FOOTAGE_VIDEO_EXTENSIONS = Object.freeze(['.mp4', '.mkv', '.webm', '.mov']);

export interface FootageVideo {
  /** Path relative to the footage folder, posix separators: the video's name in reports. */
  name: string;
  /** Absolute path. */
  path: string;
}

export interface SkippedVideo {
  name: string;
  reason: string;
}

export interface FootageFolder {
  dir: string;
  videos: FootageVideo[];
  /** Videos that cannot even be opened (a broken link), with the reason. */
  skipped: SkippedVideo[];
  /** Files without a video extension, by extension ('' for none): passed over. */
  otherFiles: Record<string, number>;
}

/** "60 .wav, 2 .txt": the passed-over files in a line. */
export function describeOtherFiles(otherFiles: Record<string, number>): string {
  return Object.entries(otherFiles)
    .sort((a, b) => b[1] - a[1])
    .map(([ext, n]) => `${n} ${ext || '(no extension)'}`)
    .join(', ');
}

export function scanFootageFolder(dirArg: string): FootageFolder {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new MediaInputError(`[footage:${dirArg}] is not a folder; pass a folder of videos with sound`);
  const videos: FootageVideo[] = [];
  const skipped: SkippedVideo[] = [];
  const otherFiles: Record<string, number> = {};
  const walk = (folder: string, prefix: string): void => {
    for (const entry of readdirSync(folder).sort()) {
      if (entry.startsWith('.')) continue;
      const path = join(folder, entry);
      const name = prefix ? `${prefix}/${entry}` : entry;
      const ext = extname(entry).toLowerCase();
      const isVideo = FOOTAGE_VIDEO_EXTENSIONS.includes(ext);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (stat?.isDirectory()) walk(path, name);
      else if (!isVideo) otherFiles[ext] = (otherFiles[ext] ?? 0) + 1;
      else if (!stat) skipped.push({ name, reason: `[footage:${path}] cannot be read (a broken link?)` });
      else videos.push({ name, path });
    }
  };
  walk(dir, '');
  return { dir, videos, skipped, otherFiles };
}
