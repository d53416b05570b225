/**
 * Layer compression and decompression. One streaming pass computes the diffID (sha256 of the tar),
 * the blob digest and the blob size. gzip output is reproducible: zlib's header has mtime 0 and no
 * name, and the OS byte is fixed to 255 ("unknown", as Go's gzip writer used by BuildKit) instead of
 * the platform's code. zstd runs zstd's own worker threads (nbWorkers ≥ 1 always, because zstd's
 * multi-threaded output is the same for any worker count but differs from single-threaded mode).
 */
import { availableParallelism } from 'node:os';
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import zstd from 'zstd-napi';
import { StagecraftError, type Digest } from '../core/index.js';
import { DigestStream, peek } from '../util/streams.js';

export type CompressionAlgorithm = 'gzip' | 'zstd';

export const LAYER_MEDIA_TYPES = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export interface CompressOptions {
  readonly algorithm: CompressionAlgorithm;
  /** gzip 1–9 (default 6 as BuildKit's default), zstd 1–22 (default 3). */
  readonly level?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface CompressResult {
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
  /** sha256 of the compressed blob. */
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: (typeof LAYER_MEDIA_TYPES)[CompressionAlgorithm];
}

/** Fixes the OS byte (offset 9) of the gzip header. */
class GzipHeaderFix extends Transform {
  private seen = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.seen <= 9 && this.seen + chunk.length > 9) {
      chunk = Buffer.from(chunk);
      chunk[9 - this.seen] = 0xff;
    }
    this.seen += chunk.length;
    callback(null, chunk);
  }
}

function checkLevel(algorithm: CompressionAlgorithm, level: number): void {
  const [min, max] = algorithm === 'gzip' ? [1, 9] : [1, 22];
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new StagecraftError('USAGE', `invalid ${algorithm} compression level ${level}`, {
      hint: `use an integer from ${min} to ${max}`,
    });
  }
}

function compressor(options: CompressOptions): Transform[] {
  if (options.algorithm === 'gzip') {
    const level = options.level ?? 6;
    checkLevel('gzip', level);
    return [createGzip({ level }), new GzipHeaderFix()];
  }
  const level = options.level ?? 3;
  checkLevel('zstd', level);
  const workers = Math.max(1, Math.min(2, availableParallelism()));
  return [new zstd.CompressStream({ compressionLevel: level, nbWorkers: workers })];
}

/**
 * Compresses the tar `source` into `destination` with backpressure (memory stays bounded whatever the
 * layer size) and returns the diffID, blob digest and size. `destination` is ended on success and
 * destroyed on failure or abort.
 */
export async function compressLayer(
  source: AsyncIterable<Uint8Array> | Readable,
  destination: Writable,
  options: CompressOptions,
): Promise<CompressResult> {
  const tarDigest = new DigestStream();
  const blobDigest = new DigestStream();
  const stages = compressor(options);
  const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  await pipeline([input, tarDigest, ...stages, blobDigest, destination], options.signal === undefined ? {} : { signal: options.signal });
  return {
    diffId: tarDigest.digest(),
    digest: blobDigest.digest(),
    size: blobDigest.size,
    mediaType: LAYER_MEDIA_TYPES[options.algorithm],
  };
}

export type DetectedCompression = 'none' | CompressionAlgorithm;

export function detectCompression(head: Buffer): DetectedCompression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * The uncompressed tar of a layer blob whose compression (none, gzip, zstd) is detected from its
 * first bytes. Errors of the source or the decoder surface when the result is read.
 */
export async function decompressLayer(source: AsyncIterable<Uint8Array>): Promise<{ compression: DetectedCompression; tar: Readable }> {
  const { head, stream } = await peek(source, 4);
  const compression = detectCompression(head);
  if (compression === 'none') return { compression, tar: stream };
  const decoder: Transform = compression === 'gzip' ? createGunzip() : new zstd.DecompressStream();
  pipeline(stream, decoder).catch((error: unknown) => {
    decoder.destroy(
      new StagecraftError('LAYER_INVALID', `cannot decompress ${compression} layer: ${error instanceof Error ? error.message : String(error)}`, {
        hint: 'the layer blob is damaged; pull or build it again',
        cause: error,
      }),
    );
  });
  return { compression, tar: decoder };
}
