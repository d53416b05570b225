import assert from 'node:assert/strict';
import { link, mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
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
