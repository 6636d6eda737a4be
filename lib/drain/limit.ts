/** A counting semaphore: at most `max` calls of `run` in flight at once, the rest queue in order. */
export class Limiter {
  #free: number;
  #queue: (() => void)[] = [];

  constructor(max: number) {
    if (!(max >= 1)) throw new RangeError(`Limiter needs max >= 1, got ${max}`);
    this.#free = max;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#queue.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
