/**
 * Cuts footage into the training data set the Python trainer reads (a ClipSet of
 * models/training/foley/data.py): equal segments of T frames, end to end from the start of each
 * video (the last partial segment dropped), frames as the renderer reads them (96×96 rgb24 at
 * 25 fps) and the video's own audio as mono float32 at 16 kHz.
 *
 * Folder layout: frames.u8 uint8 [n, T, 96, 96, 3], audio.f32 float32 [n, T·640],
 * events.json (n empty lists: footage has no labels), meta.json written last (its presence
 * means the set is complete). Segments are appended through file handles one at a time, so
 * memory holds one segment and one video's soundtrack, however long the folder.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { type FileHandle, mkdir, open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BundleError, MediaInputError, UsageError } from '../errors.js';
import { readSoundtrack } from '../evaluation/soundtrack-reader.js';
import { readVideoFrames } from '../media/video-reader.js';
import type { Manifest } from '../models/manifest.js';
import type { FootageVideo, SkippedVideo } from './footage-folder.js';

/** The geometry foley.data's ClipSet is fixed to. */
export const CLIP_SET_GEOMETRY = Object.freeze({ fps: 25, size: 96, sampleRate: 16000 });

/** A soundtrack whose peak stays below this (-80 dBFS) is silence: nothing to learn from. */
export const SILENT_PEAK = 1e-4;

export interface FootageSetSpec {
  fps: number;
  /** Frame side, pixels (square frames). */
  size: number;
  sampleRate: number;
  /** Frames per segment (T). */
  segmentFrames: number;
}

export interface FootageSetMeta {
  split: 'footage';
  count: number;
  seconds: number;
  fps: number;
  size: number;
  sampleRate: number;
  codecP: 0;
  sources: { video: string; startS: number }[];
}

/** What one video gives: its length in frames and samples and the whole segments cut from it. */
export interface VideoSegments {
  frames: number;
  audioSamples: number;
  segments: number;
}

export interface FootageSetResult {
  meta: FootageSetMeta;
  /** Videos and the segments each gave, in order. */
  used: { name: string; segments: number }[];
  skipped: SkippedVideo[];
}

export const samplesPerFrame = (spec: FootageSetSpec): number => spec.sampleRate / spec.fps;

/**
 * The set's spec for a bundle and a segment length: the bundle must take frames and audio at
 * the ClipSet's geometry, and a segment must be a whole number of frames, at least one second.
 */
export function footageSetSpec(manifest: Manifest, segmentSeconds: number): FootageSetSpec {
  const { fps, size, sampleRate } = CLIP_SET_GEOMETRY;
  const got = `${manifest.video.width}x${manifest.video.height} at ${manifest.video.fps} fps, ${manifest.audio.sampleRate} Hz`;
  if (
    manifest.video.fps !== fps ||
    manifest.video.width !== size ||
    manifest.video.height !== size ||
    manifest.audio.sampleRate !== sampleRate
  ) {
    throw new BundleError(
      `[bundle:${manifest.name}] foley train fine-tunes bundles of ${size}x${size} frames at ${fps} fps and ${sampleRate} Hz audio, this one is ${got}`,
    );
  }
  const segmentFrames = Math.round(segmentSeconds * fps);
  if (!(segmentSeconds >= 1) || Math.abs(segmentFrames - segmentSeconds * fps) > 1e-6)
    throw new UsageError(
      `[segment] a segment must be at least 1 s and a whole number of frames at ${fps} fps (a multiple of ${1 / fps} s), got ${segmentSeconds} s`,
    );
  return { fps, size, sampleRate, segmentFrames };
}

/**
 * Reads a video's soundtrack, then its frames, and hands each whole segment to `onSegment`
 * (frames [T, size, size, 3] and T·samplesPerFrame samples). Throws MediaInputError naming the
 * video when it cannot be used: no audio track, silent, unreadable, corrupt or truncated, not a
 * video, or shorter than one segment. A soundtrack short of the video's end by less than a
 * frame is padded with silence; one shorter still ends the segments.
 */
export async function segmentVideo(
  path: string,
  spec: FootageSetSpec,
  onSegment?: (frames: Uint8Array, audio: Float32Array, startS: number) => Promise<void>,
): Promise<VideoSegments> {
  const audio = await readSoundtrack(path, spec.sampleRate);
  let peak = 0;
  for (const v of audio) peak = Math.max(peak, Math.abs(v));
  if (peak < SILENT_PEAK)
    throw new MediaInputError(
      `[footage:${path}] its audio track is silent (peak below -80 dBFS): nothing to learn from`,
    );
  const spf = samplesPerFrame(spec);
  const audioFrames = Math.ceil(audio.length / spf);
  const frameBytes = spec.size * spec.size * 3;
  const segmentBytes = spec.segmentFrames * frameBytes;
  const segmentSamples = spec.segmentFrames * spf;
  const buffer = new Uint8Array(segmentBytes);
  let frames = 0;
  let segments = 0;
  for await (const frame of readVideoFrames(path, { fps: spec.fps, width: spec.size, height: spec.size })) {
    buffer.set(frame.data, (frames % spec.segmentFrames) * frameBytes);
    frames++;
    if (frames % spec.segmentFrames !== 0) continue;
    if (frames > audioFrames) continue; // the soundtrack ended: count the frames, cut no more
    const from = segments * segmentSamples;
    const slice = new Float32Array(segmentSamples);
    slice.set(audio.subarray(from, Math.min(audio.length, from + segmentSamples)));
    await onSegment?.(buffer, slice, segments * (spec.segmentFrames / spec.fps));
    segments++;
  }
  if (segments === 0) {
    const need = `a segment needs ${spec.segmentFrames} frames (${(spec.segmentFrames / spec.fps).toFixed(2)} s)`;
    throw new MediaInputError(
      frames < spec.segmentFrames
        ? `[footage:${path}] is too short: ${(frames / spec.fps).toFixed(2)} s (${frames} frames at ${spec.fps} fps); ${need}`
        : `[footage:${path}] its audio track is too short: ${(audio.length / spec.sampleRate).toFixed(2)} s; ${need}`,
    );
  }
  return { frames, audioSamples: audio.length, segments };
}

/** A video's segments, or why it cannot be used (any MediaInputError, named). */
export async function inspectFootageVideo(
  path: string,
  spec: FootageSetSpec,
): Promise<VideoSegments | { reason: string }> {
  try {
    return await segmentVideo(path, spec);
  } catch (error) {
    if (error instanceof MediaInputError) return { reason: error.message };
    throw error;
  }
}

export interface WriteFootageSetHooks {
  /** Before each video: its index and name. */
  onVideo?: (index: number, video: FootageVideo) => void;
}

/**
 * Writes the set of `videos` into `dir` (made if missing; an earlier incomplete set there is
 * replaced). A video that cannot be used is named in `skipped` and its segments already
 * written are cut off again. Throws MediaInputError when no video gives a segment.
 */
export async function writeFootageSet(
  videos: readonly FootageVideo[],
  dir: string,
  spec: FootageSetSpec,
  hooks: WriteFootageSetHooks = {},
): Promise<FootageSetResult> {
  await mkdir(dir, { recursive: true });
  rmSync(join(dir, 'meta.json'), { force: true });
  const used: FootageSetResult['used'] = [];
  const skipped: SkippedVideo[] = [];
  const sources: FootageSetMeta['sources'] = [];
  let framesFile: FileHandle | undefined;
  let audioFile: FileHandle | undefined;
  try {
    framesFile = await open(join(dir, 'frames.u8'), 'w');
    audioFile = await open(join(dir, 'audio.f32'), 'w');
    let framesAt = 0;
    let audioAt = 0;
    for (const [index, video] of videos.entries()) {
      hooks.onVideo?.(index, video);
      const framesStart = framesAt;
      const audioStart = audioAt;
      const sourcesStart = sources.length;
      try {
        const { segments } = await segmentVideo(video.path, spec, async (frames, audio, startS) => {
          await framesFile!.write(frames, 0, frames.byteLength, framesAt);
          framesAt += frames.byteLength;
          const bytes = new Uint8Array(audio.buffer, audio.byteOffset, audio.byteLength);
          await audioFile!.write(bytes, 0, bytes.byteLength, audioAt);
          audioAt += bytes.byteLength;
          sources.push({ video: video.path, startS });
        });
        used.push({ name: video.name, segments });
      } catch (error) {
        if (!(error instanceof MediaInputError)) throw error;
        // A video that fails part way keeps none of its segments.
        await framesFile.truncate(framesStart);
        await audioFile.truncate(audioStart);
        framesAt = framesStart;
        audioAt = audioStart;
        sources.length = sourcesStart;
        skipped.push({ name: video.name, reason: error.message });
      }
    }
    await framesFile.sync();
    await audioFile.sync();
  } finally {
    await framesFile?.close();
    await audioFile?.close();
  }
  if (sources.length === 0)
    throw new MediaInputError(
      `[footage] no video gave a training segment: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ') || 'none given'}`,
    );
  const count = sources.length;
  await writeFile(join(dir, 'events.json'), JSON.stringify(Array.from({ length: count }, () => [])));
  const meta: FootageSetMeta = {
    split: 'footage',
    count,
    seconds: spec.segmentFrames / spec.fps,
    fps: spec.fps,
    size: spec.size,
    sampleRate: spec.sampleRate,
    codecP: 0,
    sources,
  };
  // Written last and renamed into place: its presence means the set is complete.
  await writeFile(join(dir, 'meta.json.partial'), JSON.stringify(meta));
  await rename(join(dir, 'meta.json.partial'), join(dir, 'meta.json'));
  return { meta, used, skipped };
}

/** The meta.json of a complete set in `dir`, or null when there is none (missing or incomplete). */
export function readFootageSetMeta(dir: string): FootageSetMeta | null {
  const path = join(dir, 'meta.json');
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, 'utf8')) as FootageSetMeta;
}
