/**
 * A gate on a pulled (async-iterable) source, so decoding runs at most a bounded distance
 * ahead of what downstream has consumed.
 */

export interface ReadAheadGate {
  /** The source, pulled one item at a time while `mayPull()` holds. */
  gated<T>(source: AsyncIterable<T>): AsyncGenerator<T>;
  /** Re-checks `mayPull()` after downstream progress. */
  wake(): void;
  /** Opens the gate for good and stops pulling; safe to call twice. */
  close(): void;
}

/**
 * Holds a pulled source back: the next item is pulled only while `mayPull()` holds, and
 * `wake()` re-checks after downstream progress. RxJS has no backpressure (`from` of an
 * async iterable pulls as fast as it resolves, and concatMap queues without limit), so
 * without this the reader decodes the whole clip ahead of generation and every raw frame
 * (width·height·3 bytes) waits in the queues. `close()` opens it for good, so a pipeline
 * that errors or unsubscribes lets the reader reach its `finally` and close the input.
 */
export function readAheadGate(mayPull: () => boolean): ReadAheadGate {
  let closed = false;
  let waiting: (() => void) | null = null;
  const wake = (): void => {
    const resume = waiting;
    waiting = null;
    resume?.();
  };
  return {
    async *gated<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
      const iterator = source[Symbol.asyncIterator]();
      try {
        for (;;) {
          while (!closed && !mayPull()) {
            await new Promise<void>((resolve) => {
              waiting = resolve;
            });
          }
          if (closed) return;
          const next = await iterator.next();
          if (next.done) return;
          yield next.value;
        }
      } finally {
        await iterator.return?.();
      }
    },
    wake,
    close: () => {
      closed = true;
      wake();
    },
  };
}
