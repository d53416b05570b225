import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { link, lstat, mkdir, mkdtemp, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BuildContext, CacheRecords, StatCache } from '../../src/cache/index.js';
import { Database } from '../../src/db/index.js';

describe('BuildContext hashing with the stat cache', () => {
  let work: string;
  let dir: string;
  let db: Database;
  const hashWith = async (cache: StatCache): Promise<string> => (await new BuildContext({ dir, ignore: [], statCache: cache, viewRoot: join(work, 'views') }).hash([''], [])).digest;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-ctx-'));
    dir = join(work, 'ctx');
    await mkdir(join(dir, 'sub'), { recursive: true });
    for (let i = 0; i < 50; i++) await writeFile(join(dir, 'sub', `f${i}`), `file ${i}\n`);
    await writeFile(join(dir, 'a.txt'), 'aaaa\n');
    // Whole-second mtimes, so that tests can put a file's mtime back exactly.
    for (const f of [join(dir, 'a.txt'), join(dir, 'sub', 'f1')]) await utimes(f, 1_700_000_000, 1_700_000_000);
    db = Database.open(join(work, 'metadata.db'));
    void new CacheRecords(db); // creates the cache tables
  });
  after(async () => {
    db.close();
    await rm(work, { recursive: true, force: true });
  });

  it('answers from the cache while size and mtime hold, also across processes (rows are written), and not after mtime changes', async () => {
    const first = await hashWith(new StatCache(db));
    // Same size, same mtime, other bytes: a valid cache entry answers without reading the file.
    const file = join(dir, 'a.txt');
    const { mtime } = await stat(file);
    await writeFile(file, 'bbbb\n');
    await utimes(file, mtime, mtime);
    assert.equal(await hashWith(new StatCache(db)), first, 'a fresh StatCache on the same database finds the stored digests');
    await utimes(file, new Date(mtime.getTime() + 5000), new Date(mtime.getTime() + 5000));
    assert.notEqual(await hashWith(new StatCache(db)), first, 'a new mtime means the file is read again');
  });

  it('stays valid when only the ctime changes (a context view hardlinks every file)', async () => {
    const cache = new StatCache(db);
    const before = await hashWith(cache);
    const file = join(dir, 'sub', 'f1');
    const { mtime } = await stat(file);
    await writeFile(file, 'FILE 1\n'); // same size
    await utimes(file, mtime, mtime);
    await link(file, join(work, 'hardlink')); // ctime changes
    assert.equal(await hashWith(new StatCache(db)), before);
  });
});

describe('BuildContext views', () => {
  let work: string;
  let dir: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-view-'));
    dir = join(work, 'ctx');
    await mkdir(join(dir, 'a/b'), { recursive: true });
    await writeFile(join(dir, 'a/b/c'), 'c');
    await writeFile(join(dir, 'top'), 't');
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('hold the directories before a wildcard, so a wildcard matching nothing finds its base (BuildKit copies nothing)', async () => {
    const context = new BuildContext({ dir, ignore: [], viewRoot: join(work, 'views') });
    await using view = await context.view(['a/**/e'], []);
    assert.ok((await stat(join(view.path, 'a'))).isDirectory(), 'the literal base a/ is in the view');
    await assert.rejects(stat(join(view.path, 'a/b')), 'nothing below it that the pattern does not select');
    await assert.rejects(stat(join(view.path, 'top')));
    await using matched = await context.view(['a/*/c'], []);
    assert.equal((await stat(join(matched.path, 'a/b/c'))).size, 1);
  });
});

describe('BuildContext walks on the thread pool and in the stat worker', () => {
  let work: string;
  let dir: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-walk-'));
    dir = join(work, 'ctx');
    // Names that sort differently as paths and as a depth-first walk ('a-b' < 'a/x' < 'a0').
    for (const d of ['a', 'a/x', 'a-b', 'a0', 'node_modules/keep', 'node_modules/drop']) await mkdir(join(dir, d), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(join(dir, 'a/x', `f${i}`), `f${i}`, { mode: i % 2 === 0 ? 0o644 : 0o755 });
    await writeFile(join(dir, 'a-b/file'), 'ab');
    await writeFile(join(dir, 'node_modules/keep/k'), 'k');
    await writeFile(join(dir, 'node_modules/drop/d'), 'd');
    await symlink('../a/x/f1', join(dir, 'a0/link'));
    await symlink('/etc/passwd', join(dir, 'abs-link'));
    await utimes(join(dir, 'a-b/file'), 1_700_000_000.123456, 1_700_000_000.123456);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('gives the same entries, in the same order, with the same content digest; a changed file changes it in both', async () => {
    const ignore = ['node_modules', '!node_modules/keep'];
    const walk = (workerAfter?: number): BuildContext => new BuildContext({ dir, ignore, viewRoot: join(work, 'views'), workerAfter });
    const pool = await walk().entries();
    const worker = await walk(0).entries();
    assert.deepEqual(worker, pool);
    assert.deepEqual(pool.map((e) => e.path).slice(0, 4), ['a', 'a/x', 'a/x/f0', 'a/x/f1']);
    assert.ok(pool.some((e) => e.path === 'node_modules/keep/k') && !pool.some((e) => e.path.startsWith('node_modules/drop')));
    const linkEntry = pool.find((e) => e.path === 'a0/link');
    assert.equal(linkEntry?.type, 'symlink');
    assert.equal(linkEntry.linkTarget, '../a/x/f1');
    assert.equal(pool.find((e) => e.path === 'a-b/file')?.mtimeNs, (await stat(join(dir, 'a-b/file'), { bigint: true })).mtimeNs);
    // Past 10 entries the rest of this walk is the worker's.
    const mixed = walk(10);
    assert.deepEqual(await mixed.entries(), pool);
    const before = (await walk(0).hash([''], [])).digest;
    assert.equal((await walk().hash([''], [])).digest, before);
    await writeFile(join(dir, 'a/x/f7'), 'changed');
    assert.notEqual((await walk(0).hash([''], [])).digest, before);
  });
});

describe('BuildContext whole-context views', () => {
  let work: string;
  let dir: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-whole-'));
    dir = join(work, 'ctx');
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'sub/a'), 'a');
    await writeFile(join(dir, 'b'), 'b');
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('is the context itself when nothing is left out, and its check refuses an entry changed, replaced or added after the walk', async () => {
    const context = new BuildContext({ dir, ignore: [], viewRoot: join(work, 'views') });
    await context.hash([''], []);
    const view = await context.view([''], []);
    assert.equal(view.path, dir);
    const check = view.check;
    assert.ok(check !== undefined);
    for (const path of ['sub', 'sub/a', 'b']) check(join(dir, path), await lstat(join(dir, path), { bigint: true }));
    await writeFile(join(dir, 'b'), 'bb');
    assert.throws(() => check(join(dir, 'b'), statSync(join(dir, 'b'), { bigint: true })), /"b" changed after its content was hashed/);
    await writeFile(join(dir, 'sub/new'), 'n');
    assert.throws(() => check(join(dir, 'sub/new'), statSync(join(dir, 'sub/new'), { bigint: true })), /"sub\/new" appeared/);
    await rename(join(dir, 'sub/new'), join(dir, 'sub/a'));
    assert.throws(() => check(join(dir, 'sub/a'), statSync(join(dir, 'sub/a'), { bigint: true })), /"sub\/a" changed/);
    await view[Symbol.asyncDispose]();
    assert.equal(readFileSync(join(dir, 'sub/a'), 'utf8'), 'n', 'disposing it removes nothing');
  });

  it('is a separate directory of the selection when .dockerignore leaves something out, or only part is selected', async () => {
    const ignored = new BuildContext({ dir, ignore: ['b'], viewRoot: join(work, 'views') });
    await using view = await ignored.view([''], []);
    assert.notEqual(view.path, dir);
    assert.equal(view.check, undefined);
    await assert.rejects(stat(join(view.path, 'b')));
    const part = new BuildContext({ dir, ignore: [], viewRoot: join(work, 'views') });
    await using some = await part.view(['sub'], []);
    assert.notEqual(some.path, dir);
    await assert.rejects(stat(join(some.path, 'b')));
  });
});
