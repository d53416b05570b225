import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { canonicalJson, isStagecraftError, sha256Digest, type Digest } from '../../src/core/index.js';
import { openContent, type Content, type GcRootProvider } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const HOUR = 60 * 60 * 1000;

interface Image {
  readonly manifest: Digest;
  readonly manifestSize: number;
  readonly config: Digest;
  readonly layers: Digest[];
}

async function putImage(content: Content, seed: string, layerCount = 2): Promise<Image> {
  const layers: { digest: Digest; size: number }[] = [];
  for (let i = 0; i < layerCount; i++) layers.push(await content.blobs.put(`layer ${seed} ${i}`));
  const config = await content.blobs.put(canonicalJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
  const manifest = await content.blobs.put(canonicalJson({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  }));
  return { manifest: manifest.digest, manifestSize: manifest.size, config: config.digest, layers: layers.map((l) => l.digest) };
}

function blobsOf(image: Image): Digest[] {
  return [image.manifest, image.config, ...image.layers];
}

describe('content: references and garbage collection', () => {
  let dir: string;
  let db: Database;
  let now: number;
  let content: Content;
  const providerRoots: Digest[] = [];
  const provider: GcRootProvider = { name: 'test-cache', roots: () => providerRoots.map((digest) => ({ digest })) };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-refs-'));
    db = Database.open(join(dir, 'metadata.db'));
    now = Date.UTC(2024, 0, 1);
    providerRoots.length = 0;
    content = await openContent({ root: join(dir, 'content'), db, clock: () => now, gcRootProviders: [provider] });
  });
  afterEach(() => db.close());
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sets, gets, lists and deletes references, mirrored into index.json', async () => {
    const image = await putImage(content, 'a');
    const name = 'docker.io/library/busybox:latest';
    const ref = content.references.set(name, { digest: image.manifest, mediaType: MANIFEST, size: image.manifestSize, platform: 'linux/arm64/v8' });
    assert.equal(ref.name, name);
    assert.equal(ref.createdAt, now);
    assert.deepEqual(content.references.get(name), ref);
    content.references.set('127.0.0.1:5000/team/app:v1', { digest: image.manifest, mediaType: MANIFEST, size: image.manifestSize });
    assert.deepEqual(content.references.list().map((r) => r.name), ['127.0.0.1:5000/team/app:v1', name]);
    assert.equal(content.references.byDigest(image.manifest).length, 2);

    const index = JSON.parse(await readFile(join(dir, 'content/index.json'), 'utf8')) as { manifests: { digest: string; platform?: unknown; annotations: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name']), ['127.0.0.1:5000/team/app:v1', name]);
    assert.deepEqual(index.manifests[1]?.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.equal(index.manifests[0]?.digest, image.manifest);

    now += 1000;
    const again = content.references.set(name, { digest: image.manifest, mediaType: MANIFEST, size: image.manifestSize });
    assert.equal(again.createdAt, ref.createdAt, 'same digest keeps its creation time');
    assert.equal(again.updatedAt, now);
    const other = await putImage(content, 'b');
    const moved = content.references.set(name, { digest: other.manifest, mediaType: MANIFEST, size: other.manifestSize });
    assert.equal(moved.createdAt, now, 'a new digest is a new image');

    assert.equal(content.references.delete(name), true);
    assert.equal(content.references.delete(name), false);
    assert.equal(content.references.get(name), undefined);
    const after = JSON.parse(await readFile(join(dir, 'content/index.json'), 'utf8')) as { manifests: unknown[] };
    assert.equal(after.manifests.length, 1);
  });

  it('refuses to reference a manifest that is not stored, or an invalid name', () => {
    const missing = sha256Digest('nothing');
    assert.throws(() => content.references.set('docker.io/library/x:1', { digest: missing, mediaType: MANIFEST, size: 1 }), (error) => isStagecraftError(error) && error.code === 'NOT_FOUND');
    assert.throws(() => content.references.set('has space', { digest: missing, mediaType: MANIFEST, size: 1 }), (error) => isStagecraftError(error) && error.code === 'INVALID_REFERENCE');
    assert.deepEqual(content.references.list(), []);
  });

  it('collects only unreachable blobs older than the grace period', async () => {
    const kept = await putImage(content, 'kept');
    const dropped = await putImage(content, 'dropped');
    content.references.set('docker.io/library/kept:1', { digest: kept.manifest, mediaType: MANIFEST, size: kept.manifestSize });

    const early = await content.gc({ gracePeriodMs: HOUR });
    assert.deepEqual(early.removed, [], 'everything is younger than the grace period');
    assert.equal(early.deferred, 4);

    now += 2 * HOUR;
    const dry = await content.gc({ gracePeriodMs: HOUR, dryRun: true });
    assert.equal(dry.removed.length, 4);
    for (const digest of blobsOf(dropped)) assert.equal(await content.blobs.has(digest), true, 'dry run removes nothing');

    const result = await content.gc({ gracePeriodMs: HOUR });
    assert.deepEqual(new Set(result.removed.map((b) => b.digest)), new Set(blobsOf(dropped)));
    assert.ok(result.reclaimedBytes > 0);
    for (const digest of blobsOf(kept)) assert.equal(await content.blobs.has(digest), true);
    for (const digest of blobsOf(dropped)) assert.equal(await content.blobs.has(digest), false);
    assert.equal(content.blobs.blobRow(dropped.manifest), undefined);
  });

  it('a touch (e.g. a pull that skips a present blob) restarts the grace period', async () => {
    const image = await putImage(content, 'touched', 1);
    now += 2 * HOUR;
    assert.equal(content.blobs.touch(image.layers[0] as Digest), true);
    const result = await content.gc({ gracePeriodMs: HOUR });
    assert.deepEqual(new Set(result.removed.map((b) => b.digest)), new Set([image.manifest, image.config]));
    assert.equal(await content.blobs.has(image.layers[0] as Digest), true);
  });

  it('keeps blobs under a lease and what they reference, until the lease is released or expires', async () => {
    const image = await putImage(content, 'leased');
    const lease = content.leases.create({ label: 'pull', ttlMs: 10 * HOUR });
    lease.add(image.manifest);
    const loose = await content.blobs.put('unrelated', { lease });
    assert.equal(content.leases.list()[0]?.blobs, 2);
    now += 2 * HOUR;
    const held = await content.gc({ gracePeriodMs: HOUR });
    assert.deepEqual(held.removed, []);
    lease.release();
    lease.release();
    const freed = await content.gc({ gracePeriodMs: HOUR });
    assert.deepEqual(new Set(freed.removed.map((b) => b.digest)), new Set([...blobsOf(image), loose.digest]));

    const other = await putImage(content, 'expiring', 1);
    const shortLease = content.leases.create({ ttlMs: HOUR });
    shortLease.add(other.manifest);
    now += 3 * HOUR;
    const expired = await content.gc({ gracePeriodMs: HOUR });
    assert.equal(expired.removed.length, 3, 'an expired lease protects nothing');
    assert.deepEqual(content.leases.list(), []);
  });

  it('follows indexes to manifests, and roots named by a GcRootProvider', async () => {
    const a = await putImage(content, 'arch-a');
    const b = await putImage(content, 'arch-b');
    const missing = sha256Digest('a platform that was not pulled');
    const index = await content.blobs.put(canonicalJson({
      schemaVersion: 2,
      mediaType: INDEX,
      manifests: [
        { mediaType: MANIFEST, digest: a.manifest, size: a.manifestSize, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MANIFEST, digest: missing, size: 10, platform: { os: 'linux', architecture: 's390x' } },
      ],
    }));
    content.references.set('docker.io/library/multi:1', { digest: index.digest, mediaType: INDEX, size: index.size });
    const cached = await putImage(content, 'cache-result', 1);
    providerRoots.push(cached.manifest);
    now += 2 * HOUR;
    const result = await content.gc({ gracePeriodMs: HOUR });
    assert.deepEqual(new Set(result.removed.map((r) => r.digest)), new Set(blobsOf(b)));
    for (const digest of [...blobsOf(a), ...blobsOf(cached), index.digest]) assert.equal(await content.blobs.has(digest), true);
  });

  it('keeps the source index of a reference', async () => {
    const image = await putImage(content, 'from-index', 1);
    const index = await content.blobs.put(canonicalJson({ schemaVersion: 2, mediaType: INDEX, manifests: [{ mediaType: MANIFEST, digest: image.manifest, size: image.manifestSize }] }));
    content.references.set('docker.io/library/x:1', { digest: image.manifest, mediaType: MANIFEST, size: image.manifestSize, indexDigest: index.digest, platform: 'linux/amd64' });
    now += 2 * HOUR;
    const result = await content.gc({ gracePeriodMs: HOUR });
    assert.deepEqual(result.removed, []);
  });

  it('judges blobs placed by other tools by their file time, and removes stale ingest files', async () => {
    const foreign = Buffer.from('placed by skopeo');
    const digest = sha256Digest(foreign);
    await writeFile(content.blobs.blobPath(digest), foreign);
    const old = new Date(now - 3 * HOUR);
    await utimes(content.blobs.blobPath(digest), old, old);
    const stale = join(dir, 'content/ingest/dead.partial');
    await writeFile(stale, 'abandoned');
    const ancient = new Date(now - 48 * HOUR);
    await utimes(stale, ancient, ancient);
    const result = await content.gc({ gracePeriodMs: HOUR });
    assert.deepEqual(result.removed.map((b) => b.digest), [digest]);
    assert.equal(result.staleIngests, 1);
    assert.deepEqual(await readdir(join(dir, 'content/ingest')), []);
  });
});
