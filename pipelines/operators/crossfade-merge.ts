/**
 * RxJS operator: overlapping audio windows -> one contiguous stream of audio chunks.
 *
 * Each window's last `overlapSamples` are held back; when the next window arrives its head
 * (the same frames, regenerated from the same known latent) is crossfaded with the held
 * tail, so joins have no click, gap or level dip. Each window gives one chunk: the
 * crossfaded head, then its body up to its own held tail; on completion the held tail is
 * emitted (unless `flushAtEnd` is false). Chunks are contiguous from sample 0 and never overlap.
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

/** A merged chunk with the window it came from (the last window for the tail at completion). */
export type MergedChunk<W extends OverlappingAudio> = AudioChunk & { window: W };

export interface CrossfadeMergeOptions {
  /** Overlap between consecutive windows, in samples (the plan's overlap). */
  overlapSamples: number;
  curve?: CrossfadeCurve;
  /** Emit the held tail at completion (default true; a live segment that ends has no next chunk to meet it). */
  flushAtEnd?: boolean;
}

export function crossfadeMerge<W extends OverlappingAudio>(
  options: CrossfadeMergeOptions,
): OperatorFunction<W, MergedChunk<W>> {
  const curve = options.curve ?? 'raised-cosine';
  return (source: Observable<W>) =>
    defer(
      () =>
        new Observable<MergedChunk<W>>((subscriber) => {
          let held: AudioChunk | null = null;
          let last: W | null = null;
          let emittedEnd = 0;
          const emit = (window: W, startSample: number, samples: Float32Array): void => {
            if (samples.length === 0) return;
            if (startSample !== emittedEnd) {
              subscriber.error(
                new RangeError(`[crossfade-merge] chunk at sample ${startSample}, expected ${emittedEnd}`),
              );
              return;
            }
            emittedEnd += samples.length;
            subscriber.next({ startSample, samples, window });
          };
          const subscription = source.subscribe({
            next: (w) => {
              last = w;
              let head: Float32Array | null = null;
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
                head = crossfade(held.samples, w.waveform.subarray(0, n), curve);
                body = w.waveform.subarray(n);
                bodyStart += n;
                held = null;
              }
              const hold = Math.min(options.overlapSamples, body.length);
              const kept = body.length - hold;
              const out = new Float32Array((head?.length ?? 0) + kept);
              if (head) out.set(head);
              out.set(body.subarray(0, kept), head?.length ?? 0);
              emit(w, bodyStart - (head?.length ?? 0), out);
              held = { startSample: bodyStart + kept, samples: body.slice(kept) };
            },
            error: (error) => subscriber.error(error),
            complete: () => {
              if (held && last && options.flushAtEnd !== false) emit(last, held.startSample, held.samples);
              held = null;
              subscriber.complete();
            },
          });
          return () => {
            held = null;
            last = null;
            subscription.unsubscribe();
          };
        }),
    );
}
