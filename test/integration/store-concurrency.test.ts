/**
 * One state root, several processes (root: overlay mounts, chown). Another process is a real child
 * (`sleep`), alive or killed, whose owner id (`<pid>-<start time>`) names what it "created":
 * - cleanup() leaves a live process's fresh mutable snapshot (no owner.json yet) and its half-written
 *   mount journal alone, and removes (unmounting first) what a killed process left;
 * - the lock table: shared holders coexist, exclusive excludes, a killed holder's lock is stale;
 * - cache mounts: sharing=locked excludes across processes, private never hands one directory to two
 *   processes, and uid/gid/mode make distinct caches (as BuildKit keys them).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { StoreLocks, STATE_ROOT_LOCK } from '../../src/cache/index.js';
import { Database } from '../../src/db/index.js';
import { openContent } from '../../src/content/index.js';
import { CacheMountPool } from '../../src/ops/index.js';
import { cacheMountDirName } from '../../src/ops/cache-mounts.js';
import { OverlaySnapshotter, mountPoints } from '../../src/snapshot/index.js';

function ownerOf(pid: number): string {
  const stat = execFileSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' });
  return `${pid}-${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? ''}`;
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-conc-'));
});
after(async () => {
  for (const m of (await mountPoints()).filter((p) => p.startsWith(work)).reverse()) execFileSync('umount', ['-l', m]);
  await rm(work, { recursive: true, force: true });
});

describe('snapshot cleanup with another process on the root', () => {
  it('keeps a live process\'s fresh entries and removes a killed one\'s, unmounting first', async () => {
    const root = join(work, 'snap');
    const snapshotter = new OverlaySnapshotter({ root });
    await snapshotter.cleanup();
    const other = spawn('sleep', ['60']);
    const otherOwner = ownerOf(other.pid ?? 0);
    // What the other build has at the moment the race hit: an active dir just made (no owner.json,
    // `fs` being filled), a mount journal entry half written, a layer being unpacked.
    const active = join(root, 'active', `${otherOwner}-00112233aabbccdd`);
    await mkdir(join(active, 'fs'), { recursive: true });
    await writeFile(join(active, 'fs', 'file'), 'data');
    const partial = join(root, 'mounts', `.${otherOwner}-0011223344556677.json.a1b2c3.tmp`);
    await writeFile(partial, '{"version":1,"own');
    const unpacking = join(root, 'tmp', `${otherOwner}-aabbccddeeff`);
    await mkdir(unpacking);
    // And a mount it made, with its journal entry.
    const mounted = join(active, 'mnt');
    await mkdir(mounted);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mounted]);
    await writeFile(join(root, 'mounts', `${otherOwner}-8899aabbccddeeff.json`), JSON.stringify({ version: 1, owner: otherOwner, target: mounted }));

    await snapshotter.cleanup();
    assert.equal(await readFile(join(active, 'fs', 'file'), 'utf8'), 'data');
    assert.ok((await readdir(join(root, 'mounts'))).includes(`.${otherOwner}-0011223344556677.json.a1b2c3.tmp`));
    assert.ok((await readdir(join(root, 'tmp'))).length === 1);
    assert.ok((await mountPoints()).includes(mounted));

    await kill(other);
    await snapshotter.cleanup();
    assert.deepEqual(await readdir(join(root, 'active')), []);
    assert.deepEqual(await readdir(join(root, 'mounts')), []);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.ok(!(await mountPoints()).includes(mounted));
  });

  it('never removes an active dir of a running snapshotter in this root', async () => {
    const root = join(work, 'snap2');
    const a = new OverlaySnapshotter({ root });
    const b = new OverlaySnapshotter({ root });
    const snapshot = await a.prepare(null, 'mine');
    try {
      await b.cleanup();
      const rootfs = await snapshot.mount();
      await writeFile(join(rootfs.path, 'x'), 'x');
      await rootfs[Symbol.asyncDispose]();
    } finally {
      await snapshot[Symbol.asyncDispose]();
    }
  });
});

describe('store locks across processes', () => {
  let db: Database;
  before(() => {
    db = Database.open(join(work, 'locks.db'));
  });
  after(() => db.close());

  it('lets shared holders coexist, excludes an exclusive one, and drops a killed holder\'s lock', async () => {
    const other = spawn('sleep', ['60']);
    const theirs = new StoreLocks(db, { owner: ownerOf(other.pid ?? 0) });
    const ours = new StoreLocks(db);
    const build = theirs.tryAcquire(STATE_ROOT_LOCK, 'shared');
    assert.ok(build !== null);
    const mine = ours.tryAcquire(STATE_ROOT_LOCK, 'shared');
    assert.ok(mine !== null);
    mine.release();
    assert.equal(ours.tryAcquire(STATE_ROOT_LOCK, 'exclusive'), null);
    await kill(other);
    // The killed build never released its lock: it is stale now.
    const prune = ours.tryAcquire(STATE_ROOT_LOCK, 'exclusive');
    assert.ok(prune !== null);
    assert.equal(ours.tryAcquire(STATE_ROOT_LOCK, 'shared'), null);
    prune.release();
    assert.deepEqual(ours.holders(STATE_ROOT_LOCK), []);
  });

  it('cache mounts: locked waits for another process, private never shares, uid/gid/mode are distinct caches', async () => {
    const other = spawn('sleep', ['60']);
    const cacheRoot = join(work, 'cache-mounts');
    const theirs = new CacheMountPool(cacheRoot, new StoreLocks(db, { owner: ownerOf(other.pid ?? 0), pollMs: 10 }));
    const ours = new CacheMountPool(cacheRoot, new StoreLocks(db, { pollMs: 10 }));
    const signal = AbortSignal.timeout(20_000);
    const request = { id: 'pkg', uid: 0, gid: 0, mode: 0o755 } as const;

    const held = await theirs.acquire({ ...request, sharing: 'locked' }, signal);
    let ourTurn = false;
    const waiting = ours.acquire({ ...request, sharing: 'locked' }, signal).then((lease) => {
      ourTurn = true;
      return lease;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(ourTurn, false, 'sharing=locked let a second process in');
    await held[Symbol.asyncDispose]();
    const second = await waiting;
    assert.equal(second.path, held.path);
    await second[Symbol.asyncDispose]();

    const p1 = await theirs.acquire({ ...request, sharing: 'private' }, signal);
    const p2 = await ours.acquire({ ...request, sharing: 'private' }, signal);
    assert.notEqual(p1.path, p2.path);
    await kill(other);
    // The killed process's private instance is free again.
    const p3 = await ours.acquire({ ...request, sharing: 'private' }, signal);
    assert.equal(p3.path, p1.path);
    await p2[Symbol.asyncDispose]();
    await p3[Symbol.asyncDispose]();

    const root0 = await ours.acquire({ ...request, sharing: 'shared' }, signal);
    const user = await ours.acquire({ ...request, uid: 1000, gid: 1000, sharing: 'shared' }, signal);
    const mode = await ours.acquire({ ...request, mode: 0o700, sharing: 'shared' }, signal);
    assert.equal(new Set([root0.path, user.path, mode.path]).size, 3);
    assert.equal((await stat(user.path)).uid, 1000);
    assert.equal((await stat(mode.path)).mode & 0o777, 0o700);
    assert.ok(user.path.includes(cacheMountDirName({ id: 'pkg', uid: 1000, gid: 1000, mode: 0o755 })));
    // Sharing alone does not make another cache: locked and shared of one id use one directory.
    const locked = await ours.acquire({ ...request, sharing: 'locked' }, signal);
    assert.equal(locked.path, root0.path);
    await locked[Symbol.asyncDispose]();
  });
});

describe('content leases of a killed process', () => {
  it('end at the next expire(), so GC can take what only they held; a live process\'s stay', async () => {
    const db = Database.open(join(work, 'leases.db'));
    try {
      const content = await openContent({ root: join(work, 'content'), db });
      const other = spawn('sleep', ['60']);
      const mine = content.leases.create({ label: 'mine' });
      const blob = await content.blobs.put('held by a killed build');
      // A lease row as the other process's LeaseManager writes it (its owner first in the id).
      db.command<{ id: string; now: number }>("INSERT INTO content_leases (id, label, created_at, expires_at) VALUES (@id, 'build', @now, @now + 86400000)")({ id: `${ownerOf(other.pid ?? 0)}-0b9c0e3e-8c7e-4d5e-9a8f-1c2d3e4f5a6b`, now: Date.now() });
      db.command<{ digest: string }>("INSERT INTO content_lease_blobs (lease_id, digest) SELECT id, @digest FROM content_leases WHERE label = 'build'")({ digest: blob.digest });
      assert.equal(content.leases.expire(), 0, 'a live process keeps its lease');
      await kill(other);
      assert.equal(content.leases.expire(), 1);
      assert.deepEqual(content.leases.list().map((l) => l.label), ['mine']);
      assert.equal(content.leases.isLeased(blob.digest), false);
      mine.release();
    } finally {
      db.close();
    }
  });
});
