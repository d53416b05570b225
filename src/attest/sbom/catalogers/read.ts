/** Reading one input file for a cataloger: too large, binary or unreadable is a warning with its path. */
import { FileTooLargeError } from '../fs.js';
import type { CatalogContext } from '../types.js';

/** A package database larger than this is not a package database (Debian's status is ~3 MiB). */
export const DB_MAX_BYTES = 128 * 1024 * 1024;

/**
 * The file as UTF-8 text, or undefined when it is missing (silently), too large or binary (with a
 * warning naming the path). NUL bytes mean it is not a text database.
 */
export async function readText(context: CatalogContext, path: string, what: string, maxBytes = DB_MAX_BYTES): Promise<string | undefined> {
  let data: Buffer | undefined;
  try {
    data = await context.fs.readFile(path, { maxBytes });
  } catch (error) {
    if (error instanceof FileTooLargeError) {
      context.warn(`${path}: ${error.message}; this ${what} is not read`);
      return undefined;
    }
    throw error;
  }
  if (data === undefined) return undefined;
  if (data.includes(0)) {
    context.warn(`${path}: binary data (NUL bytes) where a ${what} was expected; not read`);
    return undefined;
  }
  return data.toString('utf8');
}

/** Every regular file or symlink whose path is directly in `dir` (symlinks are read inside the root). */
export async function filesIn(context: CatalogContext, dir: string): Promise<string[]> {
  const prefix = `${dir}/`;
  const out: string[] = [];
  for (const entry of await context.fs.entries()) {
    if (!entry.path.startsWith(prefix) || entry.path.includes('/', prefix.length)) continue;
    if (entry.type === 'file' || entry.type === 'symlink') out.push(entry.path);
  }
  return out;
}
