/**
 * Change lists for layers, in archive order (depth first, names in byte order, a whiteout where the
 * deleted name sorts). A directory is emitted when its own metadata changed or, right before its
 * first changed child, because something below it changed — as BuildKit's overlay differ does.
 */
import { lstatSync, type BigIntStats } from 'node:fs';
import { open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError } from '../core/index.js';
import { WHITEOUT_PREFIX, compareNames, type LayerItem } from './pack.js';
import { WorkSlice, lstatOrNullSync, sliced, sortedNamesSync } from './sync-fs.js';
import { CAPABILITY, OVERLAY_OPAQUE, readXattrSync } from './xattr.js';

/**
 * A changed entry whose name starts with `.wh.` cannot be stored in a layer: the name is a whiteout
 * there (OCI image spec, layer.md "Whiteouts"), so whoever pulls the image would lose the file it
 * names (`.wh..wh..opq`: the whole directory) instead of getting the file. containerd's and BuildKit's
 * differs pass such names through; a layer made here refuses them, naming the path.
 */
function refuseReservedName(name: string, path: string): void {
  if (!name.startsWith(WHITEOUT_PREFIX)) return;
  throw new StagecraftError('FILE_OPERATION', `the step created /${path}: names starting with "${WHITEOUT_PREFIX}" are reserved for layer whiteouts and cannot be stored in an image layer`, {
    hint: `rename or remove /${path} in the step that creates it (stored, it would delete files for whoever pulls the image)`,
  });
}

export function isOverlayWhiteout(stat: BigIntStats): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0n;
}

function isOpaque(path: string, xattr: string): boolean {
  const value = readXattrSync(path, xattr);
  return value !== null && value.toString() === 'y';
}

/**
 * What one lower layer holds at a directory of the upper walk: enough to look up its children as
 * overlayfs merges the lowers (top first), without stat'ing the directory's ancestors again.
 * - `dir`: the directory is there (its ancestors too, as directories); `hidden` when it or an
 *   ancestor is opaque in this layer, so a child missing here is missing (layers below are hidden);
 * - `absent`: it is not there, so neither is anything below it; `hidden` as above, for the part of
 *   its path that is there;
 * - `blocked`: it or an ancestor is a non-directory here (a file, a symlink, a whiteout), which ends
 *   every lookup that reaches this layer: nothing below it shows.
 */
type LowerDir = { readonly kind: 'dir' | 'absent'; readonly hidden: boolean } | { readonly kind: 'blocked' };

/**
 * The lower layers at a directory, top first, down to the first one that ends every lookup below it
 * (blocked or hidden); null when the directory is in no lower layer, so nothing below it is either
 * and its subtree needs no lookups.
 */
type LowerDirs = readonly LowerDir[] | null;

const BLOCKED: LowerDir = { kind: 'blocked' };

/** The lowers at the root of the walk: every layer's root directory, none of them opaque. */
function rootLowerDirs(lowers: readonly string[]): LowerDirs {
  return lowers.length === 0 ? null : lowers.map(() => ({ kind: 'dir', hidden: false }));
}

/** `path` (a child of the directory `parent` describes) lstat'ed in each layer where that directory is. */
function statLowers(lowers: readonly string[], parent: LowerDirs, path: string): (BigIntStats | null)[] {
  return parent === null ? [] : parent.map((dir, i) => (dir.kind === 'dir' ? lstatOrNullSync(join(lowers[i] as string, path)) : null));
}

/**
 * What the lower layers show at `path` as overlayfs would merge them, from its parent's `LowerDirs`
 * and `statLowers`: null when absent, whited out or hidden by an opaque or non-directory ancestor.
 */
function mergedLower(lowers: readonly string[], parent: LowerDirs, stats: readonly (BigIntStats | null)[], path: string): { stat: BigIntStats; source: string } | null {
  if (parent === null) return null;
  for (const [i, dir] of parent.entries()) {
    if (dir.kind === 'blocked') return null;
    const stat = stats[i] ?? null;
    if (stat !== null) return isOverlayWhiteout(stat) ? null : { stat, source: join(lowers[i] as string, path) };
    if (dir.hidden) return null;
  }
  return null;
}

/** The `LowerDirs` of the directory `path`, from its parent's and `statLowers`. */
function childLowerDirs(lowers: readonly string[], parent: LowerDirs, stats: readonly (BigIntStats | null)[], path: string, opaqueXattr: string): LowerDirs {
  if (parent === null) return null;
  const dirs: LowerDir[] = [];
  let present = false;
  for (const [i, dir] of parent.entries()) {
    let child: LowerDir;
    if (dir.kind !== 'dir') {
      child = dir;
    } else {
      const stat = stats[i] ?? null;
      if (stat === null) child = { kind: 'absent', hidden: dir.hidden };
      else if (!stat.isDirectory()) child = BLOCKED;
      else child = { kind: 'dir', hidden: dir.hidden || isOpaque(join(lowers[i] as string, path), opaqueXattr) };
    }
    dirs.push(child);
    if (child.kind === 'dir') present = true;
    // A lookup below never passes this layer: the layers under it need no more stats.
    if (child.kind === 'blocked' || child.hidden) break;
  }
  return present ? dirs : null;
}

function sameMetadata(a: BigIntStats, b: BigIntStats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.rdev === b.rdev;
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([open(a), open(b)]);
  try {
    const ba = Buffer.alloc(64 * 1024);
    const bb = Buffer.alloc(64 * 1024);
    for (;;) {
      const [ra, rb] = await Promise.all([fa.read(ba, 0, ba.length, null), fb.read(bb, 0, bb.length, null)]);
      if (ra.bytesRead !== rb.bytesRead || !ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
      if (ra.bytesRead === 0) return true;
    }
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

/** Same metadata and capabilities (as containerd's continuity compares), what decides for directories. */
function sameAttributes(a: BigIntStats, aPath: string, b: BigIntStats, bPath: string): boolean {
  if (!sameMetadata(a, b)) return false;
  const ca = readXattrSync(aPath, CAPABILITY) ?? Buffer.alloc(0);
  const cb = readXattrSync(bPath, CAPABILITY) ?? Buffer.alloc(0);
  return ca.equals(cb);
}

/**
 * Whether two entries are the same, as containerd's continuity compares: metadata, capabilities,
 * size and mtime; contents (or link targets) only when both mtimes lack nanoseconds (typical after
 * extraction from a tar).
 */
async function sameEntry(a: BigIntStats, aPath: string, b: BigIntStats, bPath: string): Promise<boolean> {
  if (a.dev === b.dev && a.ino === b.ino) return true;
  if (!sameAttributes(a, aPath, b, bPath)) return false;
  if (a.isDirectory()) return true;
  if (a.size !== b.size || a.mtimeNs / 1_000_000_000n !== b.mtimeNs / 1_000_000_000n) return false;
  const nsA = a.mtimeNs % 1_000_000_000n;
  const nsB = b.mtimeNs % 1_000_000_000n;
  if (nsA !== 0n || nsB !== 0n) return nsA === nsB;
  if (a.isSymbolicLink()) {
    return (await readlink(aPath)) === (await readlink(bPath));
  }
  if (!a.isFile() || a.size === 0n) return true;
  return sameContent(aPath, bPath);
}

/** `sameEntry` of two directories (no content to compare). */
function sameDirectory(a: BigIntStats, aPath: string, b: BigIntStats, bPath: string): boolean {
  return (a.dev === b.dev && a.ino === b.ino) || sameAttributes(a, aPath, b, bPath);
}

/**
 * The changes recorded in an overlayfs upper directory: its entries, 0/0 character devices as
 * whiteouts (only where a lower layer has the path), `trusted.overlay.opaque=y` directories as opaque
 * markers. Walks only the upper directory; a directory's lookups in the lowers reuse its parent's
 * (`LowerDirs`), and below a directory that no lower has there are none. The fs calls are made
 * synchronously as the caller iterates (sync-fs.ts): the caller gives the event loop its turns.
 */
export function* overlayChangesSync(upper: string, lowers: readonly string[], opaqueXattr = OVERLAY_OPAQUE): Generator<LayerItem> {
  function* walk(prefix: string, here: LowerDirs): Generator<LayerItem> {
    for (const name of sortedNamesSync(join(upper, prefix))) {
      const path = prefix === '' ? name : `${prefix}/${name}`;
      const source = join(upper, path);
      const stat = lstatSync(source, { bigint: true });
      if (isOverlayWhiteout(stat)) {
        if (mergedLower(lowers, here, statLowers(lowers, here, path), path) !== null) yield { kind: 'whiteout', path };
        continue;
      }
      refuseReservedName(name, path);
      if (!stat.isDirectory()) {
        yield { kind: 'path', path, source, stat };
        continue;
      }
      const stats = statLowers(lowers, here, path);
      const lower = mergedLower(lowers, here, stats, path);
      const opaque = lower !== null && isOpaque(source, opaqueXattr);
      const unchanged = !opaque && lower !== null && lower.stat.isDirectory() && sameDirectory(lower.stat, lower.source, stat, source);
      let emitted = false;
      if (!unchanged) {
        yield { kind: 'path', path, source, stat };
        if (opaque) yield { kind: 'opaque', path };
        emitted = true;
      }
      for (const item of walk(path, childLowerDirs(lowers, here, stats, path, opaqueXattr))) {
        if (!emitted) {
          yield { kind: 'path', path, source, stat };
          emitted = true;
        }
        yield item;
      }
    }
  }
  yield* walk('', rootLowerDirs(lowers));
}

/** `overlayChangesSync`, giving the event loop a turn between time slices. */
export function overlayChanges(upper: string, lowers: readonly string[], signal?: AbortSignal, opaqueXattr = OVERLAY_OPAQUE): AsyncGenerator<LayerItem> {
  return sliced(overlayChangesSync(upper, lowers, opaqueXattr), signal);
}

/**
 * The changes from the full tree `lower` (null: empty) to the full tree `upper`, by walking both
 * (the copy snapshotter's diff).
 */
export async function* treeChanges(lower: string | null, upper: string, signal?: AbortSignal): AsyncGenerator<LayerItem> {
  const slice = new WorkSlice();
  function names(root: string | null, prefix: string): string[] {
    if (root === null) return [];
    const stat = lstatOrNullSync(join(root, prefix));
    return stat?.isDirectory() === true ? sortedNamesSync(join(root, prefix)) : [];
  }
  async function* added(prefix: string): AsyncGenerator<LayerItem> {
    for (const name of sortedNamesSync(join(upper, prefix))) {
      signal?.throwIfAborted();
      if (slice.due()) await slice.pause();
      const path = `${prefix}/${name}`;
      refuseReservedName(name, path);
      const source = join(upper, path);
      const stat = lstatSync(source, { bigint: true });
      yield { kind: 'path', path, source, stat };
      if (stat.isDirectory()) yield* added(path);
    }
  }
  async function* walk(prefix: string): AsyncGenerator<LayerItem> {
    const lowerNames = names(lower, prefix);
    const upperNames = names(upper, prefix);
    let i = 0;
    let j = 0;
    while (i < lowerNames.length || j < upperNames.length) {
      signal?.throwIfAborted();
      if (slice.due()) await slice.pause();
      const l = lowerNames[i];
      const u = upperNames[j];
      const order = l === undefined ? 1 : u === undefined ? -1 : compareNames(l, u);
      if (order < 0) {
        i++;
        yield { kind: 'whiteout', path: prefix === '' ? (l as string) : `${prefix}/${l as string}` };
        continue;
      }
      j++;
      if (order === 0) i++;
      const path = prefix === '' ? (u as string) : `${prefix}/${u as string}`;
      refuseReservedName(u as string, path);
      const source = join(upper, path);
      const stat = lstatSync(source, { bigint: true });
      const lowerPath = order === 0 && lower !== null ? join(lower, path) : null;
      const lowerEntry = lowerPath === null ? null : lstatOrNullSync(lowerPath);
      if (lowerEntry === null || lowerPath === null || lowerEntry.isDirectory() !== stat.isDirectory()) {
        yield { kind: 'path', path, source, stat };
        if (stat.isDirectory()) yield* added(path);
        continue;
      }
      if (!stat.isDirectory()) {
        if (!(await sameEntry(lowerEntry, lowerPath, stat, source))) yield { kind: 'path', path, source, stat };
        continue;
      }
      let emitted = false;
      if (!sameDirectory(lowerEntry, lowerPath, stat, source)) {
        yield { kind: 'path', path, source, stat };
        emitted = true;
      }
      for await (const item of walk(path)) {
        if (!emitted) {
          yield { kind: 'path', path, source, stat };
          emitted = true;
        }
        yield item;
      }
    }
  }
  yield* walk('');
}
