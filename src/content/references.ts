/**
 * References: a name (the full normalised image reference, e.g. `docker.io/library/busybox:latest`)
 * → the manifest it names. Kept in the `content_references` table and mirrored into the layout's
 * `index.json` (one descriptor per name, annotated `org.opencontainers.image.ref.name`), so
 * `skopeo inspect oci:<root>/content:<name>` finds it.
 *
 * Every change rewrites index.json from the table while holding the database write lock: two
 * processes tagging at once serialize, and the file left behind reflects the last committed state.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { StagecraftError, isDigest, parseDigest, type Digest } from '../core/index.js';
import type { SqlParams, TypedStatement } from '../db/index.js';
import type { ContentStore } from './store.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

/** What a name points to. */
export interface ReferenceTarget {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  /** `os/arch[/variant]` of the manifest, when it was chosen from an index. */
  readonly platform?: string | undefined;
  /** The index the manifest was chosen from (kept, so its digest can be shown and pushed). */
  readonly indexDigest?: Digest | undefined;
}

export interface ImageReference extends ReferenceTarget {
  readonly name: string;
  /** When the name was first set to this digest (ms since the epoch). */
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** An index a name records is small; a bigger blob is not read to decide what the name stands for. */
const MAX_INDEX_BYTES = 4 * 1024 * 1024;
const indexSchema = z.object({
  mediaType: z.enum(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']),
  manifests: z.array(z.object({ digest: z.string().refine(isDigest) })),
});

const rowSchema = z.object({
  name: z.string(),
  digest: z.string().refine(isDigest).transform(parseDigest),
  media_type: z.string(),
  size: z.number().int(),
  platform: z.string().nullable(),
  index_digest: z.string().refine(isDigest).transform(parseDigest).nullable(),
  created_at: z.number().int(),
  updated_at: z.number().int(),
});
type Row = z.infer<typeof rowSchema>;

function fromRow(row: Row): ImageReference {
  return {
    name: row.name,
    digest: row.digest,
    mediaType: row.media_type,
    size: row.size,
    ...(row.platform === null ? {} : { platform: row.platform }),
    ...(row.index_digest === null ? {} : { indexDigest: row.index_digest }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// The OCI image-layout grammar for ref.name (image-layout.md, "Index"): components of alphanumerics
// joined by separators, separated by "/".
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

export class ReferenceStore {
  readonly #store: ContentStore;

  constructor(store: ContentStore) {
    this.#store = store;
  }

  #select(where: string): TypedStatement<SqlParams, Row> {
    return this.#store.db.statement<SqlParams, Row>(
      `SELECT name, digest, media_type, size, platform, index_digest, created_at, updated_at FROM content_references ${where} ORDER BY name`,
      rowSchema,
    );
  }

  get(name: string): ImageReference | undefined {
    const row = this.#select('WHERE name = @name').get({ name });
    return row === undefined ? undefined : fromRow(row);
  }

  list(): ImageReference[] {
    return this.#select('').all({}).map((row) => fromRow(row));
  }

  /** Names pointing at `digest` (as manifest or as source index). */
  byDigest(digest: Digest): ImageReference[] {
    return this.#select('WHERE digest = @digest OR index_digest = @digest').all({ digest }).map((row) => fromRow(row));
  }

  /**
   * Points `name` at `target`. The manifest (and index, if given) must already be stored. Keeps
   * `createdAt` when the digest is unchanged.
   */
  set(name: string, target: ReferenceTarget): ImageReference {
    if (!REF_NAME_RE.test(name)) {
      throw new StagecraftError('INVALID_REFERENCE', `cannot store the reference ${JSON.stringify(name)}: not a valid OCI layout ref.name`, {
        hint: 'use a normalised image reference such as docker.io/library/busybox:latest',
      });
    }
    const now = this.#store.clock();
    return this.#mutate(() => {
      for (const digest of [target.digest, target.indexDigest]) {
        if (digest !== undefined && !this.#store.touch(digest)) {
          throw new StagecraftError('NOT_FOUND', `cannot tag ${name}: ${digest} is not in the content store`, { hint: 'pull or load the image first' });
        }
      }
      this.#store.db.command(
        `INSERT INTO content_references (name, digest, media_type, size, platform, index_digest, created_at, updated_at)
         VALUES (@name, @digest, @mediaType, @size, @platform, @indexDigest, @now, @now)
         ON CONFLICT (name) DO UPDATE SET
           created_at = CASE WHEN digest = excluded.digest THEN created_at ELSE excluded.created_at END,
           digest = excluded.digest, media_type = excluded.media_type, size = excluded.size,
           platform = excluded.platform, index_digest = excluded.index_digest, updated_at = excluded.updated_at`,
      )({
        name,
        digest: target.digest,
        mediaType: target.mediaType,
        size: target.size,
        platform: target.platform ?? null,
        indexDigest: target.indexDigest ?? null,
        now,
      });
      const stored = this.get(name);
      if (stored === undefined) throw new Error(`reference ${name} vanished inside its own transaction`);
      return stored;
    });
  }

  /** Removes `name`; returns whether it existed. The content stays until GC. */
  delete(name: string): boolean {
    return this.#mutate(() => this.#store.db.command<{ name: string }>('DELETE FROM content_references WHERE name = @name')({ name }).changes > 0);
  }

  /** Rewrites index.json from the table (also repairs a hand-edited or missing file). */
  writeIndex(): void {
    this.#mutate(() => undefined);
  }

  #mutate<T>(change: () => T): T {
    return this.#store.db.writeTransaction(() => {
      const result = change();
      this.#store.db.command('UPDATE content_meta SET value = value + 1 WHERE key = \'generation\'')({});
      this.#writeIndexLocked();
      return result;
    });
  }

  /**
   * The index a name records (`indexDigest`) when every manifest it lists is in the store: a build's
   * image with its attestations (the name stands for the whole index: index.json, push and `-o
   * type=oci` use it). A pulled multi-platform index lacks the other platforms' manifests and gives
   * undefined: the name stands for the one manifest pulled.
   */
  completeIndex(target: ReferenceTarget): { readonly mediaType: string; readonly digest: Digest; readonly size: number } | undefined {
    if (target.indexDigest === undefined) return undefined;
    const row = this.#store.blobRow(target.indexDigest);
    if (row === undefined || row.size > MAX_INDEX_BYTES) return undefined;
    let parsed;
    try {
      parsed = indexSchema.safeParse(JSON.parse(readFileSync(this.#store.blobPath(target.indexDigest), 'utf8')));
    } catch {
      return undefined;
    }
    if (!parsed.success || !parsed.data.manifests.some((m) => m.digest === target.digest)) return undefined;
    if (!parsed.data.manifests.every((m) => this.#store.blobRow(parseDigest(m.digest)) !== undefined)) return undefined;
    return { mediaType: parsed.data.mediaType, digest: target.indexDigest, size: row.size };
  }

  #writeIndexLocked(): void {
    const manifests = this.list().map((ref) => {
      const index = this.completeIndex(ref);
      return {
        mediaType: index?.mediaType ?? ref.mediaType,
        digest: index?.digest ?? ref.digest,
        size: index?.size ?? ref.size,
        ...(ref.platform === undefined || index !== undefined ? {} : { platform: platformObject(ref.platform) }),
        annotations: { [CONTAINERD_NAME_ANNOTATION]: ref.name, [REF_NAME_ANNOTATION]: ref.name },
      };
    });
    const text = `${JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }, null, 2)}\n`;
    writeFileAtomicSync(join(this.#store.root, 'index.json'), text);
  }
}

function platformObject(platform: string): { os: string; architecture: string; variant?: string } {
  const [os = '', architecture = '', variant] = platform.split('/');
  return { os, architecture, ...(variant === undefined || variant === '' ? {} : { variant }) };
}

/** Synchronous temp-file + fsync + rename; used while holding the database lock (one small file). */
function writeFileAtomicSync(path: string, text: string): void {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx', 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** The change counter GC uses to detect references changing under it. */
export function referenceGeneration(store: ContentStore): number {
  const row = store.db.statement<Record<string, never>, { value: number }>(
    'SELECT value FROM content_meta WHERE key = \'generation\'',
    z.object({ value: z.number().int() }),
  ).get({});
  return row?.value ?? 0;
}
