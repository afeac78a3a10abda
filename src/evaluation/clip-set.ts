/**
 * Finds evaluation clips in a folder: world clip folders (`<clip>/video.mp4` +
 * `<clip>/events.json`, as models/training/foley/world.py writes them) and loose pairs
 * (`<name>.mp4|mkv|webm|mov` + `<name>.events.json`). events.json is `{events: [...]}` or a
 * bare list of `{time, class}`. A folder with no events at all is a label-free set: every
 * video in it (loose, or `<clip>/video.mp4`) is scored against its own audio track.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MediaInputError } from '../errors.js';

export interface GroundTruthEvent {
  time: number;
  class: string;
}

export interface EvalClip {
  name: string;
  video: string;
  /** null: label-free, the reference is the onsets of the video's own audio track. */
  events: GroundTruthEvent[] | null;
}

const VIDEO_EXTENSIONS = ['.mp4', '.mkv', '.webm', '.mov'];

export function readEvents(path: string): GroundTruthEvent[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new MediaInputError(`[events:${path}] is not valid JSON: ${(error as Error).message}`);
  }
  const list = Array.isArray(json) ? json : (json as { events?: unknown }).events;
  if (!Array.isArray(list))
    throw new MediaInputError(`[events:${path}] expected a list of events or {events: [...]}`);
  return list.map((e, i) => {
    const ev = e as { time?: unknown; class?: unknown };
    if (typeof ev.time !== 'number' || typeof ev.class !== 'string') {
      throw new MediaInputError(`[events:${path}:events[${i}]] expected {time: number, class: string}`);
    }
    return { time: ev.time, class: ev.class };
  });
}

export function findEvalClips(dir: string): EvalClip[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new MediaInputError(`[clips:${dir}] is not a folder`);
  const labelled: EvalClip[] = [];
  const unlabelled: EvalClip[] = [];
  const addFolder = (folder: string, name: string) => {
    const video = join(folder, 'video.mp4');
    const events = join(folder, 'events.json');
    if (!existsSync(video)) return;
    if (existsSync(events)) labelled.push({ name, video, events: readEvents(events) });
    else unlabelled.push({ name, video, events: null });
  };
  addFolder(dir, '.');
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      addFolder(path, entry);
      continue;
    }
    const ext = VIDEO_EXTENSIONS.find((e) => entry.toLowerCase().endsWith(e));
    if (!ext) continue;
    const base = entry.slice(0, -ext.length);
    const events = join(dir, `${base}.events.json`);
    if (existsSync(events)) labelled.push({ name: base, video: path, events: readEvents(events) });
    else unlabelled.push({ name: entry, video: path, events: null });
  }
  // A folder with any events is a labelled set; videos without events in it are not clips.
  const clips = labelled.length > 0 ? labelled : unlabelled;
  if (clips.length === 0) {
    throw new MediaInputError(
      `[clips:${dir}] has no clips (<clip>/video.mp4 + events.json, <name>.mp4 + <name>.events.json, ` +
        'or videos with sound for a label-free evaluation)',
    );
  }
  return clips;
}

/** Whether the clips are scored against their own audio tracks (no events anywhere). */
export function isLabelFree(clips: readonly EvalClip[]): boolean {
  return clips.every((c) => c.events === null);
}
