/**
 * A value that is passed on only once it has stood for a while: each `put` replaces the one waiting and starts
 * the wait again, `flush` passes the waiting one on at once. The reporter writes the Node condition through it
 * (lib/report/reporter.ts), so steps that a later one replaces within moments cost no write.
 */
export class Settling<T> {
  readonly #ms: number;
  readonly #pass: (value: T) => void;
  #waiting: { value: T; timer: ReturnType<typeof setTimeout> } | undefined;

  /** `ms` ≤ 0 passes every value on at once. */
  constructor(ms: number, pass: (value: T) => void) {
    this.#ms = ms;
    this.#pass = pass;
  }

  put(value: T): void {
    if (this.#waiting) clearTimeout(this.#waiting.timer);
    this.#waiting = undefined;
    if (this.#ms <= 0) return this.#pass(value);
    this.#waiting = { value, timer: setTimeout(() => this.flush(), this.#ms) };
  }

  /** Passes the waiting value on now, if any. */
  flush(): void {
    const w = this.#waiting;
    if (!w) return;
    clearTimeout(w.timer);
    this.#waiting = undefined;
    this.#pass(w.value);
  }
}

/**
 * How long a condition step must stand before it is written. Steps of a cycle that follow each other within
 * moments (RebootRequired then RebootBlocked for a node that finds the slots taken; SlotAcquired, Cordoned,
 * then Draining) would each cost a write that no reader of `kubectl describe node` or `kreboot status` could
 * catch: only the step that stands is written. Every step still has its Event, in order, and the loop flushes
 * the one waiting before the reboot command (`flushWrites`).
 */
export const CONDITION_SETTLE_MS = 1_000;
