/**
 * One HTTP exchange with a registry, as the distribution spec and Docker's token auth spec describe it:
 * learns the auth challenge of each registry host (401 + WWW-Authenticate), fetches and caches bearer
 * tokens per scope until they expire, sends basic credentials where the registry asks for them,
 * follows redirects by hand so that Authorization never goes to another host (blob GETs often redirect
 * to object storage), and retries dropped connections, 5xx and 429 with backoff.
 */
import { StagecraftError } from '../core/index.js';
import { nullSink, type EventSink } from '../events/index.js';
import { formatIssues } from '../oci/index.js';
import { retry, systemClock, type Clock, type RetryDecision } from '../util/retry.js';
import { parseChallenges, pickChallenge, type Challenge } from './challenge.js';
import type { CredentialProvider, Credentials } from './credentials.js';
import { redactText, redactUrl } from './redact.js';
import { errorBodySchema, tokenResponseSchema } from './schemas.js';

/** Where requests for one registry go. */
export interface Endpoint {
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5000` (no trailing slash). */
  readonly base: string;
  /** host[:port] of `base`: the key of auth state, limits and credentials. */
  readonly host: string;
  /** The host credentials are looked up under (`docker.io` for Docker Hub's endpoint). */
  readonly credentialHost: string;
}

export interface RetryPolicy {
  /** Total attempts per request (and per blob download, counting resumes). Default 5. */
  readonly attempts?: number | undefined;
  readonly baseDelayMs?: number | undefined;
  readonly maxDelayMs?: number | undefined;
}

export interface TransportOptions {
  readonly credentials?: CredentialProvider | undefined;
  readonly retry?: RetryPolicy | undefined;
  readonly clock?: Clock | undefined;
  /** Jitter source in [0, 1). Default Math.random. */
  readonly random?: (() => number) | undefined;
  readonly userAgent?: string | undefined;
  /** The fetch implementation. Default: Node's built-in fetch (undici). */
  readonly fetch?: typeof fetch | undefined;
  /** Where retried requests (`registry.retry`) and blob transfers (`transfer.*`) are reported. Default: nowhere. */
  readonly events?: EventSink | undefined;
  /**
   * How long to wait for the status and headers of each response (Go's ResponseHeaderTimeout, which
   * BuildKit's resolver sets to 30 s). A registry that accepts the connection and never answers ends
   * with REGISTRY_ERROR after this long instead of hanging. Default DEFAULT_RESPONSE_TIMEOUT_MS.
   */
  readonly responseTimeoutMs?: number | undefined;
}

/** The default wait for a registry's response headers: 30 s, as BuildKit's resolver transport. */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
/** An error body is only detail for the message: read it for at most this long, then report the status alone. */
const ERROR_BODY_TIMEOUT_MS = 5_000;

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface SendOptions {
  readonly method: HttpMethod;
  readonly url: URL;
  readonly endpoint: Endpoint;
  /** Token scopes this request needs: `repository:library/busybox:pull`. */
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Makes the request body; called again for each attempt and for a 307/308 redirect. */
  readonly body?: (() => RequestBody) | undefined;
  /** Retry on dropped connections, 5xx and 429. Default true; false for non-idempotent requests. */
  readonly retry?: boolean | undefined;
  /** What the request does, for messages: `GET manifest docker.io/library/busybox:latest`. */
  readonly what: string;
  readonly signal?: AbortSignal | undefined;
  /** Where a retry of this request is reported (`registry.retry`, with the reason). */
  readonly events?: EventSink | undefined;
}

export type RequestBody = Uint8Array | string | ReadableStream<Uint8Array>;

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

interface HostAuth {
  challenge: Challenge | undefined;
  readonly tokens: Map<string, CachedToken>;
  /** Token requests in flight, so parallel requests for one scope share one token request. */
  readonly pending: Map<string, Promise<CachedToken>>;
}

const MAX_REDIRECTS = 10;
/** Docker's token spec: a token without `expires_in` lives 60 s. */
const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Refresh a token this long before it expires, so it does not expire in flight. */
const TOKEN_EXPIRY_MARGIN_MS = 10_000;

/** A retryable answer (5xx, 429) kept until the retries are used up. */
class RetryableStatus extends Error {
  /** `503 Service Unavailable`: why the request is retried. */
  readonly reason: string;

  constructor(
    response: Response,
    readonly retryAfterMs: number | undefined,
    readonly error: StagecraftError,
  ) {
    super(error.message);
    this.reason = `${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`}${retryAfterMs === undefined ? '' : ` (Retry-After ${Math.round(retryAfterMs / 1000)} s)`}`;
  }
}

/**
 * Why a failed attempt is retried, in a few words: the status of a 5xx/429 answer, the socket error of
 * a dropped connection, or the message of a transient failure (without the `what` it starts with).
 */
export function retryReason(error: unknown, what: string): string {
  if (error instanceof RetryableStatus) return error.reason;
  if (isNetworkError(error)) return describeNetworkError(error);
  const message = error instanceof Error ? error.message : String(error);
  return redactText(message.startsWith(`${what}: `) ? message.slice(what.length + 2) : message);
}

/** A connection that failed or dropped (fetch rejects with a TypeError whose cause names the socket error). */
export function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError' || error instanceof StagecraftError) return false;
  if (error instanceof TypeError && /fetch failed|terminated|other side closed|socket/i.test(error.message)) return true;
  const code = (error as NodeJS.ErrnoException).code ?? ((error.cause as NodeJS.ErrnoException | undefined)?.code);
  return typeof code === 'string' && /^(ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|EAI_AGAIN|UND_ERR_)/.test(code);
}

export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return redactText(`${error.message}${cause}`);
}

/** Retry-After as milliseconds (seconds or an HTTP date). */
function retryAfter(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/**
 * Reads at most `limit` bytes of an error body as text (the rest is discarded), for at most
 * `timeoutMs`: a registry that sends an error status and never ends its body must not hang the caller.
 */
async function readErrorBody(response: Response, limit = 64 * 1024, timeoutMs = ERROR_BODY_TIMEOUT_MS): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), timeoutMs);
  });
  try {
    while (total < limit) {
      const next: Awaited<ReturnType<typeof reader.read>> | 'expired' = await Promise.race([reader.read(), expired]);
      if (next === 'expired' || next.done) break;
      chunks.push(next.value);
      total += next.value.byteLength;
    }
  } catch {
    // a broken error body still lets us report the status
  } finally {
    clearTimeout(timer);
    // Release the connection: the rest of the body (or a body that never ends) is not read.
    void reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

/** The chunks of a fetch body (typed: Node's web streams are async iterable, but not in our lib typings). */
export async function* bodyChunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    // On an early exit (break, error) cancel so the connection is released.
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * The chunks of a small body (a manifest, a tag list page) where each chunk must come within
 * `idleMs`: a registry that sends the headers and then stalls ends with REGISTRY_ERROR naming `what`.
 */
export async function* bodyChunksWithin(body: ReadableStream<Uint8Array>, idleMs: number, what: string): AsyncGenerator<Uint8Array> {
  const reader: ReadableStreamDefaultReader<Uint8Array> = body.getReader();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<'stalled'>((resolve) => {
        timer = setTimeout(() => resolve('stalled'), idleMs);
      });
      const next: Awaited<ReturnType<typeof reader.read>> | 'stalled' = await Promise.race([reader.read(), stalled]).finally(() => clearTimeout(timer));
      if (next === 'stalled') {
        throw new StagecraftError('REGISTRY_ERROR', redactText(`${what}: the response body stalled (no data for ${formatDuration(idleMs)})`), {
          hint: 'the registry or a proxy stopped sending; try again, or raise "registryResponseTimeout" (seconds) in the config file',
        });
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    void reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function formatDuration(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

/** Discards a response body so the connection can be reused. */
export async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // already closed
  }
}

/**
 * The error for a registry's non-success answer: NOT_FOUND for 404 and *_UNKNOWN codes, REGISTRY_AUTH
 * for 401/403, DIGEST_MISMATCH for DIGEST_INVALID/SIZE_INVALID, else REGISTRY_ERROR. Reads the body.
 */
export async function errorFromResponse(response: Response, what: string): Promise<StagecraftError> {
  const text = response.status === 404 && response.headers.get('content-length') === '0' ? '' : await readErrorBody(response);
  let codes: string[] = [];
  let detail = '';
  if (text !== '') {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = errorBodySchema.safeParse(json);
    if (parsed.success) {
      codes = parsed.data.errors.map((e) => e.code);
      detail = parsed.data.errors.map((e) => `${e.code}${e.message === undefined ? '' : `: ${e.message}`}`).join('; ');
    } else {
      // Redact before cutting: a cut can split a URL from its `@` and hide its userinfo from redaction.
      detail = redactText(text.trim().split('\n')[0] ?? '').slice(0, 200);
    }
  }
  const message = redactText(`${what}: ${response.status} ${response.statusText}${detail === '' ? '' : ` (${detail})`}`);
  if (response.status === 404 || codes.some((c) => c.endsWith('_UNKNOWN'))) {
    return new StagecraftError('NOT_FOUND', message, { hint: 'check the repository name and tag, and that you are logged in to a private registry' });
  }
  if (response.status === 401 || response.status === 403 || codes.includes('DENIED') || codes.includes('UNAUTHORIZED')) {
    return new StagecraftError('REGISTRY_AUTH', message, { hint: 'log in with `docker login` (stagecraft reads ~/.docker/config.json) or pass credentials' });
  }
  if (codes.includes('DIGEST_INVALID') || codes.includes('SIZE_INVALID')) {
    return new StagecraftError('DIGEST_MISMATCH', message, { hint: 'the uploaded content does not match its descriptor; rebuild or re-pull the image' });
  }
  return new StagecraftError('REGISTRY_ERROR', message, { hint: response.status >= 500 ? 'the registry failed; try again later' : undefined });
}

/** Errors that ended a request because of a transient failure (connection, 5xx, 429): worth retrying a larger operation. */
const transientFailures = new WeakSet<object>();

export class Transport {
  private readonly auth = new Map<string, HostAuth>();
  private readonly clock: Clock;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: TransportOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** True for the error of a request that failed transiently (see `send`). */
  isRetryableFailure(error: unknown): boolean {
    return (typeof error === 'object' && error !== null && transientFailures.has(error)) || isNetworkError(error);
  }

  /** The auth scheme a registry host asked for, once learned from a 401. */
  challengeScheme(host: string): 'basic' | 'bearer' | 'other' | undefined {
    const scheme = this.auth.get(host)?.challenge?.scheme;
    return scheme === undefined ? undefined : scheme === 'basic' || scheme === 'bearer' ? scheme : 'other';
  }

  /** How long to wait for a response's headers, and for each chunk of a small body. */
  get responseTimeoutMs(): number {
    return this.options.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
  }

  get clockSource(): Clock {
    return this.clock;
  }

  /** Decides whether a failure is worth another attempt (used for requests and blob resumes). */
  shouldRetry(error: unknown): RetryDecision {
    if (error instanceof RetryableStatus) return error.retryAfterMs === undefined ? true : { afterMs: error.retryAfterMs };
    return isNetworkError(error);
  }

  /** The sink of the transport's options (retries and transfers of a client bound to a build or a pull). */
  get events(): EventSink {
    return this.options.events ?? nullSink;
  }

  /**
   * Retry options for one operation; each retry of it is reported as a `registry.retry` event on
   * `events` (default: the transport's), naming `what` and why.
   */
  retryOptions(signal: AbortSignal | undefined, enabled = true, report?: { readonly what: string; readonly events?: EventSink | undefined }): Parameters<typeof retry>[1] {
    const attempts = enabled ? (this.options.retry?.attempts ?? 5) : 1;
    const events = report?.events ?? this.events;
    return {
      attempts,
      onRetry: report === undefined ? undefined : (error, attempt, delayMs) => {
        events.emit({ type: 'registry.retry', time: this.clock.now(), what: redactText(report.what), reason: retryReason(error, report.what), attempt, attempts, delayMs });
      },
      baseDelayMs: this.options.retry?.baseDelayMs,
      maxDelayMs: this.options.retry?.maxDelayMs,
      random: this.options.random,
      clock: this.clock,
      signal,
      shouldRetry: (error) => this.shouldRetry(error),
    };
  }

  /**
   * Sends a request and returns the response of any status except 401 (→ REGISTRY_AUTH after one
   * re-authentication) and retried ones (5xx, 429: REGISTRY_ERROR once the attempts are used up). The
   * caller owns the response body.
   */
  async send(options: SendOptions): Promise<Response> {
    try {
      return await retry(() => this.attempt(options), this.retryOptions(options.signal, options.retry ?? true, { what: options.what, events: options.events }));
    } catch (error) {
      if (options.signal?.aborted === true) throw options.signal.reason;
      if (error instanceof RetryableStatus) {
        transientFailures.add(error.error);
        throw error.error;
      }
      if (isNetworkError(error)) {
        const wrapped = new StagecraftError('REGISTRY_ERROR', `${options.what}: cannot reach ${options.endpoint.host}: ${describeNetworkError(error)}`, {
          hint: 'check the registry address and your network; for a registry without TLS pass it as insecure',
          cause: error,
        });
        transientFailures.add(wrapped);
        throw wrapped;
      }
      throw error;
    }
  }

  private hostAuth(host: string): HostAuth {
    let state = this.auth.get(host);
    if (state === undefined) {
      state = { challenge: undefined, tokens: new Map(), pending: new Map() };
      this.auth.set(host, state);
    }
    return state;
  }

  private async attempt(options: SendOptions): Promise<Response> {
    const state = this.hostAuth(options.endpoint.host);
    for (let round = 0; ; round++) {
      const authorization = await this.authorization(options.endpoint, state, options.scopes, options.signal, options.events);
      const { response, url } = await this.fetchFollowing(options, authorization);
      if (response.status === 401 && url.origin !== new URL(options.endpoint.base).origin) {
        // Only the registry's own challenge is learned: a redirect target (object storage) that asks
        // for credentials must not choose the realm our credentials are sent to.
        await discard(response);
        throw new StagecraftError('REGISTRY_ERROR', `${options.what}: ${redactUrl(url)}, where ${options.endpoint.host} redirected, answered 401 Unauthorized`, {
          hint: 'the registry\'s storage refused the download (an expired or broken signed URL); retry, and report it to the registry owner if it persists',
        });
      }
      if (response.status === 401) {
        const header = response.headers.get('www-authenticate');
        const challenge = header === null ? undefined : pickChallenge(parseChallenges(header));
        const error = await errorFromResponse(response, options.what);
        const credentials = await this.options.credentials?.get(options.endpoint.credentialHost, options.signal);
        const fresh = challenge !== undefined && (state.challenge === undefined || state.challenge.scheme !== challenge.scheme || state.challenge.params['realm'] !== challenge.params['realm']);
        if (challenge !== undefined) state.challenge = challenge;
        state.tokens.delete(scopeKey(options.scopes));
        if (round === 0 && challenge !== undefined && (fresh || authorization !== undefined) && (challenge.scheme === 'bearer' || credentials !== undefined)) continue;
        throw new StagecraftError('REGISTRY_AUTH', credentials === undefined ? `${options.what}: the registry ${options.endpoint.credentialHost} requires authentication` : `${options.what}: the registry ${options.endpoint.credentialHost} refused the credentials of ${credentials.username}`, {
          hint: credentials === undefined ? `log in with \`docker login ${options.endpoint.credentialHost}\` or pass credentials` : `check the username and password for ${options.endpoint.credentialHost} (docker login again)`,
          cause: error,
        });
      }
      if (response.status >= 500 || response.status === 429) {
        const after = retryAfter(response.headers.get('retry-after'), this.clock.now());
        throw new RetryableStatus(response, after, await errorFromResponse(response, options.what));
      }
      return response;
    }
  }

  /** The Authorization value for a request to `endpoint`, from what its challenge asked for. */
  private async authorization(endpoint: Endpoint, state: HostAuth, scopes: readonly string[], signal: AbortSignal | undefined, events: EventSink | undefined): Promise<string | undefined> {
    const challenge = state.challenge;
    if (challenge === undefined) return undefined;
    const credentials = await this.options.credentials?.get(endpoint.credentialHost, signal);
    if (challenge.scheme === 'basic') return credentials === undefined ? undefined : basicAuthorization(credentials);
    if (challenge.scheme !== 'bearer') return undefined;
    const key = scopeKey(scopes);
    const cached = state.tokens.get(key);
    if (cached !== undefined && cached.expiresAt - TOKEN_EXPIRY_MARGIN_MS > this.clock.now()) return `Bearer ${cached.token}`;
    let pending = state.pending.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(endpoint, challenge, scopes, credentials, signal, events).finally(() => state.pending.delete(key));
      state.pending.set(key, pending);
    }
    const token = await pending;
    state.tokens.set(key, token);
    return `Bearer ${token.token}`;
  }

  /** GET realm?service=…&scope=… (Docker token auth spec), with basic credentials when we have them. */
  private async fetchToken(endpoint: Endpoint, challenge: Challenge, scopes: readonly string[], credentials: Credentials | undefined, signal: AbortSignal | undefined, events: EventSink | undefined): Promise<CachedToken> {
    const realm = challenge.params['realm'] ?? '';
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new StagecraftError('REGISTRY_AUTH', `the registry ${endpoint.host} sent an invalid token realm ${JSON.stringify(redactText(realm))}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new StagecraftError('REGISTRY_AUTH', `the registry ${endpoint.host} sent a token realm that is not http(s): ${redactUrl(url)}`);
    }
    // Credentials go over plain HTTP only where the registry itself is spoken to that way.
    if (credentials !== undefined && url.protocol === 'http:' && endpoint.base.startsWith('https:') && !isLoopbackName(url.hostname)) {
      throw new StagecraftError('REGISTRY_AUTH', `the registry ${endpoint.host} asks for credentials to be sent to ${redactUrl(url)} over plain HTTP; refused`, {
        hint: `the registry's token realm must be https; if ${url.host} is trusted and has no TLS, mark the registry insecure`,
      });
    }
    const service = challenge.params['service'];
    if (service !== undefined) url.searchParams.set('service', service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    if (credentials !== undefined) url.searchParams.set('account', credentials.username);
    const what = `token for ${endpoint.credentialHost} (${scopes.join(' ')})`;
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent() };
    if (credentials !== undefined) headers['authorization'] = basicAuthorization(credentials);
    const response = await retry(async () => {
      const r = await this.fetchTokenFollowing(url, headers, what, signal);
      if (r.status >= 500 || r.status === 429) {
        throw new RetryableStatus(r, retryAfter(r.headers.get('retry-after'), this.clock.now()), await errorFromResponse(r, what));
      }
      return r;
    }, this.retryOptions(signal, true, { what: `GET ${what}`, events })).catch((error: unknown) => {
      if (signal?.aborted === true) throw signal.reason;
      if (error instanceof RetryableStatus) throw error.error;
      if (isNetworkError(error)) throw new StagecraftError('REGISTRY_AUTH', `${what}: cannot reach the token server ${redactUrl(url)}: ${describeNetworkError(error)}`, { cause: error });
      throw error;
    });
    if (response.status === 401 || response.status === 403) {
      const cause = await errorFromResponse(response, what);
      throw new StagecraftError('REGISTRY_AUTH', credentials === undefined ? `${what}: the token server requires credentials` : `${what}: the token server refused the credentials of ${credentials.username}`, {
        hint: credentials === undefined ? `log in with \`docker login ${endpoint.credentialHost}\` or pass credentials` : `check the username and password for ${endpoint.credentialHost}`,
        cause,
      });
    }
    if (!response.ok) throw await errorFromResponse(response, what);
    let json: unknown;
    try {
      json = await response.json();
    } catch {
      // No cause: a JSON syntax error quotes the text around the fault, which may hold a token.
      throw new StagecraftError('REGISTRY_AUTH', `${what}: the token server answered with invalid JSON`);
    }
    const parsed = tokenResponseSchema.safeParse(json);
    if (!parsed.success) throw new StagecraftError('REGISTRY_AUTH', `${what}: invalid token response: ${formatIssues(parsed.error)}`);
    const token = parsed.data.token ?? parsed.data.access_token ?? '';
    const issued = parsed.data.issued_at === undefined ? Number.NaN : Date.parse(parsed.data.issued_at);
    const lifetime = (parsed.data.expires_in !== undefined && parsed.data.expires_in > 0 ? parsed.data.expires_in : DEFAULT_TOKEN_LIFETIME_S) * 1000;
    // Trust our own clock over a skewed server's issued_at unless it is earlier.
    const start = Number.isNaN(issued) ? this.clock.now() : Math.min(issued, this.clock.now());
    return { token, expiresAt: start + lifetime };
  }

  /**
   * fetch that gives up when the status and headers have not come within the response timeout (the
   * body is not bounded by it: a large blob may take long). The timeout is a REGISTRY_ERROR that is
   * not retried: a registry that accepted the connection and stayed silent this long is not answering.
   */
  private async fetchWithin(url: URL, init: RequestInit, what: string, host: string, signal: AbortSignal | undefined): Promise<Response> {
    const timeoutMs = this.responseTimeoutMs;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error('response timeout')), timeoutMs);
    try {
      return await this.fetchImpl(url, { ...init, signal: signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal]) });
    } catch (error) {
      if (timeout.signal.aborted && signal?.aborted !== true) {
        throw new StagecraftError('REGISTRY_ERROR', redactText(`${what}: timed out after ${formatDuration(timeoutMs)} waiting for ${host} to answer (the connection was accepted, no response came)`), {
          hint: `check that ${host} is a registry and is not overloaded; the wait can be raised with "registryResponseTimeout" (seconds) in the config file`,
        });
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private userAgent(): string {
    return this.options.userAgent ?? 'stagecraft';
  }

  /**
   * GET the token realm, following redirects by hand: the basic credentials go only to the realm's own
   * origin (scheme, host and port), never to where it redirects.
   */
  private async fetchTokenFollowing(realm: URL, headers: Readonly<Record<string, string>>, what: string, signal: AbortSignal | undefined): Promise<Response> {
    let url = realm;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sent: Record<string, string> = { ...headers };
      if (url.origin !== realm.origin) delete sent['authorization'];
      const response = await this.fetchWithin(url, { method: 'GET', headers: sent, redirect: 'manual' }, `GET ${what}`, url.host, signal);
      if (!isRedirect(response.status)) return response;
      url = await redirectTarget(response, url, what);
    }
    throw new StagecraftError('REGISTRY_AUTH', `${what}: more than ${MAX_REDIRECTS} redirects from the token server ${redactUrl(realm)}`);
  }

  /**
   * fetch with manual redirects: Authorization only to the endpoint's own origin (scheme, host and
   * port). Blob GETs are redirected to object storage on other hosts, and an https registry that
   * redirects to http must not get the credentials in clear.
   */
  private async fetchFollowing(options: SendOptions, authorization: string | undefined): Promise<{ response: Response; url: URL }> {
    let url = options.url;
    let method: HttpMethod = options.method;
    let withBody = options.body !== undefined;
    const origin = new URL(options.endpoint.base).origin;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent(), ...options.headers };
      if (authorization !== undefined && url.origin === origin) headers['authorization'] = authorization;
      const body = withBody ? options.body?.() : undefined;
      const init: RequestInit & { duplex?: 'half' } = { method, headers, redirect: 'manual' };
      if (body !== undefined) {
        init.body = body;
        if (body instanceof ReadableStream) init.duplex = 'half';
      }
      const response = await this.fetchWithin(url, init, options.what, url.host, options.signal);
      if (!isRedirect(response.status)) return { response, url };
      const status = response.status;
      url = await redirectTarget(response, url, options.what);
      if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
        method = 'GET';
        withBody = false;
      }
    }
    throw new StagecraftError('REGISTRY_ERROR', `${options.what}: more than ${MAX_REDIRECTS} redirects`);
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function isLoopbackName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/** Where a redirect points (discarding its body); only http(s) targets are followed. */
async function redirectTarget(response: Response, from: URL, what: string): Promise<URL> {
  const location = response.headers.get('location');
  await discard(response);
  if (location === null) throw new StagecraftError('REGISTRY_ERROR', `${what}: redirect without a Location from ${redactUrl(from)}`);
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    throw new StagecraftError('REGISTRY_ERROR', `${what}: ${redactUrl(from)} redirected to an invalid location ${JSON.stringify(redactText(location.slice(0, 200)))}`);
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new StagecraftError('REGISTRY_ERROR', `${what}: ${redactUrl(from)} redirected to a ${target.protocol} URL; only http(s) is followed`);
  }
  if (target.username !== '' || target.password !== '') {
    throw new StagecraftError('REGISTRY_ERROR', `${what}: ${redactUrl(from)} redirected to a URL with credentials in it (${redactUrl(target)}); not followed`);
  }
  return target;
}

export function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
