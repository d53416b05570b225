/**
 * Store upkeep: `du` (space by kind) and `prune` (drop build cache by age or to a size, then collect
 * blobs nothing needs any more). Unpacked snapshots and cache mounts are only removed by `--all`,
 * which keeps the unpacked layers of tagged images.
 */
import { lstat, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheRecords, LazyLayers, STATE_ROOT_LOCK, StoreLocks, isLazyLayer, type HeldLock } from '../cache/index.js';
import type { Content, GcResult } from '../content/index.js';
import type { Database } from '../db/index.js';
import { readStoredImage } from '../image/index.js';
import { sweepRuncState } from '../executor/index.js';
import { chainId, openSnapshotter, ownerOfName, removeUnmounted, type Snapshotter } from '../snapshot/index.js';
import { ownerAlive } from '../util/owner.js';
import { currentUserNamespace } from '../util/userns.js';
import { StagecraftError, isDigest, type Digest } from '../core/index.js';
import { debugBusy, openDebugStore } from './debug-store.js';

export interface DiskUsage {
  /** Blobs of tagged images. */
  readonly images: number;
  /** Blobs only the build cache needs. */
  readonly cache: number;
  /** Other blobs (unreferenced, waiting for GC). */
  readonly unreferenced: number;
  /** Unpacked layers and step results. */
  readonly snapshots: number;
  /** RUN --mount=type=cache directories. */
  readonly cacheMounts: number;
  /** Records and logs of failed steps kept for `stagecraft debug` (their filesystems count as snapshots). */
  readonly debug: number;
  readonly cacheRecords: number;
  readonly total: number;
  /**
   * What `prune --all` would free, by the same kinds (Docker's RECLAIMABLE): everything but the
   * images' blobs and their unpacked layers. Plain `prune` frees part of it (records unused for 48 h,
   * then the blobs nothing needs).
   */
  readonly reclaimable: Omit<DiskUsage, 'cacheRecords' | 'reclaimable'>;
}

export interface PruneOptions {
  /** Drop every cache record, unpacked snapshot and cache mount. */
  readonly all?: boolean | undefined;
  /** Drop cache records unused for longer than this (default 48 h, BuildKit's default keep duration). */
  readonly olderThanMs?: number | undefined;
  /** Then drop least-recently-used records until the store is at most this many bytes. */
  readonly keepStorage?: number | undefined;
  /** Failed builds kept for `stagecraft debug` (the config's); older kept states beyond it go. */
  readonly debugKeep?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface PruneResult {
  readonly recordsRemoved: number;
  /** Kept states of failed steps removed (older than the keep duration, beyond debugKeep, or all). */
  readonly debugStatesRemoved: number;
  readonly reclaimedBytes: number;
  readonly gc: GcResult;
}

export interface UpkeepDeps {
  readonly stateRoot: string;
  readonly content: Content;
  readonly db: Database;
  readonly clock: () => number;
}

const DEFAULT_KEEP_MS = 48 * 60 * 60 * 1000;

/**
 * runc's state of running builds: one directory per build, named by its owner, on a tmpfs (/run) for
 * root. Rootless (root of a user namespace), /run is not writable: `<stateRoot>/runc`.
 */
export function runcStateParent(stateRoot: string): string {
  return currentUserNamespace() === undefined ? '/run/stagecraft' : join(stateRoot, 'runc');
}

/**
 * Removes what killed builds left in the state root, and only that: their runc containers first
 * (they may still run on a snapshot's mount), then their mounts, mutable snapshots and temp dirs
 * (`Snapshotter.cleanup`), then their run dirs (views, downloads), each unmounted before removal.
 */
export async function sweepAbandoned(stateRoot: string, snapshotter: Snapshotter): Promise<void> {
  await sweepRuncState(runcStateParent(stateRoot));
  await snapshotter.cleanup();
  const runRoot = join(stateRoot, 'run');
  for (const name of await readdir(runRoot).catch(() => [] as string[])) {
    const owner = ownerOfName(name);
    if (owner !== undefined && !ownerAlive(owner)) await removeUnmounted(join(runRoot, name));
  }
}

async function treeSize(path: string): Promise<number> {
  let total = 0;
  const stack = [path];
  while (stack.length > 0) {
    const current = stack.pop() ?? path;
    let st;
    try {
      st = await lstat(current);
    } catch {
      continue;
    }
    total += st.isDirectory() ? 0 : st.blocks * 512;
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = await readdir(current);
      } catch {
        names = [];
      }
      for (const name of names) stack.push(join(current, name));
    }
  }
  return total;
}

async function blobSizes(content: Content): Promise<Map<Digest, number>> {
  const sizes = new Map<Digest, number>();
  const dir = join(content.blobs.root, 'blobs', 'sha256');
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const digest = `sha256:${name}`;
    if (!isDigest(digest)) continue;
    const info = await content.blobs.info(digest);
    if (info !== undefined) sizes.set(digest, info.size);
  }
  return sizes;
}

export async function diskUsage(deps: UpkeepDeps): Promise<DiskUsage> {
  const { content } = deps;
  const sizes = await blobSizes(content);
  const imageBlobs = new Set<Digest>();
  for (const ref of content.references.list()) {
    try {
      const stored = await readStoredImage(content, ref);
      imageBlobs.add(ref.digest);
      imageBlobs.add(stored.manifestDescriptor.digest);
      imageBlobs.add(stored.manifest.config.digest);
      for (const layer of stored.layers) imageBlobs.add(layer.digest);
    } catch {
      imageBlobs.add(ref.digest);
    }
  }
  const records = new CacheRecords(deps.db, deps.clock);
  const cacheBlobs = new Set(records.referencedBlobs().filter((d) => !imageBlobs.has(d)));
  let images = 0;
  let cache = 0;
  let unreferenced = 0;
  for (const [digest, size] of sizes) {
    if (imageBlobs.has(digest)) images += size;
    else if (cacheBlobs.has(digest)) cache += size;
    else unreferenced += size;
  }
  const snapshots = await treeSize(join(deps.stateRoot, 'snapshots'));
  const cacheMounts = await treeSize(join(deps.stateRoot, 'cache-mounts'));
  const debug = await treeSize(join(deps.stateRoot, 'debug'));
  // prune --all removes the committed snapshots but the tagged images' unpacked layers (as pruneHeld below).
  const keep = await imageChainIds(content);
  const committed = join(deps.stateRoot, 'snapshots', 'snapshots');
  let freedSnapshots = 0;
  for (const id of await readdir(committed).catch(() => [] as string[])) if (!keep.has(id)) freedSnapshots += await treeSize(join(committed, id));
  const freed = { images: 0, cache, unreferenced, snapshots: freedSnapshots, cacheMounts, debug };
  return {
    images, cache, unreferenced, snapshots, cacheMounts, debug, cacheRecords: records.all().length, total: images + cache + unreferenced + snapshots + cacheMounts + debug,
    reclaimable: { ...freed, total: freed.cache + freed.unreferenced + freed.snapshots + freed.cacheMounts + freed.debug },
  };
}

/** Chain IDs (hex) of every layer prefix of the tagged images: their unpacked snapshots' ids. */
async function imageChainIds(content: Content): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const ref of content.references.list()) {
    let diffIds: readonly Digest[];
    try {
      diffIds = (await readStoredImage(content, ref)).config.rootfs.diff_ids;
    } catch {
      continue;
    }
    let chain: Digest | null = null;
    for (const diffId of diffIds) {
      chain = chainId(chain, diffId);
      ids.add(chain.slice('sha256:'.length));
    }
  }
  return ids;
}

export async function prune(deps: UpkeepDeps, options: PruneOptions = {}): Promise<PruneResult> {
  let exclusive: HeldLock | undefined;
  if (options.all === true) {
    // `--all` removes snapshots, cache mounts and every cache record, which running builds use: it
    // runs only while no build holds the state root (builds wait for it meanwhile).
    const locks = new StoreLocks(deps.db, { clock: deps.clock });
    const held = locks.tryAcquire(STATE_ROOT_LOCK, 'exclusive');
    if (held === null) {
      const pids = locks.holders(STATE_ROOT_LOCK).map((h) => h.owner.split('-')[0] ?? h.owner);
      throw new StagecraftError('STORE_BUSY', `a build is using the state root ${deps.stateRoot} right now (pid ${[...new Set(pids)].join(', ')}); prune --all would break it`, {
        hint: 'wait for running builds to finish, then prune again; `stagecraft prune` without --all is safe while builds run',
      });
    }
    exclusive = held;
  }
  try {
    return await pruneHeld(deps, options);
  } finally {
    exclusive?.release();
  }
}

async function pruneHeld(deps: UpkeepDeps, options: PruneOptions): Promise<PruneResult> {
  const before = await diskUsage(deps);
  const records = new CacheRecords(deps.db, deps.clock);
  const now = deps.clock();
  let removed = 0;
  const rows = records.all();
  const keepMs = options.olderThanMs ?? DEFAULT_KEEP_MS;
  const kept = [];
  for (const row of rows) {
    if (options.all === true || now - row.usedAt > keepMs) {
      records.delete(row.key);
      removed++;
    } else {
      kept.push(row);
    }
  }
  if (options.keepStorage !== undefined) {
    // Least recently used first, until the blobs the remaining records need fit.
    let size = before.total;
    for (const row of kept) {
      if (size <= options.keepStorage) break;
      records.delete(row.key);
      removed++;
      // A lazy layer has no blob (its snapshot is only removed by --all).
      size -= row.result.layers.reduce((sum, l) => sum + (isLazyLayer(l) ? 0 : l.size), 0);
    }
  }
  const debugStatesRemoved = await pruneDebugStates(deps, options, now, keepMs);
  if (options.all === true) {
    const snapshots = join(deps.stateRoot, 'snapshots');
    // No build runs (the lock above): what is left in active/, mounts/ and tmp/ is a crashed
    // build's, and cleanup removes it.
    await sweepAbandoned(deps.stateRoot, await openSnapshotter(snapshots));
    // Like `docker builder prune --all`, which leaves images alone: the unpacked layers of tagged
    // images stay (a kept snapshot's parents are its own prefixes, so they stay too).
    const keep = await imageChainIds(deps.content);
    const committed = join(snapshots, 'snapshots');
    for (const id of await readdir(committed).catch(() => [] as string[])) {
      if (!keep.has(id)) await rm(join(committed, id), { recursive: true, force: true });
    }
    // The overlay snapshotter's short links to removed snapshots.
    const links = join(snapshots, 'links');
    for (const name of await readdir(links).catch(() => [] as string[])) {
      if (!(await stat(join(links, name)).then(() => true, () => false))) await rm(join(links, name), { force: true });
    }
    await rm(join(deps.stateRoot, 'cache-mounts'), { recursive: true, force: true });
    // Every step result's snapshot went with the records: no layer can be made from them any more.
    new LazyLayers(deps.db, deps.clock).clear();
  }
  const gc = await deps.content.gc({ ...(options.all === true ? { gracePeriodMs: 0 } : {}), ...(options.signal !== undefined ? { signal: options.signal } : {}) });
  const after = await diskUsage(deps);
  return { recordsRemoved: removed, debugStatesRemoved, reclaimedBytes: Math.max(0, before.total - after.total), gc };
}

/**
 * Kept states of failed steps: all with `--all` (no debug session runs then: it holds the state root
 * shared), else those older than the keep duration and those beyond `debugKeep`, skipping any a
 * debug session uses.
 */
async function pruneDebugStates(deps: UpkeepDeps, options: PruneOptions, now: number, keepMs: number): Promise<number> {
  const snapshotter = await openSnapshotter(join(deps.stateRoot, 'snapshots'));
  const store = openDebugStore(deps.stateRoot, snapshotter);
  await store.cleanup();
  const busy = debugBusy(new StoreLocks(deps.db, { clock: deps.clock }));
  let removed = 0;
  for (const record of await store.list()) {
    if (options.all !== true && (now - record.time <= keepMs || busy(record.buildId))) continue;
    if (await store.remove(record.buildId)) removed++;
  }
  if (options.all === true) {
    // Damaged states (no readable record) too.
    for (const id of await store.ids()) if (await store.remove(id)) removed++;
  } else if (options.debugKeep !== undefined) {
    removed += (await store.trim(options.debugKeep, busy)).length;
  }
  return removed;
}
