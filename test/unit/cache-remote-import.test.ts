/**
 * Importing a local build cache (--cache-from type=local,src=DIR) verifies what it reads: a config
 * blob changed after export, or one that is not a cache config, is a typed error, never parsed as is.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { importCache, type RemoteCacheDeps } from '../../src/cache/remote.js';
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
    assert.equal(await importCache(deps, { type: 'local', dir }), 0);
  });
});
