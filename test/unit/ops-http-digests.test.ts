import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Content } from '../../src/content/index.js';
import { HttpDownloads } from '../../src/ops/index.js';

describe('HttpDownloads.digests', () => {
  it('records an ADD --checksum URL by its checksum without downloading (a cache hit needs no download)', async () => {
    const untouched = new Proxy({}, { get: () => { throw new Error('the store must not be used'); } }) as Pick<Content, 'blobs' | 'leases'>;
    const downloads = new HttpDownloads({ root: '/nonexistent', content: untouched });
    const checksum = `sha256:${'8'.repeat(64)}`;
    const signal = new AbortController().signal;
    await downloads.cacheKey({ type: 'http', url: 'https://user:pw@example.com/a.tgz', checksum, filename: 'a.tgz' }, signal);
    await downloads.cacheKey({ type: 'http', url: 'https://user:pw@example.com/a.tgz', checksum, filename: 'other-name' }, signal);
    await downloads.cacheKey({ type: 'http', url: 'https://example.com/b.bin', checksum: `sha512:${'9'.repeat(128)}`, filename: 'b.bin' }, signal);
    assert.deepEqual(downloads.digests(), [
      { url: 'https://user:pw@example.com/a.tgz', digest: checksum },
      { url: 'https://example.com/b.bin', digest: `sha512:${'9'.repeat(128)}` },
    ]);
  });
});
