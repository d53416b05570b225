/**
 * bzip2 decompression with bounded memory. `unbzip2-stream`'s stream wrapper decodes every block its
 * input holds at once and collects each block's output in a JS array of numbers, so a bomb (thousands
 * of ~40-byte blocks per 64 KiB read, each inflating to ~46 MB) took hundreds of MB. Here its block
 * decoder runs one block at a time inside an async generator: the next block is decoded only when the
 * consumer asks for more, and one block's output (at most 900 kB before bzip2's first run-length
 * stage, so under 47 MB after it) is the most ever held.
 */
import type BitIteratorModule from 'unbzip2-stream/lib/bit_iterator.js';
import type Bzip2Module from 'unbzip2-stream/lib/bzip2.js';
import { lazyModule } from '../../util/lazy-module.js';

const bitIteratorModule = lazyModule<typeof BitIteratorModule>('unbzip2-stream/lib/bit_iterator.js', import.meta.url);
const bzip2Module = lazyModule<typeof Bzip2Module>('unbzip2-stream/lib/bzip2.js', import.meta.url);

/** Output is handed on in pieces of this size. */
const PIECE = 1 << 20;

/** Damaged or truncated bzip2 data. */
export class Bzip2DataError extends Error {
  override readonly name = 'Bzip2DataError';
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Decompresses a bzip2 stream (or several concatenated, as pbzip2 writes) from `source`. */
export async function* bunzip2(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const bitIterator = bitIteratorModule();
  const bzip2 = bzip2Module();
  const input = source[Symbol.asyncIterator]();
  const queue: Buffer[] = [];
  let received = 0;
  let ended = false;
  const pull = async (): Promise<void> => {
    const next = await input.next();
    if (next.done === true) {
      ended = true;
    } else if (next.value.length > 0) {
      queue.push(toBuffer(next.value));
      received += next.value.length;
    }
  };
  while (queue.length === 0 && !ended) await pull();
  if (queue.length === 0) throw new Bzip2DataError('empty input');
  const bits = bitIterator(() => {
    const next = queue.shift();
    // Reached only when a block claims more data than the stream holds.
    if (next === undefined) throw new Bzip2DataError('the stream ends inside a block');
    return next;
  });
  let blockSize = 0;
  let streamCrc: number | null = null;
  let work = new Int32Array(0);
  try {
    for (;;) {
      // Enough input for the largest compressed block of this size (as unbzip2-stream's own check).
      const need = blockSize === 0 ? 4 : 25_000 + 100_000 * blockSize;
      while (!ended && received - bits.bytesRead + 1 < need) await pull();
      if (received <= bits.bytesRead) break;
      if (blockSize === 0) {
        blockSize = bzip2.header(bits);
        streamCrc = 0;
        if (work.length !== 100_000 * blockSize) work = new Int32Array(100_000 * blockSize);
        continue;
      }
      const pieces: Buffer[] = [];
      let piece = Buffer.allocUnsafe(PIECE);
      let used = 0;
      const emit = (byte: number): void => {
        piece[used++] = byte;
        if (used === PIECE) {
          pieces.push(piece);
          piece = Buffer.allocUnsafe(PIECE);
          used = 0;
        }
      };
      streamCrc = bzip2.decompress(bits, emit, work, work.length, streamCrc);
      if (streamCrc === null) blockSize = 0;
      if (used > 0) pieces.push(piece.subarray(0, used));
      for (const out of pieces) yield out;
    }
  } catch (error) {
    if (error instanceof Bzip2DataError) throw error;
    // The decoder throws its own non-Error objects and TypeErrors on garbage: all mean damaged data.
    const message = (error as { message?: unknown } | null)?.message;
    throw new Bzip2DataError(typeof message === 'string' ? message : String(error), { cause: error });
  } finally {
    await input.return?.();
  }
  if (streamCrc !== null) throw new Bzip2DataError('the stream ends before its end-of-stream marker');
}
