import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedLimiter, Limiter } from '../../src/util/limiter.js';
import { backoffDelay, retry, type Clock } from '../../src/util/retry.js';

/** A clock whose sleeps return at once and are recorded. */
function fakeClock(): Clock & { sleeps: number[] } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      now += ms;
      await Promise.resolve();
    },
  };
}

describe('retry', () => {
  it('retries until success with exponential backoff', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await retry(async (attempt) => { await Promise.resolve();
      calls++;
      if (attempt < 4) throw new Error(`fail ${attempt}`);
      return 'ok';
    }, { clock, random: () => 0.999999, baseDelayMs: 100, shouldRetry: () => true });
    assert.equal(result, 'ok');
    assert.equal(calls, 4);
    assert.deepEqual(clock.sleeps, [100, 200, 400]);
  });

  it('jitter keeps delays between half and all of the exponential step, capped', () => {
    assert.equal(backoffDelay(1, { baseDelayMs: 100, random: () => 0 }), 50);
    assert.equal(backoffDelay(3, { baseDelayMs: 100, random: () => 0 }), 200);
    assert.equal(backoffDelay(20, { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 }), 1000);
  });

  it('gives up after the attempts and rethrows the last error', async () => {
    const clock = fakeClock();
    let calls = 0;
    await assert.rejects(retry(async (attempt) => { await Promise.resolve();
      calls++;
      throw new Error(`fail ${attempt}`);
    }, { clock, attempts: 3, shouldRetry: () => true }), /fail 3/);
    assert.equal(calls, 3);
    assert.equal(clock.sleeps.length, 2);
  });

  it('does not retry what shouldRetry refuses, and honours a requested delay', async () => {
    const clock = fakeClock();
    let calls = 0;
    await assert.rejects(retry(async () => { await Promise.resolve();
      calls++;
      throw new Error(calls === 1 ? 'slow down' : 'fatal');
    }, { clock, shouldRetry: (e) => ((e as Error).message === 'slow down' ? { afterMs: 1234 } : false) }), /fatal/);
    assert.equal(calls, 2);
    assert.deepEqual(clock.sleeps, [1234]);
  });

  it('an abort stops retrying with the abort reason', async () => {
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    let calls = 0;
    await assert.rejects(retry(async () => { await Promise.resolve();
      calls++;
      controller.abort(reason);
      throw new Error('transient');
    }, { clock: fakeClock(), shouldRetry: () => true, signal: controller.signal }), (e) => e === reason);
    assert.equal(calls, 1);
  });

  it('the system clock sleep rejects on abort', async () => {
    const { systemClock } = await import('../../src/util/retry.js');
    const controller = new AbortController();
    const pending = systemClock.sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await assert.rejects(pending, /stop/);
  });
});

describe('Limiter', () => {
  it('never runs more than the limit at once and runs all in FIFO order', async () => {
    const limiter = new Limiter(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const gates: (() => void)[] = [];
    const tasks = [0, 1, 2, 3, 4].map((i) => limiter.run(async () => {
      running++;
      peak = Math.max(peak, running);
      order.push(i);
      await new Promise<void>((resolve) => gates.push(resolve));
      running--;
      return i;
    }));
    while (order.length < 5) {
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(running <= 2);
      gates.shift()?.();
    }
    for (const gate of gates) gate();
    assert.deepEqual(await Promise.all(tasks), [0, 1, 2, 3, 4]);
    assert.equal(peak, 2);
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
    assert.equal(limiter.active, 0);
  });

  it('a waiter that aborts leaves the queue; a released slot goes to the next one', async () => {
    const limiter = new Limiter(1);
    const release = await limiter.acquire();
    const controller = new AbortController();
    const aborted = limiter.acquire(controller.signal);
    const next = limiter.acquire();
    assert.equal(limiter.pending, 2);
    controller.abort(new Error('gone'));
    await assert.rejects(aborted, /gone/);
    assert.equal(limiter.pending, 1);
    release();
    release(); // a second release is ignored
    const releaseNext = await next;
    assert.equal(limiter.active, 1);
    releaseNext();
    assert.equal(limiter.active, 0);
  });

  it('releases the slot when the task throws', async () => {
    const limiter = new Limiter(1);
    await assert.rejects(limiter.run(() => Promise.reject(new Error('x'))), /x/);
    assert.equal(limiter.active, 0);
    assert.equal(await limiter.run(() => Promise.resolve(5)), 5);
  });
});

describe('KeyedLimiter', () => {
  it('limits per key, independently', async () => {
    const limiter = new KeyedLimiter(1);
    const a = await limiter.acquire('a');
    const b = await limiter.acquire('b');
    assert.equal(limiter.active('a'), 1);
    assert.equal(limiter.active('b'), 1);
    let secondA = false;
    const pending = limiter.acquire('a').then((release) => {
      secondA = true;
      return release;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(secondA, false);
    a();
    const release = await pending;
    assert.equal(secondA, true);
    release();
    b();
    assert.equal(limiter.active('a'), 0);
  });
});
