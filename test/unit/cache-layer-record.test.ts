import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sha256Digest } from '../../src/core/index.js';
import { CachedResult, LayerRecord } from '../../src/cache/index.js';
import { imageLayerSchema } from '../../src/oci/index.js';

const layer = { diffId: sha256Digest(Buffer.from('tar')), digest: sha256Digest(Buffer.from('blob')), size: 4, mediaType: 'application/vnd.oci.image.layer.v1.tar' };

it('a cache record\'s layer is the oci image layer plus where its blob comes from, checked alike', () => {
  assert.deepEqual(LayerRecord.parse({ ...layer, source: 'docker.io/library/busybox:latest' }), { ...layer, source: 'docker.io/library/busybox:latest' });
  assert.deepEqual(imageLayerSchema.parse({ ...layer, source: 'x' }), layer, 'the oci layer has no source');
  for (const bad of [{ ...layer, digest: `sha256:${'A'.repeat(64)}` }, { ...layer, diffId: 'sha256:abc' }, { ...layer, size: -1 }, { ...layer, size: 1.5 }]) {
    assert.equal(LayerRecord.safeParse(bad).success, false, JSON.stringify(bad));
    assert.equal(imageLayerSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
  assert.equal(CachedResult.safeParse({ layers: [{ ...layer, digest: 'md5:00' }] }).success, false);
});
