/**
 * Directory trees and change lists → deterministic layer tar entries, with BuildKit's conventions
 * (containerd's ChangeWriter): depth-first walk with each directory's names in byte order, numeric
 * ids and no user/group names, mtime truncated to seconds and clamped to SOURCE_DATE_EPOCH, no
 * atime/ctime, directories end in `/`, permission + setuid/setgid/sticky bits only, hardlinks after
 * the first name of an inode become link entries, sockets skipped, whiteouts as zero-mode, zero-time
 * `.wh.<name>` files.
 */
import { createReadStream, type BigIntStats } from 'node:fs';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { makeHeader, type TarEntryType, type TarHeader } from './tar/format.js';
import { writeTar, type TarWriteEntry } from './tar/writer.js';
import { CAPABILITY, isOverlayXattr, readXattr, readXattrs } from './xattr.js';

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
  /** Read small files ahead of writing them (default true); off when the caller copies data itself. */
  readonly readAhead?: boolean | undefined;
}

/** Byte-order comparison of names (JS string order differs for characters outside the BMP). */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export async function sortedNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort(compareNames);
}

function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/** How many entries are stat'ed or read ahead of the one being written. */
const LOOKAHEAD = 64;
/** Files up to this size are read whole, ahead of time; larger ones are streamed when written. */
const READ_AHEAD_MAX = 256 * 1024;

/** `lstat` of each name in `dir`, many at once (a layer of 30k small files is bound by syscall latency). */
export async function lstatNames(dir: string, names: readonly string[]): Promise<BigIntStats[]> {
  const stats: BigIntStats[] = [];
  for (let i = 0; i < names.length; i += LOOKAHEAD) {
    stats.push(...(await Promise.all(names.slice(i, i + LOOKAHEAD).map((name) => lstat(join(dir, name), { bigint: true })))));
  }
  return stats;
}

/** `fn` of each item, up to `width` running ahead, results in input order. */
async function* mapAhead<T, R>(source: AsyncIterable<T>, width: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  const queue: Promise<R>[] = [];
  const next = async (): Promise<R> => {
    const head = queue.shift();
    if (head === undefined) throw new Error('mapAhead: empty queue');
    return head;
  };
  for await (const item of source) {
    const result = fn(item);
    result.catch(() => undefined); // awaited in order below; never unhandled if the consumer stops first
    queue.push(result);
    if (queue.length >= width) yield await next();
  }
  while (queue.length > 0) yield await next();
}

export interface TreeEntry {
  readonly path: string;
  readonly source: string;
  readonly stat: BigIntStats;
}

/** Every entry below `root` (not root itself), depth-first, names in byte order. */
export async function* walkTree(root: string, prefix = '', signal?: AbortSignal): AsyncGenerator<TreeEntry> {
  const dir = join(root, prefix);
  const names = await sortedNames(dir);
  const stats = await lstatNames(dir, names);
  for (const [i, name] of names.entries()) {
    signal?.throwIfAborted();
    const path = joinPath(prefix, name);
    const source = join(root, path);
    const stat = stats[i] as BigIntStats;
    yield { path, source, stat };
    if (stat.isDirectory()) yield* walkTree(root, path, signal);
  }
}

/** The whole tree under `root` as a layer tar. */
export function packDirectory(root: string, options: PackOptions = {}): Readable {
  async function* items(): AsyncGenerator<LayerItem> {
    for await (const entry of walkTree(root, '', options.signal)) yield { kind: 'path', ...entry };
  }
  return writeTar(packItems(items(), options), options.signal);
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

/** What is read of a path item before its entry is written (ahead, in parallel with other items). */
interface Prepared {
  readonly stat: BigIntStats;
  readonly xattrs: Map<string, Buffer>;
  readonly linkname?: string | undefined;
  /** A small file's contents. */
  readonly contents?: Buffer | undefined;
}

async function prepare(item: Extract<LayerItem, { kind: 'path' }>, options: PackOptions): Promise<Prepared> {
  const stat = item.stat ?? (await lstat(item.source, { bigint: true }));
  const type = entryTypeOf(stat);
  let xattrs: Map<string, Buffer>;
  if (type === null) {
    xattrs = new Map();
  } else if (options.xattrs === 'all') {
    xattrs = await readXattrs(item.source);
    for (const name of [...xattrs.keys()]) if (isOverlayXattr(name)) xattrs.delete(name);
  } else {
    xattrs = new Map();
    const capability = type === 'file' ? await readXattr(item.source, CAPABILITY) : null;
    if (capability !== null && capability.length > 0) xattrs.set(CAPABILITY, capability);
  }
  const linkname = type === 'symlink' ? await readlink(item.source) : undefined;
  const small = options.readAhead !== false && type === 'file' && stat.nlink === 1n && stat.size > 0n && stat.size <= BigInt(READ_AHEAD_MAX);
  const contents = small ? await readFile(item.source) : undefined;
  return { stat, xattrs, linkname, contents };
}

/** Layer items → tar entries (stats, xattrs, hardlinks, clamped mtimes). */
export async function* packItems(items: AsyncIterable<LayerItem>, options: PackOptions = {}): AsyncGenerator<TarWriteEntry> {
  const inodes = new Map<string, string>();
  const prepared = mapAhead(items, LOOKAHEAD, async (item) => ({ item, ready: item.kind === 'path' ? await prepare(item, options) : undefined }));
  for await (const { item, ready } of prepared) {
    options.signal?.throwIfAborted();
    if (item.kind === 'whiteout') {
      const slash = item.path.lastIndexOf('/');
      yield { header: zeroHeader(`${item.path.slice(0, slash + 1)}${WHITEOUT_PREFIX}${item.path.slice(slash + 1)}`) };
      continue;
    }
    if (item.kind === 'opaque') {
      yield { header: zeroHeader(joinPath(item.path, OPAQUE_WHITEOUT)) };
      continue;
    }
    if (ready === undefined) continue;
    const { stat, xattrs } = ready;
    const type = entryTypeOf(stat);
    if (type === null) continue;
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
      if (first !== undefined) {
        yield { header: makeHeader({ ...base, type: 'link', linkname: first, devmajor: 0, devminor: 0 }) };
        continue;
      }
      inodes.set(key, item.path);
    }
    switch (type) {
      case 'file': {
        const source = item.source;
        const contents = ready.contents;
        yield {
          header: makeHeader({ ...base, type, size: Number(stat.size) }),
          body: contents !== undefined ? () => [contents] : () => createReadStream(source, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>,
        };
        break;
      }
      case 'symlink':
        yield { header: makeHeader({ ...base, type, linkname: ready.linkname ?? '' }) };
        break;
      case 'link': // entryTypeOf never gives 'link'
      case 'dir':
      case 'char':
      case 'block':
      case 'fifo':
        yield { header: makeHeader({ ...base, type }) };
        break;
    }
  }
}
