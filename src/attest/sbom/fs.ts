/**
 * `ScanFs` over a directory that holds a root filesystem (a mounted read-only view of an image or a
 * stage). The walk never follows a symlink; a read resolves the path inside the root
 * (util/root-path) and opens only a regular file, with O_NOFOLLOW, through its parent's handle.
 */
import { constants, type Dirent } from 'node:fs';
import { lstat, open, opendir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { at, errnoCode, walkInRoot, withDirInRoot } from '../../util/root-path.js';
import type { FsEntry, FsEntryType, ScanFs } from './types.js';

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** A file larger than the reader asked for. */
export class FileTooLargeError extends Error {
  constructor(readonly path: string, readonly size: number, readonly maxBytes: number) {
    super(`${path} is ${size} bytes, more than the ${maxBytes} read`);
    this.name = 'FileTooLargeError';
  }
}

function typeOf(entry: Dirent): FsEntryType {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (entry.isSymbolicLink()) return 'symlink';
  return 'other';
}

function missing(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EISDIR';
}

/** Opens the regular file `path` inside `root` (symlinks resolved inside it) and runs `action` on it. */
async function withFileInRoot<T>(root: string, path: string, action: (file: FileHandle, size: number) => Promise<T>): Promise<T | undefined> {
  const parts = [...(await walkInRoot(root, path)).parts];
  const name = parts.pop();
  if (name === undefined) return undefined;
  const result = await withDirInRoot(root, parts, async (dir) => {
    // Looked at before it is opened: a device node or FIFO in the image is never opened.
    const entry = await lstat(at(dir, name)).catch((error: unknown) => {
      if (missing(error)) return undefined;
      throw error;
    });
    if (entry?.isFile() !== true) return { value: undefined };
    let file: FileHandle;
    try {
      file = await open(at(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (error) {
      if (missing(error)) return { value: undefined };
      throw error;
    }
    try {
      const info = await file.stat();
      if (!info.isFile() || info.ino !== entry.ino || info.dev !== entry.dev) return { value: undefined };
      return { value: await action(file, info.size) };
    } finally {
      await file.close();
    }
  });
  return result?.value;
}

async function readAt(file: FileHandle, size: number, position: number, length: number): Promise<Buffer> {
  const want = Math.max(0, Math.min(length, size - position));
  const buffer = Buffer.alloc(want);
  let done = 0;
  while (done < want) {
    const { bytesRead } = await file.read(buffer, done, want - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

export function directoryScanFs(root: string): ScanFs {
  let walked: Promise<readonly FsEntry[]> | undefined;
  const walk = async (): Promise<readonly FsEntry[]> => {
    const out: FsEntry[] = [];
    const pending: string[] = ['/'];
    while (pending.length > 0) {
      const dir = pending.pop() as string;
      let handle;
      try {
        handle = await opendir(join(root, dir));
      } catch (error) {
        if (missing(error) || errnoCode(error) === 'EACCES') continue;
        throw error;
      }
      for await (const entry of handle) {
        const path = dir === '/' ? `/${entry.name}` : `${dir}/${entry.name}`;
        const type = typeOf(entry);
        let size = 0;
        let mode = 0;
        try {
          const info = await lstat(join(root, path));
          size = type === 'file' ? info.size : 0;
          mode = info.mode & 0o7777;
        } catch (error) {
          if (missing(error)) continue;
          throw error;
        }
        out.push({ path, type, size, mode });
        if (type === 'dir') pending.push(path);
      }
    }
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return out;
  };
  return {
    entries: () => (walked ??= walk()),
    readFile: (path, options) => withFileInRoot(root, path, async (file, size) => {
      const maxBytes = options?.maxBytes ?? DEFAULT_MAX_BYTES;
      if (size > maxBytes) throw new FileTooLargeError(path, size, maxBytes);
      return file.readFile();
    }),
    readRange: (path, position, length) => withFileInRoot(root, path, (file, size) => readAt(file, size, position, length)),
    withFile: (path, action) => withFileInRoot(root, path, (file, size) => action({ size, read: (position, length) => readAt(file, size, position, length) })),
  };
}
