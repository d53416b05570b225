/** The store is a real OCI image layout: skopeo (an independent implementation) reads it by reference name. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { parseDigest } from '../../src/core/index.js';
import { openContent } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';
import { makeBusyboxImage } from '../helpers/base-image.js';

describe('content: skopeo reads the store', () => {
  it('skopeo inspect oci:<root>/content:<full ref name> shows the stored image', { timeout: 120_000 }, async () => {
    const work = await mkdtemp(join(tmpdir(), 'stagecraft-skopeo-'));
    try {
      const image = await makeBusyboxImage(work);
      const root = join(work, 'root');
      const db = Database.open(join(root, 'metadata.db'));
      const content = await openContent({ root: join(root, 'content'), db });
      for (const digest of [image.layerDigest, image.configDigest, image.manifestDigest]) {
        await content.blobs.ingest(createReadStream(join(image.layout, 'blobs/sha256', digest.slice(7))), { digest: parseDigest(digest) });
      }
      const manifestSize = (await readFile(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7)))).length;
      const names = ['docker.io/library/busybox:latest', '127.0.0.1:5000/team/busybox:v1'];
      for (const name of names) {
        content.references.set(name, { digest: parseDigest(image.manifestDigest), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifestSize, platform: 'linux/amd64' });
      }
      db.close();
      for (const name of names) {
        const out = execFileSync('skopeo', ['inspect', `oci:${join(root, 'content')}:${name}`], { encoding: 'utf8' });
        const info = z.object({ Digest: z.string(), Layers: z.array(z.string()), Architecture: z.string(), Os: z.string() }).parse(JSON.parse(out));
        assert.equal(info.Digest, image.manifestDigest);
        assert.deepEqual(info.Layers, [image.layerDigest]);
        assert.equal(info.Os, 'linux');
      }
      const config = execFileSync('skopeo', ['inspect', '--config', `oci:${join(root, 'content')}:${names[0] ?? ''}`], { encoding: 'utf8' });
      assert.deepEqual(z.object({ config: z.object({ Cmd: z.array(z.string()) }) }).parse(JSON.parse(config)).config.Cmd, ['sh']);
      assert.throws(() => execFileSync('skopeo', ['inspect', `oci:${join(root, 'content')}:docker.io/library/absent:latest`], { stdio: 'pipe' }));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
