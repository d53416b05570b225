/**
 * The metadata database: one SQLite file in the state root, shared by every process that uses the
 * root. WAL lets readers run beside one writer; `busy_timeout` makes a second writer wait for the
 * lock instead of failing, so two builds can run at once with no lock of ours.
 *
 * Tables belong to one module each. A module declares its schema as a list of versioned migrations
 * under its own owner name and applies them with `migrate`; db/ itself knows no table but its own
 * `schema_migrations`.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { z } from 'zod';
import { StagecraftError } from '../core/index.js';

/** One schema step. `up` runs inside the migration's write transaction. */
export interface Migration {
  /** 1, 2, 3, … in order, never reused or renumbered once released. */
  readonly version: number;
  readonly description: string;
  readonly up: string | ((db: BetterSqlite3.Database) => void);
}

export type SqlParams = Readonly<Record<string, string | number | bigint | Buffer | null>>;

/** A prepared statement whose rows are checked against a schema when read back. */
export interface TypedStatement<P extends SqlParams, R> {
  get(params: P): R | undefined;
  all(params: P): R[];
  /** The rows one at a time (a big result is never held whole); finish or break the loop before using the database again. */
  iterate(params: P): IterableIterator<R>;
  run(params: P): { readonly changes: number };
}

export interface DatabaseOptions {
  /** How long a writer waits for another process's write lock, in ms. Default 30 s. */
  readonly busyTimeoutMs?: number;
  readonly readonly?: boolean;
}

export class Database {
  readonly #db: BetterSqlite3.Database;
  readonly path: string;

  private constructor(db: BetterSqlite3.Database, path: string) {
    this.#db = db;
    this.path = path;
  }

  /** Opens (creating if needed) the database at `path` in WAL mode. */
  static open(path: string, options: DatabaseOptions = {}): Database {
    let db: BetterSqlite3.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new BetterSqlite3(path, { readonly: options.readonly ?? false, timeout: options.busyTimeoutMs ?? 30_000 });
    } catch (error) {
      throw new StagecraftError('STORE_CORRUPT', `cannot open the metadata database ${path}: ${(error as Error).message}`, {
        hint: 'check that the state root is writable (--root or $STAGECRAFT_ROOT)',
        cause: error,
      });
    }
    try {
      db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 30_000)}`);
      if (options.readonly !== true) db.pragma('journal_mode = WAL');
      // NORMAL is durable across application crashes in WAL mode; blobs themselves are fsynced.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      if (options.readonly !== true) {
        db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
          owner TEXT NOT NULL,
          version INTEGER NOT NULL,
          description TEXT NOT NULL,
          applied_at INTEGER NOT NULL,
          PRIMARY KEY (owner, version)
        ) STRICT`);
      }
    } catch (error) {
      db.close();
      throw new StagecraftError('STORE_CORRUPT', `the metadata database ${path} cannot be used: ${(error as Error).message}`, {
        hint: 'if the file is damaged, move it away; the content store under content/ is still intact',
        cause: error,
      });
    }
    return new Database(db, path);
  }

  /**
   * Applies `owner`'s migrations that are not applied yet, each in its own IMMEDIATE transaction (so
   * two processes opening a fresh root at once apply each step exactly once). Returns the versions
   * applied now. Fails if the database has a newer version than this program knows.
   */
  migrate(owner: string, migrations: readonly Migration[], now: () => number = Date.now): number[] {
    const sorted = [...migrations].sort((a, b) => a.version - b.version);
    sorted.forEach((m, i) => {
      if (m.version !== i + 1) throw new Error(`migrations of ${owner} must be numbered 1..n without gaps (found ${m.version} at ${i + 1})`);
    });
    const current = this.#db.prepare<[string], { v: number | null }>('SELECT max(version) AS v FROM schema_migrations WHERE owner = ?');
    const known = sorted.length;
    const applied: number[] = [];
    for (const migration of sorted) {
      const step = this.#db.transaction(() => {
        const version = current.get(owner)?.v ?? 0;
        if (version >= migration.version) return false;
        if (typeof migration.up === 'string') this.#db.exec(migration.up);
        else migration.up(this.#db);
        this.#db
          .prepare('INSERT INTO schema_migrations (owner, version, description, applied_at) VALUES (?, ?, ?, ?)')
          .run(owner, migration.version, migration.description, now());
        return true;
      });
      if (step.immediate()) applied.push(migration.version);
    }
    const final = current.get(owner)?.v ?? 0;
    if (final > known) {
      throw new StagecraftError('STORE_CORRUPT', `the metadata database ${this.path} has schema version ${final} of "${owner}", newer than this stagecraft knows (${known})`, {
        hint: 'use a newer stagecraft with this state root, or a different --root',
      });
    }
    return applied;
  }

  /** The applied version of `owner`'s schema (0 if none). */
  schemaVersion(owner: string): number {
    return this.#db.prepare<[string], { v: number | null }>('SELECT max(version) AS v FROM schema_migrations WHERE owner = ?').get(owner)?.v ?? 0;
  }

  /**
   * Prepares `sql` with named parameters (`@name`). Rows are parsed with `row` when read, so a
   * column's type is checked rather than asserted.
   */
  statement<P extends SqlParams, R>(sql: string, row: z.ZodType<R>): TypedStatement<P, R> {
    const prepared = this.#db.prepare(sql);
    const returnsRows = prepared.reader;
    return {
      get: (params) => {
        const value: unknown = prepared.get(params);
        return value === undefined ? undefined : row.parse(value);
      },
      all: (params) => prepared.all(params).map((value: unknown) => row.parse(value)),
      iterate: function* (params) {
        for (const value of prepared.iterate(params)) yield row.parse(value);
      },
      run: (params) => {
        if (returnsRows) throw new Error(`statement returns rows; use get/all: ${sql}`);
        return { changes: prepared.run(params).changes };
      },
    };
  }

  /** Prepares a statement that returns no rows. */
  command<P extends SqlParams>(sql: string): (params: P) => { readonly changes: number } {
    const prepared = this.#db.prepare(sql);
    return (params) => ({ changes: prepared.run(params).changes });
  }

  /**
   * Runs `fn` in a write transaction taken at the start (BEGIN IMMEDIATE), so read-then-write logic
   * sees no other writer in between. `fn` must be synchronous; nested calls become savepoints.
   */
  writeTransaction<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  /** Runs `fn` in a read transaction (a consistent snapshot in WAL mode). */
  readTransaction<T>(fn: () => T): T {
    return this.#db.transaction(fn).deferred();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** For diagnostics and tests: a pragma value (e.g. `journal_mode`). */
  pragma(name: string): unknown {
    return this.#db.pragma(name, { simple: true });
  }
}
