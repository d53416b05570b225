/**
 * Safe layer extraction. Every path is resolved inside `root` as if `root` were `/` (a chroot-like
 * walk: `..` stops at the root, symlinks met on the way are followed only inside the root, the final
 * component is never followed), so no entry — `../` names, absolute names, symlinks or hardlinks
 * pointing out — can touch anything outside. Whiteouts delete (or become overlay whiteouts), opaque
 * markers clear a directory of what lower layers had.
 */
import { constants, type BigIntStats } from 'node:fs';
import { chmod, copyFile, link, lchown, lstat, lutimes, mkdir, open, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StagecraftError, isStagecraftError, type Digest } from '../core/index.js';
import { runProcess } from '../util/process.js';
import { ResolvedDirs, errnoCode, walkInRoot } from '../util/root-path.js';
import { ByteLimit, DigestStream, formatSize } from '../util/streams.js';
import { decompressLayer, type DetectedCompression } from './compress.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, packItems, walkTree } from './pack.js';
import { readTar } from './tar/reader.js';
import type { TarHeader } from './tar/format.js';
import { currentUserNamespace, describeIdMap } from '../util/userns.js';
import { OVERLAY_OPAQUE, isOverlayXattr, writeXattr } from './xattr.js';


export interface ApplyOptions {
  /**
   * `delete`: the target is a full tree; whiteouts remove what they name. `overlay`: the target is one
   * overlayfs layer directory; whiteouts become 0/0 character devices and opaque markers the
   * `trusted.overlay.opaque=y` xattr (needs root; `opaqueXattr` names another, e.g. user.overlay.opaque).
   */
  readonly whiteouts?: 'delete' | 'overlay' | undefined;
  /** The xattr marking an opaque directory with `whiteouts: 'overlay'`; default trusted.overlay.opaque. */
  readonly opaqueXattr?: string | undefined;
  /** Create character and block devices (needs root); otherwise they are skipped and counted. */
  readonly devices?: boolean | undefined;
  /** Apply the archive's numeric uid/gid (needs root). Default: when running as root. */
  readonly chown?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
  /** The layer as messages name it (its digest). Default: "layer". */
  readonly name?: string | undefined;
  /** Refuse a layer whose uncompressed tar is larger (a decompression bomb). Default `DEFAULT_MAX_LAYER_BYTES`. */
  readonly maxUncompressedBytes?: number | undefined;
  /** Refuse a layer with more entries (each costs memory while extracting). Default `DEFAULT_MAX_LAYER_ENTRIES`. */
  readonly maxEntries?: number | undefined;
}

/**
 * 64 GiB of tar: far beyond real layers (the largest common ones, CUDA and ML stacks, are a few GiB),
 * small enough that a gzip/zstd bomb of a few MiB cannot fill a build host's disk unnoticed.
 */
export const DEFAULT_MAX_LAYER_BYTES = 64 * 1024 ** 3;
/** 5 million entries (a full distribution with toolchains has a few hundred thousand). */
export const DEFAULT_MAX_LAYER_ENTRIES = 5_000_000;

/** Linux limits: a path of at most PATH_MAX (4096, with its NUL) bytes, a name of at most NAME_MAX (255). */
const PATH_MAX = 4096;
const NAME_MAX = 255;

export interface ApplyResult {
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
  readonly compression: DetectedCompression;
  readonly entries: number;
  /** Device nodes not created because `devices` was off. */
  readonly skippedDevices: number;
}

/** errno codes that a crafted entry can cause on a healthy filesystem: the layer is at fault. */
const ENTRY_ERRNOS = new Set(['ENAMETOOLONG', 'ELOOP', 'EINVAL', 'ENOTDIR', 'EEXIST', 'EISDIR', 'EMLINK', 'ENOENT', 'E2BIG', 'ERANGE', 'EOVERFLOW']);

/** A failure while extracting one entry, typed: the layer's fault (LAYER_INVALID) or the host's (SNAPSHOT). */
function entryError(name: string, error: unknown): StagecraftError {
  if (isStagecraftError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const os = /\(os error (\d+)\)/u.exec(message)?.[1]; // @napi-rs/xattr errors carry the errno number
  const layerFault = (code !== undefined && ENTRY_ERRNOS.has(code)) || code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_OUT_OF_RANGE' || (os !== undefined && ['7', '22', '34', '36', '61', '95'].includes(os));
  if (layerFault) return new StagecraftError('LAYER_INVALID', `layer entry "${name.slice(0, 200)}" cannot be extracted: ${message}`, {
    hint: 'the layer blob is damaged or crafted; pull or build it again, or use an image from a source you trust',
    cause: error,
  });
  return new StagecraftError('SNAPSHOT', `cannot extract layer entry "${name.slice(0, 200)}": ${message}`, {
    hint: code === 'ENOSPC' ? 'the state root\'s disk is full; free space or run `stagecraft prune`' : 'check the state root\'s filesystem and permissions',
    cause: error,
  });
}

function unsafe(name: string, why: string): StagecraftError {
  return new StagecraftError('LAYER_UNSAFE', `layer entry "${name}" ${why}`, {
    hint: 'the layer was crafted to write outside its root; use an image from a source you trust',
  });
}

function invalid(name: string, why: string): StagecraftError {
  return new StagecraftError('LAYER_INVALID', `layer entry "${name}" ${why}`, {
    hint: 'the layer blob is damaged or was not made for this image; pull or build it again',
  });
}

/**
 * Why an archive name or link target cannot exist on Linux (a NUL byte, longer than PATH_MAX, a
 * component longer than NAME_MAX), or undefined. Node's fs would throw a plain TypeError/ENAMETOOLONG.
 */
export function invalidPathReason(path: string, isName: boolean): string | undefined {
  if (path.includes('\0')) return 'contains a NUL byte';
  if (Buffer.byteLength(path) >= PATH_MAX) return `is longer than ${PATH_MAX} bytes (PATH_MAX)`;
  if (isName || !path.includes('/')) {
    for (const part of path.split('/')) {
      if (Buffer.byteLength(part) > NAME_MAX) return `has a component longer than ${NAME_MAX} bytes (NAME_MAX)`;
    }
  }
  return undefined;
}

/** The clean components of an archive name; `..` that would leave the root is an error. */
export function cleanComponents(name: string): string[] {
  const why = invalidPathReason(name, true);
  if (why !== undefined) throw invalid(name.slice(0, 200), why);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw unsafe(name, 'climbs out of the layer root with ".."');
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts;
}

async function lstatOrNull(path: string): Promise<Awaited<ReturnType<typeof lstat>> | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
}

/**
 * The directory inside `root` for `components` (util/root-path.ts: symlinks followed only within
 * `root`), created with mode 0755 where missing when `create`. Returns its host path.
 */
async function resolveDir(root: string, components: readonly string[], entryName: string, create: boolean): Promise<string> {
  const walked = await walkInRoot(root, components.join('/'), {
    ...(create ? { create: { mode: 0o755 } } : {}),
    errors: {
      tooManyLinks: () => invalid(entryName, 'goes through too many symlinks'),
      notADirectory: (_path, blocker) => invalid(entryName, `needs "${blocker.slice(1)}" to be a directory, but it is a file`),
    },
  });
  return walked.path;
}

async function mknod(path: string, kind: 'c' | 'b' | 'p', major = 0, minor = 0, signal?: AbortSignal): Promise<void> {
  const args = kind === 'p' ? [path, 'p'] : [path, kind, String(major), String(minor)];
  const result = await runProcess('mknod', args, { signal });
  if (result.code !== 0) {
    throw new StagecraftError('SNAPSHOT', `mknod ${args.join(' ')} failed: ${result.stderr.trim()}`, {
      hint: 'device nodes and overlay whiteouts need root (CAP_MKNOD)',
    });
  }
}

/**
 * Whether device nodes can be made: only by the host's root. Root of a user namespace (rootless) has
 * no CAP_MKNOD over the host's devices; overlay whiteouts (0/0) are still allowed there.
 */
export function canMakeDevices(): boolean {
  return process.getuid?.() === 0 && currentUserNamespace() === undefined;
}

/**
 * lchown to the entry's numeric ids. In a user namespace an id outside its map is EINVAL: that is
 * no damage of the layer but a missing subordinate id range, said as such.
 */
async function chownEntry(path: string, header: TarHeader): Promise<void> {
  try {
    await lchown(path, header.uid, header.gid);
  } catch (error) {
    if (errnoCode(error) !== 'EINVAL' || currentUserNamespace() === undefined) throw error;
    throw unmappedOwner(`layer entry "${header.name.slice(0, 200)}"`, header.uid, header.gid);
  }
}

/** An owner the rootless user namespace cannot represent (ids outside its map). */
export function unmappedOwner(what: string, uid: number, gid: number): StagecraftError {
  const maps = currentUserNamespace();
  const mapped = maps === undefined ? '' : ` (mapped here: uids ${describeIdMap(maps.uidMap)}, gids ${describeIdMap(maps.gidMap)})`;
  return new StagecraftError('ROOTLESS', `${what} is owned by ${uid}:${gid}, which this rootless build's user namespace does not map${mapped}`, {
    hint: 'give the user a subordinate id range of at least 65536 ids, as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER (see docs/rootless.md); or build as root',
  });
}

class Extractor {
  private readonly written = new Set<string>();
  /** Parent directories resolved so far (only this extraction writes the root). */
  private readonly parents = new ResolvedDirs();
  private readonly dirTimes: Array<[string, number]> = [];
  entries = 0;
  skippedDevices = 0;

  constructor(
    private readonly root: string,
    private readonly options: ApplyOptions,
    private readonly chown: boolean,
  ) {}

  /** `source`: a file on disk holding a regular file's data (copied in the kernel instead of `body`). */
  async entry(header: TarHeader, body: AsyncIterable<Buffer>, source?: string): Promise<void> {
    this.entries++;
    const maxEntries = this.options.maxEntries ?? DEFAULT_MAX_LAYER_ENTRIES;
    if (this.entries > maxEntries) {
      throw new StagecraftError('LAYER_INVALID', `${this.options.name ?? 'layer'} has more than ${maxEntries} entries`, {
        hint: 'the layer looks like an archive bomb; use an image from a source you trust',
      });
    }
    try {
      await this.#entry(header, body, source);
    } catch (error) {
      throw entryError(header.name, error);
    }
  }

  async #entry(header: TarHeader, body: AsyncIterable<Buffer>, source: string | undefined): Promise<void> {
    const components = cleanComponents(header.name);
    if (header.type === 'symlink' || header.type === 'link') {
      const why = invalidPathReason(header.linkname, false);
      if (why !== undefined) throw invalid(header.name, `has a link target that ${why}`);
    }
    if (components.length === 0) {
      if (header.type === 'dir') await this.metadata(this.root, header);
      return;
    }
    const base = components[components.length - 1] as string;
    const parentComponents = components.slice(0, -1);
    const parentPath = await this.parents.get(parentComponents.join('/'), () => resolveDir(this.root, parentComponents, header.name, true));
    if (base.startsWith(WHITEOUT_PREFIX)) {
      await this.whiteout(header.name, parentPath, base);
      return;
    }
    const dest = join(parentPath, base);
    const existing = await lstatOrNull(dest);
    if (existing !== null && !(existing.isDirectory() && header.type === 'dir')) {
      this.parents.forget();
      await rm(dest, { recursive: true, force: true });
    }
    switch (header.type) {
      case 'dir':
        if (existing === null || !existing.isDirectory()) await mkdir(dest, { mode: 0o700 });
        break;
      case 'file':
      {
        if (source !== undefined) {
          // EXCL: the destination is created, never written through (O_EXCL does not follow a symlink).
          await copyFile(source, dest, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
          break;
        }
        // O_EXCL|O_NOFOLLOW: never write through something that appeared at dest in the meantime.
        const handle = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        await pipeline(body, handle.createWriteStream());
        break;
      }
      case 'symlink':
        this.parents.forget();
        await symlink(header.linkname, dest);
        break;
      case 'link': {
        const target = cleanComponents(header.linkname);
        if (target.length === 0) throw unsafe(header.name, 'is a hardlink to the layer root');
        const targetPath = join(await resolveDir(this.root, target.slice(0, -1), header.name, false), target[target.length - 1] as string);
        const stat = await lstatOrNull(targetPath);
        if (stat === null) throw invalid(header.name, `is a hardlink to "${header.linkname}", which is not in the layer`);
        if (stat.isDirectory()) throw invalid(header.name, `is a hardlink to the directory "${header.linkname}"`);
        await link(targetPath, dest); // link(2) does not follow a symlink target
        this.written.add(dest);
        return; // a hardlink shares the target's metadata
      }
      case 'char':
      case 'block':
        if (this.options.devices !== true) {
          this.skippedDevices++;
          return;
        }
        await mknod(dest, header.type === 'char' ? 'c' : 'b', header.devmajor, header.devminor, this.options.signal);
        break;
      case 'fifo':
        await mknod(dest, 'p', 0, 0, this.options.signal);
        break;
    }
    this.written.add(dest);
    await this.metadata(dest, header);
  }

  private async whiteout(name: string, parentPath: string, base: string): Promise<void> {
    const overlay = this.options.whiteouts === 'overlay';
    if (base === OPAQUE_WHITEOUT) {
      if (overlay) {
        await writeXattr(parentPath, this.options.opaqueXattr ?? OVERLAY_OPAQUE, Buffer.from('y'));
        return;
      }
      // Opaque applies to lower layers only: keep what this layer already wrote in the directory.
      this.parents.forget();
      for (const child of await readdir(parentPath)) {
        const path = join(parentPath, child);
        if (!this.written.has(path)) await rm(path, { recursive: true, force: true });
      }
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX + WHITEOUT_PREFIX)) return; // other AUFS metadata
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === '' || target === '.' || target === '..') throw unsafe(name, 'is a whiteout of a path outside its directory');
    const path = join(parentPath, target);
    if (this.written.has(path)) return; // a whiteout applies to lower layers only
    this.parents.forget();
    await rm(path, { recursive: true, force: true });
    if (overlay) await mknod(path, 'c', 0, 0, this.options.signal);
  }

  private async metadata(path: string, header: TarHeader): Promise<void> {
    const isLink = header.type === 'symlink';
    if (this.chown) await chownEntry(path, header);
    // chmod after chown: chown clears setuid/setgid.
    if (!isLink) await chmod(path, header.mode & 0o7777);
    for (const [name, value] of header.xattrs) {
      if (isOverlayXattr(name)) continue; // never let a layer steer overlayfs
      try {
        await writeXattr(path, name, value);
      } catch (error) {
        if (!isLink) throw error; // user.* xattrs are not allowed on symlinks; ignored as tar does
      }
    }
    if (header.type === 'dir') this.dirTimes.push([path, header.mtime]);
    else await lutimes(path, header.mtime, header.mtime);
  }

  /** Directory mtimes last: creating children changed them. */
  async finish(): Promise<void> {
    for (const [path, mtime] of this.dirTimes.reverse()) await lutimes(path, mtime, mtime);
  }
}

/** Extracts an uncompressed tar stream onto `root` (which must exist). */
export async function applyTar(root: string, tar: AsyncIterable<Uint8Array>, options: ApplyOptions = {}): Promise<{ entries: number; skippedDevices: number }> {
  const extractor = new Extractor(root, options, options.chown ?? process.getuid?.() === 0);
  for await (const { header, body } of readTar(tar)) {
    options.signal?.throwIfAborted();
    await extractor.entry(header, body);
  }
  await extractor.finish();
  return { entries: extractor.entries, skippedDevices: extractor.skippedDevices };
}

const NO_BODY: AsyncIterable<Buffer> = (async function* () {})();

/**
 * Copies the tree at `sourceRoot` (a mounted or committed snapshot) onto `root` exactly as extracting
 * it as one layer would: the same entry checks, owners (when root), modes, xattrs (all but
 * trusted.overlay.*), whole-second mtimes, hardlinks, skipped device nodes; the data of regular files
 * is copied in the kernel (reflink or copy_file_range) instead of through a tar stream.
 */
export async function applyTree(root: string, sourceRoot: string, options: ApplyOptions = {}): Promise<{ entries: number; skippedDevices: number }> {
  const extractor = new Extractor(root, options, options.chown ?? process.getuid?.() === 0);
  async function* items(): AsyncGenerator<{ kind: 'path'; path: string; source: string; stat: BigIntStats }> {
    for await (const entry of walkTree(sourceRoot, '', options.signal)) yield { kind: 'path', ...entry };
  }
  for await (const { header } of packItems(items(), { xattrs: 'all', signal: options.signal })) {
    options.signal?.throwIfAborted();
    await extractor.entry(header, NO_BODY, header.type === 'file' ? join(sourceRoot, header.name) : undefined);
  }
  await extractor.finish();
  return { entries: extractor.entries, skippedDevices: extractor.skippedDevices };
}

/**
 * Extracts a layer blob (plain, gzip or zstd tar, detected) onto `root` and returns its diffID.
 * The caller compares the diffID with the expected one; on a mismatch or an error the caller discards
 * `root` (the extraction is not rolled back here).
 */
export async function applyLayer(root: string, blob: AsyncIterable<Uint8Array>, options: ApplyOptions = {}): Promise<ApplyResult> {
  const { compression, tar } = await decompressLayer(blob);
  const max = options.maxUncompressedBytes ?? DEFAULT_MAX_LAYER_BYTES;
  const limit = new ByteLimit(max, () => new StagecraftError('LAYER_INVALID', `${options.name ?? 'layer'} inflates past ${formatSize(max)} of tar (${compression}); refused as a decompression bomb`, {
    hint: 'a layer this large is almost certainly crafted; use an image from a source you trust',
  }));
  const digest = new DigestStream();
  const hashed = tar.pipe(limit).pipe(digest);
  tar.on('error', (error) => {
    // zlib and zstd report damaged data as plain errors (Z_DATA_ERROR "incorrect data check", …).
    limit.destroy(isStagecraftError(error) ? error : new StagecraftError('LAYER_INVALID', `cannot decompress ${compression} ${options.name ?? 'layer'}: ${error.message}`, {
      hint: 'the layer blob is damaged; pull or build it again',
      cause: error,
    }));
  });
  limit.on('error', (error) => digest.destroy(error));
  let counts: { entries: number; skippedDevices: number };
  try {
    counts = await applyTar(root, hashed, options);
  } catch (error) {
    tar.destroy();
    throw error;
  }
  return { diffId: digest.digest(), compression, ...counts };
}
