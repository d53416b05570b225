/**
 * The local build cache: cache key → result (the layers of a filesystem state), with the key's
 * preimage kept so a later miss can be explained. Owner of the `cache_*` tables. Its records are GC
 * roots for the content store, so cached layers are never collected while a record points at them.
 */
import { z } from 'zod';
import { parseDigest, type Digest } from '../core/index.js';
import type { Database, Migration, TypedStatement } from '../db/index.js';
import { imageLayerSchema } from '../oci/index.js';

export const CACHE_SCHEMA_OWNER = 'cache';

export const CACHE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'cache records: key → layers, with preimage',
    up: `
      CREATE TABLE cache_records (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        result TEXT NOT NULL,
        preimage TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        used_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX cache_records_used ON cache_records(used_at);
    `,
  },
  {
    version: 2,
    description: 'stat cache of build-context file digests',
    up: `
      CREATE TABLE cache_file_digests (
        path TEXT PRIMARY KEY,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns TEXT NOT NULL,
        ctime_ns TEXT NOT NULL,
        digest TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    description: 'the last key and preimage of each build step, to explain cache misses',
    up: `
      CREATE TABLE cache_steps (
        step TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        preimage TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
];

/** A digest string, parsed (a zod schema shared by the cache's record formats). */
export const digest = z.string().transform((s, ctx) => {
  try {
    return parseDigest(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: `invalid digest ${s}` });
    return z.NEVER;
  }
});

/** An image layer and, for a base image's layer, where its blob can be fetched from when it is not in the store. */
export const LayerRecord = imageLayerSchema.extend({
  source: z.string().optional(),
});
export type LayerRecord = z.infer<typeof LayerRecord>;

export const CachedResult = z.object({ layers: z.array(LayerRecord) });
export type CachedResult = z.infer<typeof CachedResult>;

const Row = z.object({ key: z.string(), name: z.string(), result: z.string(), preimage: z.string(), created_at: z.number(), used_at: z.number() });
type RowShape = z.infer<typeof Row>;

export interface CacheRecordRow {
  readonly key: Digest;
  readonly name: string;
  readonly result: CachedResult;
  readonly preimage: unknown;
  readonly createdAt: number;
  readonly usedAt: number;
}

export class CacheRecords {
  readonly #get: TypedStatement<{ key: string }, RowShape>;
  readonly #put: TypedStatement<{ key: string; name: string; result: string; preimage: string; now: number }, never>;
  readonly #touch: TypedStatement<{ key: string; now: number }, never>;
  readonly #all: TypedStatement<Record<string, never>, RowShape>;
  readonly #delete: TypedStatement<{ key: string }, never>;

  constructor(private readonly db: Database, private readonly clock: () => number = Date.now) {
    db.migrate(CACHE_SCHEMA_OWNER, CACHE_MIGRATIONS, clock);
    this.#get = db.statement('SELECT * FROM cache_records WHERE key = :key', Row);
    this.#put = db.statement(`INSERT INTO cache_records (key, name, result, preimage, created_at, used_at)
      VALUES (:key, :name, :result, :preimage, :now, :now)
      ON CONFLICT(key) DO UPDATE SET result = excluded.result, preimage = excluded.preimage, used_at = excluded.used_at`, z.never());
    this.#touch = db.statement('UPDATE cache_records SET used_at = :now WHERE key = :key', z.never());
    this.#all = db.statement('SELECT * FROM cache_records ORDER BY used_at', Row);
    this.#delete = db.statement('DELETE FROM cache_records WHERE key = :key', z.never());
  }

  get(key: Digest): CacheRecordRow | undefined {
    const row = this.#get.get({ key });
    if (row === undefined) return undefined;
    this.#touch.run({ key, now: this.clock() });
    return toRow(row);
  }

  put(key: Digest, name: string, result: CachedResult, preimage: unknown): void {
    this.#put.run({ key, name, result: JSON.stringify(result), preimage: JSON.stringify(preimage), now: this.clock() });
  }

  all(): CacheRecordRow[] {
    return this.#all.all({}).map(toRow);
  }

  delete(key: Digest): void {
    this.#delete.run({ key });
  }

  /** Every blob a cache record needs (content-store GC roots). */
  referencedBlobs(): Digest[] {
    const out = new Set<Digest>();
    for (const row of this.all()) for (const layer of row.result.layers) out.add(layer.digest);
    return [...out];
  }
}

function toRow(row: RowShape): CacheRecordRow {
  return {
    key: parseDigest(row.key),
    name: row.name,
    result: CachedResult.parse(JSON.parse(row.result)),
    preimage: JSON.parse(row.preimage) as unknown,
    createdAt: row.created_at,
    usedAt: row.used_at,
  };
}
