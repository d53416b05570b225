/**
 * Concurrency limits: `Limiter` bounds how many tasks run at once (FIFO queue); `KeyedLimiter` keeps one
 * such bound per key (e.g. per registry host). A waiting task whose signal aborts leaves the queue and
 * rejects with the signal's reason; a running task is never interrupted by the limiter.
 */

interface Waiter {
  readonly grant: () => void;
}

export class Limiter {
  private running = 0;
  /** FIFO: waiters from `head` on (an array shift per grant would make long queues quadratic). */
  private queue: Waiter[] = [];
  private head = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Tasks waiting for a slot. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /**
   * Waits for a slot and returns its release function (call it exactly once; extra calls are ignored).
   * Rejects with `signal.reason` if the signal aborts first.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.running < this.limit && this.pending === 0) {
      this.running++;
      return this.releaser();
    }
    return new Promise<() => void>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.queue.indexOf(waiter, this.head);
        if (index !== -1) this.queue.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.running++;
          resolve(this.releaser());
        },
      };
      this.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs `task` in a slot; the slot is released when the task settles. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await task();
    } finally {
      release();
    }
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const next = this.queue[this.head];
      if (next === undefined) return;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      next.grant();
    };
  }
}

/** One `Limiter` per key, created on first use and dropped when idle. */
export class KeyedLimiter {
  private readonly limiters = new Map<string, Limiter>();

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }

  async acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    let limiter = this.limiters.get(key);
    if (limiter === undefined) {
      limiter = new Limiter(this.limit);
      this.limiters.set(key, limiter);
    }
    const owner = limiter;
    let release: () => void;
    try {
      release = await owner.acquire(signal);
    } catch (error) {
      this.dropIfIdle(key, owner);
      throw error;
    }
    return () => {
      release();
      this.dropIfIdle(key, owner);
    };
  }

  async run<T>(key: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(key, signal);
    try {
      return await task();
    } finally {
      release();
    }
  }

  /** Tasks running for `key` now. */
  active(key: string): number {
    return this.limiters.get(key)?.active ?? 0;
  }

  private dropIfIdle(key: string, limiter: Limiter): void {
    if (limiter.active === 0 && limiter.pending === 0 && this.limiters.get(key) === limiter) this.limiters.delete(key);
  }
}
