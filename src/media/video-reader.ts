/**
 * Reads any FFmpeg-readable video (file path or URL) with node-av and yields frames
 * converted to the model's geometry: constant frame rate, W×H (centre-cropped to the
 * target aspect, then scaled), packed rgb24. This is where a video frame enters the engine.
 */
import './node-av-setup.js';
import { existsSync, statSync } from 'node:fs';
import { Decoder, Demuxer, FilterAPI } from 'node-av/api';
import { AV_PKT_DATA_DISPLAYMATRIX } from 'node-av/constants';
import { MediaInputError } from '../errors.js';

export interface VideoGeometry {
  fps: number;
  width: number;
  height: number;
}

/** One converted frame: packed rgb24, `width·height·3` bytes. */
export interface RgbFrame {
  /** 0-based index on the target frame rate's grid. */
  index: number;
  data: Uint8Array;
}

export interface VideoInfo {
  durationSeconds: number | null;
  codec: string;
  width: number;
  height: number;
  /** Stream index of the video in the container. */
  streamIndex: number;
}

/** What a short read found: the frames read against the duration the container states. */
export interface ShortRead {
  readSeconds: number;
  frames: number;
  /** null when the file states no duration (then decoding failed part way). */
  statedSeconds: number | null;
  /** Where the stated duration comes from: the video stream's own, or the whole container's. */
  statedBy: 'stream' | 'container' | null;
}

export interface ReadVideoOptions {
  /**
   * Accept an input that ends well before its stated duration (cut or damaged), or whose
   * decoding fails after some frames. Off: such an input is an error. On: `onShortRead`
   * hears about it and the frames read before the end or the failure are kept.
   */
  allowPartial?: boolean;
  onShortRead?: (shortRead: ShortRead) => void;
}

/**
 * How far short of the stated duration a complete input may end: a few frames of the target
 * rate for the fps filter's rounding, more when the duration is the container's (an audio
 * track may run past the video).
 */
export function shortReadToleranceSeconds(fps: number, statedBy: 'stream' | 'container'): number {
  return Math.max(3 / fps, statedBy === 'stream' ? 0.25 : 1);
}

function isUrl(input: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input);
}

function describe(error: unknown): string {
  return (error as Error)?.message?.split('\n')[0] ?? String(error);
}

async function openInput(input: string): Promise<Demuxer> {
  if (!isUrl(input)) {
    if (!existsSync(input)) throw new MediaInputError(`[media:${input}] file not found`);
    // A device or FIFO never ends: /dev/urandom probed as some format decoded forever.
    if (!statSync(input).isFile()) {
      throw new MediaInputError(
        `[media:${input}] is not a regular file (a folder, device or FIFO); pass a video file`,
      );
    }
  }
  try {
    return await Demuxer.open(input);
  } catch (error) {
    throw new MediaInputError(
      `[media:${input}] cannot open as media (corrupt or unsupported container): ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Filters that turn decoded pictures upright from the stream's display matrix (nine int32,
 * FFmpeg's layout), chosen as the ffmpeg tool's autorotate does: phones store pictures
 * sideways and let the player rotate them.
 */
export function orientationFilters(matrix: ArrayLike<number> | null): string[] {
  if (!matrix || matrix.length < 9) return [];
  const m = (i: number): number => matrix[i]! / 65536;
  const scaleX = Math.hypot(m(0), m(3));
  const scaleY = Math.hypot(m(1), m(4));
  if (scaleX === 0 || scaleY === 0) return [];
  // av_display_rotation_get, then get_rotation of fftools/cmdutils.c.
  const displayRotation = -((Math.atan2(m(1) / scaleY, m(0) / scaleX) * 180) / Math.PI);
  let theta = -Math.round(displayRotation);
  theta -= 360 * Math.floor(theta / 360 + 0.9 / 360);
  if (Math.abs(theta - 90) < 1) return [matrix[3]! > 0 ? 'transpose=cclock_flip' : 'transpose=clock'];
  if (Math.abs(theta - 180) < 1) {
    const flips: string[] = [];
    if (matrix[0]! < 0) flips.push('hflip');
    if (matrix[4]! < 0) flips.push('vflip');
    return flips;
  }
  if (Math.abs(theta - 270) < 1) return [matrix[3]! < 0 ? 'transpose=clock_flip' : 'transpose=cclock'];
  if (Math.abs(theta) > 1) return [`rotate=${theta}*PI/180`];
  return matrix[4]! < 0 ? ['vflip'] : [];
}

/** The stream's display matrix, or null when it has none. */
function displayMatrixOf(stream: NonNullable<ReturnType<Demuxer['video']>>): Int32Array | null {
  const data = stream.codecpar.getCodedSideData(AV_PKT_DATA_DISPLAYMATRIX);
  if (!data || data.length < 36) return null;
  return Int32Array.from({ length: 9 }, (_, i) => data.readInt32LE(4 * i));
}

/**
 * The filter chain that maps any input frame to the model geometry: upright (see
 * orientationFilters), constant rate, centre-cropped to the target aspect, scaled, rgb24.
 */
export function conversionFilter(geometry: VideoGeometry, orientation: readonly string[] = []): string {
  const { fps, width, height } = geometry;
  return [
    ...orientation,
    `fps=${fps}`,
    `scale=${width}:${height}:force_original_aspect_ratio=increase:flags=area`,
    `crop=${width}:${height}`,
    'format=rgb24',
  ].join(',');
}

/**
 * Yields converted frames in order. Demuxing, decoding and conversion use node-av's
 * synchronous calls, one frame at a time: on 2 cores its async per-packet calls cost about
 * five times as much as the decoding itself. A consumer that must keep an event loop
 * responsive (live RTP) should decode elsewhere. Throws MediaInputError for a missing, unreadable,
 * corrupt or truncated input, or one without a video stream, naming the input.
 */
export async function* readVideoFrames(
  input: string,
  geometry: VideoGeometry,
  options: ReadVideoOptions = {},
): AsyncGenerator<RgbFrame> {
  const demuxer = await openInput(input);
  let decoder: Decoder | undefined;
  let filter: FilterAPI | undefined;
  try {
    const stream = demuxer.video();
    if (!stream) throw new MediaInputError(`[media:${input}] has no video stream`);
    try {
      decoder = Decoder.createSync(stream, { exitOnError: true, threadCount: 2 });
    } catch (error) {
      throw new MediaInputError(`[media:${input}] no decoder for the video stream: ${describe(error)}`, {
        cause: error,
      });
    }
    filter = FilterAPI.create(conversionFilter(geometry, orientationFilters(displayMatrixOf(stream))), {
      threads: 1,
    });
    const frameBytes = geometry.width * geometry.height * 3;
    let index = 0;
    let decoded = 0;
    let stoppedByError = false;
    try {
      for (const frame of filter.framesSync(decoder.framesSync(demuxer.packetsSync(stream.index)))) {
        if (!frame) continue;
        const buffer = frame.toBuffer();
        frame.free();
        if (buffer.length !== frameBytes) {
          throw new MediaInputError(
            `[media:${input}] converted frame has ${buffer.length} bytes, expected ${frameBytes}`,
          );
        }
        decoded++;
        yield { index: index++, data: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) };
      }
    } catch (error) {
      if (error instanceof MediaInputError) throw error;
      // A cut inside a packet fails the decoder; a partial render keeps what came before it.
      if (!(options.allowPartial && decoded > 0)) {
        throw new MediaInputError(
          `[media:${input}] decoding failed after ${decoded} frames (corrupt or truncated): ${describe(error)}`,
          { cause: error },
        );
      }
      stoppedByError = true;
    }
    if (decoded === 0)
      throw new MediaInputError(`[media:${input}] video stream decoded to no frames (corrupt or truncated)`);
    const stated = statedDuration(demuxer, stream);
    const readSeconds = decoded / geometry.fps;
    const short =
      stated !== null && stated.seconds - readSeconds > shortReadToleranceSeconds(geometry.fps, stated.by);
    if (short || stoppedByError) {
      const shortRead: ShortRead = {
        readSeconds,
        frames: decoded,
        statedSeconds: stated?.seconds ?? null,
        statedBy: stated?.by ?? null,
      };
      if (!options.allowPartial && stated) {
        throw new MediaInputError(
          `[media:${input}] is truncated or damaged: read ${readSeconds.toFixed(2)} s of video ` +
            `(${decoded} frames at ${geometry.fps} fps), the ${stated.by === 'stream' ? "video stream's" : "container's"} ` +
            `stated duration is ${stated.seconds.toFixed(2)} s; pass --allow-partial to render what was read`,
        );
      }
      options.onShortRead?.(shortRead);
    }
  } finally {
    filter?.close();
    decoder?.close();
    await demuxer.close();
  }
}

/** The video's duration as the file states it: its stream's own, else the container's. */
function statedDuration(
  demuxer: Demuxer,
  stream: NonNullable<ReturnType<Demuxer['video']>>,
): { seconds: number; by: 'stream' | 'container' } | null {
  const tb = stream.timeBase;
  if (stream.duration > 0n && tb.den > 0) {
    return { seconds: (Number(stream.duration) * tb.num) / tb.den, by: 'stream' };
  }
  const container = demuxer.duration;
  return typeof container === 'number' && Number.isFinite(container) && container > 0
    ? { seconds: container, by: 'container' }
    : null;
}

/** Reads the whole video into one frame-major buffer [frames, H, W, 3]. */
export async function readAllVideoFrames(
  input: string,
  geometry: VideoGeometry,
  options: ReadVideoOptions = {},
): Promise<{ frames: Uint8Array; frameCount: number }> {
  const chunks: Uint8Array[] = [];
  for await (const frame of readVideoFrames(input, geometry, options)) chunks.push(frame.data);
  const frameBytes = geometry.width * geometry.height * 3;
  const frames = new Uint8Array(chunks.length * frameBytes);
  chunks.forEach((c, i) => frames.set(c, i * frameBytes));
  return { frames, frameCount: chunks.length };
}

/** Container-level facts about the video stream of an input. */
export async function probeVideo(input: string): Promise<VideoInfo> {
  const demuxer = await openInput(input);
  try {
    const stream = demuxer.video();
    if (!stream) throw new MediaInputError(`[media:${input}] has no video stream`);
    const duration = demuxer.duration;
    return {
      durationSeconds: typeof duration === 'number' && duration > 0 ? duration : null,
      codec: String(stream.codecpar.codecId),
      width: stream.codecpar.width,
      height: stream.codecpar.height,
      streamIndex: stream.index,
    };
  } finally {
    await demuxer.close();
  }
}
