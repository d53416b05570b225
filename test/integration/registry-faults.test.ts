import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError, parseImageRef, parsePlatform } from '../../src/core/index.js';
import type { Descriptor } from '../../src/oci/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import type { Clock } from '../../src/util/retry.js';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { sendUpstream, startProxy, type TestProxy, type UpstreamResponse } from '../helpers/http-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const amd64 = parsePlatform('linux/amd64');

async function consume(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Sleeps return at once and are recorded, so retries cost no wall time. */
function instantClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return { sleeps, now: () => Date.now(), sleep: (ms) => { sleeps.push(ms); return Promise.resolve(); } };
}

type Fault = (req: IncomingMessage, upstream: UpstreamResponse, res: ServerResponse) => boolean;

describe('registry client: faults between client and registry', { timeout: 180_000 }, () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let dir: string;
  let image: LayoutImage;
  let layer: Descriptor;
  /** The fault for the next requests; returns true when it answered. */
  let fault: Fault | undefined;
  let stripRange = false;

  before(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-registry-faults-'));
    image = await makeBusyboxImage(dir);
    pushLayout(image, `${registry.host}/library/busybox:1`);
    proxy = await startProxy(registry.host, {
      intercept: (req) => {
        if (stripRange) delete req.headers.range;
        return false;
      },
      respond: (req, upstream, res) => {
        if (fault?.(req, upstream, res) !== true) sendUpstream(upstream, res);
      },
    });
    const resolved = await new RegistryClient().resolve(parseImageRef(`${registry.host}/library/busybox:1`), { platform: amd64 });
    layer = resolved.manifest.layers[0]!;
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const isLayerGet = (req: IncomingMessage): boolean => req.method === 'GET' && (req.url ?? '').endsWith(`/blobs/${layer.digest}`);

  /** Sends the headers and the first `fraction` of the body, then drops the connection. */
  function dropAfter(fraction: number, times: number): Fault {
    let dropped = 0;
    return (req, upstream, res) => {
      if (!isLayerGet(req) || dropped >= times || (upstream.status !== 200 && upstream.status !== 206)) return false;
      dropped++;
      res.writeHead(upstream.status, upstream.headers);
      res.write(upstream.body.subarray(0, Math.floor(upstream.body.length * fraction)), () => res.socket?.destroy());
      return true;
    };
  }

  it('resumes a dropped blob download with Range and verifies the result', async () => {
    fault = dropAfter(0.5, 2);
    stripRange = false;
    const clock = instantClock();
    const client = new RegistryClient({ clock });
    const before = proxy.requests.length;
    const data = await consume(await client.fetchBlob(parseImageRef(`${proxy.host}/library/busybox`), layer));
    assert.equal(data.length, layer.size);
    assert.equal(`sha256:${createHash('sha256').update(data).digest('hex')}`, layer.digest);
    const gets = proxy.requests.slice(before).filter((r) => r.method === 'GET');
    assert.equal(gets.length, 3);
    assert.equal(gets[0]?.headers.range, undefined);
    assert.match(gets[1]?.headers.range ?? '', /^bytes=\d+-$/);
    assert.equal(clock.sleeps.length, 2);
  });

  it('resumes from the start when the registry ignores Range', async () => {
    fault = dropAfter(0.3, 1);
    stripRange = true;
    const client = new RegistryClient({ clock: instantClock() });
    const data = await consume(await client.fetchBlob(parseImageRef(`${proxy.host}/library/busybox`), layer));
    stripRange = false;
    assert.equal(`sha256:${createHash('sha256').update(data).digest('hex')}`, layer.digest);
  });

  it('gives up with REGISTRY_ERROR when the connection keeps dropping', async () => {
    fault = dropAfter(0.5, 100);
    const client = new RegistryClient({ clock: instantClock(), retry: { attempts: 3 } });
    const stream = await client.fetchBlob(parseImageRef(`${proxy.host}/library/busybox`), layer);
    await assert.rejects(consume(stream), (e: unknown) => isStagecraftError(e) && e.code === 'REGISTRY_ERROR' && /connection lost/.test(e.message));
  });

  it('corrupted bytes end the stream with DIGEST_MISMATCH', async () => {
    fault = (req, upstream, res) => {
      if (!isLayerGet(req)) return false;
      const body = Buffer.from(upstream.body);
      body[Math.floor(body.length / 2)]! ^= 0xff;
      sendUpstream({ ...upstream, body }, res);
      return true;
    };
    const client = new RegistryClient({ clock: instantClock() });
    const stream = await client.fetchBlob(parseImageRef(`${proxy.host}/library/busybox`), layer);
    await assert.rejects(consume(stream), (e: unknown) => isStagecraftError(e) && e.code === 'DIGEST_MISMATCH' && e.message.includes(layer.digest));
  });

  it('a longer body than the descriptor declares is DIGEST_MISMATCH', async () => {
    fault = (req, upstream, res) => {
      if (!isLayerGet(req)) return false;
      const body = Buffer.concat([upstream.body, Buffer.from('extra')]);
      sendUpstream({ ...upstream, headers: { ...upstream.headers, 'content-length': String(body.length) }, body }, res);
      return true;
    };
    const client = new RegistryClient({ clock: instantClock() });
    await assert.rejects(consume(await client.fetchBlob(parseImageRef(`${proxy.host}/library/busybox`), layer)), (e: unknown) => isStagecraftError(e) && e.code === 'DIGEST_MISMATCH');
  });

  it('retries 503 and 429 (honouring Retry-After) on manifest requests', async () => {
    let failures = 0;
    fault = (req, _upstream, res) => {
      if (!(req.url ?? '').includes('/manifests/') || failures >= 2) return false;
      failures++;
      if (failures === 1) res.writeHead(503, { 'content-type': 'text/plain' }).end('busy');
      else res.writeHead(429, { 'retry-after': '3' }).end();
      return true;
    };
    const clock = instantClock();
    const client = new RegistryClient({ clock, random: () => 0 });
    const resolved = await client.resolve(parseImageRef(`${proxy.host}/library/busybox:1`), { platform: amd64 });
    assert.equal(resolved.descriptor.digest, image.manifestDigest);
    assert.deepEqual(clock.sleeps, [100, 3000]);
  });

  it('a registry that keeps failing is REGISTRY_ERROR after the attempts', async () => {
    let calls = 0;
    fault = (req, _upstream, res) => {
      if (!(req.url ?? '').includes('/manifests/')) return false;
      calls++;
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'disk on fire' }] }));
      return true;
    };
    const client = new RegistryClient({ clock: instantClock(), retry: { attempts: 4 } });
    await assert.rejects(client.fetchManifest(parseImageRef(`${proxy.host}/library/busybox`), '1'), (e: unknown) => isStagecraftError(e) && e.code === 'REGISTRY_ERROR' && /500.*disk on fire/.test(e.message));
    assert.equal(calls, 4);
    fault = undefined;
  });

  it('an unreachable registry is REGISTRY_ERROR naming the host', async () => {
    const client = new RegistryClient({ clock: instantClock(), retry: { attempts: 2 } });
    await assert.rejects(client.fetchManifest(parseImageRef('127.0.0.1:1/x/y'), 'latest'), (e: unknown) => isStagecraftError(e) && e.code === 'REGISTRY_ERROR' && /cannot reach 127\.0\.0\.1:1/.test(e.message));
  });
});
