import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { imageTimes, resolveEpoch } from '../../src/engine/index.js';
import { clampTarTimes, clampTime, makeHeader, readTar, writeTar, type TarWriteEntry } from '../../src/snapshot/index.js';

const never = (): Promise<number | undefined> => Promise.reject(new Error('git was asked'));

describe('resolveEpoch: SOURCE_DATE_EPOCH, then git, then the newest base image, then 0', () => {
  it('an explicit SOURCE_DATE_EPOCH wins over everything, even with --reproducible=false', async () => {
    assert.deepEqual(await resolveEpoch({ explicit: 5, reproducible: true, gitCommitTime: never, baseCreated: ['2020-01-01T00:00:00Z'] }), { seconds: 5, source: 'SOURCE_DATE_EPOCH' });
    assert.deepEqual(await resolveEpoch({ explicit: 0, reproducible: false, gitCommitTime: never, baseCreated: [] }), { seconds: 0, source: 'SOURCE_DATE_EPOCH' });
  });

  it('the git commit time comes before the base images', async () => {
    assert.deepEqual(await resolveEpoch({ explicit: undefined, reproducible: true, gitCommitTime: () => Promise.resolve(1600000000), baseCreated: ['2024-01-01T00:00:00Z'] }), { seconds: 1600000000, source: 'git' });
  });

  it('without git: the newest created time of the base images (invalid ones skipped)', async () => {
    const epoch = await resolveEpoch({ explicit: undefined, reproducible: true, gitCommitTime: () => Promise.resolve(undefined), baseCreated: ['2020-01-01T00:00:00Z', undefined, 'garbage', '2021-06-01T12:00:00.5Z', '1960-01-01T00:00:00Z'] });
    assert.deepEqual(epoch, { seconds: Date.UTC(2021, 5, 1, 12) / 1000, source: 'base-image' });
  });

  it('nothing at all: 0', async () => {
    assert.deepEqual(await resolveEpoch({ explicit: undefined, reproducible: true, gitCommitTime: () => Promise.resolve(undefined), baseCreated: [undefined] }), { seconds: 0, source: 'default' });
  });

  it('--reproducible=false without SOURCE_DATE_EPOCH: no epoch (wall clock), git not even read', async () => {
    assert.equal(await resolveEpoch({ explicit: undefined, reproducible: false, gitCommitTime: never, baseCreated: ['2020-01-01T00:00:00Z'] }), undefined);
  });
});

describe('imageTimes', () => {
  const history = [
    { created: '2019-01-01T00:00:00Z', created_by: 'base layer' },
    { created: '2030-01-01T00:00:00Z', created_by: 'base entry after the epoch', empty_layer: true },
    { created_by: 'ENV A=1', empty_layer: true },
    { created_by: 'RUN one' },
    { created_by: 'CMD x', empty_layer: true },
    { created_by: 'RUN two' },
  ];
  const layers = [{}, { created: 1700000000 }, { created: 1700000100 }];

  it('with an epoch: the build\'s entries and the config get it, later base entries are clamped, earlier kept', () => {
    const out = imageTimes(history, layers, 1600000000, () => 0);
    assert.equal(out.created, '2020-09-13T12:26:40Z');
    assert.deepEqual(out.history.map((h) => h.created), ['2019-01-01T00:00:00Z', '2020-09-13T12:26:40Z', '2020-09-13T12:26:40Z', '2020-09-13T12:26:40Z', '2020-09-13T12:26:40Z', '2020-09-13T12:26:40Z']);
  });

  it('without: each step its layer\'s creation time, an entry without a layer the one before, the config the latest', () => {
    const out = imageTimes(history, layers, undefined, () => 0);
    assert.deepEqual(out.history.map((h) => h.created), ['2019-01-01T00:00:00Z', '2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z', '2023-11-14T22:13:20Z', '2023-11-14T22:13:20Z', '2023-11-14T22:15:00Z']);
    assert.equal(out.created, '2030-01-01T00:00:00Z');
    // The same layers (a cached rebuild) give the same times, whatever the clock says.
    assert.deepEqual(imageTimes(history, layers, undefined, () => 9e12), out);
  });

  it('without any time: the clock', () => {
    assert.equal(imageTimes([{ created_by: 'ENV A=1', empty_layer: true }], [], undefined, () => 1700000000_500).created, '2023-11-14T22:13:20Z');
  });
});

describe('clampTarTimes (rewrite-timestamp)', () => {
  const entries = (): TarWriteEntry[] => [
    { header: makeHeader({ name: 'dir', type: 'dir', mode: 0o755, mtime: 2000 }) },
    { header: makeHeader({ name: 'dir/old', type: 'file', size: 3, mtime: 10 }), body: () => [Buffer.from('old')] },
    { header: makeHeader({ name: 'dir/new', type: 'file', size: 3, mtime: 5000, xattrs: new Map([['security.capability', Buffer.from([1, 2])]]) }), body: () => [Buffer.from('new')] },
    { header: makeHeader({ name: `${'long/'.repeat(30)}name`, type: 'symlink', linkname: 'target', mtime: 1000 }) },
    { header: makeHeader({ name: 'dir/.wh.gone', type: 'file', mode: 0, mtime: 0 }) },
  ];

  it('clamps later times to the epoch, keeps earlier ones, and is byte-identical to packing with those times', async () => {
    const clamped = await buffer(clampTarTimes(writeTar(entries()), 1000));
    const expected = await buffer(writeTar(entries().map((e) => ({ ...e, header: { ...e.header, mtime: clampTime(e.header.mtime, 1000) } }))));
    assert.ok(clamped.equals(expected), 'the rewrite is what the writer makes with clamped times');
    const times: [string, number][] = [];
    for await (const { header } of readTar(Readable.from([clamped]))) times.push([header.name, header.mtime]);
    assert.deepEqual(times, [['dir/', 1000], ['dir/old', 10], ['dir/new', 1000], [`${'long/'.repeat(30)}name`, 1000], ['dir/.wh.gone', 0]]);
  });

  it('leaves a layer with nothing later than the epoch byte for byte as it was', async () => {
    const original = await buffer(writeTar(entries()));
    assert.ok((await buffer(clampTarTimes(Readable.from([original]), 10_000))).equals(original));
  });
});
