import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { directoryScanFs, layerAttribution, withFileDigests, type LayerSource, type SbomPackage } from '../../src/attest/index.js';
import { sha256Digest } from '../../src/core/index.js';
import { archive, dir, file } from '../helpers/tar-craft.js';

function layer(name: string, tar: Buffer, gzip = false): LayerSource {
  const data = gzip ? gzipSync(tar) : tar;
  return { diffId: sha256Digest(name), open: () => Promise.resolve(Readable.from([data])) };
}

describe('layerAttribution', () => {
  const base = layer('base', archive(dir('var/'), dir('var/lib/'), dir('var/lib/dpkg/'), file('var/lib/dpkg/status', 'a'), dir('app/'), file('app/package.json', '{}'), dir('opt/'), file('opt/x/y', 'y'), file('etc/gone', 'g')), true);
  const update = layer('update', archive(file('./var/lib/dpkg/status', 'b'), file('etc/.wh.gone'), dir('opt/'), file('opt/.wh..wh..opq'), file('opt/new', 'n')));
  const app = layer('app', archive(file('app/node_modules/ms/package.json', '{}')));
  const layers = [base, update, app];

  it('names the layer that last wrote each path (plain and gzip layers)', async () => {
    const layerOf = layerAttribution(layers, new AbortController().signal);
    assert.equal(await layerOf('/var/lib/dpkg/status'), update.diffId);
    assert.equal(await layerOf('/app/package.json'), base.diffId);
    assert.equal(await layerOf('/app/node_modules/ms/package.json'), app.diffId);
    assert.equal(await layerOf('/opt/new'), update.diffId);
  });

  it('applies whiteouts: a deleted file or an emptied directory has no layer', async () => {
    const layerOf = layerAttribution(layers, new AbortController().signal);
    assert.equal(await layerOf('/etc/gone'), undefined);
    assert.equal(await layerOf('/opt/x/y'), undefined);
    assert.equal(await layerOf('/no/such/file'), undefined);
  });

  it('reads no layer until asked', async () => {
    let opened = 0;
    const counted = layers.map((l) => ({ diffId: l.diffId, open: () => { opened++; return l.open(); } }));
    const layerOf = layerAttribution(counted, new AbortController().signal);
    assert.equal(opened, 0);
    await layerOf('/app/package.json');
    await layerOf('/opt/new');
    assert.equal(opened, 3, 'each layer read once');
  });
});

describe('withFileDigests', () => {
  it('sets the sha256 of each location that is a regular file, reading it once', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sbom-digests-'));
    try {
      await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
      const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x61);
      await writeFile(join(root, 'var/lib/dpkg/status'), big);
      const pkg = (name: string, path: string): SbomPackage => ({ name, version: '1', type: 'deb', purl: `pkg:deb/debian/${name}@1`, licenses: [], foundBy: 'dpkg-db', locations: [{ path }] });
      const result = await withFileDigests(directoryScanFs(root), { packages: [pkg('a', '/var/lib/dpkg/status'), pkg('b', '/missing')], distro: undefined, catalogers: [] }, new AbortController().signal);
      assert.equal(result.packages[0]?.locations[0]?.digest, sha256Digest(big));
      assert.equal(result.packages[1]?.locations[0]?.digest, undefined);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
