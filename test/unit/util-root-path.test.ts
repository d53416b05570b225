/**
 * util/root-path.ts, the one resolver of paths inside a root, and its users' guarantees: paths
 * resolved on the host with symlinks followed with the root as `/` and never out of it (issue 13);
 * directory creation (WORKDIR, file operations, layer extraction); mount stubs removed after a run;
 * bind-mount sources (issue 13, fault 1: no host path is ever handed to runc).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StagecraftError, isStagecraftError } from '../../src/core/index.js';
import { MountStubs } from '../../src/executor/index.js';
import { resolveBindSource } from '../../src/ops/bind-source.js';
import { containerPathInRoot, readFileInRoot, resolveInRoot, walkInRoot } from '../../src/util/root-path.js';

async function mkdirInRoot(root: string, path: string, uid: number, gid: number): Promise<void> {
  await walkInRoot(root, path, { create: { mode: 0o755, owner: { uid, gid } } });
}

let root: string;
let outside: string;

before(async () => {
  const base = await mkdtemp(join(tmpdir(), 'util-root-path-'));
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

describe('walkInRoot create (mkdir -p in the root)', () => {
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

describe('walkInRoot', () => {
  it('walks as the kernel does, or cleans the path first when lexical (BuildKit file operations)', async () => {
    assert.equal(await resolveInRoot(root, 'lib/../etc'), join(root, 'usr/etc'));
    assert.equal(await resolveInRoot(root, 'lib/../etc', { lexical: true }), join(root, 'etc'));
    assert.equal(await containerPathInRoot(root, '/lib/../etc/../lib'), '/usr/lib');
  });

  it('leaves a symlink in the last component alone without followFinal, and resolves its parents', async () => {
    assert.equal(await resolveInRoot(root, '/lib', { followFinal: false }), join(root, 'lib'));
    assert.equal(await resolveInRoot(root, '/lib/../lib', { followFinal: false }), join(root, 'usr/lib'));
    assert.equal(await resolveInRoot(root, '/escape/passwd', { followFinal: false }), join(root, 'outside/passwd'));
    assert.equal(await resolveInRoot(root, '/lib'), join(root, 'usr/lib'));
  });

  it('tells how many leading components exist', async () => {
    assert.deepEqual(await walkInRoot(root, '/lib/new/dir'), { path: join(root, 'usr/lib/new/dir'), parts: ['usr', 'lib', 'new', 'dir'], existing: 2, created: [] });
    assert.equal((await walkInRoot(root, '/file/sub')).existing, 1);
    assert.equal((await walkInRoot(root, '/lib/os-release')).existing, 3);
    assert.equal((await walkInRoot(root, '/new/..')).existing, 0);
  });

  it('follows a chain of 40 symlinks (the kernel\'s limit) and refuses 41, with the caller\'s error', async () => {
    await mkdir(join(root, 'chain'));
    await writeFile(join(root, 'chain/end'), 'end');
    await symlink('end', join(root, 'chain/l0'));
    for (let i = 1; i <= 40; i++) await symlink(`l${i - 1}`, join(root, `chain/l${i}`));
    assert.equal(await readFileInRoot(root, '/chain/l39'), 'end');
    const loop = (path: string): StagecraftError => new StagecraftError('LAYER_INVALID', `loop at ${path}`);
    await assert.rejects(walkInRoot(root, '/chain/l40', { errors: { tooManyLinks: loop } }), (error: unknown) => isStagecraftError(error) && error.code === 'LAYER_INVALID' && error.message === 'loop at /chain/l40');
  });

  it('creates missing directories inside the root only, with exactly the mode, owner and times asked', async () => {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const walked = await walkInRoot(root, '/escape/made/here', { create: { mode: 0o2775, owner: { uid, gid }, mtime: 1_000_000 } });
    assert.equal(walked.path, join(root, 'outside/made/here'));
    assert.deepEqual(walked.created, [join(root, 'outside'), join(root, 'outside/made'), join(root, 'outside/made/here')]);
    for (const dir of walked.created) {
      const info = await stat(dir);
      assert.equal(info.mode & 0o7777, 0o775, dir);
      assert.equal(info.uid, uid, dir);
    }
    // Parents' times change again as their children are made (callers restore them when done: restoreTimes).
    assert.equal((await stat(walked.path)).mtime.getTime(), 1_000_000_000);
    assert.equal(existsSync(join(outside, 'made')), false, 'nothing was created on the host');
    assert.deepEqual((await walkInRoot(root, '/escape/made/here', { create: { mode: 0o755 } })).created, []);
  });

  it('reports a non-directory in the way of creation with the caller\'s error, naming it', async () => {
    const seen: [string, string, boolean][] = [];
    const errors = { notADirectory: (path: string, blocker: string, final: boolean): StagecraftError => {
      seen.push([path, blocker, final]);
      return new StagecraftError('FILE_OPERATION', `${blocker} is in the way`);
    } };
    await assert.rejects(walkInRoot(root, '/file/sub', { create: { mode: 0o755 }, errors }), /\/file is in the way/);
    await assert.rejects(walkInRoot(root, '/lib/os-release/', { create: { mode: 0o755 }, errors }), /\/usr\/lib\/os-release is in the way/);
    assert.deepEqual(seen, [['/file/sub', '/file', false], ['/lib/os-release/', '/usr/lib/os-release', true]]);
  });

  it('refuses to create a directory whose host path would pass PATH_MAX (ENAMETOOLONG, as mkdir(2))', async () => {
    const deep = `/${'d'.repeat(200)}`.repeat(25);
    await assert.rejects(walkInRoot(root, deep, { create: { mode: 0o755 } }), { code: 'ENAMETOOLONG' });
    await rm(join(root, 'd'.repeat(200)), { recursive: true, force: true });
  });
});

describe('resolveBindSource', () => {
  // In the suite's temp dir (removed with it), beside the rootfs of the tests above.
  let work: string;
  let root: string;
  let host: string;
  before(async () => {
    work = join(outside, '..', 'bind');
    root = join(work, 'root');
    host = join(work, 'host');
    await mkdir(join(host, 'sub'), { recursive: true });
    await writeFile(join(host, 'secret'), 'HOST');
    // The root holds its own copy of the host path, where every link below must lead.
    await mkdir(join(root, host.slice(1), 'sub'), { recursive: true });
    await writeFile(join(root, host.slice(1), 'secret'), 'ROOT');
    await symlink(host, join(root, 'abs'));
    await symlink(`../../../../../../../../..${host}`, join(root, 'rel'));
    await symlink(join(host, 'secret'), join(root, 'file'));
    await mkdir(join(root, 'deep/a'), { recursive: true });
    await symlink(`../../../../../../../../..${host}`, join(root, 'deep/a/up'));
    await symlink('/loop', join(root, 'loop'));
    await symlink('/nowhere', join(root, 'dangling'));
  });

  const inRoot = (path: string): string => join(root, path);

  it('follows absolute and climbing symlinks with the root as /', async () => {
    assert.equal(await resolveBindSource(root, '/abs'), inRoot(host));
    assert.equal(await resolveBindSource(root, 'rel'), inRoot(host));
    assert.equal(await resolveBindSource(root, '/file'), inRoot(join(host, 'secret')));
    assert.equal(await resolveBindSource(root, '/deep/a/up/secret'), inRoot(join(host, 'secret')));
    assert.equal(await resolveBindSource(root, '/abs/sub'), inRoot(join(host, 'sub')));
  });

  it('clamps .. in the source itself at the root', async () => {
    assert.equal(await resolveBindSource(root, `../../../../../..${host}/secret`), inRoot(join(host, 'secret')));
    assert.equal(await resolveBindSource(root, '/..'), root);
    assert.equal(await resolveBindSource(root, '/'), root);
  });

  it('reports what resolves to nothing inside the root as FILE_NOT_FOUND, naming the source', async () => {
    for (const source of ['/dangling', '/missing', '/file/below']) {
      await assert.rejects(resolveBindSource(root, source), (error: unknown) => isStagecraftError(error) && error.code === 'FILE_NOT_FOUND' && error.message.includes(`"${source}"`));
    }
    await assert.rejects(resolveBindSource(root, '/loop'), (error: unknown) => isStagecraftError(error) && /symbolic links/.test(error.message));
  });

  it('works when the root itself is reached through a symlink', async () => {
    const alias = join(work, 'alias');
    await symlink(root, alias);
    assert.equal(await resolveBindSource(alias, '/abs'), inRoot(host));
  });
});
