/**
 * HTTP reads of vulnerability data (a Debian mirror): GET only, a timeout per request, a byte cap on
 * every body, http/https only. A mirror is untrusted: bodies are checked against the digests the
 * release file names before anything from them is used.
 */
import { StagecraftError } from '../../core/index.js';
import { formatSize } from '../../util/streams.js';

export interface FetchLimits {
  /** The most bytes the body may have. */
  readonly maxBytes: number;
  /** Milliseconds for the whole request, body included (default 60 s). */
  readonly timeoutMs?: number | undefined;
  readonly signal: AbortSignal;
}

/** A fetch failure that a scan reports as a warning (missing file, mirror down, body too large). */
export class FetchProblem extends Error {
  constructor(
    message: string,
    /** The HTTP status, when the server answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'FetchProblem';
  }
}

function checkUrl(url: string): URL {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new StagecraftError('USAGE', `unsupported mirror URL ${JSON.stringify(url)}`, { hint: 'a Debian mirror is an http:// or https:// URL' });
  }
  return parsed;
}

/** Yields the body of `url` chunk by chunk; a body over `maxBytes` or a non-200 answer is a FetchProblem. */
export async function* fetchBody(url: string, limits: FetchLimits): AsyncGenerator<Buffer> {
  const parsed = checkUrl(url);
  const signal = AbortSignal.any([limits.signal, AbortSignal.timeout(limits.timeoutMs ?? 60_000)]);
  let response: Response;
  try {
    response = await fetch(parsed, { signal, redirect: 'follow', headers: { 'user-agent': 'stagecraft-vuln-scan' } });
  } catch (error) {
    limits.signal.throwIfAborted();
    throw new FetchProblem(`cannot reach ${parsed.origin}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}`);
  }
  if (!['http:', 'https:'].includes(new URL(response.url || parsed.href).protocol)) throw new FetchProblem(`${url} redirected away from http(s)`);
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new FetchProblem(`${url}: HTTP ${response.status}`, response.status);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > limits.maxBytes) {
    await response.body?.cancel();
    throw new FetchProblem(`${url} is ${formatSize(declared)}, over the ${formatSize(limits.maxBytes)} cap`);
  }
  if (response.body === null) return;
  let seen = 0;
  const body: AsyncIterable<Uint8Array> = response.body;
  try {
    for await (const chunk of body) {
      seen += chunk.byteLength;
      if (seen > limits.maxBytes) throw new FetchProblem(`${url} is over the ${formatSize(limits.maxBytes)} cap`);
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
  } catch (error) {
    if (error instanceof FetchProblem) throw error;
    limits.signal.throwIfAborted();
    throw new FetchProblem(`${url}: the transfer failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The whole body of `url` (small files: release files, indexes). */
export async function fetchBytes(url: string, limits: FetchLimits): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of fetchBody(url, limits)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
