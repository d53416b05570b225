/**
 * Small helpers the file operations share about paths in their roots. Resolving a path inside a root
 * (symlinks followed with the root as `/`, continuity's `fs.RootPath`) is util/root-path.ts, called
 * with `lexical: true` as BuildKit cleans the path first.
 */
import type { BigIntStats } from 'node:fs';
import { lstat, lutimes } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { errnoCode } from '../../util/root-path.js';

/** Owner of created or copied entries (numeric, as resolved in the destination rootfs). */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
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

/** Sets created directories' times again after their contents were written (fsutil's `fixCreatedParentDirs`). */
export async function restoreTimes(dirs: readonly string[], mtime: number | undefined): Promise<void> {
  if (mtime === undefined) return;
  for (const dir of [...dirs].reverse()) await lutimes(dir, mtime, mtime);
}
