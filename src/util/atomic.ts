/** Atomic file writes (whole buffers and streams): a temp file in the same directory, fsync, rename over the target. */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Runs `write` on a temp file beside `path` (created exclusively, so nothing that appears there is
 * written through), fsyncs it and renames it over `path`. On any failure (an abort too) the temp file
 * is removed and `path` is untouched.
 */
async function replaceAtomically(path: string, mode: number, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await write(handle);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Writes `data` to `path` so that readers see either the old or the complete new content. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await replaceAtomically(path, mode, (handle) => handle.writeFile(data));
}

/** Streams `data` to `path` the same way, creating its directory if needed. */
export async function writeStreamAtomic(path: string, data: AsyncIterable<Uint8Array | string> | NodeJS.ReadableStream, options: { readonly signal?: AbortSignal | undefined; readonly mode?: number | undefined } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await replaceAtomically(path, options.mode ?? 0o644, async (handle) => {
    for await (const chunk of data) {
      options.signal?.throwIfAborted();
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      for (let offset = 0; offset < bytes.length;) offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
    }
  });
}
