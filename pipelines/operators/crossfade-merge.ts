/**
 * RxJS operator: overlapping audio windows -> one contiguous stream of audio chunks.
 *
 * Each window's last `overlapSamples` are held back; when the next window arrives its head
 * (the same frames, regenerated from the same known latent) is crossfaded with the held
 * tail, so joins have no click, gap or level dip. On completion the held tail is emitted.
 * Chunks are contiguous from sample 0 and never overlap.
 */
import { defer, Observable, type OperatorFunction } from 'rxjs';
import { type CrossfadeCurve, crossfade } from '../../src/dsp/crossfade.js';

export interface OverlappingAudio {
  /** First sample of the waveform in the stream. */
  startSample: number;
  /** Samples at the head that repeat the previous window's tail (0 for the first). */
  overlapSamples: number;
  waveform: Float32Array;
}

export interface AudioChunk {
  startSample: number;
  samples: Float32Array;
}

export interface CrossfadeMergeOptions {
  /** Overlap between consecutive windows, in samples (the plan's overlap). */
  overlapSamples: number;
  curve?: CrossfadeCurve;
}

export function crossfadeMerge(
  options: CrossfadeMergeOptions,
): OperatorFunction<OverlappingAudio, AudioChunk> {
  const curve = options.curve ?? 'raised-cosine';
  return (source: Observable<OverlappingAudio>) =>
    defer(
      () =>
        new Observable<AudioChunk>((subscriber) => {
          let held: AudioChunk | null = null;
          let emittedEnd = 0;
          const emit = (startSample: number, samples: Float32Array): void => {
            if (samples.length === 0) return;
            if (startSample !== emittedEnd) {
              subscriber.error(
                new RangeError(`[crossfade-merge] chunk at sample ${startSample}, expected ${emittedEnd}`),
              );
              return;
            }
            emittedEnd += samples.length;
            subscriber.next({ startSample, samples });
          };
          const subscription = source.subscribe({
            next: (w) => {
              let body = w.waveform;
              let bodyStart = w.startSample;
              if (held) {
                const n = w.overlapSamples;
                if (n !== held.samples.length || w.startSample !== held.startSample) {
                  subscriber.error(
                    new RangeError(
                      `[crossfade-merge] window at sample ${w.startSample} overlaps ${n} samples; held tail is ${held.samples.length} at ${held.startSample}`,
                    ),
                  );
                  return;
                }
                emit(held.startSample, crossfade(held.samples, w.waveform.subarray(0, n), curve));
                body = w.waveform.subarray(n);
                bodyStart += n;
                held = null;
              }
              const hold = Math.min(options.overlapSamples, body.length);
              emit(bodyStart, body.slice(0, body.length - hold));
              held = { startSample: bodyStart + body.length - hold, samples: body.slice(body.length - hold) };
            },
            error: (error) => subscriber.error(error),
            complete: () => {
              if (held) emit(held.startSample, held.samples);
              held = null;
              subscriber.complete();
            },
          });
          return () => {
            held = null;
            subscription.unsubscribe();
          };
        }),
    );
}
