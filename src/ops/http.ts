/**
 * `ADD <url>`: downloads over HTTP(S) with Node's fetch, streamed to disk (memory stays flat whatever
 * the size). With `--checksum` the key is the checksum (no download needed to decide a cache hit) and
 * the download is verified against it; otherwise the key is the digest of the downloaded content.
 *
 * A connection that fails or closes before the body is complete (fewer bytes than Content-Length, or
 * a reset mid-body) is retried with backoff, as BuildKit's HTTP source retries transient errors; the
 * last failure is reported with the URL (credentials removed) and the bytes received; each retry is a
 * `registry.retry` event saying why.
 *
 * The downloads of one build (one per URL and checksum, shared by the cache-key and execute phases)
 * belong to its `HttpDownloads`, which the build creates and drops with its run directory.
 */
import { createHash, type Hash } from 'node:crypto';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StagecraftError, isStagecraftError } from '../core/index.js';
import { nullSink, type EventSink } from '../events/index.js';
import type { HttpSourceOp } from '../plan/index.js';
import { redactText, redactUrl } from '../registry/index.js';
import { retry } from '../util/retry.js';
import { assertRemoteHost } from './http-address.js';

export interface DownloadOptions {
  /** Where the downloads go (a directory per download); removed with the build's run directory. */
  readonly root: string;
  /** Where retries are reported (`registry.retry`). Default: nowhere. */
  readonly events?: EventSink | undefined;
  /** Whether the download may connect to the host's own loopback (`--allow network.host`). Default false. */
  readonly allowHostLocal?: boolean | undefined;
  /** Attempts per download, the first included. Default 3. */
  readonly attempts?: number | undefined;
  /** Delay before the second attempt (doubles each time). Default 500 ms. */
  readonly baseDelayMs?: number | undefined;
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

/** Hashes and counts what passes. */
class Tally extends Transform {
  bytes = 0;
  constructor(readonly hash: Hash) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

/** One attempt: the body streamed into `partial`; returns its digest. */
async function attempt(op: HttpSourceOp, url: string, partial: string, signal: AbortSignal, options: DownloadOptions): Promise<string> {
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
  const tally = new Tally(createHash(algorithm));
  const of = expected === undefined ? '' : ` of ${expected}`;
  // 0600, as BuildKit's HTTP source writes a downloaded file (and the Dockerfile reference documents).
  const handle = await open(partial, 'w', 0o600);
  try {
    const body = response.body === null ? Readable.from([]) : Readable.fromWeb(response.body);
    await pipeline(body, tally, handle.createWriteStream(), { signal });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new TransientDownloadError('REGISTRY_ERROR', `ADD ${url}: the download was cut short after ${tally.bytes}${of} bytes: ${describe(error)}`, {
      hint: 'the server or the network closed the connection early; check the URL and the network, then build again',
      cause: error,
    });
  } finally {
    await handle.close().catch(() => undefined);
  }
  if (expected !== undefined && tally.bytes !== expected) {
    throw new TransientDownloadError('REGISTRY_ERROR', `ADD ${url}: the download was cut short after ${tally.bytes}${of} bytes (Content-Length)`, {
      hint: 'the server or the network closed the connection early; check the URL and the network, then build again',
    });
  }
  return `${algorithm}:${tally.hash.digest('hex')}`;
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

interface Download {
  /** The directory holding the file (named `op.filename`). */
  readonly dir: string;
  /** `algorithm:hex` of the content (sha256 unless the op's checksum names another). */
  readonly digest: string;
}

/** The `ADD <url>` downloads of one build: each URL (and checksum) is fetched once, whichever phase asks first. */
export class HttpDownloads {
  readonly #pending = new Map<string, Promise<Download>>();

  constructor(private readonly options: DownloadOptions) {}

  /** The cache key of an http source: its checksum when given (no download), else the downloaded content's digest. */
  async cacheKey(op: HttpSourceOp, signal: AbortSignal): Promise<unknown> {
    if (op.checksum !== undefined) return { type: 'http', checksum: op.checksum, filename: op.filename };
    const { digest } = await this.#download(op, signal);
    return { type: 'http', digest, filename: op.filename };
  }

  /** The directory holding the downloaded file, valid until the build ends. */
  async fetch(op: HttpSourceOp, signal: AbortSignal): Promise<string> {
    return (await this.#download(op, signal)).dir;
  }

  #download(op: HttpSourceOp, signal: AbortSignal): Promise<Download> {
    const key = `${op.url}|${op.checksum ?? ''}`;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = download(op, signal, this.options);
      this.#pending.set(key, pending);
      pending.catch(() => this.#pending.delete(key));
    }
    return pending;
  }
}

async function download(op: HttpSourceOp, signal: AbortSignal, options: DownloadOptions): Promise<Download> {
  const url = redactUrl(op.url);
  const events = options.events ?? nullSink;
  await mkdir(options.root, { recursive: true });
  const dir = await mkdtemp(join(options.root, 'http-'));
  const partial = join(dir, `.${op.filename}.partial`);
  try {
    const attempts = options.attempts ?? 3;
    let tries = 0;
    const digest = await retry(
      (n) => {
        tries = n;
        return attempt(op, url, partial, signal, options);
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
    if (op.checksum !== undefined && digest !== op.checksum) {
      throw new StagecraftError('DIGEST_MISMATCH', `ADD ${url}: digest mismatch ${digest} != ${op.checksum}`, { hint: 'the file changed on the server, or --checksum is wrong' });
    }
    await rename(partial, join(dir, op.filename));
    return { dir, digest };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
