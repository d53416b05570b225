/**
 * The report outbox: build records waiting to be posted to a `stagecraft serve` (`build
 * --report-to`). A row is written after the build's record and removed only when the server took
 * the record, so a record is never lost while the server is down; the server stores by build id, so
 * a record sent twice (a reply lost on the way back) is stored once. Owner of `history_outbox`
 * (its own migration owner, so the history schema can grow independently).
 */
import { z } from 'zod';
import type { Database, Migration, TypedStatement } from '../db/index.js';

export const OUTBOX_SCHEMA_OWNER = 'history_outbox';

export const OUTBOX_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'report outbox: builds to post to a stagecraft server',
    up: `
      CREATE TABLE history_outbox (
        build_id TEXT NOT NULL REFERENCES history_builds(id) ON DELETE CASCADE,
        url TEXT NOT NULL,
        queued_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        PRIMARY KEY (build_id, url)
      ) STRICT;
      CREATE INDEX history_outbox_due ON history_outbox(url, next_attempt_at);
    `,
  },
];

const int = z.number().int();
const EntryRow = z.object({ build_id: z.string(), url: z.string(), queued_at: int, attempts: int, next_attempt_at: int, last_error: z.string().nullable() });

export interface OutboxEntry {
  readonly buildId: string;
  readonly url: string;
  readonly queuedAt: number;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  readonly lastError?: string | undefined;
}

type P = Record<string, string | number | null>;

/** Backoff after `attempts` failed attempts: 30 s, 1 min, 2 min, … at most 1 h. */
export function backoffMs(attempts: number): number {
  return Math.min(3_600_000, 30_000 * 2 ** Math.max(0, Math.min(attempts - 1, 20)));
}

export class Outbox {
  readonly #enqueue: (p: P) => unknown;
  readonly #list: TypedStatement<P, z.infer<typeof EntryRow>>;
  readonly #remove: (p: P) => { readonly changes: number };
  readonly #failed: (p: P) => unknown;
  readonly #clock: () => number;

  /** `db` must hold the history tables (a `HistoryStore` opened on it applies their migrations). */
  constructor(db: Database, clock: () => number = Date.now) {
    this.#clock = clock;
    db.migrate(OUTBOX_SCHEMA_OWNER, OUTBOX_MIGRATIONS, clock);
    // Queued again (a build re-recorded under the same id): due at once, the attempts forgotten.
    this.#enqueue = db.command(`INSERT INTO history_outbox (build_id, url, queued_at, attempts, next_attempt_at) VALUES (@id, @url, @now, 0, @now)
      ON CONFLICT (build_id, url) DO UPDATE SET attempts = 0, next_attempt_at = excluded.next_attempt_at, last_error = NULL`);
    // Fresh records first (they have not failed yet), then the oldest.
    this.#list = db.statement(`SELECT * FROM history_outbox WHERE (@url IS NULL OR url = @url) AND next_attempt_at <= @due
      ORDER BY attempts, queued_at, build_id LIMIT @limit`, EntryRow);
    this.#remove = db.command('DELETE FROM history_outbox WHERE build_id = @id AND url = @url');
    this.#failed = db.command(`UPDATE history_outbox SET attempts = attempts + 1, last_error = @error,
      next_attempt_at = @now + min(3600000, 30000 * (1 << min(attempts, 20))) WHERE build_id = @id AND url = @url`);
  }

  enqueue(buildId: string, url: string): void {
    this.#enqueue({ id: buildId, url, now: this.#clock() });
  }

  /** Entries for `url` (all urls when undefined) due by `dueBy` (default now; Infinity: all). */
  entries(url?: string, options: { dueBy?: number; limit?: number } = {}): OutboxEntry[] {
    const dueBy = options.dueBy ?? this.#clock();
    return this.#list.all({ url: url ?? null, due: Number.isFinite(dueBy) ? Math.trunc(dueBy) : Number.MAX_SAFE_INTEGER, limit: options.limit ?? -1 }).map((r) => ({
      buildId: r.build_id, url: r.url, queuedAt: r.queued_at, attempts: r.attempts, nextAttemptAt: r.next_attempt_at,
      ...(r.last_error === null ? {} : { lastError: r.last_error }),
    }));
  }

  /** The server took the record. */
  delivered(buildId: string, url: string): void {
    this.#remove({ id: buildId, url });
  }

  /** An attempt failed: counted, and the entry waits `backoffMs(attempts)` before builds try it again. */
  failed(buildId: string, url: string, error: string): void {
    this.#failed({ id: buildId, url, error: error.slice(0, 1000), now: this.#clock() });
  }
}
