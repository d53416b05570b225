import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { isStagecraftError, sha256Digest } from '../../src/core/index.js';
import { openContent, type Content } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';
import { compressLayers, replaceManifestLayers } from '../../src/image/index.js';
import type { ImageLayer as ExportLayer } from '../../src/oci/index.js';

const PLAIN = 'application/vnd.oci.image.layer.v1.tar';
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

describe('compressLayers: plain tar layers compressed once, at export', () => {
  let dir: string;
  let db: Database;
  let content: Content;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-compress-layers-'));
    db = Database.open(join(dir, 'metadata.db'));
    content = await openContent({ root: join(dir, 'content'), db });
  });
  afterEach(() => db.close());
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const plainLayer = async (text: string): Promise<ExportLayer> => {
    const info = await content.blobs.put(Buffer.alloc(4096, text));
    return { diffId: info.digest, digest: info.digest, size: info.size, mediaType: PLAIN };
  };

  it('gzips a plain layer, keeps its diffID, and reuses the recorded result', async () => {
    const layer = await plainLayer('a');
    const [gz] = await compressLayers(content.blobs, [layer], { compression: 'gzip' });
    assert.ok(gz !== undefined);
    assert.equal(gz.mediaType, GZIP);
    assert.equal(gz.diffId, layer.diffId);
    assert.notEqual(gz.digest, layer.digest);
    const blob = await content.blobs.read(gz.digest);
    assert.equal(sha256Digest(gunzipSync(blob)), layer.diffId);
    assert.equal(blob.length, gz.size);
    // Found again without compressing: removing the source shows no second read happens.
    await unlink(content.blobs.blobPath(layer.digest));
    const [again] = await compressLayers(content.blobs, [layer], { compression: 'gzip' });
    assert.deepEqual(again, gz);
  });

  it('recompresses when the recorded blob is gone, and per kind (level, algorithm)', async () => {
    const layer = await plainLayer('b');
    const [first] = await compressLayers(content.blobs, [layer], { compression: 'gzip' });
    assert.ok(first !== undefined);
    await unlink(content.blobs.blobPath(first.digest));
    const [second] = await compressLayers(content.blobs, [layer], { compression: 'gzip' });
    assert.deepEqual(second, first, 'the same bytes again (reproducible)');
    assert.ok(await content.blobs.has(first.digest));
    const [fast] = await compressLayers(content.blobs, [layer], { compression: 'gzip', level: 1 });
    assert.equal(fast?.mediaType, GZIP);
    const [zst] = await compressLayers(content.blobs, [layer], { compression: 'zstd' });
    assert.equal(zst?.mediaType, ZSTD);
    const [same] = await compressLayers(content.blobs, [layer], { compression: 'uncompressed' });
    assert.deepEqual(same, layer);
  });

  it('keeps compressed layers unless forced; forced recompression and decompression check the diffID', async () => {
    const tar = Buffer.alloc(2048, 'c');
    const blob = gzipSync(tar);
    const info = await content.blobs.put(blob);
    const gz: ExportLayer = { diffId: sha256Digest(tar), digest: info.digest, size: info.size, mediaType: GZIP };
    assert.deepEqual(await compressLayers(content.blobs, [gz], { compression: 'zstd' }), [gz]);
    const [forced] = await compressLayers(content.blobs, [gz], { compression: 'zstd', force: true });
    assert.equal(forced?.mediaType, ZSTD);
    const [plain] = await compressLayers(content.blobs, [gz], { compression: 'uncompressed', force: true });
    assert.deepEqual(plain, { diffId: gz.diffId, digest: gz.diffId, size: tar.length, mediaType: PLAIN });
    const lying: ExportLayer = { ...gz, diffId: sha256Digest(Buffer.from('other')) };
    await assert.rejects(compressLayers(content.blobs, [lying], { compression: 'zstd', level: 5, force: true }), (error: unknown) => isStagecraftError(error) && error.code === 'STORE_CORRUPT');
  });

  it('replaceManifestLayers swaps descriptors, keeping other keys and Docker media types', () => {
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256Digest(Buffer.from('c')), size: 1 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: sha256Digest(Buffer.from('l')), size: 1, annotations: { a: 'b' } }],
    }));
    const digest = sha256Digest(Buffer.from('z'));
    const out = replaceManifestLayers(manifest, [{ diffId: digest, digest, size: 9, mediaType: GZIP }]);
    const parsed = JSON.parse(out.bytes.toString()) as { layers: unknown[] };
    assert.deepEqual(parsed.layers, [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest, size: 9, annotations: { a: 'b' } }]);
    assert.equal(out.digest, sha256Digest(out.bytes));
    assert.throws(() => replaceManifestLayers(manifest, []));
  });
});
