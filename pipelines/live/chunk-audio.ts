/**
 * RxJS operators from generated live chunks to the 48 kHz audio the pacer plays:
 *
 *   liveCrossfade   chunk n's audio as an overlapping window into the shared temporal-merge
 *                   crossfade (operators/crossfade-merge.ts). Held joins: the window is
 *                   [nK·spf − xf, (n+1)K·spf), the chunk emits [nK·spf − xf, (n+1)K·spf − xf)
 *                   and its last xf samples fade into the next chunk's version of the same
 *                   span. Guard joins: the window is [nK·spf, (n+1)K·spf + xf), the chunk
 *                   emits [nK·spf, (n+1)K·spf), and its first xf guard samples fade into the
 *                   next chunk's head
 *   upsampleTo48k   16 kHz → 48 kHz, the filter state kept across chunks (seamless edges)
 *
 * Live joins fade linearly (the live figures were measured with it).
 */
import { defer, map, type OperatorFunction, pipe } from 'rxjs';
import { crossfadeMerge } from '../operators/crossfade-merge.js';
import type { LiveChunk } from './chunk-generation.js';
import type { CrossfadeJoin } from './plan.js';
import { Upsampler3x } from './Upsampler3x.js';

/** A chunk's 16 kHz audio as it enters the timeline (before upsampling and Opus). */
export interface LiveAudio {
  segment: number;
  chunk: number;
  /** First sample, 16 kHz, from the segment's start (media time = sample / 16 per ms). */
  startSample: number;
  samples: Float32Array;
  generated: boolean;
  /** Ladder level the chunk was made at (the last level: skipped, silence). */
  level: number;
  /** Time spent generating the chunk, ms. */
  computeMs: number;
  late: boolean;
}

export interface LiveAudio48k {
  audio: LiveAudio;
  /** First sample at 48 kHz from the segment's start (the filter's delay taken off). */
  position48k: number;
  samples48k: Float32Array;
}

/** Samples [from, from + count) of a waveform starting at `waveStart`, zero outside it. */
function samplesAt(wave: Float32Array | null, waveStart: number, from: number, count: number): Float32Array {
  const out = new Float32Array(count);
  if (!wave) return out;
  const lo = Math.max(from, waveStart);
  const hi = Math.min(from + count, waveStart + wave.length);
  if (hi > lo) out.set(wave.subarray(lo - waveStart, hi - waveStart), lo - from);
  return out;
}

export function liveCrossfade(options: {
  segment: number;
  chunkFrames: number;
  samplesPerFrame: number;
  crossfadeSamples: number;
  /** Default held (plan.ts CROSSFADE_JOINS). */
  join?: CrossfadeJoin;
}): OperatorFunction<LiveChunk, LiveAudio> {
  const { chunkFrames: K, samplesPerFrame: spf, crossfadeSamples: xf } = options;
  const held = (options.join ?? 'held') === 'held';
  return pipe(
    map((c: LiveChunk) => {
      const chunkStart = c.chunk * K * spf;
      const startSample = c.chunk === 0 || !held ? chunkStart : chunkStart - xf;
      const end = (c.chunk + 1) * K * spf + (held ? 0 : xf);
      return {
        chunk: c,
        startSample,
        overlapSamples: c.chunk === 0 ? 0 : xf,
        waveform: samplesAt(c.waveform, c.windowStartFrame * spf, startSample, end - startSample),
      };
    }),
    crossfadeMerge({ overlapSamples: xf, curve: 'linear', flushAtEnd: false }),
    map(
      ({ startSample, samples, window: { chunk: c } }): LiveAudio => ({
        segment: options.segment,
        chunk: c.chunk,
        startSample,
        samples,
        generated: c.generated,
        level: c.level.level,
        computeMs: c.computeMs,
        late: c.late,
      }),
    ),
  );
}

export function upsampleTo48k(): OperatorFunction<LiveAudio, LiveAudio48k> {
  return (source) =>
    defer(() => {
      const upsampler = new Upsampler3x(); // filter state per subscription (segment)
      return source.pipe(
        map((audio) => ({
          audio,
          position48k: audio.startSample * 3 - Upsampler3x.delaySamples48k,
          samples48k: upsampler.process(audio.samples),
        })),
      );
    });
}
