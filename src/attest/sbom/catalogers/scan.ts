/**
 * Helpers the language catalogers share: bounded reads that turn a missing, oversized or unreadable
 * file into a warning (an image's files are hostile input), and the basename of an image path.
 */
import { Limiter } from '../../../util/limiter.js';
import { FileTooLargeError } from '../fs.js';
import type { CatalogContext, ScanFile, ScanFs } from '../types.js';

/** Small files read at once by a cataloger (the reads are cheap; the open/resolve round trips dominate). */
export const READ_CONCURRENCY = 8;

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function dirName(path: string): string {
  const at = path.lastIndexOf('/');
  return at <= 0 ? '/' : path.slice(0, at);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The whole file, or undefined (with a warning naming the path) when it is larger than `maxBytes` or unreadable. */
export async function readBounded(context: CatalogContext, path: string, maxBytes: number, what: string): Promise<Buffer | undefined> {
  try {
    return await context.fs.readFile(path, { maxBytes });
  } catch (error) {
    if (error instanceof FileTooLargeError) {
      context.warn(`${what} ${path}: ${error.size} bytes, more than the ${maxBytes} read; skipped`);
      return undefined;
    }
    context.warn(`${what} ${path}: cannot be read (${describe(error)}); skipped`);
    return undefined;
  }
}

/** `readRange` with read errors turned into a warning. */
export async function readRangeSafe(context: CatalogContext, path: string, position: number, length: number, what: string): Promise<Buffer | undefined> {
  try {
    return await context.fs.readRange(path, position, length);
  } catch (error) {
    context.warn(`${what} ${path}: cannot be read (${describe(error)}); skipped`);
    return undefined;
  }
}

export function errorText(error: unknown): string {
  return describe(error);
}

/**
 * `fn` over `items` with at most `limit` running at once, results in input order. Every started call
 * settles before this returns; the first failure (or the signal's abort) is rethrown after that.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, signal: AbortSignal, fn: (item: T) => Promise<R>): Promise<R[]> {
  const limiter = new Limiter(Math.max(1, limit));
  const settled = await Promise.allSettled(items.map((item) => limiter.run(() => {
    signal.throwIfAborted();
    return fn(item);
  }, signal)));
  const results: R[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'rejected') throw outcome.reason;
    results.push(outcome.value);
  }
  return results;
}

/**
 * Runs `action` on the regular file `path` opened once (`ScanFs.withFile`), or, for a ScanFs without
 * it, on reads through `readRange` (`size` from the walk). Undefined when it is not a regular file.
 */
export async function withScanFile<T>(fs: ScanFs, path: string, size: number, action: (file: ScanFile) => Promise<T>): Promise<T | undefined> {
  if (fs.withFile !== undefined) return fs.withFile(path, action);
  return action({ size, read: async (position, length) => (await fs.readRange(path, position, length)) ?? Buffer.alloc(0) });
}
