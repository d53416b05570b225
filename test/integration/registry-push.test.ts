import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError, parseImageRef, sha256Digest } from '../../src/core/index.js';
import { MEDIA_TYPES, type Descriptor } from '../../src/oci/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { makeBusyboxImage, type LayoutImage } from '../helpers/base-image.js';
import { startProxy, type TestProxy } from '../helpers/http-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const skopeoInspect = (ref: string): { Digest: string; Layers: string[] } =>
  JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };

describe('registry client: push to a real registry', { timeout: 180_000 }, () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let dir: string;
  let image: LayoutImage;
  let blobs: { config: Descriptor; layer: Descriptor; manifest: Buffer };

  const blobPath = (digest: string): string => join(image.layout, 'blobs/sha256', digest.slice('sha256:'.length));
  const open = (d: Descriptor) => () => createReadStream(blobPath(d.digest));

  before(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.host);
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-registry-push-'));
    image = await makeBusyboxImage(dir);
    const manifest = await readFile(blobPath(image.manifestDigest));
    const parsed = JSON.parse(manifest.toString('utf8')) as { config: Descriptor; layers: Descriptor[] };
    blobs = { config: parsed.config, layer: parsed.layers[0]!, manifest };
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function pushImage(client: RegistryClient, refText: string): Promise<string[]> {
    const ref = parseImageRef(refText);
    const outcomes: string[] = [];
    for (const d of [blobs.layer, blobs.config]) outcomes.push((await client.pushBlob(ref, d, open(d))).outcome);
    await client.putManifest(ref, ref.tag ?? 'latest', MEDIA_TYPES.ociManifest, blobs.manifest);
    return outcomes;
  }

  it('pushes config, layer and manifest; skopeo reads the image back', async () => {
    const client = new RegistryClient();
    const outcomes = await pushImage(client, `${registry.host}/team/app:v1`);
    assert.deepEqual(outcomes, ['uploaded', 'uploaded']);
    const inspected = skopeoInspect(`${registry.host}/team/app:v1`);
    assert.equal(inspected.Digest, image.manifestDigest);
    assert.deepEqual(inspected.Layers, [image.layerDigest]);
  });

  it('pushing twice uploads nothing the second time', async () => {
    const client = new RegistryClient();
    const first = await pushImage(client, `${proxy.host}/team/twice:v1`);
    assert.deepEqual(first, ['uploaded', 'uploaded']);
    const before = proxy.requests.length;
    const second = await pushImage(client, `${proxy.host}/team/twice:v1`);
    assert.deepEqual(second, ['exists', 'exists']);
    const again = proxy.requests.slice(before);
    assert.deepEqual(again.filter((r) => r.method === 'POST' || r.method === 'PATCH' || r.path.includes('/blobs/uploads/')), []);
    assert.deepEqual(again.map((r) => r.method).sort(), ['HEAD', 'HEAD', 'PUT']);
  });

  it('uploads large blobs in chunks and the registry verifies them', async () => {
    const client = new RegistryClient({ chunkedUploadThreshold: 64 * 1024, uploadChunkSize: 100 * 1024 });
    const ref = parseImageRef(`${proxy.host}/team/chunked:v1`);
    const before = proxy.requests.length;
    assert.equal((await client.pushBlob(ref, blobs.layer, open(blobs.layer))).outcome, 'uploaded');
    const patches = proxy.requests.slice(before).filter((r) => r.method === 'PATCH');
    assert.equal(patches.length, Math.ceil(blobs.layer.size / (100 * 1024)));
    assert.equal(patches[1]?.headers['content-range'], `${100 * 1024}-${200 * 1024 - 1}`);
    assert.equal(await client.blobExists(ref, blobs.layer.digest), true);
  });

  it('mounts a blob from another repository instead of uploading it', async () => {
    const client = new RegistryClient();
    const from = parseImageRef(`${proxy.host}/team/twice`);
    const to = parseImageRef(`${proxy.host}/team/mounted`);
    const before = proxy.requests.length;
    assert.equal((await client.pushBlob(to, blobs.layer, open(blobs.layer), { mountFrom: from })).outcome, 'mounted');
    const sent = proxy.requests.slice(before);
    assert.equal(sent.filter((r) => r.method === 'PUT' || r.method === 'PATCH').length, 0);
    assert.ok(sent.some((r) => r.method === 'POST' && r.path.includes(`mount=${encodeURIComponent(blobs.layer.digest)}`)));
    assert.equal(await client.mountBlob(parseImageRef(`${proxy.host}/team/nothing`), to, sha256Digest('absent')), false);
  });

  it('a blob whose bytes do not match its digest is refused (DIGEST_MISMATCH)', async () => {
    const client = new RegistryClient({ retry: { attempts: 1 } });
    const ref = parseImageRef(`${registry.host}/team/bad:v1`);
    const data = Buffer.from('hello');
    const lying: Descriptor = { mediaType: MEDIA_TYPES.ociLayer, digest: sha256Digest('something else'), size: data.length };
    await assert.rejects(client.pushBlob(ref, lying, () => Readable.from([data])), (e: unknown) => isStagecraftError(e) && e.code === 'DIGEST_MISMATCH');
    assert.equal(await client.blobExists(ref, lying.digest), false);
  });

  it('a manifest pushed by digest must hash to that digest', async () => {
    const client = new RegistryClient();
    const ref = parseImageRef(`${registry.host}/team/app`);
    await assert.rejects(client.putManifest(ref, sha256Digest('x'), MEDIA_TYPES.ociManifest, blobs.manifest), (e: unknown) => isStagecraftError(e) && e.code === 'DIGEST_MISMATCH');
    const pushed = await client.putManifest(ref, image.manifestDigest, MEDIA_TYPES.ociManifest, blobs.manifest);
    assert.equal(pushed.digest, image.manifestDigest);
  });
});
