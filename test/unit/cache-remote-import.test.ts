/**
 * Importing a local build cache (--cache-from type=local,src=DIR) verifies what it reads: a config
 * blob changed after export, or one that is not a cache config, is a typed error, never parsed as is.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { importCache, importCaches, type RemoteCacheDeps } from '../../src/cache/remote.js';
import { StagecraftError, digestHex, sha256Digest, type Digest } from '../../src/core/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cache-import-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeBlob(bytes: Buffer): Promise<Digest> {
  const digest = sha256Digest(bytes);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'blobs', 'sha256', digestHex(digest)), bytes);
  return digest;
}

/** A cache layout whose config descriptor says `configDigest`/`size` and whose config file holds `stored`. */
async function writeCache(config: Buffer, stored: Buffer): Promise<void> {
  const configDigest = await writeBlob(config);
  await writeFile(join(dir, 'blobs', 'sha256', digestHex(configDigest)), stored);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.stagecraft.cache.config.v1+json', digest: configDigest, size: config.length },
    layers: [],
  }));
  const manifestDigest = await writeBlob(manifest);
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length }] }));
}

const records: unknown[] = [];
// Only the local path is exercised: no registry; the store is never reached for a config with no layers.
const deps = { records: { get: () => undefined, put: (...args: unknown[]) => records.push(args) } } as unknown as RemoteCacheDeps;

describe('importCache from a directory', () => {
  it('refuses a config changed after export (digest mismatch), importing nothing', async () => {
    const good = Buffer.from(JSON.stringify({ version: 1, records: [] }));
    const evil = Buffer.from(JSON.stringify({ version: 1, records: [] }).replace('[]', '[ ]'));
    await writeCache(good, evil);
    await assert.rejects(importCache(deps, { type: 'local', dir }), (error: unknown) => error instanceof StagecraftError && error.code === 'DIGEST_MISMATCH' && error.message.includes(dir));
    assert.equal(records.length, 0);
  });

  it('a config that is not JSON, or not a cache config, is INVALID_MANIFEST (not an internal error)', async () => {
    for (const bytes of [Buffer.from('{not json'), Buffer.from(JSON.stringify({ version: 7, records: 'x' }))]) {
      await writeCache(bytes, bytes);
      await assert.rejects(importCache(deps, { type: 'local', dir }), (error: unknown) => error instanceof StagecraftError && error.code === 'INVALID_MANIFEST');
    }
  });

  it('a valid config imports', async () => {
    const good = Buffer.from(JSON.stringify({ version: 1, records: [] }));
    await writeCache(good, good);
    assert.deepEqual(await importCache(deps, { type: 'local', dir }), { imported: 0, warnings: [] });
  });
});

describe('importCaches: a cache that cannot be used is a warning, as buildx', () => {
  it('a missing directory: buildx\'s "local cache import at DIR not found" warning, nothing imported', async () => {
    const warnings: string[] = [];
    const missing = join(dir, 'nope');
    assert.equal(await importCaches(deps, [{ type: 'local', dir: missing }], (w) => warnings.push(w)), 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', new RegExp(`^local cache import at ${missing} not found due to err: could not read ${missing}/index.json: ENOENT`));
  });

  it('a directory that is not a cache, or whose config was changed, is a warning naming it; the next --cache-from is still imported', async () => {
    const good = Buffer.from(JSON.stringify({ version: 1, records: [] }));
    await writeCache(good, Buffer.from('{"version":1,"records":[ ]}'));
    const other = await mkdtemp(join(tmpdir(), 'cache-import-other-'));
    try {
      await writeFile(join(other, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
      const warnings: string[] = [];
      await importCaches(deps, [{ type: 'local', dir }, { type: 'local', dir: other }], (w) => warnings.push(w));
      assert.equal(warnings.length, 2);
      assert.match(warnings[0] ?? '', new RegExp(`^local cache import at ${dir}: .*does not match its digest`));
      assert.match(warnings[1] ?? '', new RegExp(`^local cache import at ${other}: .*lists no cache manifest`));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('an OCI layout of an image without an inline cache: "not a build cache", nothing imported', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(Buffer.from('l'))] } }));
    const configDigest = await writeBlob(config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256Digest(Buffer.from('gz')), size: 2 }],
    }));
    const manifestDigest = await writeBlob(manifest);
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length }] }));
    const warnings: string[] = [];
    assert.equal(await importCaches(deps, [{ type: 'local', dir }], (w) => warnings.push(w)), 0);
    assert.deepEqual(warnings, [`local cache import at ${dir}: not a build cache: an image without an inline cache (moby.buildkit.cache.v0); nothing imported`]);
  });

  it('cancellation still ends the build', async () => {
    const controller = new AbortController();
    controller.abort();
    const aborting = { ...deps, records: { get: () => { throw new StagecraftError('ABORTED', 'interrupted'); } } } as unknown as RemoteCacheDeps;
    const good = Buffer.from(JSON.stringify({ version: 1, records: [{ key: sha256Digest(Buffer.from('k')), name: 'x', layers: [] }] }));
    await writeCache(good, good);
    await assert.rejects(importCaches(aborting, [{ type: 'local', dir }], () => undefined, controller.signal), (error: unknown) => error instanceof StagecraftError && error.code === 'ABORTED');
  });
});
