import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError, parseDigest, parseImageRef, parsePlatform, sha256Digest } from '../../src/core/index.js';
import { MEDIA_TYPES, parseImageConfig, type Descriptor } from '../../src/oci/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

async function consume(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sha256(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

describe('registry client: pull from a real registry', { timeout: 120_000 }, () => {
  let registry: TestRegistry;
  let dir: string;
  let image: LayoutImage;
  const client = new RegistryClient();
  const amd64 = parsePlatform('linux/amd64');

  before(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-registry-pull-'));
    image = await makeBusyboxImage(dir);
    pushLayout(image, `${registry.host}/library/busybox:1`);
    pushLayout(image, `${registry.host}/library/busybox:2`);
  });
  after(async () => {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pings the registry', async () => {
    const ping = await client.ping(registry.host);
    assert.equal(ping.authScheme, 'none');
  });

  it('resolves a tag and fetches every blob of the image, verified', async () => {
    const ref = parseImageRef(`${registry.host}/library/busybox:1`);
    const resolved = await client.resolve(ref, { platform: amd64 });
    assert.equal(resolved.descriptor.digest, image.manifestDigest);
    assert.equal(resolved.ref.digest, image.manifestDigest);
    assert.equal(resolved.index, undefined);
    assert.equal(sha256(resolved.bytes), image.manifestDigest);
    const blobs: Descriptor[] = [resolved.manifest.config, ...resolved.manifest.layers];
    for (const descriptor of blobs) {
      const data = await consume(await client.fetchBlob(ref, descriptor));
      assert.equal(data.length, descriptor.size);
      assert.equal(sha256(data), descriptor.digest);
      const onDisk = await readFile(join(image.layout, 'blobs/sha256', descriptor.digest.slice(7)));
      assert.ok(onDisk.equals(data));
    }
    const config = parseImageConfig(await consume(await client.fetchBlob(ref, resolved.manifest.config)));
    assert.deepEqual(config.rootfs.diff_ids, [image.diffId]);
  });

  it('resolves through an index to the platform manifest', async () => {
    const repo = parseImageRef(`${registry.host}/library/busybox`);
    const manifest = await client.fetchManifest(repo, image.manifestDigest);
    assert.equal(manifest.parsed.kind, 'manifest');
    if (manifest.parsed.kind !== 'manifest') return;
    // A second manifest (same blobs, an annotation) stands in for another platform.
    const other = Buffer.from(JSON.stringify({ ...manifest.parsed.manifest, annotations: { variant: 'arm64' } }));
    const otherDescriptor = await client.putManifest(repo, sha256(other), MEDIA_TYPES.ociManifest, other);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        { ...otherDescriptor, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { ...manifest.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    }));
    await client.putManifest(repo, 'multi', MEDIA_TYPES.ociIndex, index);
    const resolved = await client.resolve(parseImageRef(`${registry.host}/library/busybox:multi`), { platform: amd64 });
    assert.equal(resolved.descriptor.digest, image.manifestDigest);
    assert.equal(resolved.index?.descriptor.digest, sha256(index));
    assert.equal(resolved.ref.digest, sha256(index));
    assert.deepEqual(resolved.descriptor.platform, { os: 'linux', architecture: 'amd64' });
    const arm = await client.resolve(parseImageRef(`${registry.host}/library/busybox:multi`), { platform: parsePlatform('linux/aarch64') });
    assert.equal(arm.descriptor.digest, sha256(other));
    await assert.rejects(client.resolve(parseImageRef(`${registry.host}/library/busybox:multi`), { platform: parsePlatform('linux/s390x') }), (e: unknown) => isStagecraftError(e) && e.code === 'PLATFORM_MISMATCH');
  });

  it('resolves a digest reference and lists tags', async () => {
    const ref = parseImageRef(`${registry.host}/library/busybox@${image.manifestDigest}`);
    const resolved = await client.resolve(ref, { platform: amd64 });
    assert.equal(resolved.descriptor.digest, image.manifestDigest);
    const tags = await client.listTags(ref);
    assert.deepEqual([...tags].sort(), ['1', '2', 'multi']);
    assert.equal(await client.blobExists(ref, parseDigest(image.layerDigest)), true);
    assert.equal(await client.blobExists(ref, sha256Digest('missing')), false);
    const head = await client.headManifest(ref, '1');
    assert.equal(head?.digest, image.manifestDigest);
  });

  it('NOT_FOUND for a missing tag, repository or blob', async () => {
    const notFound = (e: unknown): boolean => isStagecraftError(e) && e.code === 'NOT_FOUND';
    await assert.rejects(client.resolve(parseImageRef(`${registry.host}/library/busybox:nope`), { platform: amd64 }), notFound);
    await assert.rejects(client.resolve(parseImageRef(`${registry.host}/nobody/here:1`), { platform: amd64 }), notFound);
    const repo = parseImageRef(`${registry.host}/library/busybox`);
    await assert.rejects(client.fetchBlob(repo, { mediaType: MEDIA_TYPES.ociLayerGzip, digest: sha256Digest('missing'), size: 7 }), notFound);
  });

  it('an aborted download rejects with the abort reason', async () => {
    const ref = parseImageRef(`${registry.host}/library/busybox:1`);
    const controller = new AbortController();
    const reason = new Error('user cancelled');
    controller.abort(reason);
    await assert.rejects(client.resolve(ref, { platform: amd64, signal: controller.signal }), (e) => e === reason);
  });
});
