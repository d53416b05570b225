/**
 * A blob damaged on disk (one byte flipped in the busybox layer) never leaves the store as is: an OCI
 * archive, a docker-archive (which decompresses it: zlib's "incorrect data check") and a plain read
 * fail with STORE_CORRUPT naming the blob and the fix; nothing is written under the output's name.
 */
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError, parseDigest, type Digest } from '../../src/core/index.js';
import { openContent, type Content } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';
import { writeDockerArchive, writeOciArchive, type SaveImage } from '../../src/image/index.js';
import { makeBusyboxImage, type LayoutImage } from '../helpers/base-image.js';

function corruptFor(digest: Digest): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isStagecraftError(error), String(error));
    assert.equal(error.code, 'STORE_CORRUPT', error.message);
    assert.ok(error.message.includes(digest), error.message);
    assert.match(error.hint ?? '', /pull|prune/u);
    return true;
  };
}

describe('content: a blob damaged on disk', () => {
  let work: string;
  let image: LayoutImage;
  let db: Database;
  let content: Content;
  let saved: SaveImage;
  let layer: Digest;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-corrupt-'));
    image = await makeBusyboxImage(work);
    db = Database.open(join(work, 'root', 'metadata.db'));
    content = await openContent({ root: join(work, 'root', 'content'), db });
    for (const digest of [image.layerDigest, image.configDigest, image.manifestDigest]) {
      await content.blobs.ingest(createReadStream(join(image.layout, 'blobs/sha256', digest.slice(7))), { digest: parseDigest(digest) });
    }
    const size = (await readFile(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7)))).length;
    saved = { names: ['docker.io/library/busybox:latest'], descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: parseDigest(image.manifestDigest), size } };
    content.references.set('docker.io/library/busybox:latest', { ...saved.descriptor, platform: 'linux/amd64' });
    layer = parseDigest(image.layerDigest);
    // Flip one byte in the middle of the stored layer.
    const handle = await open(content.blobs.blobPath(layer), 'r+');
    try {
      const { size: length } = await handle.stat();
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, Math.floor(length / 2));
      byte[0] = (byte[0] ?? 0) ^ 0xff;
      await handle.write(byte, 0, 1, Math.floor(length / 2));
    } finally {
      await handle.close();
    }
  });
  after(async () => {
    db.close();
    await rm(work, { recursive: true, force: true });
  });

  it('fails a full read with STORE_CORRUPT', async () => {
    await assert.rejects(async () => {
      for await (const chunk of await content.blobs.open(layer)) void chunk;
    }, corruptFor(layer));
  });

  it('is not written into an OCI archive', async () => {
    await assert.rejects(pipeline(Readable.from(writeOciArchive(content, [saved])), createWriteStream(join(work, 'out.oci.tar'))), corruptFor(layer));
  });

  it('is not written into a docker-archive (decompressing it fails as STORE_CORRUPT, not as zlib)', async () => {
    await assert.rejects(pipeline(Readable.from(writeDockerArchive(content, [saved])), createWriteStream(join(work, 'out.docker.tar'))), corruptFor(layer));
  });
});
