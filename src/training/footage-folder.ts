/**
 * Finds the videos of a footage folder for `foley train`: every file with a video extension,
 * in subfolders too, in sorted order. Other files are named with the reason they are left out;
 * hidden entries and `.json` side files (events, reports) are passed over without a word.
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
  skipped: SkippedVideo[];
}

export function scanFootageFolder(dirArg: string): FootageFolder {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new MediaInputError(`[footage:${dirArg}] is not a folder; pass a folder of videos with sound`);
  const videos: FootageVideo[] = [];
  const skipped: SkippedVideo[] = [];
  const walk = (folder: string, prefix: string): void => {
    for (const entry of readdirSync(folder).sort()) {
      if (entry.startsWith('.')) continue;
      const path = join(folder, entry);
      const name = prefix ? `${prefix}/${entry}` : entry;
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat) {
        skipped.push({ name, reason: `[footage:${path}] cannot be read (a broken link?)` });
      } else if (stat.isDirectory()) {
        walk(path, name);
      } else if (FOOTAGE_VIDEO_EXTENSIONS.includes(extname(entry).toLowerCase())) {
        videos.push({ name, path });
      } else if (extname(entry).toLowerCase() !== '.json') {
        skipped.push({
          name,
          reason: `[footage:${path}] is not a video file (foley train reads ${FOOTAGE_VIDEO_EXTENSIONS.join(', ')})`,
        });
      }
    }
  };
  walk(dir, '');
  return { dir, videos, skipped };
}
