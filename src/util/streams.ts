/** Small stream helpers: digesting pass-throughs and peeking at the first bytes of a stream. */
import { createHash, type Hash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { Digest } from '../core/index.js';

/**
 * A pass-through that hashes (sha256) and counts what flows through it. Read `digest()` and `size`
 * only after the stream has finished.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private total = 0;
  private finalDigest: Digest | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.total += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.finalDigest = `sha256:${this.hash.digest('hex')}` as Digest;
    callback();
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.total;
  }

  /** sha256 of everything that passed; throws if the stream has not ended. */
  digest(): Digest {
    if (this.finalDigest === undefined) throw new Error('DigestStream.digest() called before the stream ended');
    return this.finalDigest;
  }
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export interface Peeked {
  /** The first bytes of the stream (at least `n` unless the stream is shorter). */
  readonly head: Buffer;
  /** The whole stream again, head included. */
  readonly stream: Readable;
}

/** Reads the first `n` bytes of `source` without losing them. */
export async function peek(source: AsyncIterable<Uint8Array>, n: number): Promise<Peeked> {
  const iterator = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < n) {
    const next = await iterator.next();
    if (next.done === true) {
      done = true;
      break;
    }
    const chunk = toBuffer(next.value);
    chunks.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) return;
      yield toBuffer(next.value);
    }
  }
  return { head: head.subarray(0, Math.min(n, head.length)), stream: Readable.from(replay(), { objectMode: false }) };
}

/** `n` bytes in binary units for messages: `512 B`, `1 MiB`, `1.5 GiB`. */
export function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

/**
 * A pass-through that counts bytes and fails the stream with `onExceed(seen)` as soon as more than
 * `max` bytes have passed (a decompression-bomb guard: put it right after a decoder).
 */
export class ByteLimit extends Transform {
  #seen = 0;

  constructor(
    private readonly max: number,
    private readonly onExceed: (seen: number) => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.max) callback(this.onExceed(this.#seen));
    else callback(null, chunk);
  }

  /** Bytes seen so far. */
  get seen(): number {
    return this.#seen;
  }
}
