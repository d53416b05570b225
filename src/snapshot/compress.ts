/**
 * Layer compression and decompression. One streaming pass computes the diffID (sha256 of the tar),
 * the blob digest and the blob size. gzip runs on every core (`ParallelGzip`); its output is
 * reproducible: zlib's header has mtime 0 and no name, and the OS byte is fixed to 255 ("unknown", as
 * Go's gzip writer used by BuildKit) instead of the platform's code. zstd runs zstd's own worker threads (nbWorkers ≥ 1 always, because zstd's
 * multi-threaded output is the same for any worker count but differs from single-threaded mode).
 */
import { availableParallelism } from 'node:os';
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzip } from 'node:zlib';
import type * as ZstdAddon from 'zstd-napi';
import { lazyModule } from '../util/lazy-module.js';
import { StagecraftError, isStagecraftError, type Digest } from '../core/index.js';
import { DigestStream, peek } from '../util/streams.js';
import { zstdDecompress } from './zstd.js';

const zstd = lazyModule<typeof ZstdAddon>('zstd-napi', import.meta.url);

export type CompressionAlgorithm = 'gzip' | 'zstd';

export const LAYER_MEDIA_TYPES = {
  none: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** Default levels: gzip 6 (BuildKit's default), zstd 3 (zstd's own). */
export const DEFAULT_COMPRESSION_LEVEL: Readonly<Record<CompressionAlgorithm, number>> = { gzip: 6, zstd: 3 };

export interface CompressOptions {
  /** `none` stores the tar itself (its digest is its diffID). */
  readonly algorithm: CompressionAlgorithm | 'none';
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
  readonly mediaType: (typeof LAYER_MEDIA_TYPES)[CompressionAlgorithm | 'none'];
}

/**
 * gzip on every core, as pigz does for throughput: the tar is cut into fixed 4 MiB pieces, each
 * compressed on libuv's thread pool as its own gzip member, and the members are written in order. A
 * gzip file of several members is standard (RFC 1952; Go's and zlib's readers take it whole); fixed
 * piece boundaries keep the output reproducible; a layer under 4 MiB is one member, byte for byte what
 * a single gzip stream makes.
 */
class ParallelGzip extends Transform {
  static readonly PIECE = 4 << 20;
  readonly #level: number;
  readonly #width = Math.max(1, Math.min(4, availableParallelism()));
  readonly #inflight: Promise<Buffer>[] = [];
  #buffered: Buffer[] = [];
  #bufferedBytes = 0;
  #members = 0;

  constructor(level: number) {
    super();
    this.#level = level;
  }

  #start(piece: Buffer): void {
    const member = new Promise<Buffer>((resolve, reject) => {
      gzip(piece, { level: this.#level }, (error, out) => {
        if (error !== null) reject(error);
        else resolve(out);
      });
    });
    member.catch(() => undefined); // awaited in order by #emitOldest; never unhandled if the stream dies first
    this.#inflight.push(member);
  }

  async #emitOldest(): Promise<void> {
    const next = this.#inflight.shift();
    if (next === undefined) return;
    const out = await next;
    out[9] = 0xff; // the OS byte, as Go's gzip writer leaves it
    this.#members++;
    this.push(out);
  }

  #takePieces(final: boolean): Buffer[] {
    const pieces: Buffer[] = [];
    if (this.#bufferedBytes < ParallelGzip.PIECE && !final) return pieces;
    let all = Buffer.concat(this.#buffered, this.#bufferedBytes);
    while (all.length >= ParallelGzip.PIECE) {
      pieces.push(all.subarray(0, ParallelGzip.PIECE));
      all = all.subarray(ParallelGzip.PIECE);
    }
    if (final && (all.length > 0 || (pieces.length === 0 && this.#members === 0 && this.#inflight.length === 0))) pieces.push(all);
    this.#buffered = all.length > 0 && !final ? [Buffer.from(all)] : [];
    this.#bufferedBytes = final ? 0 : all.length;
    return pieces;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#buffered.push(chunk);
    this.#bufferedBytes += chunk.length;
    void (async () => {
      for (const piece of this.#takePieces(false)) {
        while (this.#inflight.length >= this.#width) await this.#emitOldest();
        this.#start(piece);
      }
    })().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    void (async () => {
      for (const piece of this.#takePieces(true)) {
        while (this.#inflight.length >= this.#width) await this.#emitOldest();
        this.#start(piece);
      }
      while (this.#inflight.length > 0) await this.#emitOldest();
    })().then(() => callback(), callback);
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
  if (options.algorithm === 'none') return [];
  if (options.algorithm === 'gzip') {
    const level = options.level ?? DEFAULT_COMPRESSION_LEVEL.gzip;
    checkLevel('gzip', level);
    return [new ParallelGzip(level)];
  }
  const level = options.level ?? DEFAULT_COMPRESSION_LEVEL.zstd;
  checkLevel('zstd', level);
  const workers = Math.max(1, Math.min(2, availableParallelism()));
  return [new (zstd().CompressStream)({ compressionLevel: level, nbWorkers: workers })];
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
  const stages = compressor(options);
  const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  if (stages.length === 0) {
    await pipeline([input, tarDigest, destination], signalOption);
    return { diffId: tarDigest.digest(), digest: tarDigest.digest(), size: tarDigest.size, mediaType: LAYER_MEDIA_TYPES.none };
  }
  const blobDigest = new DigestStream();
  await pipeline([input, tarDigest, ...stages, blobDigest, destination], signalOption);
  return {
    diffId: tarDigest.digest(),
    digest: blobDigest.digest(),
    size: blobDigest.size,
    mediaType: LAYER_MEDIA_TYPES[options.algorithm],
  };
}

/** The compression of an image layer: none, or one a layer media type names. */
export type DetectedCompression = 'none' | CompressionAlgorithm;

/** The compression of any archive (a layer, an `ADD` archive, a context on stdin). */
export type ArchiveCompression = DetectedCompression | 'bzip2' | 'xz';

/** The most bytes `detectCompression` looks at. */
export const COMPRESSION_MAGIC_BYTES = 6;

const MAGIC: ReadonlyArray<readonly [ArchiveCompression, readonly number[]]> = [
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** Compression from the first bytes of a stream (go-archive's `DetectCompression`). */
export function detectCompression(head: Uint8Array): ArchiveCompression {
  for (const [compression, magic] of MAGIC) {
    if (magic.every((byte, i) => head[i] === byte)) return compression;
  }
  return 'none';
}

/**
 * The uncompressed tar of a layer blob whose compression (none, gzip, zstd) is detected from its
 * first bytes. Errors of the source or the decoder surface when the result is read.
 */
export async function decompressLayer(source: AsyncIterable<Uint8Array>): Promise<{ compression: DetectedCompression; tar: Readable }> {
  const { head, stream } = await peek(source, COMPRESSION_MAGIC_BYTES);
  const compression = detectCompression(head);
  if (compression === 'bzip2' || compression === 'xz') {
    stream.destroy();
    await source[Symbol.asyncIterator]().return?.(); // closes the source (a blob file) the caller handed over
    throw new StagecraftError('LAYER_INVALID', `the layer is compressed with ${compression}, which no layer media type allows`, {
      hint: 'image layers are plain, gzip or zstd tars; rebuild or re-export the image with one of those',
    });
  }
  if (compression === 'none') return { compression, tar: stream };
  // zstd through our own generator: zstd-napi's DecompressStream ignores backpressure (see zstd.ts).
  let decoded: AsyncIterable<Buffer>;
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    // A source error destroys gunzip with it and surfaces when the output is read.
    pipeline(stream, gunzip).catch(() => undefined);
    decoded = gunzip;
  } else {
    decoded = zstdDecompress(stream);
  }
  return { compression, tar: Readable.from(typedErrors(decoded, compression), { objectMode: false }) };
}

/** zlib and zstd report damaged data as plain errors ("incorrect data check", …): type them. */
async function* typedErrors(decoded: AsyncIterable<Buffer>, compression: CompressionAlgorithm): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of decoded) yield chunk;
  } catch (error) {
    if (isStagecraftError(error)) throw error;
    throw new StagecraftError('LAYER_INVALID', `cannot decompress ${compression} layer: ${error instanceof Error ? error.message : String(error)}`, {
      hint: 'the layer blob is damaged; pull or build it again',
      cause: error,
    });
  }
}
