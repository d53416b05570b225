/**
 * `ADD <url>`: downloads over HTTP(S) with Node's fetch, streamed into the content store (memory stays
 * flat whatever the size): the body is hashed and counted as it passes and stored as a blob named by
 * its sha256 digest, held by the build's lease until the build ends. With `--checksum` the key is the
 * checksum (no download needed to decide a cache hit) and the download is verified against it before it
 * becomes visible in the store. A blob already in the store is never used in place of the download:
 * the store holds private image layers too, and naming a digest must not be a way to read them.
 * The ADD copies from a per-build file written from the store (re-verified as it is read), mode 0600.
 *
 * A connection that fails or closes before the body is complete (fewer bytes than Content-Length, or
 * a reset mid-body) is retried with backoff, as BuildKit's HTTP source retries transient errors; the
 * last failure is reported with the URL (credentials removed) and the bytes received; each retry is a
 * `registry.retry` event saying why. Nothing short or mismatching is ever stored.
 *
 * The downloads of one build (one per URL and checksum, shared by the cache-key and execute phases)
 * belong to its `HttpDownloads`, which the build creates and disposes (releasing the lease) at its end.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StagecraftError, isDigest, isStagecraftError, type Digest } from '../core/index.js';
import type { Content, Lease } from '../content/index.js';
import { nullSink, type EventSink } from '../events/index.js';
import type { HttpSourceOp } from '../plan/index.js';
import { redactText, redactUrl } from '../registry/index.js';
import { retry } from '../util/retry.js';
import { assertRemoteHost } from './http-address.js';
import type { UrlPins } from './lockfile.js';

export interface DownloadOptions {
  /** Where the files the ADD copies go (a directory per download); removed with the build's run directory. */
  readonly root: string;
  /** The content store the downloads go to, and whose lease holds them for the build. */
  readonly content: Pick<Content, 'blobs' | 'leases'>;
  /** Where retries are reported (`registry.retry`). Default: nowhere. */
  readonly events?: EventSink | undefined;
  /** Whether the download may connect to the host's own loopback (`--allow network.host`). Default false. */
  readonly allowHostLocal?: boolean | undefined;
  /** Attempts per download, the first included. Default 3. */
  readonly attempts?: number | undefined;
  /** Delay before the second attempt (doubles each time). Default 500 ms. */
  readonly baseDelayMs?: number | undefined;
  /** Content digests of URLs (a lockfile): a URL without `--checksum` is verified against its pin. */
  readonly pins?: UrlPins | undefined;
  /** Never download (`--offline`): a step that needs a URL's content fails (a cached step does not). */
  readonly offline?: boolean | undefined;
}

/** A failure worth another attempt (connection errors, truncated bodies, 5xx, 408, 429). */
class TransientDownloadError extends StagecraftError {}

function describe(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  const cause = (error as { cause?: { message?: unknown; code?: unknown } } | null)?.cause;
  let text = typeof message === 'string' ? message : String(error);
  if (typeof cause?.message === 'string' && !text.includes(cause.message)) text += `: ${cause.message}`;
  else if (typeof cause?.code === 'string' && !text.includes(cause.code)) text += ` (${cause.code})`;
  return redactText(text);
}

const CUT_SHORT_HINT = 'the server or the network closed the connection early; check the URL and the network, then build again';

/** One attempt: the body streamed into the content store (under `lease`); returns the blob's digest and the checksum's. */
async function attempt(op: HttpSourceOp, url: string, lease: Lease, signal: AbortSignal, options: DownloadOptions): Promise<Fetched> {
  let response: Response;
  try {
    response = await fetchChecked(op.url, url, signal, options);
  } catch (error) {
    if (isStagecraftError(error)) throw error;
    if (signal.aborted) throw signal.reason;
    // undici reports network failures as "fetch failed" (the reason in `cause`); anything else is a URL
    // fetch refuses (e.g. one with credentials), which another attempt will not change.
    const Failure = (error as { message?: unknown } | null)?.message === 'fetch failed' ? TransientDownloadError : StagecraftError;
    throw new Failure('REGISTRY_ERROR', `ADD ${url}: cannot download: ${describe(error)}`, { hint: 'check the URL and the network', cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    const status = `${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`}`;
    if (response.status >= 500 || response.status === 408 || response.status === 429) {
      throw new TransientDownloadError('REGISTRY_ERROR', `ADD ${url}: the server answered ${status}`, { hint: 'the server is failing or busy; try again later' });
    }
    throw new StagecraftError('NOT_FOUND', `ADD ${url}: the server answered ${status}`, { hint: 'check the URL' });
  }
  // With a Content-Encoding, fetch decodes the body and Content-Length counts the encoded bytes.
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const lengthHeader = response.headers.get('content-length');
  const expected = !encoded && lengthHeader !== null && /^\d+$/u.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const algorithm = op.checksum?.split(':')[0] ?? 'sha256';
  // The store names blobs by sha256; another checksum algorithm is hashed alongside.
  const checksumHash = algorithm === 'sha256' ? undefined : createHash(algorithm);
  const of = expected === undefined ? '' : ` of ${expected}`;
  let bytes = 0;
  let checksum = '';
  // The web stream itself: a Node stream made of it before anyone reads would emit an unhandled
  // error if the connection dropped meanwhile.
  const body: AsyncIterable<Uint8Array> = response.body ?? Readable.from([]);
  // Every check runs before the end of the stream, so a short or mismatching body fails the ingest
  // and is never stored.
  async function* counted(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of body) {
        bytes += chunk.length;
        checksumHash?.update(chunk);
        yield chunk;
      }
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new TransientDownloadError('REGISTRY_ERROR', `ADD ${url}: the download was cut short after ${bytes}${of} bytes: ${describe(error)}`, { hint: CUT_SHORT_HINT, cause: error });
    }
    if (expected !== undefined && bytes !== expected) {
      throw new TransientDownloadError('REGISTRY_ERROR', `ADD ${url}: the download was cut short after ${bytes}${of} bytes (Content-Length)`, { hint: CUT_SHORT_HINT });
    }
    if (checksumHash !== undefined) {
      checksum = `${algorithm}:${checksumHash.digest('hex')}`;
      if (checksum !== op.checksum) throw mismatch(url, checksum, op.checksum ?? '');
    }
  }
  const sha256 = algorithm === 'sha256' && op.checksum !== undefined && isDigest(op.checksum) ? op.checksum : undefined;
  try {
    const stored = await options.content.blobs.ingest(counted(), { digest: sha256, lease, signal });
    return { digest: stored.digest, checksum: checksumHash === undefined ? stored.digest : checksum };
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    // The store's own check of a sha256 checksum: said as the ADD's.
    if (sha256 !== undefined && isStagecraftError(error) && error.code === 'DIGEST_MISMATCH' && !error.message.startsWith('ADD ')) {
      const actual = /hashes to (sha256:[0-9a-f]{64})/u.exec(error.message)?.[1] ?? 'other content';
      throw mismatch(url, actual, sha256);
    }
    throw error;
  } finally {
    // Ends the connection if the store stopped reading first (an unlocked, unfinished body).
    if (response.body !== null && !response.body.locked) await response.body.cancel().catch(() => undefined);
  }
}

function mismatch(url: string, actual: string, wanted: string): StagecraftError {
  return new StagecraftError('DIGEST_MISMATCH', `ADD ${url}: digest mismatch ${actual} != ${wanted}`, { hint: 'the file changed on the server, or --checksum is wrong; nothing was stored' });
}

const MAX_REDIRECTS = 10;

/**
 * fetch, following redirects by hand so that every hop's host is checked (`assertRemoteHost`) unless
 * host-local addresses are allowed.
 */
async function fetchChecked(start: string, shown: string, signal: AbortSignal, options: DownloadOptions): Promise<Response> {
  if (options.allowHostLocal === true) return fetch(start, { signal, redirect: 'follow' });
  let current = new URL(start);
  for (let hops = 0; ; hops++) {
    await assertRemoteHost(current, shown);
    const response = await fetch(current, { signal, redirect: 'manual' });
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || location === null) return response;
    await response.body?.cancel().catch(() => undefined);
    if (hops >= MAX_REDIRECTS) throw new StagecraftError('REGISTRY_ERROR', `ADD ${shown}: more than ${MAX_REDIRECTS} redirects`, { hint: 'check the URL' });
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new StagecraftError('REGISTRY_ERROR', `ADD ${shown}: redirected to a ${next.protocol} URL`, { hint: 'ADD downloads over http and https only' });
    }
    current = next;
  }
}

interface Fetched {
  /** The blob in the content store. */
  readonly digest: Digest;
  /** `algorithm:hex` of the content (sha256 unless the op's checksum names another). */
  readonly checksum: string;
}

/** The `ADD <url>` downloads of one build: each URL (and checksum) is fetched once, whichever phase asks first. */
export class HttpDownloads implements AsyncDisposable {
  readonly #pending = new Map<string, Promise<Fetched>>();
  /** url|checksum → the content's `algorithm:hex`, for provenance. */
  readonly #digests = new Map<string, { readonly url: string; readonly digest: string }>();
  readonly #files = new Map<string, Promise<string>>();
  #lease: Lease | undefined;

  constructor(private readonly options: DownloadOptions) {}

  /** The cache key of an http source: its checksum when given (no download), else the downloaded content's digest. */
  async cacheKey(given: HttpSourceOp, signal: AbortSignal): Promise<unknown> {
    const op = this.#pinned(given);
    if (op.checksum !== undefined) {
      // Not downloaded on a cache hit: the checksum is what the content was pinned to.
      const key = `${op.url}|${op.checksum}`;
      if (!this.#digests.has(key)) this.#digests.set(key, { url: op.url, digest: op.checksum });
      return { type: 'http', checksum: op.checksum, filename: op.filename };
    }
    const { checksum } = await this.#download(op, signal);
    return { type: 'http', digest: checksum, filename: op.filename };
  }

  /** The downloaded blob in the content store, held until the build ends. */
  async blob(op: HttpSourceOp, signal: AbortSignal): Promise<Digest> {
    return (await this.#download(this.#pinned(op), signal)).digest;
  }

  /** A directory holding the downloaded file (named `op.filename`, mode 0600), valid until the build ends. */
  fetch(given: HttpSourceOp, signal: AbortSignal): Promise<string> {
    const op = this.#pinned(given);
    const key = `${op.url}|${op.checksum ?? ''}|${op.filename}`;
    let pending = this.#files.get(key);
    if (pending === undefined) {
      pending = this.#download(op, signal).then(({ digest }) => this.#writeFile(digest, op.filename, signal));
      this.#files.set(key, pending);
      pending.catch(() => this.#files.delete(key));
    }
    return pending;
  }

  /**
   * The URLs of this build with their content digests (`algorithm:hex`: sha256, or the `--checksum`'s
   * algorithm), in the order first seen. The URL as written, credentials included: whoever shows it
   * removes them.
   */
  digests(): readonly { readonly url: string; readonly digest: string }[] {
    return [...this.#digests.values()];
  }

  /** Releases the lease on the downloaded blobs (they stay in the store until GC finds them unused). */
  [Symbol.asyncDispose](): Promise<void> {
    this.#lease?.release();
    return Promise.resolve();
  }

  /** The op with its lock pin as its checksum (verified like `ADD --checksum`). */
  #pinned(op: HttpSourceOp): HttpSourceOp {
    const pins = this.options.pins;
    if (pins === undefined || op.checksum !== undefined) return op;
    const digest = pins.lookup(op.url);
    if (digest !== undefined) return { ...op, checksum: digest };
    if (pins.locked) throw pins.missing(op.url);
    return op;
  }

  #download(op: HttpSourceOp, signal: AbortSignal): Promise<Fetched> {
    const key = `${op.url}|${op.checksum ?? ''}`;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      if (this.options.offline === true) {
        return Promise.reject(new StagecraftError('OFFLINE_MISSING', `ADD ${redactUrl(op.url)}: the download is not in the build cache, and --offline does not contact the network`, {
          hint: 'build once online on this state root (with the same lock), then build --offline',
        }));
      }
      this.#lease ??= this.options.content.leases.create({ label: 'build downloads' });
      pending = download(op, this.#lease, signal, this.options);
      this.#pending.set(key, pending);
      // A downloaded sha256 is what provenance wants even when a checksum of another algorithm was given.
      pending.then((fetched) => this.#digests.set(key, { url: op.url, digest: fetched.digest }), () => undefined);
      pending.catch(() => this.#pending.delete(key));
    }
    return pending;
  }

  /** The blob copied out of the store (verified as it is read) to `<dir>/<filename>`, mode 0600. */
  async #writeFile(digest: Digest, filename: string, signal: AbortSignal): Promise<string> {
    await mkdir(this.options.root, { recursive: true });
    const dir = await mkdtemp(join(this.options.root, 'http-'));
    try {
      // 0600, as BuildKit's HTTP source writes a downloaded file (and the Dockerfile reference documents).
      const handle = await open(join(dir, filename), 'wx', 0o600);
      try {
        await pipeline(await this.options.content.blobs.open(digest), handle.createWriteStream(), { signal });
      } finally {
        await handle.close().catch(() => undefined);
      }
      return dir;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }
}

async function download(op: HttpSourceOp, lease: Lease, signal: AbortSignal, options: DownloadOptions): Promise<Fetched> {
  const url = redactUrl(op.url);
  const events = options.events ?? nullSink;
  // Always downloaded, even when the store already holds a blob named by a sha256 checksum: the store
  // also holds private image layers, which a Dockerfile naming their digest must not be able to read.
  const attempts = options.attempts ?? 3;
  let tries = 0;
  return retry(
    (n) => {
      tries = n;
      return attempt(op, url, lease, signal, options);
    },
    {
      attempts,
      baseDelayMs: options.baseDelayMs ?? 500,
      signal,
      shouldRetry: (error) => error instanceof TransientDownloadError,
      onRetry: (error, failed, delayMs) => {
        const message = error instanceof Error ? error.message : String(error);
        const prefix = `ADD ${url}: `;
        events.emit({ type: 'registry.retry', time: Date.now(), what: `ADD ${url}`, reason: message.startsWith(prefix) ? message.slice(prefix.length) : message, attempt: failed, attempts, delayMs });
      },
    },
  ).catch((error: unknown) => {
    if (tries > 1 && isStagecraftError(error)) {
      throw new StagecraftError(error.code, `${error.message} (${tries} attempts)`, { hint: error.hint, cause: error.cause });
    }
    throw error;
  });
}
