/**
 * Directory trees and change lists → deterministic layer tar entries, with BuildKit's conventions
 * (containerd's ChangeWriter): depth-first walk with each directory's names in byte order, numeric
 * ids and no user/group names, mtime truncated to seconds and clamped to SOURCE_DATE_EPOCH, no
 * atime/ctime, directories end in `/`, permission + setuid/setgid/sticky bits only, hardlinks after
 * the first name of an inode become link entries, sockets skipped, whiteouts as zero-mode, zero-time
 * `.wh.<name>` files.
 */
import { createReadStream, lstatSync, readlinkSync, type BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { WorkSlice, compareNames, readWholeFile, sliced, sortedNamesSync } from './sync-fs.js';
import { makeHeader, type TarEntryType, type TarHeader } from './tar/format.js';
import { writeTar, type TarWriteEntry } from './tar/writer.js';
import { CAPABILITY, isOverlayXattr, readXattrSync, readXattrsSync } from './xattr.js';

export { compareNames };

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** One change of a layer, in archive order. Paths are relative, `/`-separated, without `./`. */
export type LayerItem =
  /** The file, directory, link or device at `source` on disk, stored as `path`. */
  | { readonly kind: 'path'; readonly path: string; readonly source: string; readonly stat?: BigIntStats }
  /** `path` was deleted: a `.wh.<name>` entry. */
  | { readonly kind: 'whiteout'; readonly path: string }
  /** The directory `path` hides everything below it in lower layers: `path/.wh..wh..opq`. */
  | { readonly kind: 'opaque'; readonly path: string };

export interface PackOptions {
  /** Clamp every mtime to this (seconds since the epoch): SOURCE_DATE_EPOCH. */
  readonly sourceDateEpoch?: number | undefined;
  /**
   * Which xattrs go into the layer: `capability` (BuildKit's choice: only security.capability) or
   * `all` (everything but overlayfs' own trusted.overlay.*).
   */
  readonly xattrs?: 'capability' | 'all' | undefined;
  readonly signal?: AbortSignal | undefined;
}

function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/** How many entries `lstatNames` stats at once. */
const LOOKAHEAD = 64;
/** Files up to this size are read whole (synchronously) when written; larger ones are streamed. */
const WHOLE_FILE_MAX = 256 * 1024;

/** `lstat` of each name in `dir`, many at once (a layer of 30k small files is bound by syscall latency). */
export async function lstatNames(dir: string, names: readonly string[]): Promise<BigIntStats[]> {
  const stats: BigIntStats[] = [];
  for (let i = 0; i < names.length; i += LOOKAHEAD) {
    stats.push(...(await Promise.all(names.slice(i, i + LOOKAHEAD).map((name) => lstat(join(dir, name), { bigint: true })))));
  }
  return stats;
}

export interface TreeEntry {
  readonly path: string;
  readonly source: string;
  readonly stat: BigIntStats;
}

/**
 * Every entry below `root` (not root itself), depth-first, names in byte order, its fs calls made
 * synchronously as the caller iterates (see sync-fs.ts). Never follows a symlink: entries are
 * lstat'ed and only real directories are descended into.
 */
export function* walkTreeSync(root: string, prefix = ''): Generator<TreeEntry> {
  for (const name of sortedNamesSync(join(root, prefix))) {
    const path = joinPath(prefix, name);
    const source = join(root, path);
    const stat = lstatSync(source, { bigint: true });
    yield { path, source, stat };
    if (stat.isDirectory()) yield* walkTreeSync(root, path);
  }
}

/** `walkTreeSync`, giving the event loop a turn between time slices. */
export function walkTree(root: string, prefix = '', signal?: AbortSignal): AsyncGenerator<TreeEntry> {
  return sliced(walkTreeSync(root, prefix), signal);
}

/** The whole tree under `root` as a layer tar. */
export function packDirectory(root: string, options: PackOptions = {}): Readable {
  function* items(): Generator<LayerItem> {
    for (const entry of walkTreeSync(root)) yield { kind: 'path', ...entry };
  }
  return writeTar(packItemsSync(items(), options), options.signal);
}

export function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  // glibc's gnu_dev_major / gnu_dev_minor.
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** The layer entry type of a stat (null for a socket, which is not layer content). */
export function entryTypeOf(stat: BigIntStats): TarEntryType | null {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'dir';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isCharacterDevice()) return 'char';
  if (stat.isBlockDevice()) return 'block';
  if (stat.isFIFO()) return 'fifo';
  return null; // sockets are not layer content
}

const zeroHeader = (name: string): TarHeader => makeHeader({ name, type: 'file', mode: 0 });

/** The xattrs of a path item that go into its entry. */
function entryXattrs(source: string, type: TarEntryType, mode: PackOptions['xattrs']): Map<string, Buffer> {
  if (mode === 'all') {
    const xattrs = readXattrsSync(source);
    for (const name of [...xattrs.keys()]) if (isOverlayXattr(name)) xattrs.delete(name);
    return xattrs;
  }
  const xattrs = new Map<string, Buffer>();
  // File capabilities exist only on regular files (the kernel refuses them elsewhere).
  const capability = type === 'file' ? readXattrSync(source, CAPABILITY) : null;
  if (capability !== null && capability.length > 0) xattrs.set(CAPABILITY, capability);
  return xattrs;
}

/**
 * The tar entry of a path item (null for a socket), with its fs calls made synchronously; a small
 * file's body is read whole when the writer asks for it. `inodes` maps each multiply-linked inode
 * already written to its first name.
 */
function pathEntry(item: Extract<LayerItem, { kind: 'path' }>, options: PackOptions, inodes: Map<string, string>): TarWriteEntry | null {
  const stat = item.stat ?? lstatSync(item.source, { bigint: true });
  const type = entryTypeOf(stat);
  if (type === null) return null;
  const xattrs = entryXattrs(item.source, type, options.xattrs);
  let mtime = Number(stat.mtimeNs / 1_000_000_000n);
  if (options.sourceDateEpoch !== undefined && mtime > options.sourceDateEpoch) mtime = options.sourceDateEpoch;
  const { major, minor } = type === 'char' || type === 'block' ? deviceNumbers(stat.rdev) : { major: 0, minor: 0 };
  const base = {
    name: item.path,
    mode: Number(stat.mode & 0o7777n),
    uid: Number(stat.uid),
    gid: Number(stat.gid),
    mtime,
    devmajor: major,
    devminor: minor,
    xattrs,
  };
  if (type !== 'dir' && stat.nlink > 1n) {
    const key = `${stat.dev}:${stat.ino}`;
    const first = inodes.get(key);
    if (first !== undefined) return { header: makeHeader({ ...base, type: 'link', linkname: first, devmajor: 0, devminor: 0 }) };
    inodes.set(key, item.path);
  }
  switch (type) {
    case 'file': {
      const source = item.source;
      const size = Number(stat.size);
      return {
        header: makeHeader({ ...base, type, size }),
        body: size <= WHOLE_FILE_MAX ? () => [readWholeFile(source, size)] : () => createReadStream(source, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>,
      };
    }
    case 'symlink':
      return { header: makeHeader({ ...base, type, linkname: readlinkSync(item.source) }) };
    case 'link': // entryTypeOf never gives 'link'
    case 'dir':
    case 'char':
    case 'block':
    case 'fifo':
      return { header: makeHeader({ ...base, type }) };
  }
}

/** The tar entry of one layer item (null for a socket). */
function itemEntry(item: LayerItem, options: PackOptions, inodes: Map<string, string>): TarWriteEntry | null {
  switch (item.kind) {
    case 'whiteout': {
      const slash = item.path.lastIndexOf('/');
      return { header: zeroHeader(`${item.path.slice(0, slash + 1)}${WHITEOUT_PREFIX}${item.path.slice(slash + 1)}`) };
    }
    case 'opaque':
      return { header: zeroHeader(joinPath(item.path, OPAQUE_WHITEOUT)) };
    case 'path':
      return pathEntry(item, options, inodes);
  }
}

/**
 * Layer items → tar entries (stats, xattrs, hardlinks, clamped mtimes), each made synchronously as
 * the consumer iterates (`writeTar` gives the event loop turns between time slices).
 */
export function* packItemsSync(items: Iterable<LayerItem>, options: PackOptions = {}): Generator<TarWriteEntry> {
  const inodes = new Map<string, string>();
  for (const item of items) {
    options.signal?.throwIfAborted();
    const entry = itemEntry(item, options, inodes);
    if (entry !== null) yield entry;
  }
}

/** `packItemsSync` of items that come asynchronously. */
export async function* packItems(items: AsyncIterable<LayerItem>, options: PackOptions = {}): AsyncGenerator<TarWriteEntry> {
  const inodes = new Map<string, string>();
  const slice = new WorkSlice();
  for await (const item of items) {
    options.signal?.throwIfAborted();
    if (slice.due()) await slice.pause();
    const entry = itemEntry(item, options, inodes);
    if (entry !== null) yield entry;
  }
}

/**
 * A change list → tar entries: synchronously made entries for a synchronous list (`overlayChangesSync`),
 * else `packItems`. Either goes to `writeTar`.
 */
export function packChanges(items: Iterable<LayerItem> | AsyncIterable<LayerItem>, options: PackOptions = {}): Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry> {
  return Symbol.asyncIterator in items ? packItems(items, options) : packItemsSync(items, options);
}
