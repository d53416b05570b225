/**
 * Decompression of mirror data (Packages indexes, .deb members, changelogs) with a cap on the output:
 * a bomb stops at the cap with a FetchProblem-like error instead of filling memory or the disk. The
 * decoders are the project's (node:zlib, snapshot's zstd with backpressure) and xz-decompress, as
 * `ADD` uses for xz archives.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type XzModule from 'xz-decompress';
import { lazyModule } from '../../util/lazy-module.js';
import { detectCompression, zstdDecompress } from '../../snapshot/index.js';
import { formatSize } from '../../util/streams.js';

const xz = lazyModule<typeof XzModule>('xz-decompress', import.meta.url);

export type DataCompression = 'none' | 'gzip' | 'xz' | 'zstd';

/** A decompressed stream that grew past its cap, or data that does not decode. */
export class DecodeProblem extends Error {
  override name = 'DecodeProblem';
}

/** The compression of a file from its name (`Packages.xz`, `data.tar.zst`), else from its first bytes. */
export function compressionOf(name: string, head?: Uint8Array): DataCompression | undefined {
  if (name.endsWith('.gz')) return 'gzip';
  if (name.endsWith('.xz')) return 'xz';
  if (name.endsWith('.zst')) return 'zstd';
  if (head === undefined) return 'none';
  const detected = detectCompression(head);
  return detected === 'bzip2' ? undefined : detected;
}

/** Yields the decompressed bytes of `source`, at most `maxBytes` of them; `what` names the data in errors. */
export async function* decompressed(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, compression: DataCompression, maxBytes: number, what: string): AsyncGenerator<Buffer> {
  let decoded: AsyncIterable<Buffer>;
  const input = Readable.from(source, { objectMode: false });
  switch (compression) {
    case 'none':
      decoded = input;
      break;
    case 'gzip': {
      const gunzip = createGunzip();
      input.on('error', (error) => gunzip.destroy(error));
      input.pipe(gunzip);
      decoded = gunzip;
      break;
    }
    case 'zstd':
      decoded = zstdDecompress(input);
      break;
    case 'xz':
      decoded = Readable.fromWeb(new (xz().XzReadableStream)(Readable.toWeb(input)));
      break;
  }
  let seen = 0;
  try {
    for await (const chunk of decoded) {
      seen += chunk.length;
      if (seen > maxBytes) throw new DecodeProblem(`${what} inflates past ${formatSize(maxBytes)}; refused as a decompression bomb`);
      yield chunk;
    }
  } catch (error) {
    if (error instanceof DecodeProblem) throw error;
    throw new DecodeProblem(`${what}: cannot decompress (${compression}): ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    input.destroy();
  }
}

/** All of it, as one buffer (small data: a changelog, an index under its cap). */
export async function decompressAll(source: AsyncIterable<Uint8Array>, compression: DataCompression, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of decompressed(source, compression, maxBytes, what)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
