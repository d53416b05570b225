import { Readable } from 'node:stream';
import { BLOCK, END_OF_ARCHIVE, encodeHeader, padding, type TarHeader } from './format.js';

export interface TarWriteEntry {
  readonly header: TarHeader;
  /** The body of a regular file: exactly `header.size` bytes, opened only when the entry is written. */
  readonly body?: (() => AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>) | undefined;
}

/**
 * Streams a tar archive of `entries`, in the order given (the caller sorts), ending with two zero
 * blocks. Pull-based: a file is opened only when the consumer wants its bytes, so memory does not grow
 * with the archive. Fails if a body is not exactly `header.size` bytes long (the file changed).
 */
export function writeTar(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>, signal?: AbortSignal): Readable {
  return Readable.from(generateTar(entries, signal), { objectMode: false, highWaterMark: 64 * 1024 });
}

/** Output is gathered into chunks of about this size: one write per chunk downstream, not three per file. */
const CHUNK = 1 << 20;

async function* generateTar(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (): Buffer => {
    const out = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  /** Adds `buffer` to the output; returns a chunk to yield when one is full. */
  const add = (buffer: Buffer): Buffer | undefined => {
    pending.push(buffer);
    pendingBytes += buffer.length;
    return pendingBytes >= CHUNK ? take() : undefined;
  };
  for await (const entry of entries) {
    signal?.throwIfAborted();
    const header = add(encodeHeader(entry.header));
    if (header !== undefined) yield header;
    if (entry.header.type !== 'file' || entry.header.size === 0) continue;
    if (entry.body === undefined) throw new Error(`tar entry ${entry.header.name} has size ${entry.header.size} but no body`);
    let written = 0;
    for await (const chunk of await entry.body()) {
      signal?.throwIfAborted();
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (written + buffer.length > entry.header.size) {
        throw new Error(`${entry.header.name} grew while it was archived (expected ${entry.header.size} bytes)`);
      }
      written += buffer.length;
      if (buffer.length === 0) continue;
      const full = add(buffer);
      if (full !== undefined) yield full;
    }
    if (written !== entry.header.size) {
      throw new Error(`${entry.header.name} shrank while it was archived (${written} of ${entry.header.size} bytes)`);
    }
    const pad = padding(written);
    if (pad > 0) {
      const full = add(Buffer.alloc(pad));
      if (full !== undefined) yield full;
    }
  }
  add(END_OF_ARCHIVE);
  yield take();
}

export { BLOCK };
