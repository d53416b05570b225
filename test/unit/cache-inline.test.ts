/**
 * The inline build cache (`moby.buildkit.cache.v0`): stagecraft's records round-trip through the
 * value written into the image config; BuildKit's own records (crafted per BuildKit's
 * cache/remotecache/v1 spec) are read, validated and counted, never registered; broken values are
 * INVALID_MANIFEST, naming where they came from.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CacheRecords, inlineCacheValue, readInlineCache, type ImageLayer } from '../../src/cache/index.js';
import { StagecraftError, sha256Digest, type Digest } from '../../src/core/index.js';
import { Database } from '../../src/db/index.js';

const d = (s: string): Digest => sha256Digest(Buffer.from(s));
const plain = (n: number): { diffId: Digest; digest: Digest; size: number; mediaType: string } => ({ diffId: d(`diff${n}`), digest: d(`diff${n}`), size: 100 + n, mediaType: 'application/vnd.oci.image.layer.v1.tar' });
/** The image's layers as pushed: compressed blobs, same diffIDs. */
const pushed: ImageLayer[] = [0, 1, 2].map((n) => ({ diffId: d(`diff${n}`), digest: d(`gz${n}`), size: 50 + n, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }));
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64');
const invalid = (error: unknown): boolean => error instanceof StagecraftError && error.code === 'INVALID_MANIFEST' && error.message.includes('registry.test/app:1');

/**
 * What BuildKit writes for `FROM busybox` / `RUN echo hi > /a` / `COPY x /x` (digests made up): the
 * image source, the RUN linked to it, the local context source (no result), the COPY linked to both,
 * its selector the content checksum of what it copied.
 */
const buildkitRecords = [
  { layers: [{ layer: 0, createdAt: '2024-01-02T03:04:05.000000006Z' }], digest: d('docker-image://docker.io/library/busybox:latest') },
  { layers: [{ layer: 1, createdAt: '2024-01-02T03:04:06Z' }], digest: d('llb exec op'), inputs: [[{ selector: '', link: 0 }]] },
  { digest: d('llb local source') },
  { layers: [{ layer: 2, createdAt: '2024-01-02T03:04:07Z' }], digest: d('llb file op'), inputs: [[{ link: 1 }], [{ selector: d('content checksum'), link: 2 }]] },
];

describe('inline cache', () => {
  let work: string;
  let db: Database;
  let records: CacheRecords;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-inline-'));
    db = Database.open(join(work, 'metadata.db'));
    records = new CacheRecords(db);
  });
  after(async () => {
    db.close();
    await rm(work, { recursive: true, force: true });
  });

  it('writes the records whose layers are a prefix of the image in BuildKit\'s format, and reads them back with the image\'s layers', () => {
    records.put(d('k-base'), 'FROM busybox', { layers: [plain(0)] }, {});
    records.put(d('k-run'), '[2/3] RUN echo hi', { layers: [plain(0), plain(1)] }, {});
    records.put(d('k-copy'), '[3/3] COPY x /x', { layers: [plain(0), plain(1), plain(2)] }, {});
    records.put(d('k-scratch'), 'FROM scratch', { layers: [] }, {});
    // Another stage's result: not a prefix of the image, so not in its inline cache.
    records.put(d('k-other'), 'builder RUN make', { layers: [plain(0), plain(7)] }, {});
    const keys = [d('k-copy'), d('k-run'), d('k-base'), d('k-other'), d('k-scratch'), d('k-unknown')];
    const inline = inlineCacheValue(records, keys, pushed, '2024-05-06T00:00:00Z');
    assert.ok(inline !== undefined);
    assert.equal(inline.count, 4);
    const json = JSON.parse(Buffer.from(inline.value, 'base64').toString('utf8')) as { layers?: { layer: number }[]; digest: string; inputs?: unknown; stagecraft?: { name: string } }[];
    assert.deepEqual(json.map((r) => [r.digest, r.layers?.map((l) => l.layer)]), [[d('k-scratch'), undefined], [d('k-base'), [0]], [d('k-run'), [1]], [d('k-copy'), [2]]]);
    assert.ok(json.every((r) => r.inputs === undefined && r.stagecraft !== undefined));
    // The same inputs give the same bytes (the image config stays reproducible).
    assert.equal(inlineCacheValue(records, [...keys].reverse(), pushed, '2024-05-06T00:00:00Z')?.value, inline.value);

    const read = readInlineCache(inline.value, pushed, 'registry.test/app:1', 'registry.test/app:1');
    assert.ok(read !== undefined);
    assert.equal(read.foreign, 0);
    const run = read.records.find((r) => r.key === d('k-run'));
    assert.deepEqual(run, { key: d('k-run'), name: '[2/3] RUN echo hi', layers: pushed.slice(0, 2).map((l) => ({ ...l, source: 'registry.test/app:1' })) });
    assert.deepEqual(read.records.find((r) => r.key === d('k-scratch'))?.layers, []);
  });

  it('carries the build\'s definition key → content key links on its first record, and reads them back', () => {
    records.put(d('k-base'), 'FROM busybox', { layers: [plain(0)] }, {});
    const links = [[d('def-b'), d('content-b')], [d('def-a'), d('content-a')], [d('def-b'), d('content-b')]] as const;
    const inline = inlineCacheValue(records, [d('k-base')], pushed, '2024-05-06T00:00:00Z', (diffId) => diffId, undefined, links);
    assert.ok(inline !== undefined);
    const read = readInlineCache(inline.value, pushed, undefined, 'registry.test/app:1');
    const expected = [[d('def-a'), d('content-a')], [d('def-b'), d('content-b')]].sort((a, b) => ((a[0] ?? '') < (b[0] ?? '') ? -1 : 1));
    assert.deepEqual(read?.links, expected);
    assert.equal(inlineCacheValue(records, [d('k-base')], pushed, '2024-05-06T00:00:00Z', (diffId) => diffId, undefined, [...links].reverse())?.value, inline.value, 'the same bytes whatever the order');
    assert.deepEqual(readInlineCache(inlineCacheValue(records, [d('k-base')], pushed, '2024-05-06T00:00:00Z')?.value, pushed, undefined, 'registry.test/app:1')?.links, []);
  });

  it('writes nothing when no record matches the image', () => {
    assert.equal(inlineCacheValue(records, [d('k-other'), d('k-none')], pushed, '2024-05-06T00:00:00Z'), undefined);
  });

  it('reads and validates a BuildKit inline cache, counting its records without using any', () => {
    const read = readInlineCache(b64(buildkitRecords), pushed, 'registry.test/app:1', 'registry.test/app:1');
    assert.deepEqual(read, { records: [], foreign: 4, links: [] });
    assert.equal(readInlineCache(undefined, pushed, 's', 'w'), undefined);
  });

  it('refuses a broken inline cache as INVALID_MANIFEST naming the image', () => {
    const cases: unknown[] = [
      'not base64!',
      Buffer.from('{not json').toString('base64'),
      b64({ records: [] }),
      [buildkitRecords],
      b64([{ digest: 'md5:abc' }]),
      b64([{ digest: d('x'), layers: [{ layer: 3 }] }]),
      b64([{ digest: d('x'), layers: [{ layer: -1 }] }]),
      b64([{ digest: d('x'), inputs: [[{ link: 5 }]] }]),
      // a loop through inputs (BuildKit: "invalid looping record")
      b64([{ digest: d('a'), inputs: [[{ link: 1 }]] }, { digest: d('b'), inputs: [[{ link: 0 }]] }]),
      b64([{ digest: d('a'), inputs: [[{ link: 0 }]] }]),
      b64([{ digest: d('x'), layers: [{ layer: 0 }, { layer: 1 }], stagecraft: { version: 1, name: 'two results' } }]),
    ];
    for (const value of cases) assert.throws(() => readInlineCache(value, pushed, 'registry.test/app:1', 'registry.test/app:1'), invalid, JSON.stringify(value).slice(0, 80));
  });

  it('a long chain of BuildKit links is checked without recursion', () => {
    const chain = Array.from({ length: 50_000 }, (_, i) => (i === 0 ? { digest: d('0') } : { digest: d(String(i)), inputs: [[{ link: i - 1 }]] }));
    assert.equal(readInlineCache(b64(chain), pushed, 's', 'w')?.foreign, 50_000);
  });
});
