/**
 * zstd decompression with bounded memory. `zstd-napi`'s DecompressStream decodes a whole input chunk
 * in one `_transform` and pushes everything it produces, ignoring backpressure: a 64 KiB read of a zstd
 * bomb (RLE blocks: 4 bytes -> 128 KiB) became ~1 GB in memory at once. Here the same native streaming
 * context (ZSTD_decompressStream) fills one output buffer per call inside an async generator, so the
 * next buffer is produced only when the consumer asks for it.
 */
import type BindingModule from 'zstd-napi/binding.js';
import { lazyModule } from '../util/lazy-module.js';

const addon = lazyModule<typeof BindingModule>('zstd-napi/binding.js', import.meta.url);

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Decompresses zstd frames from `source`; a stream that ends inside a frame is an error. */
export async function* zstdDecompress(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const binding = addon();
  // Output buffer per call (ZSTD_DStreamOutSize: one full block).
  const outSize = binding.dStreamOutSize();
  const dctx = new binding.DCtx();
  let inFrame = false;
  for await (const chunk of source) {
    let input = toBuffer(chunk);
    for (;;) {
      const output = Buffer.allocUnsafe(outSize);
      const [hint, produced, consumed] = dctx.decompressStream(output, input);
      input = input.subarray(consumed);
      if (produced > 0) yield output.subarray(0, produced);
      // Done with this chunk once it is consumed and the context holds no more output for it.
      if (input.length === 0 && (produced < output.length || hint === 0)) {
        inFrame = hint !== 0;
        break;
      }
    }
  }
  if (inFrame) throw new Error('the zstd stream ends in the middle of a frame');
}
