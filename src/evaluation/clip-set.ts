/**
 * Finds evaluation clips in a folder: world clip folders (`<clip>/video.mp4` +
 * `<clip>/events.json`, as models/training/foley/world.py writes them) and loose pairs
 * (`<name>.mp4|mkv|webm` + `<name>.events.json`). events.json is `{events: [...]}` or a
 * bare list of `{time, class}`.
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
  events: GroundTruthEvent[];
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
  const clips: EvalClip[] = [];
  const addFolder = (folder: string, name: string) => {
    const video = join(folder, 'video.mp4');
    const events = join(folder, 'events.json');
    if (existsSync(video) && existsSync(events)) clips.push({ name, video, events: readEvents(events) });
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
    if (existsSync(events)) clips.push({ name: base, video: path, events: readEvents(events) });
  }
  if (clips.length === 0) {
    throw new MediaInputError(
      `[clips:${dir}] has no clips (<clip>/video.mp4 + events.json, or <name>.mp4 + <name>.events.json)`,
    );
  }
  return clips;
}
