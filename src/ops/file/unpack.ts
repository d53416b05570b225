/**
 * ADD of a local tar archive: detection by content (plain, gzip, bzip2, xz or zstd tar; the name does
 * not matter) and extraction with the rules of BuildKit's `unpack` → go-archive `chrootarchive.Untar`:
 *
 * - the archive is extracted as if chrooted into the destination directory: entry names, symlinks on
 *   the way and hardlink targets all resolve inside it; `../` names that climb out are an error;
 * - an existing entry is replaced, except a directory by a directory (merged, metadata applied); the
 *   archive's root entry (`./`) is skipped;
 * - owners come from the archive (when running as root; `--chown` only owns the destination directory
 *   it creates, as in BuildKit); modes and times from the archive (directories' times last); xattrs
 *   best effort;
 * - missing parent directories are created 0755 and root-owned.
 */
import { constants } from 'node:fs';
import { chmod, link, lstat, lutimes, mkdir, open, rm, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type XzModule from 'xz-decompress';
import { lazyModule } from '../../util/lazy-module.js';
import { StagecraftError, isStagecraftError } from '../../core/index.js';
import { COMPRESSION_MAGIC_BYTES, DEFAULT_MAX_LAYER_BYTES, DEFAULT_MAX_LAYER_ENTRIES, detectCompression, invalidPathReason, readTar, zstdDecompress, type ArchiveCompression } from '../../snapshot/index.js';
import { ByteLimit, formatSize } from '../../util/streams.js';
import { bunzip2 } from './bzip2.js';
import { cleanPath } from '../../util/patterns.js';
import { isRoot, makeSpecial, setOwner, writeXattrs } from './entry.js';
import { ResolvedDirs, errnoCode, resolveInRoot, walkInRoot } from '../../util/root-path.js';
import { lstatOrNull } from './root.js';

const xz = lazyModule<typeof XzModule>('xz-decompress', import.meta.url);

interface OpenedArchive {
  readonly compression: ArchiveCompression;
  /** The uncompressed tar stream, limited to `maxUncompressedBytes`. */
  readonly tar: Readable;
  /** Releases the file and decoder (idempotent). */
  readonly close: () => void;
}

function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(error);
}

async function openArchive(path: string, name: string, maxBytes: number): Promise<OpenedArchive> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  const head = Buffer.alloc(COMPRESSION_MAGIC_BYTES);
  let compression: ArchiveCompression;
  try {
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    compression = detectCompression(head.subarray(0, bytesRead));
  } catch (error) {
    await handle.close();
    throw error;
  }
  const file = handle.createReadStream({ start: 0, autoClose: true });
  let decoded: Readable;
  switch (compression) {
    case 'none':
      decoded = file;
      break;
    case 'gzip': {
      const decoder = createGunzip();
      pipeline(file, decoder).catch((error: unknown) => decoder.destroy(error instanceof Error ? error : new Error(String(error))));
      decoded = decoder;
      break;
    }
    case 'zstd':
      // Not zstd-napi's DecompressStream, which ignores backpressure (a bomb inflates in memory).
      decoded = Readable.from(zstdDecompress(file), { objectMode: false });
      break;
    case 'bzip2':
      // One block at a time, only as fast as the tar is read (bounded memory; see bzip2.ts).
      decoded = Readable.from(bunzip2(file), { objectMode: false });
      break;
    case 'xz':
      decoded = Readable.fromWeb(new (xz().XzReadableStream)(Readable.toWeb(file)));
      break;
  }
  const limit = new ByteLimit(maxBytes, () => new StagecraftError('FILE_OPERATION', `ADD ${name}: the ${compression === 'none' ? 'tar' : compression} archive inflates past ${formatSize(maxBytes)}; refused as a decompression bomb`, {
    hint: 'an archive this large is almost certainly crafted; check where it comes from, or COPY it without extracting',
  }));
  decoded.on('error', (error) => {
    limit.destroy(new StagecraftError('FILE_OPERATION', `ADD ${name}: cannot ${compression === 'none' ? 'read' : `decompress the ${compression}`} archive: ${messageOf(error)}`, {
      hint: 'the archive is damaged or truncated; recreate it, or use COPY to add it without extracting',
      cause: error,
    }));
  });
  decoded.pipe(limit);
  const close = (): void => {
    limit.destroy();
    decoded.destroy();
    file.destroy();
  };
  return { compression, tar: limit, close };
}

/**
 * Whether `path` is a regular file holding a tar archive (its first header parses after
 * decompression), as BuildKit's `isArchivePath`. Never throws: anything unreadable is "not an archive".
 */
export async function isArchive(path: string): Promise<boolean> {
  const stat = await lstatOrNull(path);
  if (stat === null || !stat.isFile()) return false;
  let opened: OpenedArchive | undefined;
  try {
    opened = await openArchive(path, path, DEFAULT_MAX_LAYER_BYTES);
    const entries = readTar(opened.tar);
    const first = await entries.next();
    return first.done !== true;
  } catch {
    return false;
  } finally {
    opened?.close();
  }
}

export interface ExtractOptions {
  /** The archive as the user named it, for messages. */
  readonly name: string;
  readonly signal: AbortSignal;
  /** Refuse an archive whose tar is larger (a decompression bomb). Default: as for layers, 64 GiB. */
  readonly maxUncompressedBytes?: number | undefined;
  /** Refuse an archive with more entries. Default: as for layers, 5 million. */
  readonly maxEntries?: number | undefined;
}

function escapeError(name: string, entry: string): StagecraftError {
  return new StagecraftError('FILE_OPERATION', `ADD ${name}: archive entry "${entry}" is outside of the destination`, {
    hint: 'the archive names paths above its root ("../"); repack it or extract it in a RUN step',
  });
}

/** Extracts the archive at `path` (detected as one by `isArchive`) into the directory `destDir`. */
export async function extractArchive(path: string, destDir: string, options: ExtractOptions): Promise<void> {
  const opened = await openArchive(path, options.name, options.maxUncompressedBytes ?? DEFAULT_MAX_LAYER_BYTES);
  const root = isRoot();
  const dirTimes: Array<readonly [string, number]> = [];
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_LAYER_ENTRIES;
  let entries = 0;
  let current = '';
  try {
    // Parent directories resolved so far: the destination is private to this operation.
    const parents = new ResolvedDirs();
    for await (const { header, body } of readTar(opened.tar)) {
      options.signal.throwIfAborted();
      current = header.name;
      if (++entries > maxEntries) {
        throw new StagecraftError('FILE_OPERATION', `ADD ${options.name}: the archive has more than ${maxEntries} entries`, {
          hint: 'the archive looks like an archive bomb; check where it comes from, or COPY it without extracting',
        });
      }
      const badName = invalidPathReason(header.name, true) ?? (header.type === 'symlink' || header.type === 'link' ? invalidPathReason(header.linkname, false) : undefined);
      if (badName !== undefined) {
        throw new StagecraftError('FILE_OPERATION', `ADD ${options.name}: archive entry "${header.name.slice(0, 200)}" cannot be extracted: its name or link target ${badName}`, {
          hint: 'the archive is damaged or crafted; repack it',
        });
      }
      const clean = cleanPath(header.name);
      if (clean === '..' || clean.startsWith('../')) throw escapeError(options.name, header.name);
      const rel = cleanPath(`/${clean}`);
      if (rel === '/') continue; // the root entry: the destination directory exists
      const parentRel = posix.dirname(rel);
      const parent = await parents.get(parentRel, async () => (await walkInRoot(destDir, parentRel, { lexical: true, create: { mode: 0o755 } })).path);
      const target = join(parent, posix.basename(rel));
      const existing = await lstatOrNull(target);
      if (existing !== null && !(existing.isDirectory() && header.type === 'dir')) {
        parents.forget();
        await rm(target, { recursive: true, force: true });
      }
      switch (header.type) {
        case 'dir':
          if (existing === null || !existing.isDirectory()) await mkdir(target, { mode: 0o700 });
          break;
        case 'file': {
          const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          await pipeline(body, handle.createWriteStream());
          break;
        }
        case 'symlink':
          parents.forget();
          await symlink(header.linkname, target);
          break;
        case 'link': {
          const linkRel = cleanPath(`/${header.linkname}`);
          const source = join(await resolveInRoot(destDir, posix.dirname(linkRel), { followFinal: true, lexical: true }), posix.basename(linkRel));
          const stat = await lstatOrNull(source);
          if (linkRel === '/' || stat === null || stat.isDirectory()) {
            throw new StagecraftError('FILE_OPERATION', `ADD ${options.name}: hardlink "${header.name}" points to "${header.linkname}", which is not a file extracted before it`, {
              hint: 'the archive is damaged or was not made by tar; repack it',
            });
          }
          await link(source, target);
          continue; // a hardlink shares its target's metadata
        }
        case 'char':
        case 'block':
          if (!root) continue; // device nodes need CAP_MKNOD: skipped, as go-archive does in a user namespace
          await makeSpecial(target, header.type, header.devmajor, header.devminor, options.signal);
          break;
        case 'fifo':
          // A FIFO needs no privilege; go-archive creates it always.
          await makeSpecial(target, 'fifo', 0, 0, options.signal);
          break;
      }
      if (root) await setOwner(target, { uid: header.uid, gid: header.gid }, false);
      await writeXattrs(target, header.xattrs);
      if (header.type !== 'symlink') await chmod(target, header.mode & 0o7777);
      if (header.type === 'dir') dirTimes.push([target, header.mtime]);
      else await lutimes(target, header.mtime, header.mtime);
    }
    // Directory times last: creating their children changed them.
    for (const [dir, mtime] of dirTimes) {
      if ((await lstat(dir)).isDirectory()) await lutimes(dir, mtime, mtime);
    }
  } catch (error) {
    if (isStagecraftError(error) && error.code === 'LAYER_INVALID') {
      throw new StagecraftError('FILE_OPERATION', `ADD ${options.name}: ${error.message.replace(/^invalid layer tar: /u, 'invalid tar archive: ')}`, {
        hint: 'the archive is damaged; recreate it, or use COPY to add it without extracting',
        cause: error,
      });
    }
    if (isStagecraftError(error)) {
      if (error.message.startsWith('ADD ')) throw error;
      throw new StagecraftError(error.code, `ADD ${options.name}: archive entry "${current.slice(0, 200)}": ${error.message}`, { hint: error.hint, cause: error });
    }
    const code = errnoCode(error);
    throw new StagecraftError('FILE_OPERATION', `ADD ${options.name}: cannot extract archive entry "${current.slice(0, 200)}": ${messageOf(error)}`, {
      hint: code === 'ENOSPC' ? "the state root's disk is full; free space or run `stagecraft prune`" : 'the archive is damaged or crafted, or the destination is not writable; repack it or extract it in a RUN step',
      cause: error,
    });
  } finally {
    opened.close();
  }
}
