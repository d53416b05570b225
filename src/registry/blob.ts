/**
 * Blob downloads that verify while streaming: the bytes are hashed and counted as they pass, a
 * dropped connection is resumed with `Range` (or re-read and skipped where the registry answers 200),
 * and the stream errors with DIGEST_MISMATCH at the end if size or digest differ — so a consumer that
 * stores what it reads discards it on error.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { StagecraftError, type Digest } from '../core/index.js';
import type { Descriptor } from '../oci/index.js';
import { backoffDelay, type Clock } from '../util/retry.js';
import type { TransferReporter } from './transfer.js';
import { bodyChunks, discard, isNetworkError } from './transport.js';

export interface BlobDownload {
  readonly descriptor: Descriptor;
  /** For messages: `127.0.0.1:5000/library/busybox`. */
  readonly source: string;
  /** The first response (status 200), already checked. */
  readonly response: Response;
  /** Opens the blob again from byte `offset` (a Range request); the response may be 206 or 200. */
  readonly reopen: (offset: number, signal: AbortSignal | undefined) => Promise<Response>;
  readonly attempts: number;
  readonly backoff: { readonly baseDelayMs?: number | undefined; readonly maxDelayMs?: number | undefined; readonly random?: (() => number) | undefined };
  readonly clock: Clock;
  readonly signal?: AbortSignal | undefined;
  /** Called once when the stream ends, fails or is destroyed (releases the connection slot). */
  readonly release: () => void;
  /** Told when the download starts, how far it is, and when it is complete and verified. */
  readonly reporter?: TransferReporter | undefined;
  /** Called before the wait that precedes a resume: the failure, the failed attempt (1-based), the delay. */
  readonly onRetry?: ((error: unknown, attempt: number, delayMs: number) => void) | undefined;
}

/** DIGEST_MISMATCH naming the repository, the blob, what its descriptor promised and what came. */
function mismatch(download: BlobDownload, got: string): StagecraftError {
  const { digest, size } = download.descriptor;
  return new StagecraftError('DIGEST_MISMATCH', `blob ${digest} from ${download.source}: expected ${digest} (${size} bytes), got ${got}`, {
    hint: 'the registry (or a proxy between) served content that does not match the manifest; nothing was stored; retry, and report it to the registry owner if it persists',
  });
}

/** The Content-Length of a response whose body is the stored bytes (no Content-Encoding), if any. */
function declaredLength(response: Response): number | undefined {
  const encoding = response.headers.get('content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return undefined;
  const header = response.headers.get('content-length');
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim());
}

/** `bytes 100-199/200` → 100 */
function contentRangeStart(header: string | null): number | undefined {
  const match = header === null ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header.trim());
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

async function* verifiedChunks(download: BlobDownload): AsyncGenerator<Buffer> {
  const { descriptor, signal } = download;
  const hash = createHash('sha256');
  let offset = 0;
  let failures = 0;
  let response: Response | undefined = download.response;
  download.reporter?.started();
  try {
    for (;;) {
      try {
        if (response === undefined) {
          response = await download.reopen(offset, signal);
        }
        let skip = 0;
        const declared = declaredLength(response);
        if (response.status === 200 && declared !== undefined && declared !== descriptor.size) {
          // A registry that announces another size is not serving this blob; resuming would not help.
          await discard(response);
          response = undefined;
          throw mismatch(download, `a body of ${declared} bytes (Content-Length)`);
        }
        if (offset > 0) {
          if (response.status === 206) {
            const start = contentRangeStart(response.headers.get('content-range'));
            if (start !== offset) {
              await discard(response);
              throw new StagecraftError('REGISTRY_ERROR', `blob ${descriptor.digest} from ${download.source}: asked to resume at byte ${offset}, got ${response.headers.get('content-range') ?? 'no Content-Range'}`);
            }
          } else {
            // The registry ignored Range: read from the start and skip what we already have.
            skip = offset;
          }
        }
        const body = response.body;
        response = undefined;
        if (body !== null) {
          for await (const chunk of bodyChunks(body)) {
            let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
            if (skip > 0) {
              if (data.length <= skip) {
                skip -= data.length;
                continue;
              }
              data = data.subarray(skip);
              skip = 0;
            }
            if (offset + data.length > descriptor.size) throw mismatch(download, `more than ${descriptor.size} bytes`);
            offset += data.length;
            hash.update(data);
            yield data;
            download.reporter?.progress(offset);
          }
        }
        if (offset >= descriptor.size) break;
        // A body that ended early without an error (a close-delimited response cut short): resume.
        throw Object.assign(new TypeError('terminated'), { cause: new Error(`body ended at byte ${offset} of ${descriptor.size}`) });
      } catch (error) {
        if (signal?.aborted === true) throw signal.reason;
        if (response !== undefined) await discard(response);
        response = undefined;
        if (!isNetworkError(error)) throw error;
        failures++;
        if (failures >= download.attempts) {
          throw new StagecraftError('REGISTRY_ERROR', `blob ${descriptor.digest} from ${download.source}: connection lost at byte ${offset} of ${descriptor.size} (${failures} attempts)`, {
            hint: 'check your network and try again',
            cause: error,
          });
        }
        const delay = backoffDelay(failures, download.backoff);
        download.onRetry?.(error, failures, delay);
        await download.clock.sleep(delay, signal);
      }
    }
    const digest = `sha256:${hash.digest('hex')}` as Digest;
    if (offset !== descriptor.size || digest !== descriptor.digest) throw mismatch(download, `${digest} (${offset} bytes)`);
    download.reporter?.completed('done');
  } finally {
    download.release();
  }
}

/** A byte stream of the blob that errors (DIGEST_MISMATCH, REGISTRY_ERROR, or the abort reason) instead of ending when something is wrong. */
export function verifiedBlobStream(download: BlobDownload): Readable {
  let released = false;
  let started = false;
  const release = (): void => {
    if (released) return;
    released = true;
    download.release();
  };
  const chunks = verifiedChunks({ ...download, release });
  const stream = Readable.from(
    (async function* () {
      started = true;
      yield* chunks;
    })(),
    { objectMode: false },
  );
  // Destroyed before the first read, the generator never runs its `finally`: release here instead.
  stream.once('close', () => {
    if (!started) void discard(download.response);
    release();
  });
  return stream;
}
