/**
 * `--cache-from IMAGE` through the registry client (a fake one serving crafted manifests): an
 * image's inline cache is imported (stagecraft records registered, their layers sourced from the
 * image), also from every image of an index; BuildKit's inline and registry caches, images without a
 * cache and references that do not resolve come back as warnings with nothing registered.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CacheRecords, importCache, type RemoteCacheDeps } from '../../src/cache/index.js';
import { StagecraftError, sha256Digest, type Digest } from '../../src/core/index.js';
import { Database } from '../../src/db/index.js';
import { parseManifest } from '../../src/oci/index.js';

const d = (s: string): Digest => sha256Digest(Buffer.from(s));
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');

/** A fake registry: tag or digest → manifest bytes, digest → blob bytes. */
class FakeRegistry {
  readonly manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  readonly blobs = new Map<string, Buffer>();
  blob(data: unknown): { digest: Digest; size: number } {
    const bytes = Buffer.from(JSON.stringify(data));
    const digest = sha256Digest(bytes);
    this.blobs.set(digest, bytes);
    return { digest, size: bytes.length };
  }
  manifest(tag: string | undefined, mediaType: string, data: unknown): { mediaType: string; digest: Digest; size: number } {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...(data as object) }));
    const digest = sha256Digest(bytes);
    this.manifests.set(digest, { bytes, mediaType });
    if (tag !== undefined) this.manifests.set(tag, { bytes, mediaType });
    return { mediaType, digest, size: bytes.length };
  }
  /** An image of `layers` (diffIDs diff0..) whose config carries `inline` as moby.buildkit.cache.v0. */
  image(tag: string | undefined, layers: number, inline: string | undefined, diffIds = layers): { mediaType: string; digest: Digest; size: number } {
    const config = this.blob({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: Array.from({ length: diffIds }, (_, i) => d(`diff${i}`)) }, ...(inline === undefined ? {} : { 'moby.buildkit.cache.v0': inline }) });
    return this.manifest(tag, OCI_MANIFEST, {
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: Array.from({ length: layers }, (_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d(`gz${i}`), size: 10 + i })),
    });
  }
  client(): RemoteCacheDeps['registry'] {
    return {
      fetchManifest: (_repo: unknown, reference: string) => {
        const found = this.manifests.get(reference);
        if (found === undefined) return Promise.reject(new StagecraftError('NOT_FOUND', `GET manifest r.test/app:${reference}: 404 Not Found`));
        return Promise.resolve({ descriptor: { mediaType: found.mediaType, digest: sha256Digest(found.bytes), size: found.bytes.length }, bytes: found.bytes, parsed: parseManifest(found.bytes, found.mediaType) });
      },
      fetchBlob: (_repo: unknown, descriptor: { digest: string }) => {
        const bytes = this.blobs.get(descriptor.digest);
        return bytes === undefined ? Promise.reject(new StagecraftError('NOT_FOUND', `blob ${descriptor.digest}`)) : Promise.resolve(Readable.from([bytes]));
      },
    } as unknown as RemoteCacheDeps['registry'];
  }
}

const ours = (key: Digest, name: string, layer: number | undefined): unknown => ({ ...(layer === undefined ? {} : { layers: [{ layer }] }), digest: key, stagecraft: { version: 1, name } });

describe('importCache from an image (inline cache)', () => {
  let work: string;
  let db: Database;
  let records: CacheRecords;
  let registry: FakeRegistry;
  let deps: RemoteCacheDeps;
  const from = (tag: string): Promise<Awaited<ReturnType<typeof importCache>>> => importCache(deps, { type: 'registry', ref: `r.test/app:${tag}` });
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-inline-import-'));
    db = Database.open(join(work, 'metadata.db'));
    records = new CacheRecords(db);
    registry = new FakeRegistry();
    deps = { content: undefined as unknown as RemoteCacheDeps['content'], registry: registry.client(), records };
  });
  afterEach(async () => {
    db.close();
    await rm(work, { recursive: true, force: true });
  });

  it('registers stagecraft\'s records with the image\'s layers, sourced from the image', async () => {
    registry.image('1', 2, b64([ours(d('k0'), 'FROM base', 0), ours(d('k1'), 'RUN make', 1), ours(d('k-empty'), 'FROM scratch', undefined)]));
    assert.deepEqual(await from('1'), { imported: 3, warnings: [] });
    assert.deepEqual(records.get(d('k1'))?.result.layers, [0, 1].map((i) => ({ diffId: d(`diff${i}`), digest: d(`gz${i}`), size: 10 + i, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', source: 'r.test/app:1' })));
    assert.equal(records.get(d('k1'))?.name, 'RUN make');
    assert.deepEqual(records.get(d('k-empty'))?.result.layers, []);
  });

  it('reads every image of an index (as BuildKit), skipping entries that are not image manifests', async () => {
    const a = registry.image(undefined, 1, b64([ours(d('amd64'), 'RUN a', 0)]));
    const b = registry.image(undefined, 1, b64([ours(d('arm64'), 'RUN b', 0)]));
    registry.manifest('multi', OCI_INDEX, { manifests: [a, b, { mediaType: 'application/vnd.in-toto+json', digest: d('attestation'), size: 5 }] });
    assert.deepEqual(await from('multi'), { imported: 2, warnings: [] });
    assert.ok(records.get(d('amd64')) !== undefined && records.get(d('arm64')) !== undefined);
  });

  it('a BuildKit inline cache: validated, counted, a warning, nothing registered', async () => {
    registry.image('bk', 2, b64([{ layers: [{ layer: 0 }], digest: d('src') }, { layers: [{ layer: 1 }], digest: d('exec'), inputs: [[{ selector: '', link: 0 }]] }]));
    const result = await from('bk');
    assert.equal(result.imported, 0);
    assert.deepEqual(result.warnings, ["importing cache manifest from r.test/app:bk: its inline cache holds 2 BuildKit cache records, keyed by digests of BuildKit's LLB, which stagecraft's cache keys never match: not used"]);
    assert.equal(records.all().length, 0);
  });

  it('a broken BuildKit inline cache is INVALID_MANIFEST naming the reference', async () => {
    registry.image('bad', 1, b64([{ layers: [{ layer: 4 }], digest: d('src') }]));
    await assert.rejects(from('bad'), (error: unknown) => error instanceof StagecraftError && error.code === 'INVALID_MANIFEST' && error.message.startsWith('r.test/app:bad:'));
  });

  it('a cache BuildKit exported to a registry (cacheconfig.v0) is a warning, its blobs never fetched', async () => {
    registry.manifest('bkcache', OCI_INDEX, { manifests: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('gz0'), size: 10 }, { mediaType: 'application/vnd.buildkit.cacheconfig.v0', digest: d('cfg'), size: 3 }] });
    const result = await from('bkcache');
    assert.equal(result.imported, 0);
    assert.match(result.warnings.join('\n'), /a cache BuildKit exported \(application\/vnd\.buildkit\.cacheconfig\.v0\), keyed by digests of BuildKit's LLB/);
  });

  it('an image without an inline cache, or whose config and manifest disagree on the layers, is "not a build cache"', async () => {
    registry.image('plain', 1, undefined);
    registry.image('mismatch', 2, b64([ours(d('k'), 'RUN x', 0)]), 3);
    for (const tag of ['plain', 'mismatch']) {
      const result = await from(tag);
      assert.equal(result.imported, 0);
      assert.match(result.warnings.join('\n'), new RegExp(`^importing cache manifest from r.test/app:${tag}: not a build cache`));
    }
    assert.equal(records.all().length, 0);
  });

  it('a reference that does not resolve: BuildKit\'s "failed to configure registry cache importer" warning', async () => {
    assert.deepEqual(await from('gone'), { imported: 0, warnings: ['importing cache manifest from r.test/app:gone: failed to configure registry cache importer: GET manifest r.test/app:gone: 404 Not Found'] });
  });
});
