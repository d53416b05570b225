import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { isStagecraftError, sha256Digest, type Digest } from '../../src/core/index.js';
import { openContent, type Content } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';

function digestOf(data: string | Buffer): Digest {
  return sha256Digest(typeof data === 'string' ? Buffer.from(data) : data);
}

async function* chunks(parts: readonly string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield await Promise.resolve(Buffer.from(part));
}

const isMismatch = (error: unknown): boolean => isStagecraftError(error) && error.code === 'DIGEST_MISMATCH';

describe('content: ingest, read, verify', () => {
  let dir: string;
  let db: Database;
  let content: Content;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-content-'));
    db = Database.open(join(dir, 'metadata.db'));
    content = await openContent({ root: join(dir, 'content'), db });
  });
  afterEach(() => db.close());
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates an OCI image layout', async () => {
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'content/oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await readFile(join(dir, 'content/index.json'), 'utf8')) as { schemaVersion: number; manifests: unknown[] };
    assert.equal(index.schemaVersion, 2);
    assert.deepEqual(index.manifests, []);
  });

  it('stores a streamed blob under blobs/sha256/<hex> with its digest and size', async () => {
    const data = 'hello, content store\n';
    const progress: number[] = [];
    const blob = await content.blobs.ingest(chunks(['hello, ', 'content store\n']), { digest: digestOf(data), size: data.length, onProgress: (n) => progress.push(n) });
    assert.equal(blob.digest, digestOf(data));
    assert.equal(blob.size, data.length);
    assert.equal(await readFile(content.blobs.blobPath(blob.digest), 'utf8'), data);
    assert.equal((await content.blobs.read(blob.digest)).toString(), data);
    assert.deepEqual(progress, [7, data.length]);
    assert.equal(await content.blobs.has(blob.digest), true);
    assert.deepEqual(await content.blobs.info(blob.digest), { digest: blob.digest, size: data.length });
    assert.equal(await content.blobs.verify(blob.digest), true);
    let streamed = '';
    for await (const chunk of await content.blobs.open(blob.digest)) streamed += (chunk as Buffer).toString();
    assert.equal(streamed, data);
  });

  it('computes the digest when none is expected', async () => {
    const blob = await content.blobs.put('free-form');
    assert.equal(blob.digest, digestOf('free-form'));
  });

  it('rejects a digest mismatch with DIGEST_MISMATCH, storing nothing and leaving no temp file', async () => {
    const expected = digestOf('the real thing');
    await assert.rejects(content.blobs.ingest(chunks(['an impostor']), { digest: expected }), isMismatch);
    assert.equal(await content.blobs.has(expected), false);
    assert.equal(await content.blobs.has(digestOf('an impostor')), false);
    assert.deepEqual(await readdir(join(dir, 'content/blobs/sha256')), []);
    assert.deepEqual(await readdir(join(dir, 'content/ingest')), []);
  });

  it('rejects content longer or shorter than its declared size', async () => {
    const data = 'twelve bytes';
    await assert.rejects(content.blobs.ingest(chunks([data]), { digest: digestOf(data), size: 5 }), (error) => isMismatch(error) && /larger than its declared size of 5/.test((error as Error).message));
    await assert.rejects(content.blobs.ingest(chunks([data]), { digest: digestOf(data), size: 20 }), (error) => isMismatch(error) && /has 12 bytes, expected 20/.test((error as Error).message));
    assert.deepEqual(await readdir(join(dir, 'content/blobs/sha256')), []);
    assert.deepEqual(await readdir(join(dir, 'content/ingest')), []);
  });

  it('cleans up when the source fails or the signal aborts', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield await Promise.resolve(Buffer.from('partial'));
      throw new Error('connection reset');
    }
    await assert.rejects(content.blobs.ingest(failing()), /connection reset/);
    const controller = new AbortController();
    async function* slow(): AsyncGenerator<Buffer> {
      yield await Promise.resolve(Buffer.from('a'));
      controller.abort(new Error('user pressed ctrl-c'));
      yield Buffer.from('b');
    }
    await assert.rejects(content.blobs.ingest(slow(), { signal: controller.signal }));
    assert.deepEqual(await readdir(join(dir, 'content/ingest')), []);
    assert.deepEqual(await readdir(join(dir, 'content/blobs/sha256')), []);
  });

  it('ingesting an existing blob is a no-op that succeeds', async () => {
    const first = await content.blobs.put('same');
    const second = await content.blobs.put('same', { digest: first.digest });
    assert.deepEqual(second, first);
    assert.deepEqual(await readdir(join(dir, 'content/blobs/sha256')), [first.digest.slice(7)]);
    assert.deepEqual(await readdir(join(dir, 'content/ingest')), []);
  });

  it('verify() detects a damaged blob; open() of a missing blob is NOT_FOUND', async () => {
    const blob = await content.blobs.put('pristine');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(content.blobs.blobPath(blob.digest), 'tampered');
    assert.equal(await content.blobs.verify(blob.digest), false);
    const missing = digestOf('never stored');
    await assert.rejects(content.blobs.open(missing), (error) => isStagecraftError(error) && error.code === 'NOT_FOUND');
    await assert.rejects(content.blobs.read(missing), (error) => isStagecraftError(error) && error.code === 'NOT_FOUND');
  });

  it('hashes large multi-chunk streams correctly', async () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    const parts: Buffer[] = [];
    for (let offset = 0; offset < big.length; offset += 65_537) parts.push(big.subarray(offset, offset + 65_537));
    async function* source(): AsyncGenerator<Buffer> {
      for (const part of parts) yield await Promise.resolve(part);
    }
    const blob = await content.blobs.ingest(source(), { digest: `sha256:${createHash('sha256').update(big).digest('hex')}` as Digest, size: big.length });
    assert.equal(blob.size, big.length);
    assert.equal(await content.blobs.verify(blob.digest), true);
  });
});
