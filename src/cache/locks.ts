/**
 * Locks shared by every process that uses one state root, kept in the metadata database: SQLite's
 * write lock makes "look, then take" one atomic step across processes, which plain files cannot give
 * without flock(2) (Node has no binding for it).
 *
 * A lock row names its holder as `<pid>-<start time>` (util/owner.ts). A row whose holder is no longer
 * running is stale: the next acquirer deletes it, so a SIGKILLed build never blocks others. Locks are
 * readers-writer per name: `shared` holders coexist, an `exclusive` holder excludes everyone.
 *
 * Names in use:
 *   `state-root`                 every build holds it shared; `prune --all` takes it exclusive
 *   `cache-mount:<dir>`          a `sharing=locked` cache mount, or one instance of a `private` one
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Database, Migration } from '../db/index.js';
import { PROCESS_OWNER, ownerAlive } from '../util/owner.js';

export const LOCKS_SCHEMA_OWNER = 'locks';

export const LOCKS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'readers-writer locks held by running processes (name, holder, mode)',
    up: `
      CREATE TABLE store_locks (
        token TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        owner TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('shared', 'exclusive')),
        acquired_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX store_locks_name ON store_locks(name);
    `,
  },
];

export type LockMode = 'shared' | 'exclusive';

/** Held shared by every build, exclusive by `prune --all` (which removes what builds use). */
export const STATE_ROOT_LOCK = 'state-root';

/** A held lock; disposing (or `release()`) gives it up. Idempotent. */
export interface HeldLock extends AsyncDisposable {
  readonly name: string;
  release(): void;
}

export interface LockHolder {
  readonly owner: string;
  readonly mode: LockMode;
  readonly acquiredAt: number;
}

export interface StoreLocksOptions {
  /** This process's holder id (default: PROCESS_OWNER). */
  readonly owner?: string;
  /** Whether a holder is still running (default: /proc check of util/owner.ts). */
  readonly alive?: (owner: string) => boolean;
  readonly clock?: () => number;
  /** How often a waiting `acquire` looks again (default 50 ms). */
  readonly pollMs?: number;
}

const Row = z.object({ token: z.string(), owner: z.string(), mode: z.enum(['shared', 'exclusive']), acquired_at: z.number() });

export class StoreLocks {
  readonly #db: Database;
  readonly #owner: string;
  readonly #alive: (owner: string) => boolean;
  readonly #clock: () => number;
  readonly #pollMs: number;
  readonly #holders;
  readonly #insert;
  readonly #delete;

  constructor(db: Database, options: StoreLocksOptions = {}) {
    db.migrate(LOCKS_SCHEMA_OWNER, LOCKS_MIGRATIONS);
    this.#db = db;
    this.#owner = options.owner ?? PROCESS_OWNER;
    this.#alive = options.alive ?? ownerAlive;
    this.#clock = options.clock ?? Date.now;
    this.#pollMs = options.pollMs ?? 50;
    this.#holders = db.statement<{ name: string }, z.infer<typeof Row>>('SELECT token, owner, mode, acquired_at FROM store_locks WHERE name = @name', Row);
    this.#insert = db.command<{ token: string; name: string; owner: string; mode: string; now: number }>(
      'INSERT INTO store_locks (token, name, owner, mode, acquired_at) VALUES (@token, @name, @owner, @mode, @now)',
    );
    this.#delete = db.command<{ token: string }>('DELETE FROM store_locks WHERE token = @token');
  }

  /** Live holders of `name` (stale rows are dropped on the way). */
  holders(name: string): LockHolder[] {
    return this.#db.writeTransaction(() => this.#live(name)).map((row) => ({ owner: row.owner, mode: row.mode, acquiredAt: row.acquired_at }));
  }

  #live(name: string): z.infer<typeof Row>[] {
    const rows = this.#holders.all({ name });
    const live = [];
    for (const row of rows) {
      if (row.owner === this.#owner || this.#alive(row.owner)) live.push(row);
      else this.#delete({ token: row.token });
    }
    return live;
  }

  /** Takes `name` in `mode` if no live holder conflicts; null otherwise. Never waits. */
  tryAcquire(name: string, mode: LockMode): HeldLock | null {
    const token = randomBytes(12).toString('hex');
    const taken = this.#db.writeTransaction(() => {
      const live = this.#live(name);
      if (live.some((row) => mode === 'exclusive' || row.mode === 'exclusive')) return false;
      this.#insert({ token, name, owner: this.#owner, mode, now: this.#clock() });
      return true;
    });
    if (!taken) return null;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#delete({ token });
    };
    return { name, release, [Symbol.asyncDispose]: () => { release(); return Promise.resolve(); } };
  }

  /** Takes `name` in `mode`, waiting (polling) while a live holder conflicts. */
  async acquire(name: string, mode: LockMode, signal?: AbortSignal): Promise<HeldLock> {
    for (;;) {
      signal?.throwIfAborted();
      const held = this.tryAcquire(name, mode);
      if (held !== null) return held;
      await sleep(this.#pollMs, undefined, signal === undefined ? {} : { signal });
    }
  }
}
