/**
 * Ownership semantics of file operations (needs root: lchown to other uids, mknod).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, lchown, lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { makeHeader, writeTar } from '../../src/snapshot/index.js';
import { copy, link, makeRoots, put, run, type Roots } from '../unit/ops-file-helpers.js';

async function owner(path: string): Promise<string> {
  const st = await lstat(path);
  return `${st.uid}:${st.gid}`;
}

let roots: Roots;
beforeEach(async () => {
  assert.equal(process.getuid?.(), 0, 'these tests need root');
  roots = await makeRoots();
  await put(roots.dest, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
  await put(roots.dest, 'etc/group', 'root:x:0:\napp:x:1001:\nstaff:x:50:\n');
});
afterEach(async () => {
  await roots.cleanup();
});

describe('file op ownership (root)', () => {
  it('keeps source owners without --chown, symlinks included', async () => {
    const file = await put(roots.src, 'dir/f', 'x');
    await lchown(file, 1234, 5678);
    await lchown(join(roots.src, 'dir'), 111, 222);
    await link(roots.src, 'dir/ln', 'f');
    await lchown(join(roots.src, 'dir/ln'), 333, 444);
    await run(roots, [copy('dir', '/app/')]);
    assert.equal(await owner(join(roots.dest, 'app/f')), '1234:5678');
    assert.equal(await owner(join(roots.dest, 'app/ln')), '333:444');
    // the copy root merged into the created /app keeps /app's owner (root), as BuildKit
    assert.equal(await owner(join(roots.dest, 'app')), '0:0');
  });

  it('--chown by name gives every copied entry and every created parent the user from the destination passwd', async () => {
    await put(roots.src, 'dir/f');
    await put(roots.src, 'dir/sub/g');
    await mkdir(join(roots.dest, 'opt'));
    await run(roots, [copy('dir', '/opt/new/app', { chown: { user: 'app' } })]);
    for (const rel of ['opt/new', 'opt/new/app', 'opt/new/app/f', 'opt/new/app/sub', 'opt/new/app/sub/g']) {
      assert.equal(await owner(join(roots.dest, rel)), '1000:1001', rel);
    }
    assert.equal(await owner(join(roots.dest, 'opt')), '0:0');
  });

  it('--chown with a number alone uses it as gid too; user:group resolves the group', async () => {
    await put(roots.src, 'a');
    await put(roots.src, 'b');
    await run(roots, [copy('a', '/a', { chown: { user: '4321' } }), copy('b', '/b', { chown: { user: 'app', group: 'staff' } })]);
    assert.equal(await owner(join(roots.dest, 'a')), '4321:4321');
    assert.equal(await owner(join(roots.dest, 'b')), '1000:50');
  });

  it('keeps setuid bits when changing the owner (chmod after chown)', async () => {
    const file = await put(roots.src, 'suid', 'x');
    await chmod(file, 0o4755);
    await run(roots, [copy('suid', '/suid', { chown: { user: 'app' } }), copy('suid', '/suid2', { chown: { user: 'app' }, chmod: '2750' })]);
    assert.equal((await stat(join(roots.dest, 'suid'))).mode & 0o7777, 0o4755);
    assert.equal((await stat(join(roots.dest, 'suid2'))).mode & 0o7777, 0o2750);
  });

  it('ADD keeps archive owners; --chown owns only the destination it creates (BuildKit)', async () => {
    const entries = [
      { header: makeHeader({ name: 'd/', type: 'dir', mode: 0o755, uid: 77, gid: 88 }) },
      { header: makeHeader({ name: 'd/f', type: 'file', mode: 0o644, uid: 77, gid: 88, size: 1 }), body: () => Readable.from([Buffer.from('x')]) },
      { header: makeHeader({ name: 'd/l', type: 'symlink', linkname: 'f', uid: 99, gid: 98 }) },
    ];
    await writeFile(join(roots.src, 'a.tar'), await buffer(writeTar(entries)));
    await run(roots, [copy('a.tar', '/keep/', { unpack: true }), copy('a.tar', '/mine/', { unpack: true, chown: { user: 'app' } })]);
    assert.equal(await owner(join(roots.dest, 'keep/d/f')), '77:88');
    assert.equal(await owner(join(roots.dest, 'keep/d/l')), '99:98');
    assert.equal(await owner(join(roots.dest, 'mine')), '1000:1001');
    for (const [rel, expected] of [['mine/d', '77:88'], ['mine/d/f', '77:88'], ['mine/d/l', '99:98']] as const) assert.equal(await owner(join(roots.dest, rel)), expected, rel);
  });

  it('mkdir and mkfile apply their owner to what they create', async () => {
    await run(roots, [
      { action: 'mkdir', path: '/work/dir', mode: 0o755, parents: true, chown: { user: 'app' } },
      { action: 'mkfile', path: '/work/dir/f', data: 'x', mode: 0o600, chown: { user: '7', group: 'staff' } },
    ]);
    assert.equal(await owner(join(roots.dest, 'work')), '1000:1001');
    assert.equal(await owner(join(roots.dest, 'work/dir')), '1000:1001');
    assert.equal(await owner(join(roots.dest, 'work/dir/f')), '7:50');
  });

  it('copies device nodes and FIFOs as such', async () => {
    await mkdir(join(roots.src, 'dev'));
    assert.equal(spawnSync('mknod', [join(roots.src, 'dev/null'), 'c', '1', '3']).status, 0);
    assert.equal(spawnSync('mknod', [join(roots.src, 'dev/pipe'), 'p']).status, 0);
    await run(roots, [copy('dev', '/dev/')]);
    const dev = await lstat(join(roots.dest, 'dev/null'));
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (await lstat(join(roots.src, 'dev/null'))).rdev);
    assert.ok((await lstat(join(roots.dest, 'dev/pipe'))).isFIFO());
  });
});
