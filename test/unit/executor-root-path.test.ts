/**
 * Container paths resolved on the host: symlinks followed with the rootfs as `/` and never out of it;
 * working directory creation; mount stubs removed after a run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isStagecraftError } from '../../src/core/index.js';
import { MountStubs, mkdirInRoot, readFileInRoot, resolveInRoot } from '../../src/executor/index.js';

let root: string;
let outside: string;

before(async () => {
  const base = await mkdtemp(join(tmpdir(), 'executor-root-path-'));
  root = join(base, 'rootfs');
  outside = join(base, 'outside');
  await mkdir(join(root, 'usr/lib'), { recursive: true });
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'passwd'), 'host:x:0:0::/:/bin/sh\n');
  await writeFile(join(root, 'usr/lib/os-release'), 'ID=test\n');
  await symlink('/usr/lib', join(root, 'lib'));
  await symlink('../../../../../../outside', join(root, 'escape'));
  await symlink('/../outside/passwd', join(root, 'etc/passwd'));
  await symlink('loop-b', join(root, 'loop-a'));
  await symlink('loop-a', join(root, 'loop-b'));
  await writeFile(join(root, 'file'), 'x');
});

after(async () => {
  await rm(join(root, '..'), { recursive: true, force: true });
});

describe('resolveInRoot', () => {
  it('follows absolute and relative symlinks inside the rootfs', async () => {
    assert.equal(await resolveInRoot(root, '/lib/os-release'), join(root, 'usr/lib/os-release'));
    // as the kernel does: the symlink first, then .. from its target
    assert.equal(await resolveInRoot(root, 'lib/../etc'), join(root, 'usr/etc'));
  });

  it('never leaves the rootfs through .. or symlinks', async () => {
    assert.equal(await resolveInRoot(root, '/../../outside'), join(root, 'outside'));
    assert.equal(await resolveInRoot(root, '/escape/passwd'), join(root, 'outside/passwd'));
    assert.equal(await resolveInRoot(root, '/etc/passwd'), join(root, 'outside/passwd'));
  });

  it('keeps missing components literally', async () => {
    assert.equal(await resolveInRoot(root, '/lib/new/dir'), join(root, 'usr/lib/new/dir'));
  });

  it('reports a symlink loop as an error', async () => {
    await assert.rejects(resolveInRoot(root, '/loop-a/x'), (error: unknown) => isStagecraftError(error) && /symbolic links/.test(error.message));
  });

  it('readFileInRoot reads through symlinks in the rootfs only (an escaping link reads nothing)', async () => {
    assert.equal(await readFileInRoot(root, '/lib/os-release'), 'ID=test\n');
    assert.equal(await readFileInRoot(root, '/etc/passwd'), undefined);
    assert.equal(await readFileInRoot(root, '/etc'), undefined);
  });

  it('readFileInRoot reads regular files only: a FIFO (or device) as /etc/group neither blocks nor is read', async () => {
    execFileSync('mkfifo', [join(root, 'etc/group')]);
    try {
      assert.equal(await readFileInRoot(root, '/etc/group'), undefined);
    } finally {
      await rm(join(root, 'etc/group'));
    }
  });

  it('readFileInRoot never opens what is not a regular file (a device node of the image is the host\'s device)', async () => {
    // A FIFO stands in for a device node: a writer blocked in open(2) is released only if the FIFO is
    // opened for reading, which the marker file then shows.
    const fifo = join(root, 'etc/group');
    const marker = join(root, 'opened');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `echo x > '${fifo}' && touch '${marker}'`], { stdio: 'ignore' });
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    try {
      await sleep(200);
      assert.equal(await readFileInRoot(root, '/etc/group'), undefined);
      await sleep(300);
      assert.equal(existsSync(marker), false, 'the FIFO was opened');
    } finally {
      writer.kill('SIGKILL');
      await exited;
      await rm(fifo);
      await rm(marker, { force: true });
    }
  });
});

describe('mkdirInRoot', () => {
  it('creates the missing directories with mode 0755 owned by the given user, through symlinks', async () => {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    await mkdirInRoot(root, '/lib/work/a/b', uid, gid);
    for (const dir of ['usr/lib/work', 'usr/lib/work/a', 'usr/lib/work/a/b']) {
      const info = await stat(join(root, dir));
      assert.ok(info.isDirectory());
      assert.equal(info.mode & 0o777, 0o755);
      assert.equal(info.uid, uid);
    }
    await mkdirInRoot(root, '/lib/work/a/b', uid, gid);
  });

  it('fails clearly when a file is in the way', async () => {
    await assert.rejects(mkdirInRoot(root, '/file/sub', 0, 0), (error: unknown) => isStagecraftError(error) && error.code === 'FILE_OPERATION');
    await assert.rejects(mkdirInRoot(root, '/file', 0, 0), (error: unknown) => isStagecraftError(error) && /not a directory/.test(error.message));
  });
});

describe('MountStubs', () => {
  it('removes the empty files and directories created for mount points, keeps the rest, restores parent times', async () => {
    const when = new Date('2001-02-03T04:05:06Z');
    await mkdir(join(root, 'srv'));
    await utimes(join(root, 'srv'), when, when);
    const stubs = new MountStubs(root);
    for (const target of ['/srv/run/secrets/token', '/srv/cache', '/srv/kept', '/srv/data', '/usr/lib/os-release']) await stubs.record(target);
    // what runc would create, plus what the process wrote
    await mkdir(join(root, 'srv/run/secrets'), { recursive: true });
    await writeFile(join(root, 'srv/run/secrets/token'), '');
    await mkdir(join(root, 'srv/cache'));
    await writeFile(join(root, 'srv/kept'), 'written by the step');
    await mkdir(join(root, 'srv/data/inner'), { recursive: true });
    await stubs.remove();
    assert.deepEqual((await readdir(join(root, 'srv'))).sort(), ['data', 'kept']);
    assert.deepEqual(await readdir(join(root, 'srv/data')), ['inner']);
    assert.equal((await stat(join(root, 'srv'))).mtime.getTime(), when.getTime());
    assert.equal(await readFileInRoot(root, '/usr/lib/os-release'), 'ID=test\n');
  });

  it('never removes or touches host directories when the step swapped a stub parent for a symlink', async () => {
    // The host canary: empty directories with the stubs' names, and old times on every directory.
    const canary = join(outside, 'canary');
    const old = new Date('2002-03-04T05:06:07Z');
    await mkdir(join(canary, 'b/c'), { recursive: true });
    for (const dir of ['b/c', 'b', '.']) await utimes(join(canary, dir), old, old);
    await mkdir(join(root, 'swap'));
    const stubs = new MountStubs(root);
    await stubs.record('/swap/a/b/c');
    await stubs.record('/swapped-parent/b/c');
    await mkdir(join(root, 'swap/a/b/c'), { recursive: true });
    await mkdir(join(root, 'swapped-parent'));
    // What a hostile RUN step does meanwhile: /swap/a (a stub) and /swap itself (a stub's parent,
    // whose times get restored) become absolute symlinks that resolve on the host to the canary.
    await rename(join(root, 'swap/a'), join(root, 'swap/a.old'));
    await symlink(canary, join(root, 'swap/a'));
    await rename(join(root, 'swap'), join(root, 'swap.old'));
    await symlink(canary, join(root, 'swap'));
    await stubs.remove();
    for (const dir of ['b/c', 'b', '.']) {
      const info = await stat(join(canary, dir));
      assert.ok(info.isDirectory(), `canary/${dir} is still there`);
      assert.equal(info.mtime.getTime(), old.getTime(), `mtime of canary/${dir}`);
      assert.equal(info.atime.getTime(), old.getTime(), `atime of canary/${dir}`);
    }
    // A stub still where it was recorded is removed; moved ones are left alone (they are not known to be stubs).
    await assert.rejects(stat(join(root, 'swapped-parent')));
    assert.ok((await stat(join(root, 'swap.old/a.old/b/c'))).isDirectory());
  });

  it('is fine when runc never created the stubs', async () => {
    const stubs = new MountStubs(root);
    await stubs.record('/never/created');
    await stubs.remove();
  });
});
