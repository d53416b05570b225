/** The client's routing and auth decisions, against an in-memory fetch (no network). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStagecraftError, parseImageRef, parsePlatform, sha256Digest } from '../../src/core/index.js';
import { retryText } from '../../src/cli/progress/index.js';
import { RecordingSink } from '../../src/events/index.js';
import { MEDIA_TYPES } from '../../src/oci/index.js';
import { RegistryClient, isLoopbackHost } from '../../src/registry/index.js';

interface Seen {
  readonly url: string;
  readonly authorization: string | undefined;
}

function fakeFetch(handler: (url: URL, init: RequestInit) => Response): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const impl = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const headers = new Headers(init.headers);
    seen.push({ url: url.href, authorization: headers.get('authorization') ?? undefined });
    return Promise.resolve(handler(url, init));
  };
  return { fetch: impl, seen };
}

const manifestBytes = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256Digest('c'), size: 1 },
  layers: [],
}));

function manifestResponse(): Response {
  return new Response(manifestBytes, { status: 200, headers: { 'content-type': MEDIA_TYPES.ociManifest } });
}

describe('endpoints', () => {
  it('plain HTTP only for loopback and insecure hosts; Docker Hub goes to registry-1', () => {
    const client = new RegistryClient({ insecureHosts: ['intranet:5000'] });
    assert.equal(client.endpoints('localhost:5000', 'pull')[0]?.base, 'http://localhost:5000');
    assert.equal(client.endpoints('127.0.0.1:5000', 'pull')[0]?.base, 'http://127.0.0.1:5000');
    assert.equal(client.endpoints('[::1]:5000', 'pull')[0]?.base, 'http://[::1]:5000');
    assert.equal(client.endpoints('intranet:5000', 'pull')[0]?.base, 'http://intranet:5000');
    assert.equal(client.endpoints('ghcr.io', 'pull')[0]?.base, 'https://ghcr.io');
    assert.deepEqual(client.endpoints('docker.io', 'pull').map((e) => e.base), ['https://registry-1.docker.io']);
    assert.equal(isLoopbackHost('127.1.2.3:80'), true);
    assert.equal(isLoopbackHost('localhost.example.com'), false);
  });

  it('Docker Hub pulls try mirrors first; pushes never use them', () => {
    const client = new RegistryClient({ mirrors: ['mirror.example.com', 'http://10.0.0.1:5000'] });
    assert.deepEqual(client.endpoints('docker.io', 'pull').map((e) => e.base), ['https://mirror.example.com', 'http://10.0.0.1:5000', 'https://registry-1.docker.io']);
    assert.deepEqual(client.endpoints('docker.io', 'push').map((e) => e.base), ['https://registry-1.docker.io']);
    assert.deepEqual(client.endpoints('ghcr.io', 'pull').map((e) => e.base), ['https://ghcr.io']);
  });
});

describe('mirrors', () => {
  it('falls back from a mirror that lacks the image to Docker Hub', async () => {
    const { fetch, seen } = fakeFetch((url) => {
      if (url.host === 'mirror.example.com') return new Response('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}', { status: 404 });
      return manifestResponse();
    });
    const client = new RegistryClient({ fetch, mirrors: ['mirror.example.com'] });
    const resolved = await client.resolve(parseImageRef('busybox:1'), { platform: parsePlatform('linux/amd64') });
    assert.equal(resolved.descriptor.digest, sha256Digest(manifestBytes));
    assert.deepEqual(seen.map((s) => s.url), [
      'https://mirror.example.com/v2/library/busybox/manifests/1',
      'https://registry-1.docker.io/v2/library/busybox/manifests/1',
    ]);
  });

  it('uses the mirror when it has the image', async () => {
    const { fetch, seen } = fakeFetch(() => manifestResponse());
    const client = new RegistryClient({ fetch, mirrors: ['mirror.example.com'] });
    await client.fetchManifest(parseImageRef('busybox'), 'latest');
    assert.equal(seen.length, 1);
    assert.match(seen[0]?.url ?? '', /^https:\/\/mirror\.example\.com\//);
  });
});

describe('manifests', () => {
  it('a manifest fetched by digest must hash to it', async () => {
    const { fetch } = fakeFetch(() => manifestResponse());
    const client = new RegistryClient({ fetch });
    const wrong = sha256Digest('other');
    await assert.rejects(client.fetchManifest(parseImageRef('r.io/a/b'), wrong), (e: unknown) => isStagecraftError(e) && e.code === 'DIGEST_MISMATCH');
  });

  it('refuses manifests over the size limit', async () => {
    const { fetch } = fakeFetch(() => new Response(Buffer.alloc(2048, 32), { status: 200, headers: { 'content-type': MEDIA_TYPES.ociManifest } }));
    const client = new RegistryClient({ fetch, maxManifestBytes: 1024 });
    await assert.rejects(client.fetchManifest(parseImageRef('r.io/a/b'), 'x'), (e: unknown) => isStagecraftError(e) && e.code === 'INVALID_MANIFEST' && /larger than 1024/.test(e.message));
  });

  it("by tag, a Docker-Content-Digest that is not the body's digest is DIGEST_MISMATCH naming both", async () => {
    const wrong = sha256Digest('other');
    const { fetch } = fakeFetch(() => new Response(manifestBytes, { status: 200, headers: { 'content-type': MEDIA_TYPES.ociManifest, 'docker-content-digest': wrong } }));
    const client = new RegistryClient({ fetch });
    await assert.rejects(client.fetchManifest(parseImageRef('r.io/a/b'), 'v1'), (e: unknown) => isStagecraftError(e) && e.code === 'DIGEST_MISMATCH' && e.message.includes(wrong) && e.message.includes(sha256Digest(manifestBytes)) && e.message.includes('r.io/a/b:v1'));
  });

  it('an index entry is fetched as what the entry says: an index served for a manifest entry is refused', async () => {
    const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] }));
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(inner), size: inner.length, platform: { os: 'linux', architecture: 'amd64' } }] }));
    const { fetch } = fakeFetch((url) => new Response(url.pathname.endsWith('/1') ? index : inner, { status: 200, headers: { 'content-type': MEDIA_TYPES.ociIndex } }));
    const client = new RegistryClient({ fetch });
    await assert.rejects(client.resolve(parseImageRef('r.io/a/b:1'), { platform: parsePlatform('linux/amd64') }), (e: unknown) => isStagecraftError(e) && e.code === 'INVALID_MANIFEST' && /r\.io\/a\/b@sha256:[0-9a-f]{64} is an index .*the descriptor that points to it says application\/vnd\.oci\.image\.manifest\.v1\+json/.test(e.message));
  });

  it('an index entry declaring a manifest past the limit is refused before it is fetched', async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest('m'), size: 5000, platform: { os: 'linux', architecture: 'amd64' } }] }));
    const { fetch, seen } = fakeFetch(() => new Response(index, { status: 200, headers: { 'content-type': MEDIA_TYPES.ociIndex } }));
    const client = new RegistryClient({ fetch, maxManifestBytes: 4096 });
    await assert.rejects(client.resolve(parseImageRef('r.io/a/b:1'), { platform: parsePlatform('linux/amd64') }), (e: unknown) => isStagecraftError(e) && e.code === 'INVALID_MANIFEST' && /declares 5000 bytes, more than the manifest limit of 4096/.test(e.message));
    assert.equal(seen.length, 1);
  });

  it('a blob whose Content-Length is not its size is DIGEST_MISMATCH at once (no retries)', async () => {
    const { fetch, seen } = fakeFetch(() => new Response('abcd', { status: 200, headers: { 'content-length': '4' } }));
    const client = new RegistryClient({ fetch });
    const stream = await client.fetchBlob(parseImageRef('r.io/a/b'), { mediaType: MEDIA_TYPES.ociLayer, digest: sha256Digest('abc'), size: 3 });
    await assert.rejects((async () => { for await (const _ of stream) { /* drain */ } })(), (e: unknown) => isStagecraftError(e) && e.code === 'DIGEST_MISMATCH' && e.message.includes(`expected ${sha256Digest('abc')} (3 bytes), got a body of 4 bytes (Content-Length)`) && e.message.includes('r.io/a/b'));
    assert.equal(seen.length, 1);
  });

  it('tag lists: a page of a million tags is read; an endless list of pages is cut', async () => {
    const many = Array.from({ length: 1_000_000 }, (_, i) => i.toString(36));
    const big = fakeFetch(() => Response.json({ name: 'a/b', tags: many }));
    assert.equal((await new RegistryClient({ fetch: big.fetch, maxManifestBytes: 16 * 1024 * 1024 }).listTags(parseImageRef('r.io/a/b'))).length, many.length);
    const endless = fakeFetch((url) => Response.json({ name: 'a/b', tags: ['x'.repeat(900)] }, { headers: { link: `<${url.pathname}?n=${Number(url.searchParams.get('n') ?? 0) + 1}>; rel="next"` } }));
    await assert.rejects(new RegistryClient({ fetch: endless.fetch, maxManifestBytes: 1024 }).listTags(parseImageRef('r.io/a/b')), (e: unknown) => isStagecraftError(e) && e.code === 'REGISTRY_ERROR' && /larger than 16384 bytes/.test(e.message));
    assert.ok(endless.seen.length < 20);
  });

  it('a schema 1 manifest is UNSUPPORTED_MEDIA_TYPE', async () => {
    const { fetch } = fakeFetch(() => new Response('{"schemaVersion":1,"fsLayers":[]}', { status: 200, headers: { 'content-type': MEDIA_TYPES.dockerSchema1SignedManifest } }));
    const client = new RegistryClient({ fetch });
    await assert.rejects(client.fetchManifest(parseImageRef('r.io/a/b'), 'old'), (e: unknown) => isStagecraftError(e) && e.code === 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('auth', () => {
  it('basic credentials go only to the registry host, never across a redirect', async () => {
    const { fetch, seen } = fakeFetch((url, init) => {
      const auth = new Headers(init.headers).get('authorization');
      if (url.host === 'r.io' && auth === null) return new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
      if (url.host === 'r.io') return new Response(null, { status: 307, headers: { location: 'https://storage.example.com/blob?sig=1' } });
      return new Response('abc', { status: 200 });
    });
    const client = new RegistryClient({ fetch, credentials: { get: () => Promise.resolve({ username: 'u', password: 'p' }) } });
    const stream = await client.fetchBlob(parseImageRef('r.io/a/b'), { mediaType: MEDIA_TYPES.ociLayer, digest: sha256Digest('abc'), size: 3 });
    let text = '';
    for await (const chunk of stream) text += (chunk as Buffer).toString();
    assert.equal(text, 'abc');
    assert.deepEqual(seen.map((s) => [new URL(s.url).host, s.authorization]), [
      ['r.io', undefined],
      ['r.io', `Basic ${Buffer.from('u:p').toString('base64')}`],
      ['storage.example.com', undefined],
    ]);
  });

  it('sends basic credentials to the token realm and the token to the registry', async () => {
    const { fetch, seen } = fakeFetch((url, init) => {
      const auth = new Headers(init.headers).get('authorization');
      if (url.host === 'auth.example.com') return Response.json({ access_token: 'T', expires_in: 120 });
      if (auth !== 'Bearer T') return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example.com/token",service="reg"' } });
      return manifestResponse();
    });
    const client = new RegistryClient({ fetch, credentials: { get: () => Promise.resolve({ username: 'u', password: 'p' }) } });
    await client.fetchManifest(parseImageRef('r.io/a/b'), 'latest');
    await client.fetchManifest(parseImageRef('r.io/a/b'), 'v2');
    const token = new URL(seen[1]?.url ?? '');
    assert.equal(token.host, 'auth.example.com');
    assert.deepEqual(token.searchParams.getAll('scope'), ['repository:a/b:pull']);
    assert.equal(token.searchParams.get('service'), 'reg');
    assert.equal(seen[1]?.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    // The second manifest reuses the token: no second 401 or token request.
    assert.deepEqual(seen.slice(2).map((s) => [new URL(s.url).host, s.authorization]), [['r.io', 'Bearer T'], ['r.io', 'Bearer T']]);
  });

  it('credentials only to the same origin: not after a redirect to http, to another port, or away from the token realm', async () => {
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const { fetch, seen } = fakeFetch((url, init) => {
      const auth = new Headers(init.headers).get('authorization');
      if (url.origin === 'https://r.io' && url.pathname.startsWith('/v2/a/') && auth === null) return new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
      // A downgrade to plain HTTP on the same host, then another port of the same host.
      if (url.origin === 'https://r.io') return new Response(null, { status: 302, headers: { location: 'http://r.io/blob' } });
      if (url.origin === 'http://r.io') return new Response(null, { status: 307, headers: { location: 'https://r.io:8443/blob' } });
      return new Response('abc', { status: 200 });
    });
    const client = new RegistryClient({ fetch, credentials: { get: () => Promise.resolve({ username: 'u', password: 'p' }) } });
    const stream = await client.fetchBlob(parseImageRef('r.io/a/b'), { mediaType: MEDIA_TYPES.ociLayer, digest: sha256Digest('abc'), size: 3 });
    for await (const _ of stream) { /* drain */ }
    assert.deepEqual(seen.map((s) => [new URL(s.url).origin, s.authorization]), [
      ['https://r.io', undefined],
      ['https://r.io', basic],
      ['http://r.io', undefined],
      ['https://r.io:8443', undefined],
    ]);

    // The token realm redirects elsewhere: the basic credentials stay with the realm.
    const token = fakeFetch((url, init) => {
      const auth = new Headers(init.headers).get('authorization');
      if (url.origin === 'https://auth.example.com') return new Response(null, { status: 307, headers: { location: 'https://tokens.example.net/t' } });
      if (url.origin === 'https://tokens.example.net') return Response.json({ token: 'T' });
      if (auth !== 'Bearer T') return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example.com/token"' } });
      return manifestResponse();
    });
    await new RegistryClient({ fetch: token.fetch, credentials: { get: () => Promise.resolve({ username: 'u', password: 'p' }) } }).fetchManifest(parseImageRef('r.io/a/b'), 'latest');
    assert.deepEqual(token.seen.slice(1, 3).map((s) => [new URL(s.url).origin, s.authorization]), [
      ['https://auth.example.com', basic],
      ['https://tokens.example.net', undefined],
    ]);
  });

  it('a token server answer that is not JSON is REGISTRY_AUTH without quoting it', async () => {
    const { fetch } = fakeFetch((url) => (url.host === 'auth.example.com'
      ? new Response('tok-secret-0123456789', { status: 200 })
      : new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example.com/token"' } })));
    await assert.rejects(new RegistryClient({ fetch }).fetchManifest(parseImageRef('r.io/a/b'), 'latest'), (e: unknown) => {
      for (let c: unknown = e; c instanceof Error; c = c.cause) assert.ok(!`${c.message} ${c.stack ?? ''}`.includes('tok-secret'), c.message);
      return isStagecraftError(e) && e.code === 'REGISTRY_AUTH' && /invalid JSON/.test(e.message);
    });
  });

  it('a challenge from a redirect target is not the registry\'s: no credentials to the realm it names', async () => {
    const { fetch, seen } = fakeFetch((url, init) => {
      const auth = new Headers(init.headers).get('authorization');
      if (url.host === 'r.io' && auth === null) return new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
      if (url.host === 'r.io') return new Response(null, { status: 307, headers: { location: 'https://storage.example.com/blob' } });
      if (url.host === 'storage.example.com') return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://evil.example.com/token"' } });
      return Response.json({ token: 'stolen' });
    });
    const client = new RegistryClient({ fetch, credentials: { get: () => Promise.resolve({ username: 'u', password: 'p' }) } });
    await assert.rejects(client.fetchBlob(parseImageRef('r.io/a/b'), { mediaType: MEDIA_TYPES.ociLayer, digest: sha256Digest('abc'), size: 3 }), (e: unknown) => isStagecraftError(e) && /storage\.example\.com/.test(e.message));
    // Nor later: the registry's own challenge is unchanged.
    await assert.rejects(client.fetchManifest(parseImageRef('r.io/a/b'), 'latest'));
    assert.deepEqual(seen.filter((s) => new URL(s.url).host === 'evil.example.com'), []);
    assert.deepEqual(seen.filter((s) => new URL(s.url).host !== 'r.io').map((s) => s.authorization), [undefined, undefined]);
  });

  it('refuses to send credentials to a plain-HTTP token realm of an https registry', async () => {
    const { fetch, seen } = fakeFetch(() => new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://auth.example.com/token"' } }));
    const client = new RegistryClient({ fetch, credentials: { get: () => Promise.resolve({ username: 'u', password: 'p' }) } });
    await assert.rejects(client.fetchManifest(parseImageRef('r.io/a/b'), 'latest'), (e: unknown) => isStagecraftError(e) && e.code === 'REGISTRY_AUTH' && /over plain HTTP; refused/.test(e.message));
    assert.ok(seen.every((s) => new URL(s.url).host === 'r.io'), 'nothing was sent to the realm');
  });

  it('follows only http(s) redirects without credentials in the URL, and says so without leaking them', async () => {
    for (const location of ['file:///etc/passwd', 'data:,abc', 'https://user:hunter2@storage.example.com/blob']) {
      const { fetch, seen } = fakeFetch(() => new Response(null, { status: 302, headers: { location } }));
      const client = new RegistryClient({ fetch });
      await assert.rejects(client.fetchBlob(parseImageRef('r.io/a/b'), { mediaType: MEDIA_TYPES.ociLayer, digest: sha256Digest('abc'), size: 3 }), (e: unknown) => {
        assert.ok(isStagecraftError(e) && e.code === 'REGISTRY_ERROR', String(e));
        assert.doesNotMatch(e.message, /hunter2/);
        return true;
      });
      assert.equal(seen.length, 1, location);
    }
  });

  it('parallel requests for one scope share one token request', async () => {
    const { fetch, seen } = fakeFetch((url, init) => {
      if (url.host === 'auth.example.com') return Response.json({ token: 'T' });
      if (new Headers(init.headers).get('authorization') !== 'Bearer T') return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example.com/token"' } });
      return manifestResponse();
    });
    const client = new RegistryClient({ fetch });
    const ref = parseImageRef('r.io/a/b');
    await client.fetchManifest(ref, 'first');
    const before = seen.length;
    // A new scope, five requests at once: one token request between them.
    const other = parseImageRef('r.io/c/d');
    await Promise.all([1, 2, 3, 4, 5].map((i) => client.fetchManifest(other, `t${i}`)));
    assert.equal(seen.slice(before).filter((s) => s.url.startsWith('https://auth.example.com/')).length, 1);
  });
});

describe('events', () => {
  const instant = { now: () => 1_000, sleep: () => Promise.resolve() };

  it('a retried request is a registry.retry event saying what, why, which attempt and the delay', async () => {
    let calls = 0;
    const { fetch } = fakeFetch(() => (++calls === 1 ? new Response('busy', { status: 503, statusText: 'Service Unavailable' }) : manifestResponse()));
    const events = new RecordingSink();
    const client = new RegistryClient({ fetch, clock: instant, random: () => 0, retry: { attempts: 5, baseDelayMs: 1000 } }).withEvents(events);
    await client.fetchManifest(parseImageRef('example.com/app:1'), '1');
    const retries = events.events.filter((e) => e.type === 'registry.retry');
    assert.deepEqual(retries, [{ type: 'registry.retry', time: 1_000, what: 'GET manifest example.com/app:1', reason: '503 Service Unavailable', attempt: 1, attempts: 5, delayMs: 500 }]);
    const [retry] = retries;
    assert.ok(retry?.type === 'registry.retry');
    assert.equal(retryText(retry), 'GET manifest example.com/app:1: 503 Service Unavailable, retry 1 of 4 in 0.5 s');
  });

  it('a client made by withEvents reports to its sink; the client it came from stays silent', async () => {
    let calls = 0;
    const { fetch } = fakeFetch(() => (++calls % 2 === 1 ? new Response('', { status: 429, statusText: 'Too Many Requests', headers: { 'retry-after': '2' } }) : manifestResponse()));
    const base = new RegistryClient({ fetch, clock: instant });
    const events = new RecordingSink();
    await base.fetchManifest(parseImageRef('example.com/app:1'), '1');
    await base.withEvents(events).fetchManifest(parseImageRef('example.com/app:1'), '1');
    assert.deepEqual(events.events.filter((e) => e.type === 'registry.retry').map((e) => e.type === 'registry.retry' && [e.reason, e.delayMs]), [['429 Too Many Requests (Retry-After 2 s)', 2000]]);
  });

  it('a blob download is transfer.started, progress and completed once verified', async () => {
    const blob = Buffer.alloc(100_000, 7);
    const descriptor = { mediaType: MEDIA_TYPES.ociLayerGzip, digest: sha256Digest(blob), size: blob.length };
    const { fetch } = fakeFetch(() => new Response(blob, { status: 200, headers: { 'content-length': String(blob.length) } }));
    const events = new RecordingSink();
    const client = new RegistryClient({ fetch, clock: instant }).withEvents(events);
    const stream = await client.fetchBlob(parseImageRef('example.com/app:1'), descriptor);
    for await (const _ of stream) { /* drain */ }
    const types = events.events.map((e) => e.type);
    assert.equal(types[0], 'transfer.started');
    assert.equal(types.at(-1), 'transfer.completed');
    assert.ok(types.includes('transfer.progress'));
    const done = events.events.at(-1);
    assert.ok(done?.type === 'transfer.completed');
    assert.deepEqual([done.direction, done.ref, done.digest, done.kind, done.outcome, done.bytes], ['pull', 'example.com/app', descriptor.digest, 'layer', 'done', blob.length]);
  });
});

describe('RegistryClient: registries that never answer', () => {
  it('gives up on a response that does not start within responseTimeoutMs, once (REGISTRY_ERROR, not retried)', async () => {
    let calls = 0;
    // Accepts the request and never answers; only the request's signal ends it.
    const silent = (_input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
      calls++;
      return new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
      });
    };
    const client = new RegistryClient({ fetch: silent, responseTimeoutMs: 50, retry: { baseDelayMs: 1, maxDelayMs: 1 } });
    await assert.rejects(
      client.fetchManifest(parseImageRef('r.io/a/b'), 'latest'),
      (e: unknown) => isStagecraftError(e) && e.code === 'REGISTRY_ERROR' && /timed out after 50 ms waiting for r\.io to answer/.test(e.message) && /registryResponseTimeout/.test(e.hint ?? ''),
    );
    assert.equal(calls, 1);
  });

  it('a caller abort during the wait is the abort, not a timeout', async () => {
    const silent = (_input: string | URL | Request, init: RequestInit = {}): Promise<Response> => new Promise((_resolve, reject) => {
      init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
    });
    const controller = new AbortController();
    const reason = new Error('stop');
    setTimeout(() => controller.abort(reason), 20);
    await assert.rejects(new RegistryClient({ fetch: silent, responseTimeoutMs: 60_000 }).fetchManifest(parseImageRef('r.io/a/b'), 'latest', { signal: controller.signal }), (e: unknown) => e === reason);
  });

  it('reports an error status whose body never ends, with what came of the body', async () => {
    const never = fakeFetch(() => new Response(new ReadableStream<Uint8Array>({ start: (c) => { c.enqueue(new TextEncoder().encode('gone')); } }), { status: 404, statusText: 'Not Found' }));
    await assert.rejects(
      new RegistryClient({ fetch: never.fetch }).fetchManifest(parseImageRef('r.io/a/b'), 'latest'),
      (e: unknown) => isStagecraftError(e) && e.code === 'NOT_FOUND' && /404 Not Found \(gone\)/.test(e.message),
    );
  });

  it('gives up on a manifest body that stalls after the headers (REGISTRY_ERROR naming the manifest)', async () => {
    const stall = fakeFetch(() => new Response(new ReadableStream<Uint8Array>({ start: (c) => { c.enqueue(new TextEncoder().encode('{"schemaVersion":')); } }), {
      status: 200,
      headers: { 'content-type': MEDIA_TYPES.ociManifest },
    }));
    await assert.rejects(
      new RegistryClient({ fetch: stall.fetch, responseTimeoutMs: 50 }).fetchManifest(parseImageRef('r.io/a/b'), 'latest'),
      (e: unknown) => isStagecraftError(e) && e.code === 'REGISTRY_ERROR' && /GET manifest r\.io\/a\/b:latest: the response body stalled \(no data for 50 ms\)/.test(e.message),
    );
  });
});
