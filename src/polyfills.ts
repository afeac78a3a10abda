/**
 * Runtime gaps of Node 20 that dependencies rely on. node-av 6.1.1 calls
 * Promise.withResolvers (Node >= 22); without it its demuxer's packet generator throws
 * mid-stream. Import this module before using node-av.
 */

interface PromiseWithResolversShim<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const promiseCtor = Promise as unknown as { withResolvers?: <T>() => PromiseWithResolversShim<T> };
if (typeof promiseCtor.withResolvers !== 'function') {
  promiseCtor.withResolvers = <T>(): PromiseWithResolversShim<T> => {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export {};
