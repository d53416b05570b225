import { Readable } from 'node:stream';
import { WorkSlice } from '../sync-fs.js';
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
 *
 * Synchronous `entries` (and bodies) are consumed synchronously, chunk by chunk, with the event loop
 * given a turn between time slices (see ../sync-fs.ts): a layer of many small files then costs no
 * promise round trips per entry.
 */
export function writeTar(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>, signal?: AbortSignal): Readable {
  return Readable.from(generateTar(entries, signal), { objectMode: false, highWaterMark: 64 * 1024 });
}

/** Output is gathered into chunks of about this size: one write per chunk downstream, not three per file. */
const CHUNK = 1 << 20;

/** Zeros for the padding after a body (never handed out alone: always concatenated into a chunk). */
const ZEROS = Buffer.alloc(BLOCK);

/** The archive's bytes, gathered into chunks of about `CHUNK` bytes. */
class Chunks {
  private pending: Buffer[] = [];
  private bytes = 0;

  add(buffer: Buffer): void {
    this.pending.push(buffer);
    this.bytes += buffer.length;
  }

  get full(): boolean {
    return this.bytes >= CHUNK;
  }

  take(): Buffer {
    const out = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.bytes);
    this.pending = [];
    this.bytes = 0;
    return out;
  }
}

type Body = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Counts a body's bytes against its header's size. */
class BodyCheck {
  written = 0;
  constructor(private readonly header: TarHeader) {}

  add(buffer: Buffer): void {
    if (this.written + buffer.length > this.header.size) {
      throw new Error(`${this.header.name} grew while it was archived (expected ${this.header.size} bytes)`);
    }
    this.written += buffer.length;
  }

  finish(chunks: Chunks): void {
    if (this.written !== this.header.size) {
      throw new Error(`${this.header.name} shrank while it was archived (${this.written} of ${this.header.size} bytes)`);
    }
    const pad = padding(this.written);
    if (pad > 0) chunks.add(ZEROS.subarray(0, pad));
  }
}

function isSyncBody(body: Body | Promise<AsyncIterable<Uint8Array>>): body is Iterable<Uint8Array> {
  return Symbol.iterator in body;
}

async function* generateTar(
  entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  const chunks = new Chunks();
  const slice = new WorkSlice();
  const syncEntries = Symbol.asyncIterator in entries ? undefined : entries[Symbol.iterator]();
  const asyncEntries = syncEntries === undefined ? (entries as AsyncIterable<TarWriteEntry>)[Symbol.asyncIterator]() : undefined;
  let done = false;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const step = syncEntries !== undefined ? syncEntries.next() : await (asyncEntries as AsyncIterator<TarWriteEntry>).next();
      if (step.done === true) {
        done = true;
        break;
      }
      const entry = step.value;
      chunks.add(encodeHeader(entry.header));
      if (entry.header.type === 'file' && entry.header.size > 0) {
        if (entry.body === undefined) throw new Error(`tar entry ${entry.header.name} has size ${entry.header.size} but no body`);
        const check = new BodyCheck(entry.header);
        const body = entry.body();
        if (isSyncBody(body)) {
          for (const chunk of body) {
            const buffer = asBuffer(chunk);
            check.add(buffer);
            if (buffer.length > 0) chunks.add(buffer);
            if (chunks.full) yield chunks.take();
          }
        } else {
          for await (const chunk of await body) {
            signal?.throwIfAborted();
            const buffer = asBuffer(chunk);
            check.add(buffer);
            if (buffer.length > 0) chunks.add(buffer);
            if (chunks.full) yield chunks.take();
          }
        }
        check.finish(chunks);
      }
      if (chunks.full) yield chunks.take();
      if (syncEntries !== undefined && slice.due()) await slice.pause();
    }
  } finally {
    // A consumer that stopped early (or an error) ends the entries too: their files are closed.
    if (!done) {
      if (syncEntries !== undefined) syncEntries.return?.();
      else await asyncEntries?.return?.();
    }
  }
  chunks.add(END_OF_ARCHIVE);
  yield chunks.take();
}

export { BLOCK };
