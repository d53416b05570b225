/**
 * Retry with exponential backoff and jitter. Time is injected (`Clock`) so tests run instantly and
 * deterministically; every wait honours an AbortSignal and rejects with its reason.
 */

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds; rejects with `signal.reason` when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    signal?.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

/** A server-requested delay (Retry-After) is honoured up to this bound. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** What to do after a failure: give up (`false`), retry after the backoff (`true`), or after a given delay (e.g. Retry-After). */
export type RetryDecision = boolean | { readonly afterMs: number };

export interface RetryOptions {
  /** Total attempts including the first. Default 5. */
  readonly attempts?: number | undefined;
  /** Delay before the second attempt. Default 200 ms; doubles each time. */
  readonly baseDelayMs?: number | undefined;
  /** Upper bound of one delay. Default 10 s. */
  readonly maxDelayMs?: number | undefined;
  /** Source of randomness in [0, 1) for jitter. Default Math.random. */
  readonly random?: (() => number) | undefined;
  readonly clock?: Clock | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Whether `error` (from attempt number `attempt`, 1-based) is worth another try. Default: never. */
  readonly shouldRetry?: ((error: unknown, attempt: number) => RetryDecision) | undefined;
  /** Called before each wait (for events and logs). */
  readonly onRetry?: ((error: unknown, attempt: number, delayMs: number) => void) | undefined;
}

export interface BackoffOptions {
  readonly baseDelayMs?: number | undefined;
  readonly maxDelayMs?: number | undefined;
  readonly random?: (() => number) | undefined;
}

/** The delay after failed attempt `attempt` (1-based): base·2^(attempt-1), capped, with jitter in [50%, 100%]. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 10_000;
  const random = options.random ?? Math.random;
  const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.5 + random() / 2));
}

/**
 * Runs `task` until it succeeds, `shouldRetry` says no, or the attempts are used up; then rethrows the
 * last error. An abort (of `signal`) is never retried: it rejects with the signal's reason.
 */
export async function retry<T>(task: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const clock = options.clock ?? systemClock;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await task(attempt);
    } catch (error) {
      if (options.signal?.aborted === true) throw options.signal.reason;
      if (attempt >= attempts) throw error;
      const decision = options.shouldRetry?.(error, attempt) ?? false;
      if (decision === false) throw error;
      const delay = decision === true ? backoffDelay(attempt, options) : Math.min(decision.afterMs, MAX_RETRY_AFTER_MS);
      options.onRetry?.(error, attempt, delay);
      await clock.sleep(delay, options.signal);
    }
  }
}
