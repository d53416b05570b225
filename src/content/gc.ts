/**
 * Garbage collection by reachability. Roots: every reference (its manifest and source index), every
 * leased blob, and whatever the registered `GcRootProvider`s name (the build cache adds its results).
 * From the roots, indexes lead to manifests and manifests to their config, layers and subject.
 *
 * A blob is deleted only if it is unreachable, not leased, and older than the grace period (by its
 * last ingest or touch). Mark runs without locks; the sweep runs under the database write lock,
 * re-checks leases and ages, and starts over if references changed meanwhile. Since ingest and
 * touch also take that lock, a blob a writer has just seen as present cannot be deleted under it.
 */
import { ownerAlive } from '../util/owner.js';
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { isDigest, parseDigest, type Digest } from '../core/index.js';
import type { LeaseManager } from './leases.js';
import { referenceGeneration, type ReferenceStore } from './references.js';
import type { BlobInfo, ContentStore } from './store.js';
import { childrenOf, mayHaveChildren, sniffMediaType } from './walk.js';

/** A blob that must survive GC together with everything it references. */
export interface GcRoot {
  readonly digest: Digest;
  /** If it is a manifest or index, its media type (sniffed from the blob when absent). */
  readonly mediaType?: string | undefined;
}

/**
 * A source of GC roots owned by another module (e.g. the build cache's records). `roots` is called
 * once per collection, before the sweep. Content a provider starts to hold after that call must be
 * protected by a lease or be younger than the grace period (fresh ingests are).
 */
export interface GcRootProvider {
  readonly name: string;
  roots(signal: AbortSignal | undefined): Promise<Iterable<GcRoot>> | Iterable<GcRoot>;
}

export interface GcOptions {
  /** Blobs ingested or touched more recently than this are kept (default 1 h). */
  readonly gracePeriodMs?: number;
  /** Report what would be removed; remove nothing. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

export interface GcResult {
  readonly removed: readonly BlobInfo[];
  readonly reclaimedBytes: number;
  /** Unreachable blobs kept because they are young or leased. */
  readonly deferred: number;
  /** Blobs reachable from the roots. */
  readonly reachable: number;
  /** Abandoned temp files removed from ingest/. */
  readonly staleIngests: number;
}

export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;
/** An ingest temp file untouched for this long is abandoned even if its owner cannot be told. */
const STALE_INGEST_MS = 24 * 60 * 60 * 1000;
/** JSON larger than this is not walked when its media type is unknown. */
const SNIFF_LIMIT = 4 << 20;
const MAX_ATTEMPTS = 5;

export interface GcDeps {
  readonly store: ContentStore;
  readonly references: ReferenceStore;
  readonly leases: LeaseManager;
  readonly providers: readonly GcRootProvider[];
}

async function mark(deps: GcDeps, signal: AbortSignal | undefined): Promise<Set<string>> {
  const roots: GcRoot[] = [];
  for (const ref of deps.references.list()) {
    roots.push({ digest: ref.digest, mediaType: ref.mediaType });
    if (ref.indexDigest !== undefined) roots.push({ digest: ref.indexDigest, mediaType: undefined });
  }
  for (const digest of deps.leases.leasedDigests()) {
    if (isDigest(digest)) roots.push({ digest, mediaType: undefined });
  }
  for (const provider of deps.providers) {
    for (const root of await provider.roots(signal)) roots.push(root);
  }
  const reachable = new Set<string>();
  const queue = [...roots];
  while (queue.length > 0) {
    signal?.throwIfAborted();
    const next = queue.pop();
    if (next === undefined || reachable.has(next.digest)) continue;
    reachable.add(next.digest);
    const info = await deps.store.info(next.digest);
    // A missing child (e.g. another platform's manifest of a pulled index) is fine: nothing to keep.
    if (info === undefined) continue;
    if (next.mediaType !== undefined && !mayHaveChildren(next.mediaType)) continue;
    if (next.mediaType === undefined && info.size > SNIFF_LIMIT) continue;
    const bytes = await deps.store.read(next.digest);
    if (next.mediaType === undefined && !mayHaveChildren(sniffMediaType(bytes)) && !looksLikeManifest(bytes)) continue;
    for (const child of childrenOf(bytes)) queue.push(child);
  }
  return reachable;
}

const schemaVersionOnly = z.looseObject({ schemaVersion: z.literal(2) });
/** OCI manifests may omit `mediaType`; `schemaVersion: 2` marks them (configs have none). */
function looksLikeManifest(bytes: Uint8Array): boolean {
  if (bytes[0] !== 0x7b) return false;
  try {
    return schemaVersionOnly.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8'))).success;
  } catch {
    return false;
  }
}

const ageRowSchema = z.object({ created_at: z.number(), touched_at: z.number() });

/** Runs one collection. */
export async function collectGarbage(deps: GcDeps, options: GcOptions = {}): Promise<GcResult> {
  const { store, leases } = deps;
  const grace = options.gracePeriodMs ?? DEFAULT_GC_GRACE_MS;
  const signal = options.signal;
  if (options.dryRun !== true) store.db.writeTransaction(() => leases.expire());
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const generation = referenceGeneration(store);
    const reachable = await mark(deps, signal);
    const onDisk = (await readdir(store.blobsDir)).filter((name) => /^[a-f0-9]{64}$/.test(name)).map((hex) => parseDigest(`sha256:${hex}`));
    const candidates = onDisk.filter((digest) => !reachable.has(digest));
    const ageOf = store.db.statement<{ digest: string }, z.infer<typeof ageRowSchema>>(
      'SELECT created_at, touched_at FROM content_blobs WHERE digest = @digest',
      ageRowSchema,
    );
    const deleteRow = store.db.command<{ digest: string }>('DELETE FROM content_blobs WHERE digest = @digest');
    const outcome = store.db.writeTransaction(() => {
      if (referenceGeneration(store) !== generation) return undefined;
      const now = store.clock();
      const removed: BlobInfo[] = [];
      let deferred = 0;
      for (const digest of candidates) {
        const path = store.blobPath(digest);
        let size: number;
        let mtime: number;
        try {
          const s = statSync(path);
          size = s.size;
          mtime = s.mtimeMs;
        } catch {
          deleteRow({ digest });
          continue;
        }
        const row = ageOf.get({ digest });
        const lastUse = row === undefined ? mtime : Math.max(row.created_at, row.touched_at);
        if (now - lastUse < grace || leases.isLeased(digest)) {
          deferred++;
          continue;
        }
        if (options.dryRun !== true) {
          unlinkSync(path);
          deleteRow({ digest });
        }
        removed.push({ digest, size });
      }
      if (options.dryRun !== true) pruneOrphanRows(store, new Set(readdirSync(store.blobsDir)));
      return { removed, deferred };
    });
    if (outcome === undefined) {
      if (attempt >= MAX_ATTEMPTS) {
        // References keep changing; stop here rather than starve. The next run collects the rest.
        return { removed: [], reclaimedBytes: 0, deferred: candidates.length, reachable: reachable.size, staleIngests: 0 };
      }
      continue;
    }
    const staleIngests = options.dryRun === true ? 0 : await removeStaleIngests(store);
    return {
      removed: outcome.removed,
      reclaimedBytes: outcome.removed.reduce((sum, blob) => sum + blob.size, 0),
      deferred: outcome.deferred,
      reachable: reachable.size,
      staleIngests,
    };
  }
}

/** Rows for blobs whose files are gone (deleted by hand) are dropped so `du` stays honest. */
function pruneOrphanRows(store: ContentStore, files: Set<string>): void {
  const rows = store.db.statement<Record<string, never>, { digest: string }>('SELECT digest FROM content_blobs', z.object({ digest: z.string() })).all({});
  const remove = store.db.command<{ digest: string }>('DELETE FROM content_blobs WHERE digest = @digest');
  for (const row of rows) {
    if (!files.has(row.digest.slice('sha256:'.length))) remove({ digest: row.digest });
  }
}

async function removeStaleIngests(store: ContentStore): Promise<number> {
  let removed = 0;
  const now = store.clock();
  for (const name of await readdir(store.ingestDir).catch(() => [] as string[])) {
    const path = join(store.ingestDir, name);
    const s = await stat(path).catch(() => undefined);
    const owner = /^(\d+-\d+)-[a-f0-9]+\.partial$/.exec(name)?.[1];
    const dead = owner !== undefined && !ownerAlive(owner);
    if (s !== undefined && (dead || now - s.mtimeMs > STALE_INGEST_MS)) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}
