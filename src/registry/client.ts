/**
 * The OCI distribution client: resolve references, fetch manifests and blobs (verified while
 * streaming), push blobs (monolithic or chunked) and manifests, mount blobs across repositories, list
 * tags. Every operation takes an AbortSignal; connections are bounded per registry; plain HTTP only
 * for loopback and hosts marked insecure; Docker Hub pulls try mirrors first.
 */
import { Readable } from 'node:stream';
import {
  DEFAULT_DOMAIN,
  StagecraftError,
  formatImageRef,
  sha256Digest,
  withDigest,
  type Digest,
  type ImageRef,
  type Platform,
} from '../core/index.js';
import {
  MANIFEST_MEDIA_TYPES,
  parseManifest,
  selectManifest,
  stripMediaTypeParameters,
  type Descriptor,
  type ImageManifest,
  type ParsedManifest,
} from '../oci/index.js';
import { nullSink, type EventSink } from '../events/index.js';
import { KeyedLimiter } from '../util/limiter.js';
import { retry } from '../util/retry.js';
import { verifiedBlobStream } from './blob.js';
import { redactUrl } from './redact.js';
import { tagListSchema } from './schemas.js';
import { TransferReporter } from './transfer.js';
import { bodyChunksWithin, discard, errorFromResponse, retryReason, Transport, type Endpoint, type HttpMethod, type RequestBody, type TransportOptions } from './transport.js';

/** A repository in a registry; an `ImageRef` is one. */
export interface Repository {
  readonly domain: string;
  readonly path: string;
}

export interface RegistryClientOptions extends TransportOptions {
  /** Registry hosts (host[:port]) reached over plain HTTP. Loopback hosts always are. */
  readonly insecureHosts?: readonly string[] | undefined;
  /** Docker Hub mirrors (`host[:port]` or `http(s)://host[:port]`), tried in order before Docker Hub for pulls. */
  readonly mirrors?: readonly string[] | undefined;
  /** Concurrent operations per registry. Default 4. */
  readonly maxConnectionsPerHost?: number | undefined;
  /** Largest manifest accepted. Default 4 MiB (the distribution spec's recommended limit). */
  readonly maxManifestBytes?: number | undefined;
  /** Blobs larger than this are uploaded in PATCH chunks. Default 64 MiB. */
  readonly chunkedUploadThreshold?: number | undefined;
  /** Chunk size of chunked uploads. Default 16 MiB. */
  readonly uploadChunkSize?: number | undefined;
}

export interface SignalOptions {
  readonly signal?: AbortSignal | undefined;
}

/** A manifest as fetched: its descriptor (digest of the exact bytes), the bytes, and the parsed value. */
export interface FetchedManifest {
  readonly descriptor: Descriptor;
  readonly bytes: Uint8Array;
  readonly parsed: ParsedManifest;
}

export interface FetchManifestOptions extends SignalOptions {
  /** The mediaType of the descriptor that named this manifest (an index entry): the document must be of its kind. */
  readonly descriptorMediaType?: string | undefined;
}

export interface ResolveOptions extends SignalOptions {
  /** The platform to pick from an index. */
  readonly platform: Platform;
}

export interface ResolveResult {
  /** The reference pinned to the digest it resolved to (the index digest for a multi-platform image). */
  readonly ref: ImageRef;
  /** The image manifest for the platform. */
  readonly descriptor: Descriptor;
  readonly bytes: Uint8Array;
  readonly manifest: ImageManifest;
  readonly parsed: ParsedManifest & { readonly kind: 'manifest' };
  /** The index the reference named, when it named one. */
  readonly index?: FetchedManifest | undefined;
}

export interface PushBlobOptions extends SignalOptions {
  /** Try a cross-repository mount from this repository (same registry) before uploading. */
  readonly mountFrom?: Repository | undefined;
}

export interface PushBlobResult {
  /** 'exists': already there; 'mounted': mounted from `mountFrom`; 'uploaded': bytes were sent. */
  readonly outcome: 'exists' | 'mounted' | 'uploaded';
}

export interface PingResult {
  readonly host: string;
  /** The auth scheme the registry asked for; `none` when /v2/ answered without a challenge. */
  readonly authScheme: 'none' | 'basic' | 'bearer' | 'other';
}

const DOCKER_HUB_ENDPOINT: Endpoint = { base: 'https://registry-1.docker.io', host: 'registry-1.docker.io', credentialHost: DEFAULT_DOMAIN };
const MiB = 1024 * 1024;

function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** localhost, 127.0.0.0/8 and ::1 are spoken to over plain HTTP, as Docker does. */
export function isLoopbackHost(host: string): boolean {
  const name = hostname(host).toLowerCase();
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

function pullScope(repo: Repository): string {
  return `repository:${repo.path}:pull`;
}

function pushScope(repo: Repository): string {
  return `repository:${repo.path}:pull,push`;
}

function repoName(repo: Repository): string {
  return `${repo.domain}/${repo.path}`;
}

/** Re-throws an error from one endpoint, or returns true when the next mirror should be tried. */
function tryNextEndpoint(error: unknown): boolean {
  return error instanceof StagecraftError && (error.code === 'NOT_FOUND' || error.code === 'REGISTRY_ERROR' || error.code === 'REGISTRY_AUTH');
}

/** What clients made by `withEvents` share with their parent: auth state, tokens and connection slots. */
interface SharedState {
  readonly transport: Transport;
  readonly limiter: KeyedLimiter;
}

export class RegistryClient {
  private readonly transport: Transport;
  private readonly limiter: KeyedLimiter;
  private readonly events: EventSink;
  private readonly insecure: ReadonlySet<string>;
  private readonly mirrors: readonly Endpoint[];
  private readonly maxManifestBytes: number;
  private readonly chunkedThreshold: number;
  private readonly chunkSize: number;

  constructor(private readonly options: RegistryClientOptions = {}, shared?: SharedState) {
    this.transport = shared?.transport ?? new Transport(options);
    this.limiter = shared?.limiter ?? new KeyedLimiter(options.maxConnectionsPerHost ?? 4);
    this.events = options.events ?? nullSink;
    this.insecure = new Set(options.insecureHosts ?? []);
    this.mirrors = (options.mirrors ?? []).map((mirror) => this.mirrorEndpoint(mirror));
    this.maxManifestBytes = options.maxManifestBytes ?? 4 * MiB;
    this.chunkedThreshold = options.chunkedUploadThreshold ?? 64 * MiB;
    this.chunkSize = options.uploadChunkSize ?? 16 * MiB;
  }

  /**
   * The same client (credentials, tokens, connection limits shared) reporting its retries and blob
   * transfers to `events`: one per build, pull or push.
   */
  withEvents(events: EventSink): RegistryClient {
    return new RegistryClient({ ...this.options, events }, { transport: this.transport, limiter: this.limiter });
  }

  private mirrorEndpoint(mirror: string): Endpoint {
    const hasScheme = /^https?:\/\//.test(mirror);
    const url = new URL(hasScheme ? mirror : `https://${mirror}`);
    const scheme = hasScheme ? url.protocol.slice(0, -1) : this.insecure.has(url.host) || isLoopbackHost(url.host) ? 'http' : 'https';
    return { base: `${scheme}://${url.host}`, host: url.host, credentialHost: url.host };
  }

  /** The endpoints for a registry domain, in the order to try them. */
  endpoints(domain: string, purpose: 'pull' | 'push'): readonly Endpoint[] {
    if (domain === DEFAULT_DOMAIN) return purpose === 'pull' ? [...this.mirrors, DOCKER_HUB_ENDPOINT] : [DOCKER_HUB_ENDPOINT];
    const scheme = this.insecure.has(domain) || isLoopbackHost(domain) ? 'http' : 'https';
    return [{ base: `${scheme}://${domain}`, host: domain, credentialHost: domain }];
  }

  private url(endpoint: Endpoint, path: string): URL {
    return new URL(`${endpoint.base}${path}`);
  }

  private async request(
    endpoint: Endpoint,
    init: { method: HttpMethod; url: URL; scopes: readonly string[]; what: string; headers?: Record<string, string>; body?: () => RequestBody; retry?: boolean },
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    return this.transport.send({ ...init, endpoint, signal, events: this.events });
  }

  /** Runs `operation` against each pull endpoint in turn (mirrors first) until one succeeds. */
  private async onPullEndpoints<T>(repo: Repository, operation: (endpoint: Endpoint) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const endpoints = this.endpoints(repo.domain, 'pull');
    let lastError: unknown;
    for (const [i, endpoint] of endpoints.entries()) {
      try {
        return await operation(endpoint);
      } catch (error) {
        if (signal?.aborted === true) throw signal.reason;
        lastError = error;
        if (i === endpoints.length - 1 || !tryNextEndpoint(error)) throw error;
      }
    }
    throw lastError;
  }

  /** GET /v2/: checks that the registry answers and that the credentials (if any) are accepted. */
  async ping(domain: string, options: SignalOptions = {}): Promise<PingResult> {
    const endpoint = this.endpoints(domain, 'push')[0] ?? DOCKER_HUB_ENDPOINT;
    return this.limiter.run(domain, async () => {
      const probe = await this.request(endpoint, { method: 'GET', url: this.url(endpoint, '/v2/'), scopes: [], what: `GET ${endpoint.host}/v2/` }, options.signal);
      const challenge = probe.headers.get('www-authenticate');
      if (!probe.ok) throw await errorFromResponse(probe, `GET ${endpoint.host}/v2/`);
      await discard(probe);
      const scheme = this.transport.challengeScheme(endpoint.host) ?? (challenge === null ? 'none' : 'other');
      return { host: endpoint.host, authScheme: scheme };
    }, options.signal);
  }

  /**
   * Resolves a reference to the image manifest for `platform`: tag (or digest) → manifest, and when
   * that is an index, the best entry for the platform → its manifest. Errors: NOT_FOUND,
   * PLATFORM_MISMATCH, REGISTRY_AUTH, DIGEST_MISMATCH, INVALID_MANIFEST, UNSUPPORTED_MEDIA_TYPE.
   */
  async resolve(ref: ImageRef, options: ResolveOptions): Promise<ResolveResult> {
    const reference = ref.digest ?? ref.tag ?? 'latest';
    const root = await this.fetchManifest(ref, reference, { signal: options.signal });
    const pinned = withDigest(ref, root.descriptor.digest);
    if (root.parsed.kind === 'manifest') {
      return { ref: pinned, descriptor: root.descriptor, bytes: root.bytes, manifest: root.parsed.manifest, parsed: root.parsed };
    }
    const entry = selectManifest(root.parsed.index, options.platform, { source: formatImageRef(ref) });
    if (entry.size > this.maxManifestBytes) {
      throw new StagecraftError('INVALID_MANIFEST', `${formatImageRef(ref)}: the index entry ${entry.digest} declares ${entry.size} bytes, more than the manifest limit of ${this.maxManifestBytes}`, {
        hint: 'manifests are small JSON documents; the index is malformed or hostile',
      });
    }
    const image = await this.fetchManifest(ref, entry.digest, { signal: options.signal, descriptorMediaType: entry.mediaType });
    if (image.parsed.kind !== 'manifest') {
      throw new StagecraftError('UNSUPPORTED_MEDIA_TYPE', `${formatImageRef(ref)}: the index entry ${entry.digest} is itself an index`, {
        hint: 'nested indexes are not supported; reference the inner index by digest',
      });
    }
    if (image.descriptor.size !== entry.size) {
      throw new StagecraftError('DIGEST_MISMATCH', `${formatImageRef(ref)}: manifest ${entry.digest} has ${image.descriptor.size} bytes, the index says ${entry.size}`);
    }
    return { ref: pinned, descriptor: { ...image.descriptor, ...(entry.platform === undefined ? {} : { platform: entry.platform }) }, bytes: image.bytes, manifest: image.parsed.manifest, parsed: image.parsed, index: root };
  }

  /**
   * GET a manifest by tag or digest (at most `maxManifestBytes`), verified against the digest when
   * fetched by digest, and parsed once.
   */
  async fetchManifest(repo: Repository, reference: string, options: FetchManifestOptions = {}): Promise<FetchedManifest> {
    const byDigest = reference.startsWith('sha256:');
    const what = `GET manifest ${repoName(repo)}${byDigest ? '@' : ':'}${reference}`;
    return this.limiter.run(repo.domain, () => this.onPullEndpoints(repo, async (endpoint) => {
      const response = await this.request(endpoint, {
        method: 'GET',
        url: this.url(endpoint, `/v2/${repo.path}/manifests/${reference}`),
        scopes: [pullScope(repo)],
        what,
        headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      }, options.signal);
      if (!response.ok) throw await errorFromResponse(response, what);
      const bytes = await this.readLimited(response, what);
      // Verify before parsing: wrong bytes are DIGEST_MISMATCH, whatever they contain.
      const digest = sha256Digest(bytes);
      if (byDigest && digest !== reference) {
        throw new StagecraftError('DIGEST_MISMATCH', `${what}: expected ${reference}, the registry served ${bytes.byteLength} bytes with digest ${digest}`, {
          hint: 'the registry or a proxy served wrong content; nothing was stored',
        });
      }
      // By tag, the registry's Docker-Content-Digest (when sent) must be the digest of what it sent.
      const header = response.headers.get('docker-content-digest')?.trim();
      if (header !== undefined && header.startsWith('sha256:') && header !== digest) {
        throw new StagecraftError('DIGEST_MISMATCH', `${what}: the registry's Docker-Content-Digest is ${header}, but the ${bytes.byteLength} bytes it served hash to ${digest}`, {
          hint: 'the registry or a proxy served wrong content; nothing was stored',
        });
      }
      const contentType = response.headers.get('content-type') ?? undefined;
      const parsed = parseManifest(bytes, contentType, { source: `${repoName(repo)}${byDigest ? '@' : ':'}${reference}`, descriptorMediaType: options.descriptorMediaType });
      return { descriptor: { mediaType: parsed.mediaType, digest: parsed.digest, size: parsed.size }, bytes, parsed };
    }, options.signal), options.signal);
  }

  /** HEAD a manifest: its descriptor, or undefined when the registry has no such tag or digest. */
  async headManifest(repo: Repository, reference: string, options: SignalOptions = {}): Promise<Descriptor | undefined> {
    const what = `HEAD manifest ${repoName(repo)}:${reference}`;
    return this.limiter.run(repo.domain, async () => {
      const endpoint = this.endpoints(repo.domain, 'push')[0] ?? DOCKER_HUB_ENDPOINT;
      const response = await this.request(endpoint, {
        method: 'HEAD',
        url: this.url(endpoint, `/v2/${repo.path}/manifests/${reference}`),
        scopes: [pullScope(repo)],
        what,
        headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      }, options.signal);
      if (response.status === 404) return undefined;
      if (!response.ok) throw await errorFromResponse(response, what);
      await discard(response);
      const digest = response.headers.get('docker-content-digest');
      const size = Number(response.headers.get('content-length'));
      const mediaType = stripMediaTypeParameters(response.headers.get('content-type') ?? '');
      if (digest === null || !/^sha256:[a-f0-9]{64}$/.test(digest) || !Number.isSafeInteger(size)) return undefined;
      return { mediaType, digest: digest as Digest, size };
    }, options.signal);
  }

  private async readLimited(response: Response, what: string): Promise<Uint8Array> {
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    const tooLarge = (): StagecraftError =>
      new StagecraftError('INVALID_MANIFEST', `${what}: manifest is larger than ${this.maxManifestBytes} bytes`, {
        hint: 'manifests are small JSON documents; this is probably not a manifest endpoint',
      });
    if (Number.isFinite(declared) && declared > this.maxManifestBytes) {
      await discard(response);
      throw tooLarge();
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (response.body !== null) {
      for await (const chunk of bodyChunksWithin(response.body, this.transport.responseTimeoutMs, what)) {
        total += chunk.byteLength;
        if (total > this.maxManifestBytes) throw tooLarge();
        chunks.push(chunk);
      }
    }
    return new Uint8Array(Buffer.concat(chunks));
  }

  /**
   * GET a blob as a byte stream that verifies size and digest while streaming and errors with
   * DIGEST_MISMATCH at the end when they differ. Dropped connections resume with Range. A missing blob
   * rejects here (NOT_FOUND), before any byte. The caller must consume or destroy the stream: it holds
   * one of the registry's connection slots until then.
   */
  async fetchBlob(repo: Repository, descriptor: Descriptor, options: SignalOptions = {}): Promise<Readable> {
    const what = `GET blob ${repoName(repo)}@${descriptor.digest}`;
    const release = await this.limiter.acquire(repo.domain, options.signal);
    try {
      const open = (endpoint: Endpoint, offset: number, signal: AbortSignal | undefined): Promise<Response> =>
        this.request(endpoint, {
          method: 'GET',
          url: this.url(endpoint, `/v2/${repo.path}/blobs/${descriptor.digest}`),
          scopes: [pullScope(repo)],
          what,
          // Identity: the digest is of the stored bytes, not of a transfer encoding.
          headers: { 'accept-encoding': 'identity', ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) },
        }, signal);
      let chosen: Endpoint | undefined;
      const first = await this.onPullEndpoints(repo, async (endpoint) => {
        const response = await open(endpoint, 0, options.signal);
        if (!response.ok) throw await errorFromResponse(response, what);
        chosen = endpoint;
        return response;
      }, options.signal);
      const endpoint = chosen ?? DOCKER_HUB_ENDPOINT;
      return verifiedBlobStream({
        descriptor,
        source: repoName(repo),
        response: first,
        reopen: async (offset, signal) => {
          const response = await open(endpoint, offset, signal);
          if (response.status !== 200 && response.status !== 206) throw await errorFromResponse(response, `${what} (resume at byte ${offset})`);
          return response;
        },
        attempts: this.options.retry?.attempts ?? 5,
        backoff: { baseDelayMs: this.options.retry?.baseDelayMs, maxDelayMs: this.options.retry?.maxDelayMs, random: this.options.random },
        clock: this.transport.clockSource,
        signal: options.signal,
        release,
        reporter: new TransferReporter(this.events, this.transport.clockSource, { direction: 'pull', ref: repoName(repo), descriptor }),
        onRetry: (error, attempt, delayMs) => this.events.emit({
          type: 'registry.retry',
          time: this.transport.clockSource.now(),
          what,
          reason: retryReason(error, what),
          attempt,
          attempts: this.options.retry?.attempts ?? 5,
          delayMs,
        }),
      });
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * A small blob (a config, a cache config, an attestation) read whole through `fetchBlob`, so its size
   * and digest are verified as it streams. The caller checks `descriptor.size` against its own limit
   * first: the stream refuses any byte past the descriptor's size.
   */
  async fetchBlobBytes(repo: Repository, descriptor: Descriptor, options: SignalOptions = {}): Promise<Buffer> {
    const stream = await this.fetchBlob(repo, descriptor, options);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  /** HEAD a blob: true when the repository has it. */
  async blobExists(repo: Repository, digest: Digest, options: SignalOptions = {}): Promise<boolean> {
    return this.limiter.run(repo.domain, () => this.blobExistsUnlimited(repo, digest, [pullScope(repo)], options.signal), options.signal);
  }

  private async blobExistsUnlimited(repo: Repository, digest: Digest, scopes: readonly string[], signal: AbortSignal | undefined): Promise<boolean> {
    const what = `HEAD blob ${repoName(repo)}@${digest}`;
    const endpoint = this.endpoints(repo.domain, 'push')[0] ?? DOCKER_HUB_ENDPOINT;
    const response = await this.request(endpoint, { method: 'HEAD', url: this.url(endpoint, `/v2/${repo.path}/blobs/${digest}`), scopes, what }, signal);
    if (response.status !== 404 && !response.ok) throw await errorFromResponse(response, what);
    await discard(response);
    return response.ok;
  }

  /**
   * Mounts a blob from another repository of the same registry (POST …/blobs/uploads/?mount=&from=).
   * Returns false when the registry started an upload instead (the upload is cancelled).
   */
  async mountBlob(from: Repository, to: Repository, digest: Digest, options: SignalOptions = {}): Promise<boolean> {
    return this.limiter.run(to.domain, () => this.mountUnlimited(from, to, digest, options.signal), options.signal);
  }

  private async mountUnlimited(from: Repository, to: Repository, digest: Digest, signal: AbortSignal | undefined): Promise<boolean> {
    if (from.domain !== to.domain) return false;
    const endpoint = this.endpoints(to.domain, 'push')[0] ?? DOCKER_HUB_ENDPOINT;
    const what = `mount blob ${digest} from ${repoName(from)} into ${repoName(to)}`;
    const url = this.url(endpoint, `/v2/${to.path}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from.path);
    const response = await this.request(endpoint, { method: 'POST', url, scopes: [pushScope(to), pullScope(from)], what, headers: { 'content-length': '0' } }, signal);
    if (response.status === 201) {
      await discard(response);
      return true;
    }
    if (response.status === 202) {
      await discard(response);
      await this.cancelUpload(endpoint, to, response, signal);
      return false;
    }
    if (response.status === 404 || response.status === 401 || response.status === 403) {
      await discard(response);
      return false;
    }
    throw await errorFromResponse(response, what);
  }

  private async cancelUpload(endpoint: Endpoint, repo: Repository, response: Response, signal: AbortSignal | undefined): Promise<void> {
    const location = response.headers.get('location');
    if (location === null) return;
    try {
      const cancel = await this.request(endpoint, { method: 'DELETE', url: new URL(location, response.url || endpoint.base), scopes: [pushScope(repo)], what: 'cancel upload', retry: false }, signal);
      await discard(cancel);
    } catch {
      // an abandoned upload expires on the registry
    }
  }

  /**
   * Pushes a blob unless the repository has it already (HEAD) or it can be mounted from `mountFrom`.
   * Blobs up to `chunkedUploadThreshold` go in one PUT, larger ones in PATCH chunks. `open` is called
   * once per attempt and must return the blob's bytes from the start. The registry verifies the
   * digest; a mismatch is DIGEST_MISMATCH.
   */
  async pushBlob(repo: Repository, descriptor: Descriptor, open: () => Readable, options: PushBlobOptions = {}): Promise<PushBlobResult> {
    const { signal } = options;
    return this.limiter.run(repo.domain, async () => {
      const reporter = new TransferReporter(this.events, this.transport.clockSource, { direction: 'push', ref: repoName(repo), descriptor });
      reporter.started();
      if (await this.blobExistsUnlimited(repo, descriptor.digest, [pushScope(repo)], signal)) {
        reporter.completed('exists');
        return { outcome: 'exists' };
      }
      if (options.mountFrom !== undefined && (await this.mountUnlimited(options.mountFrom, repo, descriptor.digest, signal))) {
        reporter.completed('mounted');
        return { outcome: 'mounted' };
      }
      const endpoint = this.endpoints(repo.domain, 'push')[0] ?? DOCKER_HUB_ENDPOINT;
      const what = `upload blob ${descriptor.digest} to ${repoName(repo)}`;
      // Each attempt sends the blob from its first byte: progress counts from 0 again.
      const counted = (): Readable => Readable.from((async function* () {
        let sent = 0;
        for await (const chunk of open()) {
          sent += (chunk as Uint8Array).byteLength;
          reporter.progress(sent);
          yield chunk as Uint8Array;
        }
      })(), { objectMode: false });
      await retry(() => this.upload(endpoint, repo, descriptor, counted, signal, what), {
        ...this.transport.retryOptions(signal, true, { what, events: this.events }),
        shouldRetry: (error) => this.transport.isRetryableFailure(error),
      });
      reporter.completed('done');
      return { outcome: 'uploaded' };
    }, signal);
  }

  private async upload(endpoint: Endpoint, repo: Repository, descriptor: Descriptor, open: () => Readable, signal: AbortSignal | undefined, what: string): Promise<void> {
    const scopes = [pushScope(repo)];
    const start = await this.request(endpoint, { method: 'POST', url: this.url(endpoint, `/v2/${repo.path}/blobs/uploads/`), scopes, what, headers: { 'content-length': '0' }, retry: false }, signal);
    await expectStatus(start, [202], what);
    let location = this.uploadLocation(start, endpoint, what);
    if (descriptor.size <= this.chunkedThreshold) {
      const url = new URL(location);
      url.searchParams.set('digest', descriptor.digest);
      const put = await this.request(endpoint, {
        method: 'PUT',
        url,
        scopes,
        what,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
        body: () => toWebStream(open()),
        retry: false,
      }, signal);
      await expectStatus(put, [201], what);
      return;
    }
    // Chunked upload (distribution spec "Pushing a blob in chunks"): PATCH with Content-Range, then PUT ?digest=.
    let offset = 0;
    for await (const chunk of chunksOf(open(), this.chunkSize)) {
      const patch = await this.request(endpoint, {
        method: 'PATCH',
        url: new URL(location),
        scopes,
        what,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(chunk.length),
          'content-range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: () => chunk,
        retry: false,
      }, signal);
      await expectStatus(patch, [202], `${what} (chunk at byte ${offset})`);
      location = this.uploadLocation(patch, endpoint, what);
      offset += chunk.length;
    }
    const url = new URL(location);
    url.searchParams.set('digest', descriptor.digest);
    const put = await this.request(endpoint, { method: 'PUT', url, scopes, what, headers: { 'content-length': '0' }, retry: false }, signal);
    await expectStatus(put, [201], what);
  }

  private uploadLocation(response: Response, endpoint: Endpoint, what: string): string {
    const location = response.headers.get('location');
    if (location === null) throw new StagecraftError('REGISTRY_ERROR', `${what}: the registry sent no upload Location (${response.status} from ${redactUrl(response.url)})`);
    return new URL(location, `${endpoint.base}/`).href;
  }

  /** PUT a manifest under a tag or digest. Returns its descriptor (digest of `bytes`). */
  async putManifest(repo: Repository, reference: string, mediaType: string, bytes: Uint8Array, options: SignalOptions = {}): Promise<Descriptor> {
    const what = `PUT manifest ${repoName(repo)}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new StagecraftError('DIGEST_MISMATCH', `${what}: the manifest bytes hash to ${digest}`);
    }
    return this.limiter.run(repo.domain, async () => {
      const endpoint = this.endpoints(repo.domain, 'push')[0] ?? DOCKER_HUB_ENDPOINT;
      const reporter = new TransferReporter(this.events, this.transport.clockSource, { direction: 'push', ref: repoName(repo), descriptor: { mediaType, digest, size: bytes.byteLength } });
      reporter.started();
      const response = await this.request(endpoint, {
        method: 'PUT',
        url: this.url(endpoint, `/v2/${repo.path}/manifests/${reference}`),
        scopes: [pushScope(repo)],
        what,
        headers: { 'content-type': mediaType, 'content-length': String(bytes.byteLength) },
        body: () => bytes,
      }, options.signal);
      await expectStatus(response, [200, 201], what);
      const served = response.headers.get('docker-content-digest');
      if (served !== null && served.startsWith('sha256:') && served !== digest) {
        throw new StagecraftError('DIGEST_MISMATCH', `${what}: the registry stored digest ${served}, expected ${digest}`);
      }
      reporter.completed('done');
      return { mediaType, digest, size: bytes.byteLength };
    }, options.signal);
  }

  /**
   * The referrers API (OCI distribution-spec 1.1, `GET /v2/<name>/referrers/<digest>`): the index of
   * manifests whose `subject` is `digest`, as bytes, or undefined when the registry has no referrers API
   * (404, as docker-registry 2.8 answers; the caller then reads the `sha256-<hex>` fallback tag).
   */
  async referrers(repo: Repository, digest: Digest, options: SignalOptions = {}): Promise<Uint8Array | undefined> {
    const what = `GET referrers ${repoName(repo)}@${digest}`;
    return this.limiter.run(repo.domain, () => this.onPullEndpoints(repo, async (endpoint) => {
      const response = await this.request(endpoint, {
        method: 'GET',
        url: this.url(endpoint, `/v2/${repo.path}/referrers/${digest}`),
        scopes: [pullScope(repo)],
        what,
        headers: { accept: 'application/vnd.oci.image.index.v1+json' },
      }, options.signal);
      if (response.status === 404 || response.status === 405 || response.status === 400) {
        await discard(response);
        return undefined;
      }
      if (!response.ok) throw await errorFromResponse(response, what);
      // A registry without the API may serve something else here (an HTML page): only an index counts.
      const type = stripMediaTypeParameters(response.headers.get('content-type') ?? '');
      const bytes = await this.readLimited(response, what);
      return type === 'application/vnd.oci.image.index.v1+json' ? bytes : undefined;
    }, options.signal), options.signal);
  }

  /** All tags of a repository, following `Link: <…>; rel="next"` pagination. */
  async listTags(repo: Repository, options: SignalOptions = {}): Promise<string[]> {
    const what = `list tags of ${repoName(repo)}`;
    return this.limiter.run(repo.domain, () => this.onPullEndpoints(repo, async (endpoint) => {
      const tags: string[] = [];
      let url: URL | undefined = this.url(endpoint, `/v2/${repo.path}/tags/list`);
      // Pages are bounded one by one (readLimited) and in total, so a registry cannot exhaust memory.
      const totalLimit = 16 * this.maxManifestBytes;
      let total = 0;
      for (let page = 0; url !== undefined && page < 1000; page++) {
        const response = await this.request(endpoint, { method: 'GET', url, scopes: [pullScope(repo)], what, headers: { accept: 'application/json' } }, options.signal);
        if (!response.ok) throw await errorFromResponse(response, what);
        const bytes = await this.readLimited(response, what);
        total += bytes.byteLength;
        if (total > totalLimit) throw new StagecraftError('REGISTRY_ERROR', `${what}: the tag list is larger than ${totalLimit} bytes`, { hint: 'the registry sent an implausibly long tag list' });
        let json: unknown;
        try {
          json = JSON.parse(Buffer.from(bytes).toString('utf8'));
        } catch {
          json = undefined;
        }
        const parsed = tagListSchema.safeParse(json);
        if (!parsed.success) throw new StagecraftError('REGISTRY_ERROR', `${what}: the registry answered with an invalid tag list`);
        // Not push(...tags): spreading a page of a million tags overflows the call stack.
        for (const tag of parsed.data.tags ?? []) tags.push(tag);
        const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(response.headers.get('link') ?? '')?.[1];
        url = next === undefined ? undefined : new URL(next, url);
      }
      return tags;
    }, options.signal), options.signal);
  }
}

/** Discards the body of an expected answer; anything else becomes the registry's error. */
async function expectStatus(response: Response, expected: readonly number[], what: string): Promise<void> {
  if (!expected.includes(response.status)) throw await errorFromResponse(response, what);
  await discard(response);
}

function toWebStream(stream: Readable): ReadableStream<Uint8Array> {
  return Readable.toWeb(stream) as ReadableStream<Uint8Array>;
}

/** Re-chunks a byte stream into buffers of exactly `size` bytes (the last may be shorter). */
async function* chunksOf(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const data of stream) {
    let chunk = Buffer.isBuffer(data) ? data : Buffer.from(data as Uint8Array);
    while (length + chunk.length >= size) {
      const take = size - length;
      pending.push(chunk.subarray(0, take));
      yield Buffer.concat(pending);
      pending = [];
      length = 0;
      chunk = chunk.subarray(take);
    }
    if (chunk.length > 0) {
      pending.push(chunk);
      length += chunk.length;
    }
  }
  if (length > 0) yield Buffer.concat(pending);
}
