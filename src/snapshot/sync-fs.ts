/**
 * The fs calls of layer walks (diff, pack), made synchronously in time slices. Each async fs call is
 * a round trip through libuv's threadpool: measured on the project machine, an `lstat` costs ~80 µs
 * of CPU that way against ~6 µs for `lstatSync`, and a layer entry needs four or five such calls
 * (lstat, lgetxattr, open, read, close), so a layer of small files was bound by the round trips. A
 * walk does its calls synchronously and gives the event loop a turn every `SLICE_MS` (`WorkSlice`),
 * so progress output, other steps' I/O and the tar's consumer keep running. Large file bodies are
 * still streamed asynchronously.
 */
import { closeSync, constants, lstatSync, openSync, readSync, readdirSync, type BigIntStats } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** How long a walk runs before it yields to the event loop. */
const SLICE_MS = 8;

/** Tracks how long synchronous work has run since the event loop last had a turn. */
export class WorkSlice {
  private started = performance.now();

  /** Whether the caller should `await pause()` before more work. */
  due(): boolean {
    return performance.now() - this.started >= SLICE_MS;
  }

  /** Lets the event loop run once, then starts a new slice. */
  async pause(): Promise<void> {
    await nextTurn();
    this.started = performance.now();
  }
}

/** The items of a synchronous walk, each made as it is asked for, with the event loop given a turn between time slices. */
export async function* sliced<T>(items: Iterable<T>, signal?: AbortSignal): AsyncGenerator<T> {
  const slice = new WorkSlice();
  for (const item of items) {
    signal?.throwIfAborted();
    yield item;
    if (slice.due()) await slice.pause();
  }
}

/**
 * Byte-order comparison of names (the order of UTF-8 bytes, which JS string order differs from for
 * characters outside the BMP). UTF-16 code units order like code points below U+D800, so the
 * encoding is compared only when a surrogate or a character from U+D800 up decides.
 */
export function compareNames(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  let i = 0;
  for (; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 || y >= 0xd800) break;
    return x < y ? -1 : 1;
  }
  // One name starts the other: the shorter sorts first (its bytes are a prefix of the longer's, or
  // end in a lone high surrogate's U+FFFD, EF BF BD, where the longer has a pair's F0 lead byte).
  if (i === length) return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The names in `dir`, in byte order. */
export function sortedNamesSync(dir: string): string[] {
  return readdirSync(dir).sort(compareNames);
}

/** lstat, null when the path does not exist (or a parent is not a directory). */
export function lstatOrNullSync(path: string): BigIntStats | null {
  try {
    return lstatSync(path, { bigint: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}

/**
 * A regular file's contents, expected to be `size` bytes: one open, one read and one close in the
 * usual case. A file that grew comes back longer than `size` and one that shrank shorter, for the
 * tar writer to refuse. Never follows a symlink at `path` (a file replaced by one since its lstat).
 */
export function readWholeFile(path: string, size: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    // One byte more than expected, so a file that grew shows it in the same read.
    const buffer = Buffer.allocUnsafe(size + 1);
    let filled = 0;
    for (;;) {
      const read = readSync(fd, buffer, filled, buffer.length - filled, filled);
      filled += read;
      // A short read of a regular file is its end; all `size` bytes need no second read.
      if (read === 0 || filled >= size) break;
    }
    return buffer.subarray(0, filled);
  } finally {
    closeSync(fd);
  }
}
