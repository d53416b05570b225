/**
 * Paths inside a root directory, resolved as if the root were `/` (a chroot without chroot(2)): `..`
 * stops at the root, absolute symlink targets start at the root, relative ones at the link's
 * directory. This is continuity's `fs.RootPath`, which BuildKit uses for every file operation, so a
 * symlink in a rootfs pointing at `/etc` leads to the rootfs's `/etc`, never the host's.
 */
import type { BigIntStats } from 'node:fs';
import { chmod, lchown, lstat, lutimes, mkdir, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { StagecraftError } from '../../core/index.js';
import { cleanPath } from '../../util/patterns.js';

/** Owner of created or copied entries (numeric, as resolved in the destination rootfs). */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

const MAX_LINKS = 255;

export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Go's byte-wise name order (UTF-8 order is code point order, which `<` on UTF-16 is not). */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export async function lstatOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}

/** `path` (on the host, inside `root`) as the user sees it: `/` + its path relative to `root`. */
export function displayPath(root: string, path: string): string {
  const rel = relative(root, path);
  if (rel === '') return '/';
  if (rel.startsWith('..')) return path;
  return `/${rel.split(sep).join('/')}`;
}

export interface ResolveOptions {
  /** Follow a symlink in the last component too (`fs.RootPath`); otherwise only its parents. */
  readonly followFinal: boolean;
}

/**
 * The host path of `path` inside `root`, with every symlink met on the way resolved inside `root`.
 * Components that do not exist are kept as they are. `root` must be absolute.
 */
export async function resolveInRoot(root: string, path: string, options: ResolveOptions): Promise<string> {
  const pending = cleanPath(`/${path}`).split('/').filter((p) => p !== '');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    if (pending.length === 0 && !options.followFinal) {
      resolved.push(part);
      break;
    }
    const full = join(root, ...resolved, part);
    const stat = await lstatOrNull(full);
    if (stat?.isSymbolicLink() === true) {
      if (++links > MAX_LINKS) {
        throw new StagecraftError('FILE_OPERATION', `too many levels of symbolic links resolving "${cleanPath(`/${path}`)}"`, {
          hint: 'a symlink in the path points back at itself; fix the link in the image or the build context',
        });
      }
      const target = await readlink(full);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/'));
      continue;
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}

export interface EnsureDirOptions {
  /** Permission bits of created directories (BuildKit: 0755, or the octal `--chmod`). */
  readonly mode: number;
  readonly owner?: Owner | undefined;
  /** Seconds since the epoch for created directories' atime and mtime. */
  readonly mtime?: number | undefined;
}

export interface EnsureDirResult {
  /** The directory on the host. */
  readonly path: string;
  /** Directories created, parents first. */
  readonly created: readonly string[];
}

/**
 * `MkdirAll` inside `root`: resolves `path` like `resolveInRoot` (following every symlink inside the
 * root) and creates what is missing with `mode`, `owner` and `mtime`. An existing non-directory on the
 * way is a FILE_OPERATION error.
 */
export async function ensureDir(root: string, path: string, options: EnsureDirOptions): Promise<EnsureDirResult> {
  const pending = cleanPath(`/${path}`).split('/').filter((p) => p !== '');
  const resolved: string[] = [];
  const created: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const full = join(root, ...resolved, part);
    const stat = await lstatOrNull(full);
    if (stat === null) {
      await mkdir(full, { mode: options.mode & 0o777 });
      // mkdir(2) applies the umask: set the bits explicitly, as fsutil's MkdirAll does.
      await chmod(full, options.mode & 0o777);
      if (options.owner !== undefined) await lchown(full, options.owner.uid, options.owner.gid);
      if (options.mtime !== undefined) await lutimes(full, options.mtime, options.mtime);
      created.push(full);
      resolved.push(part);
    } else if (stat.isDirectory()) {
      resolved.push(part);
    } else if (stat.isSymbolicLink()) {
      if (++links > MAX_LINKS) {
        throw new StagecraftError('FILE_OPERATION', `too many levels of symbolic links creating "${cleanPath(`/${path}`)}"`, {
          hint: 'a symlink in the path points back at itself; fix the link in the image',
        });
      }
      const target = await readlink(full);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/'));
    } else {
      throw new StagecraftError('FILE_OPERATION', `cannot create directory "${cleanPath(`/${path}`)}": "${displayPath(root, full)}" is not a directory`, {
        hint: 'a file is in the way of the destination path; remove it first or choose another destination',
      });
    }
  }
  return { path: join(root, ...resolved), created };
}

/** Sets created directories' times again after their contents were written (fsutil's `fixCreatedParentDirs`). */
export async function restoreTimes(dirs: readonly string[], mtime: number | undefined): Promise<void> {
  if (mtime === undefined) return;
  for (const dir of [...dirs].reverse()) await lutimes(dir, mtime, mtime);
}
