/**
 * Atomic file writes: a temp file in the same directory (created exclusively, never followed
 * through a symlink), fsync, rename over the target. Readers see the old file or the complete new
 * one, never a part; a failed or aborted write leaves the target as it was and no temp file behind.
 */
import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface AtomicWriteOptions {
  /** Permission bits of the new file (before the umask). Default 0644. */
  readonly mode?: number | undefined;
  /** Create the target's missing parent directories first. Default false. */
  readonly parents?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** A temp file name next to `path`, unique to this write. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes the bytes of `source` to `path` atomically. `source` is read to its end (or until the
 * signal aborts, which rejects with the signal's reason).
 */
export async function writeStreamAtomic(path: string, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: AtomicWriteOptions = {}): Promise<void> {
  options.signal?.throwIfAborted();
  if (options.parents === true) await mkdir(dirname(path), { recursive: true });
  const temp = tempPathFor(path);
  try {
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode ?? 0o644);
    // The stream owns the handle from here: it fsyncs it before closing it (`flush`), and closes it on error too.
    await pipeline(source, handle.createWriteStream({ flush: true }), { signal: options.signal });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    // pipeline rejects with a generic AbortError; the build's cancellation carries its own reason.
    if (options.signal?.aborted === true) throw options.signal.reason;
    throw error;
  }
}

/** Writes `data` to `path` atomically. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await writeStreamAtomic(path, [typeof data === 'string' ? Buffer.from(data) : data], { mode });
}
