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
  {
    version: 4,
    description: 'layers with their times clamped to a SOURCE_DATE_EPOCH: (diffID, epoch) → the clamped layer',
    up: `
      CREATE TABLE cache_clamped_layers (
        diff_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        layer TEXT NOT NULL,
        PRIMARY KEY (diff_id, epoch)
      ) STRICT;
    `,
  },
  {
    version: 5,
    description: 'layers made lazily from step results: snapshot → the layer (issue 18)',
    up: `
      CREATE TABLE cache_lazy_layers (
        snapshot TEXT PRIMARY KEY,
        layer TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 6,
    description: 'selection key (what a COPY --from or RUN --mount=from reads of a stage, and that stage\'s key) → the content digest of those files',
    up: `
      CREATE TABLE cache_key_links (
        key TEXT PRIMARY KEY,
        content_key TEXT NOT NULL,
        preimage TEXT NOT NULL
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
  /**
   * When the step that made the layer ran (seconds since the epoch): a cached step keeps the time of
   * its first run, so a rebuild from the cache has the same history times (and image ID) as BuildKit's.
   */
  created: z.number().int().nonnegative().optional(),
});
export type LayerRecord = z.infer<typeof LayerRecord>;

/**
 * A step's layer before it is made: the committed snapshot holding the step's result (its whole
 * filesystem; the layer is its changes on its parent). Its tar, diffID and blob are made only when
 * something needs them (an image, an export, a cache export, max provenance), once, and recorded in
 * `LazyLayers`. Steps whose results only feed later steps are never tarred.
 */
export const LazyLayer = z.object({
  snapshot: z.string().regex(/^[a-f0-9]{16,64}$/u),
  created: z.number().int().nonnegative().optional(),
}).strict();
export type LazyLayer = z.infer<typeof LazyLayer>;

/** A layer of a step result: made (a blob in the store, or a base image's) or still lazy. */
export const StepLayer = z.union([LazyLayer, LayerRecord]);
export type StepLayer = z.infer<typeof StepLayer>;

export function isLazyLayer(layer: StepLayer): layer is LazyLayer {
  return 'snapshot' in layer && !('diffId' in layer);
}

/** The stack as made layers, or undefined when a layer of it is still lazy. */
export function madeLayers(layers: readonly StepLayer[]): LayerRecord[] | undefined {
  const out: LayerRecord[] = [];
  for (const layer of layers) {
    if (isLazyLayer(layer)) return undefined;
    out.push(layer);
  }
  return out;
}

export const CachedResult = z.object({ layers: z.array(StepLayer) });
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
    // A lazy layer's blob is not a root: it is made again from its snapshot when needed.
    for (const row of this.all()) for (const layer of row.result.layers) if (!isLazyLayer(layer)) out.add(layer.digest);
    return [...out];
  }
}

/** A selection key and the content digest of what it selects, as caches carry them (CacheKeyLinks). */
export type KeyLink = readonly [selectionKey: Digest, contentDigest: Digest];

const LinkRow = z.object({ content_key: z.string(), preimage: z.string() });
const LinkFiles = z.object({ files: z.array(z.tuple([z.string(), z.string()])).optional() });

/**
 * Selection key → content digest (solver `ResultCache.linked`): what a step reads of another stage
 * (COPY --from, RUN --mount=from) is keyed by the digest of those files; once it was read for a
 * given stage key, a later build with the same stage key finds the digest here without reading the
 * files again (nor solving the stage). `files` (each selected file's digest) explain a later miss;
 * links imported from a cache have none.
 */
export class CacheKeyLinks {
  readonly #get: TypedStatement<{ key: string }, z.infer<typeof LinkRow>>;
  readonly #put: TypedStatement<{ key: string; contentKey: string; preimage: string }, never>;

  constructor(db: Database, clock: () => number = Date.now) {
    db.migrate(CACHE_SCHEMA_OWNER, CACHE_MIGRATIONS, clock);
    this.#get = db.statement('SELECT content_key, preimage FROM cache_key_links WHERE key = :key', LinkRow);
    this.#put = db.statement('INSERT OR REPLACE INTO cache_key_links (key, content_key, preimage) VALUES (:key, :contentKey, :preimage)', z.never());
  }

  get(key: Digest): { readonly digest: Digest; readonly files?: readonly (readonly [string, string])[] } | undefined {
    const row = this.#get.get({ key });
    if (row === undefined) return undefined;
    try {
      const extra = LinkFiles.safeParse(JSON.parse(row.preimage));
      const files = extra.success ? extra.data.files : undefined;
      return { digest: parseDigest(row.content_key), ...(files !== undefined ? { files } : {}) };
    } catch {
      // A damaged row is no link: the files are read again.
      return undefined;
    }
  }

  put(key: Digest, digest: Digest, files?: readonly (readonly [string, string])[]): void {
    this.#put.run({ key, contentKey: digest, preimage: JSON.stringify(files !== undefined ? { files } : {}) });
  }
}

const ClampedRow = z.object({ layer: z.string() });

/** A layer record stored as JSON in a memo row; undefined when unreadable (the row is a hint). */
function parseStoredLayer(text: string): LayerRecord | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = LayerRecord.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Layers with their mtimes clamped to an epoch (snapshot/clamp.ts), by (diffID, epoch): a cached
 * rebuild finds the clamped layer without reading the layer again. A row is a hint: the caller checks
 * that the blob is still in the store.
 */
export class ClampedLayers {
  readonly #get: TypedStatement<{ diffId: string; epoch: number }, z.infer<typeof ClampedRow>>;
  readonly #put: TypedStatement<{ diffId: string; epoch: number; layer: string }, never>;

  constructor(db: Database, clock: () => number = Date.now) {
    db.migrate(CACHE_SCHEMA_OWNER, CACHE_MIGRATIONS, clock);
    this.#get = db.statement('SELECT layer FROM cache_clamped_layers WHERE diff_id = :diffId AND epoch = :epoch', ClampedRow);
    this.#put = db.statement('INSERT OR REPLACE INTO cache_clamped_layers (diff_id, epoch, layer) VALUES (:diffId, :epoch, :layer)', z.never());
  }

  get(diffId: Digest, epoch: number): LayerRecord | undefined {
    const row = this.#get.get({ diffId, epoch });
    return row === undefined ? undefined : parseStoredLayer(row.layer);
  }

  put(diffId: Digest, epoch: number, layer: LayerRecord): void {
    this.#put.run({ diffId, epoch, layer: JSON.stringify(layer) });
  }
}

const LazyRow = z.object({ layer: z.string() });

/**
 * The layers made from lazy step results, by snapshot: a layer is tarred once, and a later build,
 * export or cache export finds it here. It has the files' own times; an image's copy clamped to a
 * SOURCE_DATE_EPOCH is recorded by (diffID, epoch) in `ClampedLayers`. A row is a hint: the caller
 * checks that the blob is still in the store (else it makes the layer again from the snapshot: the
 * same bytes), so these blobs are no GC roots.
 */
export class LazyLayers {
  readonly #get: TypedStatement<{ snapshot: string }, z.infer<typeof LazyRow>>;
  readonly #put: TypedStatement<{ snapshot: string; layer: string }, never>;
  readonly #clear: TypedStatement<Record<string, never>, never>;

  constructor(db: Database, clock: () => number = Date.now) {
    db.migrate(CACHE_SCHEMA_OWNER, CACHE_MIGRATIONS, clock);
    this.#get = db.statement('SELECT layer FROM cache_lazy_layers WHERE snapshot = :snapshot', LazyRow);
    this.#put = db.statement('INSERT OR REPLACE INTO cache_lazy_layers (snapshot, layer) VALUES (:snapshot, :layer)', z.never());
    this.#clear = db.statement('DELETE FROM cache_lazy_layers', z.never());
  }

  get(snapshot: string): LayerRecord | undefined {
    const row = this.#get.get({ snapshot });
    return row === undefined ? undefined : parseStoredLayer(row.layer);
  }

  put(snapshot: string, layer: LayerRecord): void {
    this.#put.run({ snapshot, layer: JSON.stringify(layer) });
  }

  /** Forgets every row (`prune --all` removes every step result's snapshot). */
  clear(): void {
    this.#clear.run({});
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
