/**
 * RxJS operator: converted video frames -> CAVP feature chunks, over a sliding window.
 *
 * The video encoder's output frame t depends on input frames t ± contextFrames, so chunk
 * [s, e) is encoded from frames [s − c, e + c) and the middle is kept: the result equals
 * encoding the whole clip at once, with a latency of c frames. Past the clip's ends the
 * first and last frames repeat (a frozen picture, as in the live path): the encoder's own
 * zero padding reads as motion, and the LDM sounded a contact in the clip's last 80 ms.
 */
import { concatMap, defer, endWith, from, mergeMap, type Observable, type OperatorFunction } from 'rxjs';
import type { RgbFrame } from '../../src/media/video-reader.js';
import type { RunOptions } from '../../src/models/inference-runner.js';

/** Features of video frames [startFrame, startFrame + frames), frame-major [frames, dim]. */
export interface FeatureChunk {
  startFrame: number;
  frames: number;
  features: Float32Array;
  /**
   * Exact features of the frames just past the chunk, from the same encoder run (only with
   * `aheadFeatures`): frames whose own right context had arrived, [count, dim].
   */
  ahead?: Float32Array;
  /**
   * Features of the frames just before the chunk, again (only with `aheadFeatures` and a
   * look-ahead shorter than the encoder's reach): their chunk was encoded before their right
   * context arrived; now more of it has. [count, dim], ending at startFrame.
   */
  behind?: Float32Array;
}

/** Anything that maps packed rgb24 frames to features (VideoEncoder in src/models). */
export interface FrameFeatureEncoder {
  encode(frames: Uint8Array, frameCount: number, options?: RunOptions): Promise<Float32Array>;
}

export interface VideoFeatureOptions {
  /** Frames per emitted chunk (the last chunk may be shorter). */
  chunkFrames: number;
  /** Look-ahead/behind of the encoder (manifest features.contextFrames). */
  contextFrames: number;
  /** Bytes of one frame: width · height · 3. */
  frameBytes: number;
  /** Values per frame (manifest featureRowDim: the features, and a contact detector's column). */
  dim: number;
  /**
   * Frames past a chunk it waits for before encoding (default contextFrames: exact features).
   * Fewer trade exactness at the chunk's end for latency: frames not yet in repeat the last one.
   */
  lookaheadFrames?: number;
  /** Also emit the exact look-ahead features (`ahead`): the encoder sees this many frames right of an output frame. */
  aheadFeatures?: { rightContextFrames: number };
  /** Encode the frames left at completion as a last, shorter chunk (default true; a live segment has no end to flush). */
  flushAtEnd?: boolean;
  /** Options for the encoder run of the chunk starting at `startFrame` (a deadline). */
  runOptions?: (startFrame: number) => RunOptions;
}

interface EncodeJob {
  startFrame: number;
  frames: number;
  /** Frames [startFrame − behindFrames − c, startFrame + frames + c), edge frames repeated past the clip. */
  input: Uint8Array[];
  /** Exact look-ahead features to keep past the chunk. */
  aheadFrames: number;
  /** Frames before the chunk whose features are encoded again. */
  behindFrames: number;
}

const END = Symbol('end');

export function toVideoFeatures(
  encoder: FrameFeatureEncoder,
  options: VideoFeatureOptions,
): OperatorFunction<RgbFrame, FeatureChunk> {
  const { chunkFrames, contextFrames, frameBytes, dim } = options;
  const lookaheadFrames = options.lookaheadFrames ?? contextFrames;
  if (!(chunkFrames >= 1))
    throw new RangeError(`[video-features] chunkFrames must be >= 1, got ${chunkFrames}`);
  if (!Number.isInteger(lookaheadFrames) || lookaheadFrames < 0)
    throw new RangeError(`[video-features] lookaheadFrames must be an integer >= 0, got ${lookaheadFrames}`);
  // The last frames of a chunk encoded before their right context arrived: encoded again with the next chunk.
  const behindReach = options.aheadFeatures
    ? Math.max(0, options.aheadFeatures.rightContextFrames - lookaheadFrames)
    : 0;
  return (source: Observable<RgbFrame>) =>
    defer(() => {
      // Per-subscription state: frames not yet needed by any future chunk are dropped.
      let buffered: Uint8Array[] = [];
      let bufferStart = 0; // stream index of buffered[0]
      let nextChunk = 0; // first frame of the next chunk to emit

      const job = (end: number, total: number): EncodeJob => {
        const input: Uint8Array[] = [];
        const behindFrames = Math.min(behindReach, nextChunk);
        for (let f = nextChunk - behindFrames - contextFrames; f < end + contextFrames; f++) {
          input.push(buffered[Math.max(0, Math.min(f, total - 1)) - bufferStart]!);
        }
        const arrivedAhead = Math.max(0, Math.min(contextFrames, total - end));
        const aheadFrames = options.aheadFeatures
          ? Math.max(0, arrivedAhead - options.aheadFeatures.rightContextFrames)
          : 0;
        const j: EncodeJob = {
          startFrame: nextChunk,
          frames: end - nextChunk,
          input,
          aheadFrames,
          behindFrames,
        };
        nextChunk = end;
        const keepFrom = Math.max(0, nextChunk - behindReach - contextFrames);
        buffered = buffered.slice(keepFrom - bufferStart);
        bufferStart = keepFrom;
        return j;
      };

      const split = (item: RgbFrame | typeof END): EncodeJob[] => {
        const jobs: EncodeJob[] = [];
        if (item === END) {
          if (options.flushAtEnd === false) return jobs;
          const total = bufferStart + buffered.length;
          while (nextChunk < total) jobs.push(job(Math.min(nextChunk + chunkFrames, total), total));
          return jobs;
        }
        if (item.data.length !== frameBytes) {
          throw new RangeError(
            `[video-features] frame ${item.index} has ${item.data.length} bytes, expected ${frameBytes}`,
          );
        }
        buffered.push(item.data);
        const available = bufferStart + buffered.length;
        // A chunk is ready when its last frame's look-ahead has arrived.
        while (available >= nextChunk + chunkFrames + lookaheadFrames) {
          jobs.push(job(nextChunk + chunkFrames, available));
        }
        return jobs;
      };

      const run = async (j: EncodeJob): Promise<FeatureChunk> => {
        const n = j.input.length;
        const packed = new Uint8Array(n * frameBytes);
        j.input.forEach((f, i) => packed.set(f, i * frameBytes));
        const all = await encoder.encode(packed, n, options.runOptions?.(j.startFrame));
        const offset = (contextFrames + j.behindFrames) * dim;
        const end = offset + j.frames * dim;
        return {
          startFrame: j.startFrame,
          frames: j.frames,
          features: all.slice(offset, end),
          ...(options.aheadFeatures ? { ahead: all.slice(end, end + j.aheadFrames * dim) } : {}),
          ...(j.behindFrames > 0 ? { behind: all.slice(contextFrames * dim, offset) } : {}),
        };
      };

      return source.pipe(
        endWith(END),
        mergeMap((item) => from(split(item))),
        concatMap((j) => from(run(j))),
      );
    });
}
