/**
 * EventEmitter with a typed event map, after mediasoup's enhancedEvents: `safeEmit` logs a
 * listener that throws instead of letting it crash the emitter's caller.
 */
import { EventEmitter } from 'node:events';

// biome-ignore lint/suspicious/noExplicitAny: event argument tuples are heterogeneous by design
export type EventMap = Record<string, any[]>;

export class TypedEmitter<E extends EventMap> {
  private readonly emitter = new EventEmitter();

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.emitter.listenerCount(event);
  }

  /** Emits to every listener; a listener that throws is reported on stderr and skipped. */
  safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    const listeners = this.emitter.listeners(event);
    for (const listener of listeners) {
      try {
        (listener as (...a: E[K]) => void)(...args);
      } catch (error) {
        process.stderr.write(`[TypedEmitter] listener of "${event}" threw: ${String(error)}\n`);
      }
    }
    return listeners.length > 0;
  }

  removeAllListeners(): void {
    this.emitter.removeAllListeners();
  }
}
