/**
 * The content store: an OCI image layout under `<stateRoot>/content/` (readable by skopeo and umoci)
 * with its metadata (blob ages, leases, references) in the shared SQLite database.
 *
 * Blobs enter only through `ingest`/`put`: written to a temp file in `ingest/` (same filesystem),
 * hashed while written, fsynced, checked against the expected digest and size, then renamed into
 * `blobs/sha256/<hex>`. Rename is atomic, so a reader sees a blob whole or not at all, and two
 * processes ingesting the same blob both succeed with one copy. `open` re-hashes what it streams, so
 * a blob damaged on disk never leaves the store unnoticed (save, archives, push, cache export): its
 * reader fails with STORE_CORRUPT naming the blob; `verify` re-hashes for fsck.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PROCESS_OWNER } from '../util/owner.js';
import { existsSync, mkdirSync, renameSync, statSync, unlinkSync, } from 'node:fs';
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { StagecraftError, digestHex, type Digest } from '../core/index.js';
import type { Database, TypedStatement } from '../db/index.js';
import { CONTENT_MIGRATIONS, CONTENT_SCHEMA_OWNER } from './schema.js';

/** What the store knows of a blob. */
export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

/** A blob made from another by a deterministic conversion (e.g. a tar layer gzipped). */
export interface Conversion {
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
}

/** A lease keeps blobs (and what they reference) from garbage collection until released or expired. */
export interface Lease extends AsyncDisposable {
  readonly id: string;
  /** Protects `digest` (present or not yet) for the life of the lease. */
  add(digest: Digest): void;
  /** Ends the lease; idempotent. */
  release(): void;
}

export interface IngestOptions {
  /** Fail with DIGEST_MISMATCH unless the content hashes to this digest. */
  readonly digest?: Digest | undefined;
  /** Fail with DIGEST_MISMATCH unless exactly this many bytes arrive (checked while streaming). */
  readonly size?: number | undefined;
  /** Adds the blob to this lease in the same transaction that makes it visible. */
  readonly lease?: Lease | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Called with the running byte count as data arrives. */
  readonly onProgress?: ((bytes: number) => void) | undefined;
}

export interface ContentStoreOptions {
  /** The layout directory, normally `<stateRoot>/content`. */
  readonly root: string;
  readonly db: Database;
  /** Milliseconds since the epoch; injected so GC can be tested with a fake clock. */
  readonly clock?: () => number;
}

const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';
const EMPTY_INDEX = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}\n';

const conversionRowSchema = z.object({ digest: z.string().regex(/^sha256:[0-9a-f]{64}$/), size: z.number().int().nonnegative(), media_type: z.string() });
const blobRowSchema = z.object({ digest: z.string(), size: z.number().int(), created_at: z.number().int(), touched_at: z.number().int() });
export type BlobRow = z.infer<typeof blobRowSchema>;

/** Hashes and counts what passes; enforces a size ceiling while streaming. */
class HashingCounter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(
    private readonly label: string,
    private readonly limit: number | undefined,
    private readonly onProgress: ((bytes: number) => void) | undefined,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.limit !== undefined && this.bytes > this.limit) {
      callback(new StagecraftError('DIGEST_MISMATCH', `${this.label} is larger than its declared size of ${this.limit} bytes`, {
        hint: 'the source sent more data than it declared; nothing was stored',
      }));
      return;
    }
    this.hash.update(chunk);
    this.onProgress?.(this.bytes);
    callback(null, chunk);
  }
}

/**
 * Passes a stored blob's bytes through, hashing them; at the end fails with STORE_CORRUPT unless they
 * hash to the blob's digest.
 */
class DigestCheck extends Transform {
  readonly #hash = createHash('sha256');
  constructor(
    private readonly digest: Digest,
    private readonly corrupt: () => StagecraftError,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    callback(`sha256:${this.#hash.digest('hex')}` === this.digest ? null : this.corrupt());
  }
}

export class ContentStore {
  readonly root: string;
  readonly db: Database;
  readonly clock: () => number;
  readonly #blobsDir: string;
  readonly #ingestDir: string;
  readonly #upsertBlob: (p: { digest: string; size: number; now: number }) => { changes: number };
  readonly #addLeaseBlob: (p: { lease: string; digest: string }) => { changes: number };
  readonly #getConversion: TypedStatement<{ source: string; kind: string }, z.infer<typeof conversionRowSchema>>;
  readonly #putConversion: (p: { source: string; kind: string; digest: string; size: number; media_type: string }) => { changes: number };
  readonly #dropConversion: (p: { source: string; kind: string }) => { changes: number };

  private constructor(options: ContentStoreOptions) {
    this.root = options.root;
    this.db = options.db;
    this.clock = options.clock ?? Date.now;
    this.#blobsDir = join(this.root, 'blobs', 'sha256');
    this.#ingestDir = join(this.root, 'ingest');
    this.#upsertBlob = this.db.command(
      `INSERT INTO content_blobs (digest, size, created_at, touched_at) VALUES (@digest, @size, @now, @now)
       ON CONFLICT (digest) DO UPDATE SET touched_at = max(touched_at, @now)`,
    );
    this.#addLeaseBlob = this.db.command('INSERT OR IGNORE INTO content_lease_blobs (lease_id, digest) VALUES (@lease, @digest)');
    this.#getConversion = this.db.statement('SELECT digest, size, media_type FROM content_conversions WHERE source = @source AND kind = @kind', conversionRowSchema);
    this.#putConversion = this.db.command(
      'INSERT OR REPLACE INTO content_conversions (source, kind, digest, size, media_type) VALUES (@source, @kind, @digest, @size, @media_type)',
    );
    this.#dropConversion = this.db.command('DELETE FROM content_conversions WHERE source = @source AND kind = @kind');
  }

  /** Opens the store at `options.root`, creating the layout and applying migrations as needed. */
  static async open(options: ContentStoreOptions): Promise<ContentStore> {
    options.db.migrate(CONTENT_SCHEMA_OWNER, CONTENT_MIGRATIONS);
    await mkdir(join(options.root, 'blobs', 'sha256'), { recursive: true });
    await mkdir(join(options.root, 'ingest'), { recursive: true });
    // Two processes may create the layout at once: both write identical bytes, and `wx` keeps the
    // first.
    for (const [file, text] of [['oci-layout', OCI_LAYOUT], ['index.json', EMPTY_INDEX]] as const) {
      if (!existsSync(join(options.root, file))) {
        await writeFile(join(options.root, file), text, { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
      }
    }
    return new ContentStore(options);
  }

  /** The path of a blob's file (whether or not it exists). */
  blobPath(digest: Digest): string {
    return join(this.#blobsDir, digestHex(digest));
  }

  get blobsDir(): string {
    return this.#blobsDir;
  }

  get ingestDir(): string {
    return this.#ingestDir;
  }

  /** Size of a stored blob, or undefined if absent. */
  async info(digest: Digest): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return { digest, size: s.size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  /**
   * A stream of a blob's bytes, checked against its digest as they pass: read to the end, it fails
   * with STORE_CORRUPT if the file was damaged. Throws NOT_FOUND if absent.
   */
  async open(digest: Digest): Promise<Readable> {
    const path = this.blobPath(digest);
    const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? this.#notFound(digest) : error;
    });
    const source = handle.createReadStream();
    const check = new DigestCheck(digest, () => this.corrupt(digest));
    source.on('error', (error) => check.destroy(error));
    // A reader that stops early closes the file too.
    check.on('close', () => source.destroy());
    return source.pipe(check);
  }

  /** The error for a stored blob whose bytes do not match its digest. */
  corrupt(digest: Digest): StagecraftError {
    const path = this.blobPath(digest);
    return new StagecraftError('STORE_CORRUPT', `blob ${digest} in the content store is damaged: the bytes of ${path} do not match its digest`, {
      hint: `remove the file (rm ${path}) and pull the image again (stagecraft pull IMAGE), or rebuild with --no-cache; \`stagecraft prune\` drops build cache that needs it`,
    });
  }

  /**
   * Runs `fn`, which reads blob `digest` (e.g. decompresses it); if it fails and the blob is damaged,
   * fails with STORE_CORRUPT naming the blob instead of the reader's error (e.g. zlib's "incorrect
   * data check").
   */
  async reading<T>(digest: Digest, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof StagecraftError && error.code === 'STORE_CORRUPT') throw error;
      const intact = await this.verify(digest).catch(() => true);
      throw intact ? error : this.corrupt(digest);
    }
  }

  /** The whole blob in memory (for manifests and configs). Throws NOT_FOUND if absent. */
  async read(digest: Digest): Promise<Buffer> {
    try {
      return await readFile(this.blobPath(digest));
    } catch (error) {
      throw (error as NodeJS.ErrnoException).code === 'ENOENT' ? this.#notFound(digest) : error;
    }
  }

  #notFound(digest: Digest): StagecraftError {
    return new StagecraftError('NOT_FOUND', `blob ${digest} is not in the content store ${this.root}`, {
      hint: 'pull or load the image again; `stagecraft images` lists what the store holds',
    });
  }

  /**
   * Re-hashes a stored blob. Returns true if it matches its name; false if it is damaged; throws
   * NOT_FOUND if absent.
   */
  async verify(digest: Digest, signal?: AbortSignal): Promise<boolean> {
    const hash = createHash('sha256');
    const handle = await open(this.blobPath(digest), 'r').catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? this.#notFound(digest) : error;
    });
    await pipeline(handle.createReadStream(), async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) hash.update(chunk);
      yield* [];
    }, { signal });
    return `sha256:${hash.digest('hex')}` === digest;
  }

  /**
   * Stores the bytes of `source`, verified against `options.digest`/`options.size` when given.
   * Always reads the whole source. On any failure (mismatch, abort, I/O) nothing is stored and the
   * temp file is removed. Storing a blob that already exists is a no-op that refreshes its age.
   */
  async ingest(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | NodeJS.ReadableStream, options: IngestOptions = {}): Promise<BlobInfo> {
    options.signal?.throwIfAborted();
    // The owner in the name lets GC remove what a killed process left at once.
    const temp = join(this.#ingestDir, `${PROCESS_OWNER}-${randomBytes(12).toString('hex')}.partial`);
    const counter = new HashingCounter(options.digest ?? 'content', options.size, options.onProgress);
    let digest: Digest;
    try {
      const handle = await open(temp, 'wx', 0o644);
      try {
        await pipeline(
          source,
          counter,
          async (data: AsyncIterable<Buffer>) => {
            for await (const chunk of data) await handle.write(chunk);
          },
          { signal: options.signal },
        );
        await handle.sync();
      } finally {
        await handle.close();
      }
      digest = `sha256:${counter.hash.digest('hex')}` as Digest;
      if (options.size !== undefined && counter.bytes !== options.size) {
        throw new StagecraftError('DIGEST_MISMATCH', `content of ${options.digest ?? digest} has ${counter.bytes} bytes, expected ${options.size}`, {
          hint: 'the source sent truncated or different data; retry, and check the registry or file',
        });
      }
      if (options.digest !== undefined && digest !== options.digest) {
        throw new StagecraftError('DIGEST_MISMATCH', `content expected to be ${options.digest} hashes to ${digest}`, {
          hint: 'the source sent different data than it declared; nothing was stored',
        });
      }
      this.#commit(temp, digest, counter.bytes, options.lease);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return { digest, size: counter.bytes };
  }

  /** Stores a small blob from memory. */
  async put(data: Uint8Array | string, options: Omit<IngestOptions, 'size' | 'onProgress'> = {}): Promise<BlobInfo> {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    return this.ingest([bytes], { ...options, size: bytes.length });
  }

  /**
   * Makes a verified temp file visible. Runs under the database write lock so it is ordered against
   * GC's sweep (which deletes under the same lock): a blob seen here as present cannot vanish before
   * its row is refreshed, and the refreshed age then protects it for the grace period.
   */
  #commit(temp: string, digest: Digest, size: number, lease: Lease | undefined): void {
    const target = this.blobPath(digest);
    const now = this.clock();
    this.db.writeTransaction(() => {
      if (existsSync(target)) unlinkSync(temp);
      else renameSync(temp, target);
      this.#upsertBlob({ digest, size, now });
      if (lease !== undefined) this.#addLeaseBlob({ lease: lease.id, digest });
    });
  }

  /**
   * Marks a present blob as in use now (it will survive GC for the grace period) and adds it to
   * `lease` if given. Returns false if the blob is absent. Used when a pull skips a blob it already has.
   */
  touch(digest: Digest, lease?: Lease): boolean {
    const target = this.blobPath(digest);
    return this.db.writeTransaction(() => {
      if (!existsSync(target)) return false;
      const now = this.clock();
      const row = this.blobRow(digest);
      this.#upsertBlob({ digest, size: row?.size ?? sizeOf(target), now });
      if (lease !== undefined) this.#addLeaseBlob({ lease: lease.id, digest });
      return true;
    });
  }

  /** The metadata row of a blob, if any (blobs placed by other tools have none). */
  blobRow(digest: Digest): BlobRow | undefined {
    return this.db.statement<{ digest: string }, BlobRow>('SELECT digest, size, created_at, touched_at FROM content_blobs WHERE digest = @digest', blobRowSchema).get({ digest });
  }

  /**
   * The stored result of converting blob `source` by `kind` (e.g. "gzip-6"), if it was recorded and
   * its blob is still present (GC may have removed it; the row is then forgotten).
   */
  async conversion(source: Digest, kind: string): Promise<Conversion | undefined> {
    const row = this.#getConversion.get({ source, kind });
    if (row === undefined) return undefined;
    const digest = row.digest as Digest;
    if ((await this.info(digest))?.size === row.size) return { digest, size: row.size, mediaType: row.media_type };
    this.#dropConversion({ source, kind });
    return undefined;
  }

  /** Records that converting `source` by `kind` gave the (stored) blob `result`. */
  recordConversion(source: Digest, kind: string, result: Conversion): void {
    this.#putConversion({ source, kind, digest: result.digest, size: result.size, media_type: result.mediaType });
  }

  /** Creates the ingest directory again if something removed it (e.g. a manual cleanup). */
  ensureDirs(): void {
    mkdirSync(this.#ingestDir, { recursive: true });
    mkdirSync(this.#blobsDir, { recursive: true });
  }
}

function sizeOf(path: string): number {
  // Only reached for blobs with no row (placed by another tool): one stat under the lock.
  return statSync(path).size;
}
