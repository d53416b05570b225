import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

describe('test fixtures: busybox image in a real docker-registry', () => {
  let work: string;
  let image: LayoutImage;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-fixtures-'));
    image = await makeBusyboxImage(work);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('pushes the busybox image to an open registry and reads back the same manifest', async () => {
    const registry = await startRegistry();
    try {
      pushLayout(image, `${registry.host}/busybox:latest`);
      const response = await fetch(`${registry.url}/v2/busybox/manifests/latest`, { headers: { accept: MANIFEST_ACCEPT } });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('docker-content-digest'), image.manifestDigest);
      const blob = await fetch(`${registry.url}/v2/busybox/blobs/${image.layerDigest}`, { method: 'HEAD' });
      assert.equal(blob.status, 200);
    } finally {
      await registry.stop();
    }
  });

  it('demands basic auth when started with htpasswd, and accepts the right credentials', async () => {
    const credentials = { username: 'ci', password: 'pa55word' };
    const registry: TestRegistry = await startRegistry({ auth: credentials });
    try {
      const anonymous = await fetch(`${registry.url}/v2/`);
      assert.equal(anonymous.status, 401);
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm="stagecraft-test"/);
      assert.throws(() => pushLayout(image, `${registry.host}/busybox:latest`));
      pushLayout(image, `${registry.host}/busybox:latest`, { credentials });
      const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      const response = await fetch(`${registry.url}/v2/busybox/manifests/latest`, {
        headers: { accept: MANIFEST_ACCEPT, authorization: basic },
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('docker-content-digest'), image.manifestDigest);
    } finally {
      await registry.stop();
    }
  });
});
