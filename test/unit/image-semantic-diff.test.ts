import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parseDigest, type Digest } from '../../src/core/index.js';
import { diffConfigs, diffEntries, diffImages, readLayerEntries, type DiffSide, type EntryChange } from '../../src/image/index.js';
import { imageConfigSchema, type Descriptor } from '../../src/oci/index.js';
import { archive, dir, file, pax, symlink } from '../helpers/tar-craft.js';

async function entriesOf(tar: Buffer): ReturnType<typeof readLayerEntries> {
  return readLayerEntries(Readable.from([tar]));
}

async function diffTars(a: Buffer, b: Buffer): Promise<ReturnType<typeof diffEntries>> {
  return diffEntries(await entriesOf(a), await entriesOf(b));
}

function only(changes: readonly EntryChange[]): EntryChange {
  assert.equal(changes.length, 1, JSON.stringify(changes.map((c) => c.path)));
  const [first] = changes;
  assert.ok(first !== undefined);
  return first;
}

const sha = (data: string): Digest => parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`);

test('semantic diff: a mode change is reported as mode only', async () => {
  const diff = await diffTars(
    archive(dir('etc/'), file('etc/app.conf', 'x', { mode: 0o644 })),
    archive(dir('etc/'), file('etc/app.conf', 'x', { mode: 0o600 })),
  );
  const change = only(diff.entries);
  assert.equal(change.path, 'etc/app.conf');
  assert.equal(change.change, 'changed');
  assert.deepEqual(change.fields, [{ field: 'mode', a: '0644', b: '0600' }]);
  assert.deepEqual(diff.timeOnly, []);
});

test('semantic diff: an owner change reports uid and gid', async () => {
  const diff = await diffTars(archive(file('app', 'x', { uid: 0, gid: 0 })), archive(file('app', 'x', { uid: 1000, gid: 1001 })));
  assert.deepEqual(only(diff.entries).fields, [{ field: 'uid', a: '0', b: '1000' }, { field: 'gid', a: '0', b: '1001' }]);
});

test('semantic diff: a content change reports the content digest (and size when it differs)', async () => {
  const same = await diffTars(archive(file('f', 'aaaa')), archive(file('f', 'bbbb')));
  assert.deepEqual(only(same.entries).fields, [{ field: 'digest', a: sha('aaaa'), b: sha('bbbb') }]);
  const longer = await diffTars(archive(file('f', 'a')), archive(file('f', 'abc')));
  assert.deepEqual(only(longer.entries).fields.map((f) => f.field), ['size', 'digest']);
});

test('semantic diff: an xattr change is an xattrs change', async () => {
  const diff = await diffTars(
    archive(pax([['SCHILY.xattr.security.capability', Buffer.from([1, 0, 0, 2])]]), file('bin/ping', 'elf')),
    archive(file('bin/ping', 'elf')),
  );
  const change = only(diff.entries);
  assert.equal(change.path, 'bin/ping');
  assert.equal(change.fields.length, 1);
  assert.equal(change.fields[0]?.field, 'xattrs');
  assert.match(change.fields[0]?.a ?? '', /^security\.capability=sha256:/u);
  assert.equal(change.fields[0]?.b, '(none)');
});

test('semantic diff: whiteouts and opaque markers are their own kinds, added or removed', async () => {
  const diff = await diffTars(
    archive(dir('var/'), file('var/.wh.cache', '')),
    archive(dir('var/'), dir('var/lib/'), file('var/lib/.wh..wh..opq', '')),
  );
  assert.deepEqual(diff.entries.map((c) => [c.path, c.change, (c.a ?? c.b)?.kind]), [
    ['var/.wh.cache', 'removed', 'whiteout'],
    ['var/lib', 'added', 'dir'],
    ['var/lib/.wh..wh..opq', 'added', 'opaque'],
  ]);
});

test('semantic diff: a time-only change is listed apart, not as a change', async () => {
  const diff = await diffTars(archive(file('f', 'x', { mtime: 100 }), file('g', 'y', { mtime: 5 })), archive(file('f', 'x', { mtime: 200 }), file('g', 'y', { mtime: 5 })));
  assert.deepEqual(diff.entries, []);
  assert.deepEqual(diff.timeOnly, [{ path: 'f', a: 100, b: 200 }]);
});

test('semantic diff: a time change together with a content change is a content change', async () => {
  const diff = await diffTars(archive(file('f', 'x', { mtime: 100 })), archive(file('f', 'z', { mtime: 200 })));
  assert.deepEqual(only(diff.entries).fields.map((f) => f.field), ['digest']);
  assert.deepEqual(diff.timeOnly, []);
});

test('semantic diff: symlink targets, types and paths with ./ prefixes', async () => {
  const diff = await diffTars(archive(symlink('./lib', 'usr/lib'), file('./a', '1')), archive(symlink('lib', 'usr/lib64'), dir('a/')));
  assert.deepEqual(diff.entries.map((c) => [c.path, c.fields.map((f) => f.field)]), [
    ['a', ['kind', 'mode', 'size', 'digest']],
    ['lib', ['linkname']],
  ]);
});

test('semantic diff: the report is capped and says so', async () => {
  const many = (prefix: string): Buffer => archive(...Array.from({ length: 20 }, (_, i) => file(`${prefix}${i}`, 'x')));
  const diff = diffEntries(await entriesOf(many('a')), await entriesOf(many('b')), 5);
  assert.equal(diff.entries.length, 5);
  assert.equal(diff.truncated, true);
});

test('semantic diff: a layer over the entry cap fails with LAYER_INVALID instead of growing', async () => {
  const tar = archive(file('a', '1'), file('b', '2'), file('c', '3'));
  await assert.rejects(readLayerEntries(Readable.from([tar]), { maxEntries: 2 }), (error: unknown) => error instanceof Error && 'code' in error && error.code === 'LAYER_INVALID');
});

test('config diff: fields by JSON path, created times marked time-only', () => {
  const changes = diffConfigs(
    { created: '2024-01-01T00:00:00Z', config: { Env: ['A=1', 'B=2'], User: 'app' }, history: [{ created: 't1', created_by: 'RUN x' }] },
    { created: '2024-01-02T00:00:00Z', config: { Env: ['A=1', 'B=3'] }, history: [{ created: 't2', created_by: 'RUN x' }] },
  );
  assert.deepEqual(changes, [
    { path: 'config.Env[1]', a: 'B=2', b: 'B=3', timeOnly: false },
    { path: 'config.User', a: 'app', timeOnly: false },
    { path: 'created', a: '2024-01-01T00:00:00Z', b: '2024-01-02T00:00:00Z', timeOnly: true },
    { path: 'history[0].created', a: 't1', b: 't2', timeOnly: true },
  ]);
});

test('image diff: equal diffIDs are skipped, differing layers are read (gzip or plain) and attributed', async () => {
  const base = archive(dir('etc/'), file('etc/os-release', 'ID=test'));
  const runA = archive(file('f', '1700000000000000001\n', { mtime: 10 }));
  const runB = archive(file('f', '1700000000000000002\n', { mtime: 10 }));
  const blobs = new Map<string, Buffer>();
  const describe = (bytes: Buffer, gzip: boolean): { layer: Descriptor; diffId: Digest } => {
    const blob = gzip ? gzipSync(bytes) : bytes;
    const digest = parseDigest(`sha256:${createHash('sha256').update(blob).digest('hex')}`);
    blobs.set(digest, blob);
    return { layer: { mediaType: gzip ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar', digest, size: blob.length }, diffId: parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`) };
  };
  const side = (layers: readonly { layer: Descriptor; diffId: Digest }[], created: string): DiffSide => ({
    blobs: { open: (digest) => Promise.resolve(Readable.from([blobs.get(digest) ?? Buffer.alloc(0)])) },
    layers: layers.map((l) => l.layer),
    config: imageConfigSchema.parse({ architecture: 'amd64', os: 'linux', created, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, history: [{ created_by: 'base' }, { created, created_by: 'RUN date +%s%N > /f' }] }),
  });
  const baseLayer = describe(base, true);
  let opened = 0;
  const a = side([baseLayer, describe(runA, true)], '2024-01-01T00:00:00Z');
  const b = side([baseLayer, describe(runB, false)], '2024-01-01T00:00:00Z');
  const counting: DiffSide = { ...b, blobs: { open: (digest) => { opened++; return b.blobs.open(digest); } } };
  const diff = await diffImages(a, counting, { stepOf: (index) => (index === 1 ? { file: 'Dockerfile', line: 3, instruction: 'RUN date +%s%N > /f' } : undefined) });
  assert.equal(opened, 1, 'the shared base layer is not read');
  assert.deepEqual(diff.config.map((c) => c.path), ['rootfs.diff_ids[1]']);
  assert.equal(diff.layers.length, 1);
  const layer = diff.layers[0];
  assert.equal(layer?.index, 1);
  assert.deepEqual(layer?.step, { file: 'Dockerfile', line: 3, instruction: 'RUN date +%s%N > /f' });
  assert.deepEqual(layer?.entries.map((c) => [c.path, c.change, c.fields.map((f) => f.field)]), [['f', 'changed', ['digest']]]);
});

test('image diff: an extra layer on one side lists all its entries as added', async () => {
  const extra = archive(file('new', 'n'));
  const digest = parseDigest(`sha256:${createHash('sha256').update(extra).digest('hex')}`);
  const config = (ids: readonly string[]): ReturnType<typeof imageConfigSchema.parse> => imageConfigSchema.parse({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ids } });
  const blobs = { open: () => Promise.resolve(Readable.from([extra])) };
  const diff = await diffImages({ blobs, layers: [], config: config([]) }, { blobs, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: extra.length }], config: config([digest]) });
  assert.deepEqual(diff.layers[0]?.entries.map((c) => [c.path, c.change]), [['new', 'added']]);
});
