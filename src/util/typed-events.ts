// A typed EventEmitter: `events` maps each `noun:verb` name to its listener's argument tuple.
// Emitting an event nobody listens to is a no-op (there is no special 'error' event).
import { EventEmitter } from 'node:events';

export type EventMap = Record<string, unknown[]>;

export class TypedEmitter<E extends EventMap> {
  readonly #ee = new EventEmitter({ captureRejections: false });

  constructor() {
    this.#ee.setMaxListeners(100);
  }

  on<K extends keyof E & string>(name: K, listener: (...args: E[K]) => void): this {
    this.#ee.on(name, listener as (...a: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(name: K, listener: (...args: E[K]) => void): this {
    this.#ee.once(name, listener as (...a: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(name: K, listener: (...args: E[K]) => void): this {
    this.#ee.off(name, listener as (...a: unknown[]) => void);
    return this;
  }

  protected emit<K extends keyof E & string>(name: K, ...args: E[K]): void {
    if (name === 'error' && this.#ee.listenerCount('error') === 0) return;
    this.#ee.emit(name, ...args);
  }

  removeAllListeners(): void {
    this.#ee.removeAllListeners();
  }
}
