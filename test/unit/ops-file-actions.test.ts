import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { applyMode, parseChmod, resolveOwner } from '../../src/ops/file/index.js';
import { link, makeRoots, put, read, run, type Roots } from './ops-file-helpers.js';

function fileOperation(pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isStagecraftError(error), String(error));
    assert.equal(error.code, 'FILE_OPERATION', error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('--chmod parsing and application', () => {
  const mode = (spec: string, from: number, dir = false): number => applyMode(parseChmod(spec), from, dir);

  it('sets octal modes exactly, special bits included', () => {
    assert.equal(mode('755', 0o600), 0o755);
    assert.equal(mode('0644', 0o777, true), 0o644);
    assert.equal(mode('4755', 0o600), 0o4755);
  });

  it('adds and removes bits per class', () => {
    assert.equal(mode('u+x', 0o644), 0o744);
    assert.equal(mode('go-w', 0o666), 0o644);
    assert.equal(mode('a-x', 0o755), 0o644);
    assert.equal(mode('+x', 0o644), 0o755);
    assert.equal(mode('u+x,g+w', 0o604), 0o724);
    assert.equal(mode('u-w+x', 0o644), 0o544);
  });

  it('= replaces the named classes, setuid included for u', () => {
    assert.equal(mode('u=rw,go=r', 0o4777), 0o644);
    assert.equal(mode('o=', 0o777), 0o770);
    assert.equal(mode('=', 0o1755), 0o1000);
    assert.equal(mode('a=rx', 0o200), 0o555);
  });

  it('X adds execute only to directories and already-executable files, and only with +', () => {
    assert.equal(mode('+X', 0o644), 0o644);
    assert.equal(mode('+X', 0o744), 0o755);
    assert.equal(mode('+X', 0o700, true), 0o711);
    assert.equal(mode('go+rX', 0o600, true), 0o655);
    assert.equal(mode('a=rX', 0o700, true), 0o444);
  });

  it('copies class bits with u, g and o', () => {
    assert.equal(mode('g=u', 0o740), 0o770);
    assert.equal(mode('go=u-w', 0o755), 0o755);
    assert.equal(mode('go=u-w', 0o644), 0o644);
    assert.equal(mode('o+g', 0o750), 0o755);
    assert.equal(mode('u-o', 0o707), 0o007);
  });

  it('handles setuid, setgid and sticky like chmod', () => {
    assert.equal(mode('u+s', 0o755), 0o4755);
    assert.equal(mode('g+s', 0o755), 0o2755);
    assert.equal(mode('o+s', 0o755), 0o755);
    assert.equal(mode('+t', 0o755, true), 0o1755);
    assert.equal(mode('o+t', 0o755, true), 0o755);
    assert.equal(mode('+s', 0o755), 0o6755);
  });

  it('rejects malformed values', () => {
    for (const bad of ['', 'u', 'u+z', 'x+u', 'u+x,', ',u+x', '8', '0778', '17777', 'u+x;g+w']) {
      assert.throws(() => parseChmod(bad), fileOperation(/invalid chmod parameter/), bad);
    }
  });
});

describe('--chown resolution in the destination rootfs', () => {
  let roots: Roots;
  beforeEach(async () => {
    roots = await makeRoots();
    await put(roots.dest, 'etc/passwd', '# comment\nroot:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbad:x:notanumber:1::/:/bin/sh\n');
    await put(roots.dest, 'etc/group', 'root:x:0:\nstaff:x:50:app\napp:x:1001:\n');
  });
  afterEach(async () => {
    await roots.cleanup();
  });

  it('resolves names and numbers like BuildKit', async () => {
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'app' }), { uid: 1000, gid: 1001 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'app', group: 'staff' }), { uid: 1000, gid: 50 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'app', group: '77' }), { uid: 1000, gid: 77 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: '1234' }), { uid: 1234, gid: 1234 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: '1234', group: 'staff' }), { uid: 1234, gid: 50 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'root' }), { uid: 0, gid: 0 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: '', group: 'staff' }), { uid: 0, gid: 50 });
  });

  it('fails with a hint for unknown users and groups', async () => {
    await assert.rejects(resolveOwner(roots.dest, { user: 'ghost' }), (error: unknown) => {
      assert.ok(isStagecraftError(error));
      assert.equal(error.code, 'USER_NOT_FOUND');
      assert.match(error.message, /unable to find user ghost/);
      assert.match(error.hint ?? '', /useradd ghost/);
      return true;
    });
    await assert.rejects(resolveOwner(roots.dest, { user: 'app', group: 'nogroup' }), (error: unknown) => isStagecraftError(error) && error.code === 'USER_NOT_FOUND' && /unable to find group nogroup/.test(error.message));
    await assert.rejects(resolveOwner(roots.dest, { user: 'bad' }), fileOperation(/invalid id/));
  });

  it('falls back like BuildKit for WORKDIR: an unknown user is 0:0, an unknown group keeps the user\'s', async () => {
    const lenient = { unknownName: 'root' } as const;
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'ghost' }, lenient), { uid: 0, gid: 0 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'ghost', group: 'nogroup' }, lenient), { uid: 0, gid: 0 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'app', group: 'nogroup' }, lenient), { uid: 1000, gid: 1001 });
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'ghost', group: 'staff' }, lenient), { uid: 0, gid: 50 });
    await assert.rejects(resolveOwner(roots.dest, { user: 'bad' }, lenient), fileOperation(/invalid id/));
  });

  it('reads passwd inside the rootfs, also through an absolute symlink', async () => {
    await put(roots.dest, 'real/passwd', 'svc:x:42:43::/:/bin/sh\n');
    await writeFile(join(roots.dest, 'etc/passwd.bak'), '');
    const { rm } = await import('node:fs/promises');
    await rm(join(roots.dest, 'etc/passwd'));
    await link(roots.dest, 'etc/passwd', '/real/passwd');
    assert.deepEqual(await resolveOwner(roots.dest, { user: 'svc' }), { uid: 42, gid: 43 });
  });

  it('treats a rootfs without /etc/passwd as having no users', async () => {
    const empty = await makeRoots();
    try {
      await assert.rejects(resolveOwner(empty.dest, { user: 'app' }), (error: unknown) => isStagecraftError(error) && error.code === 'USER_NOT_FOUND');
      assert.deepEqual(await resolveOwner(empty.dest, { user: '5', group: '6' }), { uid: 5, gid: 6 });
    } finally {
      await empty.cleanup();
    }
  });
});

describe('mkdir and mkfile actions', () => {
  let roots: Roots;
  beforeEach(async () => {
    roots = await makeRoots();
  });
  afterEach(async () => {
    await roots.cleanup();
  });

  it('mkdir with parents creates the chain with the mode and mtime, leaving existing dirs alone', async () => {
    await mkdir(join(roots.dest, 'srv'), { mode: 0o700 });
    await run(roots, [{ action: 'mkdir', path: '/srv/app/data', mode: 0o750, parents: true, mtime: 1_111_111 }]);
    assert.equal((await stat(join(roots.dest, 'srv'))).mode & 0o7777, 0o700);
    assert.notEqual(Math.floor((await stat(join(roots.dest, 'srv'))).mtimeMs / 1000), 1_111_111);
    for (const rel of ['srv/app', 'srv/app/data']) {
      const st = await stat(join(roots.dest, rel));
      assert.equal(st.mode & 0o7777, 0o750, rel);
      assert.equal(Math.floor(st.mtimeMs / 1000), 1_111_111, rel);
    }
    await run(roots, [{ action: 'mkdir', path: '/srv/app/data', mode: 0o700, parents: true }]);
    assert.equal((await stat(join(roots.dest, 'srv/app/data'))).mode & 0o7777, 0o750);
  });

  it('mkdir without parents needs the parent and accepts an existing path', async () => {
    await assert.rejects(run(roots, [{ action: 'mkdir', path: '/a/b', mode: 0o755, parents: false }]), fileOperation(/mkdir \/a\/b.*no such file/));
    await run(roots, [{ action: 'mkdir', path: '/a', mode: 0o711, parents: false }]);
    assert.equal((await stat(join(roots.dest, 'a'))).mode & 0o7777, 0o711);
    await run(roots, [{ action: 'mkdir', path: '/a', mode: 0o755, parents: false }]);
  });

  it('mkdir fails where a file is in the way', async () => {
    await put(roots.dest, 'work', 'file');
    await assert.rejects(run(roots, [{ action: 'mkdir', path: '/work/dir', mode: 0o755, parents: true }]), fileOperation(/not a directory/));
  });

  it('mkdir follows symlinks inside the root only', async () => {
    const outside = join(roots.base, 'host-var');
    await mkdir(outside);
    await link(roots.dest, 'var', outside);
    await run(roots, [{ action: 'mkdir', path: '/var/lib/app', mode: 0o755, parents: true }]);
    assert.deepEqual(await readdir(outside), []);
    assert.ok((await stat(join(roots.dest, outside.slice(1), 'lib/app'))).isDirectory());
  });

  it('mkfile writes data with the mode and mtime', async () => {
    await mkdir(join(roots.dest, 'etc'));
    await run(roots, [{ action: 'mkfile', path: '/etc/motd', data: 'héllo\n', mode: 0o640, mtime: 2_222_222 }]);
    assert.equal(await read(roots.dest, 'etc/motd'), 'héllo\n');
    const st = await stat(join(roots.dest, 'etc/motd'));
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(Math.floor(st.mtimeMs / 1000), 2_222_222);
    await run(roots, [{ action: 'mkfile', path: '/etc/motd', data: 'x', mode: 0o644 }]);
    assert.equal(await read(roots.dest, 'etc/motd'), 'x');
  });

  it('mkfile never writes outside the root through a symlink', async () => {
    const outsideFile = join(roots.base, 'host-file');
    await writeFile(outsideFile, 'host');
    await link(roots.dest, 'script', outsideFile);
    await mkdir(join(roots.dest, outsideFile, '..'), { recursive: true });
    await run(roots, [{ action: 'mkfile', path: '/script', data: 'inside', mode: 0o755 }]);
    assert.equal(await read(roots.base, 'host-file'), 'host');
    assert.equal(await read(roots.dest, outsideFile.slice(1)), 'inside');
    assert.ok((await lstat(join(roots.dest, 'script'))).isSymbolicLink());
  });

  it('mkfile without its parent directory is a FILE_OPERATION error', async () => {
    await assert.rejects(run(roots, [{ action: 'mkfile', path: '/missing/f', data: '', mode: 0o644 }]), fileOperation(/write \/missing\/f/));
  });

  it('runs actions in order on the same root', async () => {
    await run(roots, [
      { action: 'mkdir', path: '/app', mode: 0o755, parents: true },
      { action: 'mkfile', path: '/app/a', data: 'A', mode: 0o644 },
      { action: 'mkfile', path: '/app/a', data: 'B', mode: 0o644 },
    ]);
    assert.equal(await read(roots.dest, 'app/a'), 'B');
  });
});
