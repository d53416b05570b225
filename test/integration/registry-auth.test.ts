import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError, parseImageRef, parsePlatform } from '../../src/core/index.js';
import { CredentialStore, RegistryClient } from '../../src/registry/index.js';
import type { Clock } from '../../src/util/retry.js';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { startProxy, type TestProxy } from '../helpers/http-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const USER = 'alice';
const PASSWORD = 's3cret-pass';
const amd64 = parsePlatform('linux/amd64');

async function consume(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

function authError(e: unknown): boolean {
  assert.ok(isStagecraftError(e), String(e));
  assert.equal(e.code, 'REGISTRY_AUTH');
  assert.ok(e.hint !== undefined && e.hint !== '');
  assert.ok(!e.message.includes(PASSWORD) && !(e.hint ?? '').includes(PASSWORD), 'the password is not in the message');
  return true;
}

describe('registry client: basic auth (htpasswd)', { timeout: 180_000 }, () => {
  let registry: TestRegistry;
  let dir: string;
  let image: LayoutImage;

  before(async () => {
    registry = await startRegistry({ auth: { username: USER, password: PASSWORD } });
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-registry-auth-'));
    image = await makeBusyboxImage(dir);
    pushLayout(image, `${registry.host}/private/busybox:1`, { credentials: { username: USER, password: PASSWORD } });
  });
  after(async () => {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pulls with explicit credentials', async () => {
    const client = new RegistryClient({ credentials: new CredentialStore({ explicit: { [registry.host]: { username: USER, password: PASSWORD } } }) });
    const ref = parseImageRef(`${registry.host}/private/busybox:1`);
    const resolved = await client.resolve(ref, { platform: amd64 });
    assert.equal(resolved.descriptor.digest, image.manifestDigest);
    assert.equal(await consume(await client.fetchBlob(ref, resolved.manifest.layers[0]!)), resolved.manifest.layers[0]!.size);
    assert.equal((await client.ping(registry.host)).authScheme, 'basic');
  });

  it('pulls with credentials from a docker config.json (auths.auth)', async () => {
    const configPath = join(dir, 'config.json');
    await writeFile(configPath, JSON.stringify({ auths: { [`http://${registry.host}`]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
    const client = new RegistryClient({ credentials: new CredentialStore({ dockerConfigPath: configPath }) });
    const resolved = await client.resolve(parseImageRef(`${registry.host}/private/busybox:1`), { platform: amd64 });
    assert.equal(resolved.descriptor.digest, image.manifestDigest);
  });

  it('wrong password and no credentials are REGISTRY_AUTH with a hint', async () => {
    const wrong = new RegistryClient({ credentials: new CredentialStore({ explicit: { [registry.host]: { username: USER, password: 'wrong' } } }) });
    await assert.rejects(wrong.resolve(parseImageRef(`${registry.host}/private/busybox:1`), { platform: amd64 }), (e: unknown) => authError(e) && /refused the credentials of alice/.test((e as Error).message));
    const anonymous = new RegistryClient();
    await assert.rejects(anonymous.resolve(parseImageRef(`${registry.host}/private/busybox:1`), { platform: amd64 }), (e: unknown) => authError(e) && /requires authentication/.test((e as Error).message));
  });
});

interface TokenGrant {
  readonly scopes: readonly string[];
  readonly user: string | undefined;
}

/**
 * A bearer-token front for an open registry: /token issues tokens (basic credentials for push, anonymous
 * for pull), and every /v2/ request needs a token whose scope covers its repository and action.
 */
function tokenFront(state: { proxyUrl: string; tokens: Map<string, TokenGrant>; tokenRequests: URL[] }) {
  let counter = 0;
  const challenge = (repo: string | undefined, action: string): string =>
    `Bearer realm="${state.proxyUrl}/token",service="test-registry"${repo === undefined ? '' : `,scope="repository:${repo}:${action}"`}`;
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', state.proxyUrl);
    if (url.pathname === '/token') {
      state.tokenRequests.push(url);
      const header = req.headers.authorization;
      let user: string | undefined;
      if (header !== undefined) {
        const [u, p] = Buffer.from(header.replace(/^Basic /, ''), 'base64').toString().split(':');
        if (u !== USER || p !== PASSWORD) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
          return true;
        }
        user = u;
      }
      assert.equal(url.searchParams.get('service'), 'test-registry');
      // Anonymous users get pull only; alice gets what she asks for.
      const scopes = url.searchParams.getAll('scope').map((s) => (user === undefined ? s.replace(/:pull,push$/, ':pull') : s));
      const token = `tok-${++counter}`;
      state.tokens.set(token, { scopes, user });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() }));
      return true;
    }
    const match = /^\/v2\/(.+)\/(manifests|blobs|tags)\//.exec(url.pathname);
    const repo = match?.[1];
    const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const grant = token === undefined ? undefined : state.tokens.get(token);
    const allowed = grant !== undefined && (repo === undefined || grant.scopes.some((s) => {
      const [, name, actions] = /^repository:(.+):([a-z,]+)$/.exec(s) ?? [];
      return name === repo && (actions ?? '').split(',').includes(action);
    }));
    if (!allowed) {
      res.writeHead(401, { 'www-authenticate': challenge(repo, action), 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return true;
    }
    return false;
  };
}

describe('registry client: bearer token auth', { timeout: 180_000 }, () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let storage: Server;
  let storageHost: string;
  const storageAuthHeaders: (string | undefined)[] = [];
  let dir: string;
  let image: LayoutImage;
  const state = { proxyUrl: '', tokens: new Map<string, TokenGrant>(), tokenRequests: [] as URL[] };

  before(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-registry-token-'));
    image = await makeBusyboxImage(dir);
    pushLayout(image, `${registry.host}/team/busybox:1`);
    // "Object storage" on another host name: blob GETs are redirected to it.
    storage = createServer((req, res) => {
      storageAuthHeaders.push(req.headers.authorization);
      void fetch(`${registry.url}${req.url ?? '/'}`).then(async (r) => {
        res.writeHead(r.status, { 'content-type': 'application/octet-stream' }).end(Buffer.from(await r.arrayBuffer()));
      });
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
    storageHost = `localhost:${(storage.address() as AddressInfo).port}`;
    const front = tokenFront(state);
    proxy = await startProxy(registry.host, {
      intercept: (req, res, body) => {
        if (front(req, res)) return true;
        void body;
        if (req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')) {
          res.writeHead(307, { location: `http://${storageHost}${req.url ?? ''}?X-Signature=secret` }).end();
          return true;
        }
        return false;
      },
    });
    state.proxyUrl = proxy.url;
  });
  after(async () => {
    await proxy.stop();
    storage.closeAllConnections();
    await new Promise<void>((resolve) => storage.close(() => resolve()));
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pulls anonymously with one token reused for the repository, and never sends it to the redirect host', async () => {
    state.tokenRequests.length = 0;
    const client = new RegistryClient();
    const ref = parseImageRef(`${proxy.host}/team/busybox:1`);
    const resolved = await client.resolve(ref, { platform: amd64 });
    assert.equal(resolved.descriptor.digest, image.manifestDigest);
    for (const d of [resolved.manifest.config, ...resolved.manifest.layers]) assert.equal(await consume(await client.fetchBlob(ref, d)), d.size);
    assert.equal(state.tokenRequests.length, 1, 'one token for all requests of the repository');
    assert.deepEqual(state.tokenRequests[0]?.searchParams.getAll('scope'), ['repository:team/busybox:pull']);
    assert.equal(storageAuthHeaders.length, 2, 'both blobs came from storage');
    assert.deepEqual(storageAuthHeaders, [undefined, undefined]);
  });

  it('fetches a new token when the cached one expires', async () => {
    let now = Date.now();
    const clock: Clock = { now: () => now, sleep: () => Promise.resolve() };
    state.tokenRequests.length = 0;
    const client = new RegistryClient({ clock });
    const ref = parseImageRef(`${proxy.host}/team/busybox:1`);
    await client.fetchManifest(ref, '1');
    await client.fetchManifest(ref, '1');
    assert.equal(state.tokenRequests.length, 1);
    now += 301_000;
    await client.fetchManifest(ref, '1');
    assert.equal(state.tokenRequests.length, 2);
  });

  it('pushes with credentials sent to the token server (scope pull,push)', async () => {
    state.tokenRequests.length = 0;
    const client = new RegistryClient({ credentials: new CredentialStore({ explicit: { [proxy.host]: { username: USER, password: PASSWORD } } }) });
    const ref = parseImageRef(`${proxy.host}/team/pushed:1`);
    const source = parseImageRef(`${proxy.host}/team/busybox:1`);
    const resolved = await client.resolve(source, { platform: amd64 });
    for (const d of [resolved.manifest.config, ...resolved.manifest.layers]) {
      const outcome = await client.pushBlob(ref, d, () => {
        throw new Error('mounted, not uploaded');
      }, { mountFrom: source });
      assert.equal(outcome.outcome, 'mounted');
    }
    await client.putManifest(ref, '1', resolved.descriptor.mediaType, resolved.bytes);
    const back = await new RegistryClient().resolve(ref, { platform: amd64 });
    assert.equal(back.descriptor.digest, image.manifestDigest);
    assert.ok(state.tokenRequests.some((u) => u.searchParams.getAll('scope').includes('repository:team/pushed:pull,push') && u.searchParams.get('account') === USER));
  });

  it('push without credentials and with wrong ones are REGISTRY_AUTH', async () => {
    const ref = parseImageRef(`${proxy.host}/team/denied:1`);
    const anonymous = new RegistryClient();
    await assert.rejects(anonymous.putManifest(ref, '1', 'application/vnd.oci.image.manifest.v1+json', Buffer.from('{}')), authError);
    const wrong = new RegistryClient({ credentials: new CredentialStore({ explicit: { [proxy.host]: { username: USER, password: 'nope' } } }) });
    await assert.rejects(wrong.fetchManifest(ref, '1'), (e: unknown) => authError(e) && /token server refused the credentials of alice/.test((e as Error).message));
  });
});
