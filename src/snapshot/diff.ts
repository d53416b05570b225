/**
 * Change lists for layers, in archive order (depth first, names in byte order, a whiteout where the
 * deleted name sorts). A directory is emitted when its own metadata changed or, right before its
 * first changed child, because something below it changed — as BuildKit's overlay differ does.
 */
import type { BigIntStats } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError } from '../core/index.js';
import { WHITEOUT_PREFIX, compareNames, lstatNames, sortedNames, type LayerItem } from './pack.js';
import { CAPABILITY, OVERLAY_OPAQUE, readXattr } from './xattr.js';

async function lstatOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}

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

async function isOpaque(path: string, xattr: string): Promise<boolean> {
  const value = await readXattr(path, xattr);
  return value !== null && value.toString() === 'y';
}

/**
 * What the lower layers (top first, each an overlay layer directory) show at `path`, as overlayfs
 * would merge them: null when absent or whited out.
 */
export async function lowerStat(lowers: readonly string[], path: string, opaqueXattr = OVERLAY_OPAQUE): Promise<{ stat: BigIntStats; source: string } | null> {
  const parts = path.split('/');
  for (const layer of lowers) {
    let hidden = false;
    // An ancestor that is a whiteout or a non-directory hides the path here and below; an opaque
    // ancestor hides the layers below this one.
    for (let i = 1; i < parts.length; i++) {
      const ancestor = join(layer, ...parts.slice(0, i));
      const stat = await lstatOrNull(ancestor);
      if (stat === null) continue;
      if (!stat.isDirectory()) return null;
      if (await isOpaque(ancestor, opaqueXattr)) hidden = true;
    }
    const source = join(layer, path);
    const stat = await lstatOrNull(source);
    if (stat !== null) return isOverlayWhiteout(stat) ? null : { stat, source };
    if (hidden) return null;
  }
  return null;
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

/**
 * Whether two non-directory entries are the same, as containerd's continuity compares: metadata,
 * capabilities, size and mtime; contents (or link targets) only when both mtimes lack nanoseconds
 * (typical after extraction from a tar).
 */
async function sameEntry(a: BigIntStats, aPath: string, b: BigIntStats, bPath: string): Promise<boolean> {
  if (a.dev === b.dev && a.ino === b.ino) return true;
  if (!sameMetadata(a, b)) return false;
  const [ca, cb] = await Promise.all([readXattr(aPath, CAPABILITY), readXattr(bPath, CAPABILITY)]);
  if (!(ca ?? Buffer.alloc(0)).equals(cb ?? Buffer.alloc(0))) return false;
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

/**
 * The changes recorded in an overlayfs upper directory: its entries, 0/0 character devices as
 * whiteouts (only where a lower layer has the path), `trusted.overlay.opaque=y` directories as opaque
 * markers. Walks only the upper directory, plus lookups of single paths in the lowers.
 */
export async function* overlayChanges(upper: string, lowers: readonly string[], signal?: AbortSignal, opaqueXattr = OVERLAY_OPAQUE): AsyncGenerator<LayerItem> {
  async function* walk(prefix: string): AsyncGenerator<LayerItem> {
    const dir = join(upper, prefix);
    const names = await sortedNames(dir);
    const stats = await lstatNames(dir, names);
    for (const [i, name] of names.entries()) {
      signal?.throwIfAborted();
      const path = prefix === '' ? name : `${prefix}/${name}`;
      const source = join(upper, path);
      const stat = stats[i] as BigIntStats;
      if (isOverlayWhiteout(stat)) {
        if ((await lowerStat(lowers, path, opaqueXattr)) !== null) yield { kind: 'whiteout', path };
        continue;
      }
      refuseReservedName(name, path);
      if (!stat.isDirectory()) {
        yield { kind: 'path', path, source, stat };
        continue;
      }
      const lower = await lowerStat(lowers, path, opaqueXattr);
      const opaque = lower !== null && (await isOpaque(source, opaqueXattr));
      const unchanged = !opaque && lower !== null && lower.stat.isDirectory() && (await sameEntry(lower.stat, lower.source, stat, source));
      let emitted = false;
      if (!unchanged) {
        yield { kind: 'path', path, source, stat };
        if (opaque) yield { kind: 'opaque', path };
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

/**
 * The changes from the full tree `lower` (null: empty) to the full tree `upper`, by walking both
 * (the copy snapshotter's diff).
 */
export async function* treeChanges(lower: string | null, upper: string, signal?: AbortSignal): AsyncGenerator<LayerItem> {
  async function names(root: string | null, prefix: string): Promise<string[]> {
    if (root === null) return [];
    const stat = await lstatOrNull(join(root, prefix));
    return stat?.isDirectory() === true ? sortedNames(join(root, prefix)) : [];
  }
  async function* added(prefix: string): AsyncGenerator<LayerItem> {
    for (const name of await sortedNames(join(upper, prefix))) {
      const path = `${prefix}/${name}`;
      refuseReservedName(name, path);
      const source = join(upper, path);
      const stat = await lstat(source, { bigint: true });
      yield { kind: 'path', path, source, stat };
      if (stat.isDirectory()) yield* added(path);
    }
  }
  async function* walk(prefix: string): AsyncGenerator<LayerItem> {
    const lowerNames = await names(lower, prefix);
    const upperNames = await names(upper, prefix);
    let i = 0;
    let j = 0;
    while (i < lowerNames.length || j < upperNames.length) {
      signal?.throwIfAborted();
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
      const stat = await lstat(source, { bigint: true });
      const lowerPath = order === 0 && lower !== null ? join(lower, path) : null;
      const lowerEntry = lowerPath === null ? null : await lstatOrNull(lowerPath);
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
      if (!(await sameEntry(lowerEntry, lowerPath, stat, source))) {
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
