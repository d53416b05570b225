/**
 * A hostile or broken registry between stagecraft and a real one (Debian's docker-registry with
 * htpasswd auth): corrupted and truncated blobs during a pull of several layers, manifests that read as
 * both an index and an image manifest, a wrong Docker-Content-Digest, an endless manifest, redirects to
 * other hosts and ports that record what they receive, a token realm that redirects, error bodies that
 * echo the credentials. Credentials must reach only the registry's own origin and never a message or
 * the state root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { loadConfig } from '../../src/config/index.js';
import { StagecraftError, isStagecraftError, parseDigest, parseImageRef, parsePlatform } from '../../src/core/index.js';
import { createEngine } from '../../src/engine/index.js';
import { MEDIA_TYPES } from '../../src/oci/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import type { Clock } from '../../src/util/retry.js';
import { makeBusyboxImage, type LayoutImage } from '../helpers/base-image.js';
import { sendUpstream, startProxy, type TestProxy, type UpstreamResponse } from '../helpers/http-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const CREDS = { username: 'ci', password: 'hostile-s3cret-pw' };
const BASIC = `Basic ${Buffer.from(`${CREDS.username}:${CREDS.password}`).toString('base64')}`;
const amd64 = parsePlatform('linux/amd64');

function sha(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function instantClock(): Clock {
  return { now: () => Date.now(), sleep: () => Promise.resolve() };
}

async function consume(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Asserts that nothing in a message, hint or cause chain of `error` carries the credentials. */
function assertNoSecret(error: unknown): void {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    const text = `${e.message} ${e instanceof StagecraftError ? (e.hint ?? '') : ''} ${e.stack ?? ''}`;
    assert.ok(!text.includes(CREDS.password), `the password in ${text}`);
    assert.ok(!text.includes(BASIC.slice(6)), `the basic credentials in ${text}`);
  }
}

interface TwoLayers {
  readonly manifestDigest: string;
  readonly big: { digest: string; size: number };
  readonly small: { digest: string; size: number };
}

/** Adds a second, small layer to the busybox layout's image and tags it `two`. */
async function addTwoLayerImage(image: LayoutImage, dir: string): Promise<TwoLayers> {
  const blobs = join(image.layout, 'blobs/sha256');
  const put = async (data: Buffer): Promise<{ digest: string; size: number }> => {
    await writeFile(join(blobs, sha(data).slice(7)), data);
    return { digest: sha(data), size: data.length };
  };
  await mkdir(join(dir, 'small'));
  await writeFile(join(dir, 'small/hello'), 'hello from the second layer\n');
  const tar = execFileSync('tar', ['--numeric-owner', '--mtime=@0', '-C', join(dir, 'small'), '-cf', '-', '.']);
  const small = await put(execFileSync('gzip', ['-n'], { input: tar }));
  const config = z.looseObject({ rootfs: z.object({ type: z.string(), diff_ids: z.array(z.string()) }) }).parse(JSON.parse((await readFile(join(blobs, image.configDigest.slice(7)))).toString()));
  const configBlob = await put(Buffer.from(JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids, sha(tar)] } })));
  const big = { digest: image.layerDigest, size: (await readFile(join(blobs, image.layerDigest.slice(7)))).length };
  const manifest = await put(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: MEDIA_TYPES.ociConfig, ...configBlob },
    layers: [{ mediaType: MEDIA_TYPES.ociLayerGzip, ...big }, { mediaType: MEDIA_TYPES.ociLayerGzip, ...small }],
  })));
  const index = z.object({ manifests: z.array(z.looseObject({})) }).parse(JSON.parse(await readFile(join(image.layout, 'index.json'), 'utf8')));
  index.manifests.push({ mediaType: MEDIA_TYPES.ociManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'two' } });
  await writeFile(join(image.layout, 'index.json'), JSON.stringify({ schemaVersion: 2, ...index }));
  return { manifestDigest: manifest.digest, big, small };
}

function push(image: LayoutImage, tag: string, destination: string): void {
  execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', '--dest-creds', `${CREDS.username}:${CREDS.password}`, `oci:${image.layout}:${tag}`, `docker://${destination}`], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** An HTTP server on `host` that records the Authorization header of each request and serves blobs from the registry. */
async function startRecorder(host: string, registry: TestRegistry): Promise<{ server: Server; url: string; seen: (string | undefined)[] }> {
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    void fetch(`${registry.url}${new URL(req.url ?? '/', 'http://x').pathname}`, { headers: { authorization: BASIC } }).then(async (r) => {
      res.writeHead(r.status, { 'content-type': 'application/octet-stream' }).end(Buffer.from(await r.arrayBuffer()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}`, seen };
}

async function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Every file under `dir` (the state root), read whole. */
async function allFiles(dir: string): Promise<{ path: string; data: Buffer }[]> {
  const out: { path: string; data: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      out.push({ path, data: await readFile(path) });
    }
  }
  return out;
}

type Fault = (req: IncomingMessage, upstream: UpstreamResponse, res: ServerResponse) => boolean;
type Intercept = (req: IncomingMessage, res: ServerResponse) => boolean;

describe('registry client against a hostile registry', { timeout: 240_000 }, () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let dir: string;
  let image: LayoutImage;
  let two: TwoLayers;
  let dockerConfig: string;
  let fault: Fault | undefined;
  let intercept: Intercept | undefined;
  const recorders: { server: Server; url: string; seen: (string | undefined)[] }[] = [];

  before(async () => {
    registry = await startRegistry({ auth: CREDS });
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-registry-hostile-'));
    image = await makeBusyboxImage(dir);
    two = await addTwoLayerImage(image, dir);
    push(image, 'latest', `${registry.host}/library/busybox:1`);
    push(image, 'two', `${registry.host}/library/two:1`);
    proxy = await startProxy(registry.host, {
      intercept: (req, res) => intercept?.(req, res) === true,
      respond: (req, upstream, res) => {
        if (fault?.(req, upstream, res) !== true) sendUpstream(upstream, res);
      },
    });
    dockerConfig = join(dir, 'docker');
    await mkdir(dockerConfig);
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [proxy.host]: { auth: BASIC.slice(6) } } }));
  });
  after(async () => {
    for (const recorder of recorders) await stopServer(recorder.server);
    await proxy.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const client = (): RegistryClient => new RegistryClient({ clock: instantClock(), credentials: { get: () => Promise.resolve(CREDS) } });
  const engineAt = (root: string) => createEngine(loadConfig({ env: { HOME: dir, DOCKER_CONFIG: dockerConfig, STAGECRAFT_ROOT: root } }), { platform: amd64 });
  const isBlobGet = (req: IncomingMessage, digest: string): boolean => req.method === 'GET' && (req.url ?? '').endsWith(`/blobs/${digest}`);

  /** The big layer comes slowly (so it is still downloading when the small one fails). */
  const slowBig: Fault = (req, upstream, res) => {
    if (!isBlobGet(req, two.big.digest) || upstream.status !== 200) return false;
    res.writeHead(upstream.status, upstream.headers);
    res.write(upstream.body.subarray(0, 1000));
    setTimeout(() => res.end(upstream.body.subarray(1000)), 1500).unref();
    return true;
  };

  async function assertNothingStored(root: string, digest: string): Promise<void> {
    const blobs = await readdir(join(root, 'content/blobs/sha256')).catch(() => [] as string[]);
    assert.ok(!blobs.includes(digest.slice(7)), 'the bad blob is not in the store');
    assert.deepEqual(await readdir(join(root, 'content/ingest')).catch(() => []), [], 'no partial download left');
  }

  it('a corrupted layer while another downloads: DIGEST_MISMATCH naming repository, blob, both digests and the size; nothing stored', async () => {
    let corrupted = '';
    fault = (req, upstream, res) => {
      if (slowBig(req, upstream, res)) return true;
      if (!isBlobGet(req, two.small.digest)) return false;
      const body = Buffer.from(upstream.body);
      body[Math.floor(body.length / 2)]! ^= 0xff;
      corrupted = sha(body);
      sendUpstream({ ...upstream, body }, res);
      return true;
    };
    const root = join(dir, 'root-corrupt');
    const engine = engineAt(root);
    try {
      await assert.rejects(engine.pull(`${proxy.host}/library/two:1`), (e: unknown) => {
        assert.ok(isStagecraftError(e), `not a StagecraftError: ${String(e)}`);
        assert.equal(e.code, 'DIGEST_MISMATCH', e.message);
        assert.ok(e.message.includes(`${proxy.host}/library/two`), e.message);
        assert.ok(e.message.includes(`expected ${two.small.digest} (${two.small.size} bytes), got ${corrupted} (${two.small.size} bytes)`), e.message);
        assertNoSecret(e);
        return true;
      });
    } finally {
      engine.close();
      fault = undefined;
    }
    await assertNothingStored(root, two.small.digest);
  });

  it('a truncated layer (Content-Length short of the descriptor) is DIGEST_MISMATCH with both sizes, at once', async () => {
    let gets = 0;
    fault = (req, upstream, res) => {
      if (slowBig(req, upstream, res)) return true;
      if (!isBlobGet(req, two.small.digest)) return false;
      gets++;
      const body = upstream.body.subarray(0, upstream.body.length - 7);
      sendUpstream({ ...upstream, headers: { ...upstream.headers, 'content-length': String(body.length) }, body }, res);
      return true;
    };
    const root = join(dir, 'root-truncated');
    const engine = engineAt(root);
    try {
      await assert.rejects(engine.pull(`${proxy.host}/library/two:1`), (e: unknown) => {
        assert.ok(isStagecraftError(e) && e.code === 'DIGEST_MISMATCH', String(e));
        assert.ok(e.message.includes(`expected ${two.small.digest} (${two.small.size} bytes), got a body of ${two.small.size - 7} bytes`), e.message);
        return true;
      });
      assert.equal(gets, 1, 'a wrong size is not retried');
    } finally {
      engine.close();
      fault = undefined;
    }
    await assertNothingStored(root, two.small.digest);
  });

  it('a body cut short without a Content-Length is resumed and verified, or named as a lost connection', async () => {
    fault = (req, upstream, res) => {
      if (!isBlobGet(req, two.small.digest)) return false;
      const headers = { ...upstream.headers };
      delete headers['content-length'];
      res.writeHead(upstream.status, headers);
      res.end(upstream.body.subarray(0, upstream.body.length - 7));
      return true;
    };
    try {
      const stream = await new RegistryClient({ clock: instantClock(), credentials: { get: () => Promise.resolve(CREDS) }, retry: { attempts: 2 } })
        .fetchBlob(parseImageRef(`${proxy.host}/library/two`), { mediaType: MEDIA_TYPES.ociLayerGzip, digest: parseDigest(two.small.digest), size: two.small.size });
      await assert.rejects(consume(stream), (e: unknown) => isStagecraftError(e) && /REGISTRY_ERROR|DIGEST_MISMATCH/.test(e.code) && e.message.includes(two.small.digest));
    } finally {
      fault = undefined;
    }
  });

  describe('manifests that read as both an index and an image manifest are refused', () => {
    /** The busybox manifest with the fields of an index added that point to the two-layer image. */
    async function ambiguous(): Promise<Buffer> {
      const bytes = await readFile(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7)));
      const { mediaType: _m, ...manifest } = z.looseObject({ mediaType: z.string() }).parse(JSON.parse(bytes.toString()));
      const twoBytes = await readFile(join(image.layout, 'blobs/sha256', two.manifestDigest.slice(7)));
      return Buffer.from(JSON.stringify({ ...manifest, manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: two.manifestDigest, size: twoBytes.length, platform: { os: 'linux', architecture: 'amd64' } }] }));
    }

    for (const served of [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifestList, 'application/json']) {
      it(`served as ${served}`, async () => {
        const body = await ambiguous();
        intercept = (req, res) => {
          if (req.method !== 'GET' || !(req.url ?? '').endsWith('/manifests/amb')) return false;
          res.writeHead(200, { 'content-type': served, 'docker-content-digest': sha(body) }).end(body);
          return true;
        };
        const root = join(dir, 'root-ambiguous');
        const engine = engineAt(root);
        try {
          await assert.rejects(client().resolve(parseImageRef(`${proxy.host}/library/busybox:amb`), { platform: amd64 }), (e: unknown) => {
            assert.ok(isStagecraftError(e) && e.code === 'INVALID_MANIFEST', String(e));
            assert.match(e.message, new RegExp(`${proxy.host}/library/busybox:amb is ambiguous`));
            return true;
          });
          await assert.rejects(engine.pull(`${proxy.host}/library/busybox:amb`), (e: unknown) => isStagecraftError(e) && e.code === 'INVALID_MANIFEST');
          assert.deepEqual((await engine.images()).map((i) => i.name), []);
        } finally {
          engine.close();
          intercept = undefined;
        }
      });
    }

    it('served as an index, an image manifest without mediaType (the reverse) is refused naming what is wrong', async () => {
      const bytes = await readFile(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7)));
      const { mediaType: _m, ...manifest } = z.looseObject({ mediaType: z.string() }).parse(JSON.parse(bytes.toString()));
      const body = Buffer.from(JSON.stringify(manifest));
      intercept = (req, res) => {
        if (req.method !== 'GET' || !(req.url ?? '').endsWith('/manifests/rev')) return false;
        res.writeHead(200, { 'content-type': MEDIA_TYPES.ociIndex }).end(body);
        return true;
      };
      try {
        await assert.rejects(client().resolve(parseImageRef(`${proxy.host}/library/busybox:rev`), { platform: amd64 }), (e: unknown) => isStagecraftError(e) && e.code === 'INVALID_MANIFEST' && /busybox:rev is ambiguous: it is an index .* "config" and "layers"/.test(e.message));
      } finally {
        intercept = undefined;
      }
    });
  });

  it('a tag whose Docker-Content-Digest is not the digest of the body is DIGEST_MISMATCH', async () => {
    const other = sha('something else');
    fault = (req, upstream, res) => {
      if (!(req.url ?? '').endsWith('/manifests/1')) return false;
      sendUpstream({ ...upstream, headers: { ...upstream.headers, 'docker-content-digest': other } }, res);
      return true;
    };
    try {
      await assert.rejects(client().fetchManifest(parseImageRef(`${proxy.host}/library/busybox`), '1'), (e: unknown) => isStagecraftError(e) && e.code === 'DIGEST_MISMATCH' && e.message.includes(other) && e.message.includes(image.manifestDigest));
    } finally {
      fault = undefined;
    }
  });

  it('an endless manifest (no Content-Length) is cut at the limit: INVALID_MANIFEST', async () => {
    let written = 0;
    intercept = (req, res) => {
      if (!(req.url ?? '').endsWith('/manifests/huge')) return false;
      res.writeHead(200, { 'content-type': MEDIA_TYPES.ociManifest });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (written < 1024 * 1024 * 1024 && res.write(chunk)) written += chunk.length;
        if (written < 1024 * 1024 * 1024) res.once('drain', pump);
        else res.end();
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
      return true;
    };
    try {
      await assert.rejects(client().fetchManifest(parseImageRef(`${proxy.host}/library/busybox`), 'huge'), (e: unknown) => isStagecraftError(e) && e.code === 'INVALID_MANIFEST' && /larger than 4194304 bytes/.test(e.message));
      assert.ok(written < 64 * 1024 * 1024, `the client stopped reading early (${written} bytes written)`);
    } finally {
      intercept = undefined;
    }
  });

  describe('credentials', () => {
    it('never follow a blob redirect to another host, another port or another host name', async () => {
      recorders.push(await startRecorder('127.0.0.2', registry), await startRecorder('127.0.0.1', registry));
      const proxyPort = proxy.host.split(':')[1] ?? '';
      const targets = [...recorders.map((r) => r.url), `http://localhost:${proxyPort}`];
      let next = 0;
      const viaHostName: (string | undefined)[] = [];
      intercept = (req, res) => {
        if (req.method !== 'GET' || !/\/blobs\/sha256:/.test(req.url ?? '')) return false;
        if (req.headers.host?.startsWith('localhost') === true) {
          viaHostName.push(req.headers.authorization);
          void fetch(`${registry.url}${new URL(req.url ?? '/', 'http://x').pathname}`, { headers: { authorization: BASIC } }).then(async (r) => {
            res.writeHead(r.status, { 'content-type': 'application/octet-stream' }).end(Buffer.from(await r.arrayBuffer()));
          });
          return true;
        }
        const target = targets[next++ % targets.length] ?? '';
        res.writeHead(307, { location: `${target}${req.url ?? ''}?X-Signature=signed` }).end();
        return true;
      };
      const before = proxy.requests.length;
      try {
        const ref = parseImageRef(`${proxy.host}/library/two:1`);
        const c = client();
        const resolved = await c.resolve(ref, { platform: amd64 });
        for (const descriptor of [resolved.manifest.config, ...resolved.manifest.layers]) {
          const data = await consume(await c.fetchBlob(ref, descriptor));
          assert.equal(sha(data), descriptor.digest);
        }
      } finally {
        intercept = undefined;
      }
      for (const recorder of recorders) {
        assert.ok(recorder.seen.length > 0, `${recorder.url} served a blob`);
        assert.deepEqual(recorder.seen, recorder.seen.map(() => undefined), `${recorder.url} got no Authorization`);
      }
      assert.ok(viaHostName.length > 0);
      assert.deepEqual(viaHostName, viaHostName.map(() => undefined), 'localhost:PORT is another origin than 127.0.0.1:PORT');
      // The registry's own host got them.
      assert.ok(proxy.requests.slice(before).some((r) => r.headers.authorization === BASIC));
    });

    it('the basic credentials stay with the token realm when it redirects to another host', async () => {
      const tokenHosts: { host: string | undefined; authorization: string | undefined }[] = [];
      const issuer = createServer((req, res) => {
        tokenHosts.push({ host: req.headers.host, authorization: req.headers.authorization });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'redirected-token-123456' }));
      });
      await new Promise<void>((resolve) => issuer.listen(0, '127.0.0.3', resolve));
      const issuerUrl = `http://127.0.0.3:${(issuer.address() as AddressInfo).port}`;
      intercept = (req, res) => {
        if ((req.url ?? '').startsWith('/token')) {
          tokenHosts.push({ host: req.headers.host, authorization: req.headers.authorization });
          res.writeHead(302, { location: `${issuerUrl}/issue` }).end();
          return true;
        }
        if (req.headers.authorization === 'Bearer redirected-token-123456') {
          req.headers.authorization = BASIC; // the front accepts the token and speaks basic to the registry
          return false;
        }
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${proxy.url}/token",service="hostile"`, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return true;
      };
      try {
        const fetched = await client().fetchManifest(parseImageRef(`${proxy.host}/library/busybox`), '1');
        assert.equal(fetched.descriptor.digest, image.manifestDigest);
      } finally {
        intercept = undefined;
        await stopServer(issuer);
      }
      assert.deepEqual(tokenHosts.map((t) => t.authorization), [BASIC, undefined]);
    });

    it('never in error messages, even when the registry echoes them back', async () => {
      intercept = (req, res) => {
        if (!(req.url ?? '').endsWith('/manifests/echo')) return false;
        const echoed = `Authorization: ${req.headers.authorization ?? ''}; user ${CREDS.username} password=${CREDS.password}`;
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message: echoed }] }));
        return true;
      };
      try {
        await assert.rejects(client().fetchManifest(parseImageRef(`${proxy.host}/library/busybox`), 'echo'), (e: unknown) => {
          assert.ok(isStagecraftError(e), String(e));
          assertNoSecret(e);
          return true;
        });
      } finally {
        intercept = undefined;
      }
    });

    it('never in the state root after a pull with credentials', async () => {
      const root = join(dir, 'root-secret-scan');
      const engine = engineAt(root);
      try {
        const pulled = await engine.pull(`${proxy.host}/library/two:1`);
        assert.equal(pulled.digest, two.manifestDigest);
      } finally {
        engine.close();
      }
      for (const file of await allFiles(root)) {
        for (const secret of [CREDS.password, BASIC.slice(6)]) assert.ok(!file.data.includes(secret), `${secret} in ${file.path}`);
      }
    });
  });
});
