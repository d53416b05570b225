import { getAttribute, setAttribute } from '@napi-rs/xattr';
import assert from 'node:assert/strict';
import { link as hardlink, lstat, mkdir, readdir, readlink, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isStagecraftError, type ErrorCode } from '../../src/core/index.js';
import { copy, link, makeRoots, put, read, run, type Roots } from './ops-file-helpers.js';
import { applyFileActions } from '../../src/ops/file/index.js';

function rejectsWith(code: ErrorCode, pattern?: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isStagecraftError(error), `expected a StagecraftError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  };
}

let roots: Roots;
beforeEach(async () => {
  roots = await makeRoots();
});
afterEach(async () => {
  await roots.cleanup();
});

describe('COPY destinations', () => {
  it('copies a file into a directory named with a trailing slash, creating it 0755', async () => {
    await put(roots.src, 'a.txt', 'A');
    await run(roots, [copy('a.txt', '/app/sub/')]);
    assert.equal(await read(roots.dest, 'app/sub/a.txt'), 'A');
    assert.equal((await stat(join(roots.dest, 'app'))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(roots.dest, 'app/sub'))).mode & 0o7777, 0o755);
  });

  it('copies a file onto the destination path itself without a trailing slash', async () => {
    await put(roots.src, 'a.txt', 'A');
    await run(roots, [copy('a.txt', '/opt/renamed')]);
    assert.equal(await read(roots.dest, 'opt/renamed'), 'A');
  });

  it('copies a file into an existing directory named without a trailing slash', async () => {
    await put(roots.src, 'a.txt', 'A');
    await mkdir(join(roots.dest, 'app'));
    await run(roots, [copy('a.txt', '/app')]);
    assert.equal(await read(roots.dest, 'app/a.txt'), 'A');
  });

  it('treats destIsDir (several sources) as a directory even without a trailing slash', async () => {
    await put(roots.src, 'a.txt', 'A');
    await put(roots.src, 'b.txt', 'B');
    await run(roots, [copy('a.txt', '/multi', { destIsDir: true }), copy('b.txt', '/multi', { destIsDir: true })]);
    assert.deepEqual((await readdir(join(roots.dest, 'multi'))).sort(), ['a.txt', 'b.txt']);
  });

  it('copies the contents of a directory, not the directory itself', async () => {
    await put(roots.src, 'dir/x.txt', 'X');
    await put(roots.src, 'dir/sub/y.txt', 'Y');
    await run(roots, [copy('dir', '/app')]);
    assert.equal(await read(roots.dest, 'app/x.txt'), 'X');
    assert.equal(await read(roots.dest, 'app/sub/y.txt'), 'Y');
    await assert.rejects(lstat(join(roots.dest, 'app/dir')));
  });

  it('merges into an existing directory and overwrites files', async () => {
    await put(roots.dest, 'app/keep.txt', 'keep');
    await put(roots.dest, 'app/x.txt', 'old');
    await put(roots.src, 'dir/x.txt', 'new');
    await run(roots, [copy('dir', '/app/')]);
    assert.equal(await read(roots.dest, 'app/keep.txt'), 'keep');
    assert.equal(await read(roots.dest, 'app/x.txt'), 'new');
  });

  it('refuses to copy a directory onto an existing file', async () => {
    await put(roots.dest, 'app', 'a file');
    await put(roots.src, 'dir/x.txt');
    await assert.rejects(run(roots, [copy('dir', '/app')]), rejectsWith('FILE_OPERATION', /non-directory: \/app/));
  });

  it('refuses to replace a directory with a file', async () => {
    await mkdir(join(roots.dest, 'app/a.txt'), { recursive: true });
    await put(roots.src, 'a.txt');
    await assert.rejects(run(roots, [copy('a.txt', '/app/')]), rejectsWith('FILE_OPERATION', /directory \/app\/a\.txt/));
  });

  it('refuses a destination whose parent is a file', async () => {
    await put(roots.dest, 'etc', 'file');
    await put(roots.src, 'a.txt');
    await assert.rejects(run(roots, [copy('a.txt', '/etc/sub/')]), rejectsWith('FILE_OPERATION', /not a directory/));
  });

  it('replaces an existing destination symlink instead of writing through it', async () => {
    await put(roots.dest, 'real.txt', 'untouched');
    await link(roots.dest, 'app/a.txt', '../real.txt');
    await put(roots.src, 'a.txt', 'A');
    await run(roots, [copy('a.txt', '/app/')]);
    assert.equal(await read(roots.dest, 'real.txt'), 'untouched');
    assert.ok((await lstat(join(roots.dest, 'app/a.txt'))).isFile());
  });
});

describe('COPY sources', () => {
  it('follows a symlink named as the source, inside the source root', async () => {
    await put(roots.src, 'real.txt', 'REAL');
    await link(roots.src, 'alias', 'real.txt');
    await run(roots, [copy('alias', '/out/')]);
    const st = await lstat(join(roots.dest, 'out/alias'));
    assert.ok(st.isFile());
    assert.equal(await read(roots.dest, 'out/alias'), 'REAL');
  });

  it('resolves an absolute source symlink against the source root, not the host', async () => {
    await put(roots.src, 'etc/hostname', 'from-context');
    await link(roots.src, 'name', '/etc/hostname');
    await run(roots, [copy('name', '/out')]);
    assert.equal(await read(roots.dest, 'out'), 'from-context');
  });

  it('keeps symlinks inside a copied directory as symlinks', async () => {
    await put(roots.src, 'dir/target.txt', 'T');
    await link(roots.src, 'dir/ln', 'target.txt');
    await link(roots.src, 'dir/abs', '/nowhere');
    await run(roots, [copy('dir', '/app')]);
    assert.equal(await readlink(join(roots.dest, 'app/ln')), 'target.txt');
    assert.equal(await readlink(join(roots.dest, 'app/abs')), '/nowhere');
  });

  it('never reads above the source root with ..', async () => {
    await put(roots.base, 'secret.txt', 'outside');
    await assert.rejects(run(roots, [copy('../secret.txt', '/x')]), rejectsWith('FILE_NOT_FOUND', /"\/secret\.txt": not found/));
    await put(roots.src, 'secret.txt', 'inside');
    await run(roots, [copy('../../secret.txt', '/x')]);
    assert.equal(await read(roots.dest, 'x'), 'inside');
  });

  it('reports a missing literal source as FILE_NOT_FOUND naming it', async () => {
    await assert.rejects(run(roots, [copy('missing/file.txt', '/x')]), rejectsWith('FILE_NOT_FOUND', /"\/missing\/file\.txt": not found/));
  });

  it('resolves wildcards per component and copies every match', async () => {
    await put(roots.src, 'a.txt');
    await put(roots.src, 'b.txt');
    await put(roots.src, 'c.md');
    await put(roots.src, 'sub/d.txt');
    await put(roots.src, 'd1/f.txt', 'one');
    await put(roots.src, 'd2/f.txt', 'two');
    await run(roots, [copy('*.txt', '/t/', { destIsDir: true }), copy('d[12]/f.txt', '/f/')]);
    assert.deepEqual((await readdir(join(roots.dest, 't'))).sort(), ['a.txt', 'b.txt']);
    assert.deepEqual(await readdir(join(roots.dest, 'f')), ['f.txt']);
    // matches are copied in sorted order, so the last one wins
    assert.equal(await read(roots.dest, 'f/f.txt'), 'two');
  });

  it('copies the contents of a directory matched by a wildcard', async () => {
    await put(roots.src, 'pkg-a/x', 'X');
    await put(roots.src, 'pkg-b/y', 'Y');
    await run(roots, [copy('pkg-*', '/all/')]);
    assert.deepEqual((await readdir(join(roots.dest, 'all'))).sort(), ['x', 'y']);
  });

  it('copies nothing, without error, for a wildcard matching nothing', async () => {
    await put(roots.src, 'a.txt');
    await run(roots, [copy('*.none', '/t/')]);
    await assert.rejects(lstat(join(roots.dest, 't')));
  });

  it('rejects a malformed wildcard', async () => {
    await assert.rejects(run(roots, [copy('a[.txt', '/t/')]), rejectsWith('INVALID_PATTERN'));
  });
});

describe('COPY metadata', () => {
  it('keeps mode and mtime of files and directories', async () => {
    await put(roots.src, 'dir/run.sh', '#!/bin/sh', 0o750, 1_000_000);
    await mkdir(join(roots.src, 'dir/priv'), { mode: 0o700 });
    await utimes(join(roots.src, 'dir/priv'), 2_000_000, 2_000_000);
    await run(roots, [copy('dir', '/app')]);
    const file = await stat(join(roots.dest, 'app/run.sh'));
    assert.equal(file.mode & 0o7777, 0o750);
    assert.equal(Math.floor(file.mtimeMs / 1000), 1_000_000);
    const dir = await stat(join(roots.dest, 'app/priv'));
    assert.equal(dir.mode & 0o7777, 0o700);
    assert.equal(Math.floor(dir.mtimeMs / 1000), 2_000_000);
  });

  it('sets a directory time after writing its contents, in a tree larger than the copy pool', async () => {
    for (let d = 0; d < 12; d++) {
      for (let f = 0; f < 25; f++) await put(roots.src, `tree/d${d}/f${f}`, `${d}-${f}`, 0o640, 1_000_000 + f);
      await utimes(join(roots.src, `tree/d${d}`), 2_500_000 + d, 2_500_000 + d);
    }
    await hardlink(join(roots.src, 'tree/d0/f0'), join(roots.src, 'tree/d11/zz-link'));
    await utimes(join(roots.src, 'tree/d11'), 2_500_011, 2_500_011);
    await run(roots, [copy('tree', '/t')]);
    for (let d = 0; d < 12; d++) {
      const dir = await stat(join(roots.dest, `t/d${d}`));
      assert.equal(Math.floor(dir.mtimeMs / 1000), 2_500_000 + d);
      assert.equal((await readdir(join(roots.dest, `t/d${d}`))).length, d === 11 ? 26 : 25);
      assert.equal(await read(roots.dest, `t/d${d}/f24`), `${d}-24`);
    }
    assert.equal((await stat(join(roots.dest, 't/d11/zz-link'))).ino, (await stat(join(roots.dest, 't/d0/f0'))).ino);
  });

  it('applies the mtime override to copied entries and created parents', async () => {
    await put(roots.src, 'dir/a.txt', 'A', 0o644, 1_000_000);
    await link(roots.src, 'dir/ln', 'a.txt');
    await run(roots, [copy('dir', '/new/parent/app', { mtime: 1_234_567 })]);
    for (const rel of ['new', 'new/parent', 'new/parent/app', 'new/parent/app/a.txt']) {
      assert.equal(Math.floor((await stat(join(roots.dest, rel))).mtimeMs / 1000), 1_234_567, rel);
    }
    assert.equal(Math.floor((await lstat(join(roots.dest, 'new/parent/app/ln'))).mtimeMs / 1000), 1_234_567);
  });

  it('preserves hardlinks within one copied tree', async () => {
    const first = await put(roots.src, 'dir/a', 'shared');
    await hardlink(first, join(roots.src, 'dir/b'));
    await put(roots.src, 'dir/c', 'alone');
    await run(roots, [copy('dir', '/app')]);
    const a = await stat(join(roots.dest, 'app/a'));
    const b = await stat(join(roots.dest, 'app/b'));
    const c = await stat(join(roots.dest, 'app/c'));
    assert.equal(a.ino, b.ino);
    assert.notEqual(a.ino, c.ino);
    assert.equal(await read(roots.dest, 'app/b'), 'shared');
  });

  it('copies extended attributes', async () => {
    const file = await put(roots.src, 'x.bin');
    await setAttribute(file, 'user.stagecraft', Buffer.from('value'));
    await run(roots, [copy('x.bin', '/x.bin')]);
    assert.equal((await getAttribute(join(roots.dest, 'x.bin'), 'user.stagecraft'))?.toString(), 'value');
  });

  it('applies an octal --chmod to files, directories and created parents', async () => {
    await put(roots.src, 'dir/a.txt', 'A', 0o600);
    await mkdir(join(roots.src, 'dir/sub'), { mode: 0o700 });
    await run(roots, [copy('dir', '/p/app', { chmod: '0751' })]);
    for (const rel of ['p', 'p/app', 'p/app/a.txt', 'p/app/sub']) {
      assert.equal((await stat(join(roots.dest, rel))).mode & 0o7777, 0o751, rel);
    }
  });

  it('applies a symbolic --chmod per entry (X only for directories or executables)', async () => {
    await put(roots.src, 'dir/plain.txt', 'p', 0o640);
    await put(roots.src, 'dir/tool', 't', 0o700);
    await mkdir(join(roots.src, 'dir/sub'), { mode: 0o700 });
    await run(roots, [copy('dir', '/app', { chmod: 'go+rX,u-w' })]);
    assert.equal((await stat(join(roots.dest, 'app/plain.txt'))).mode & 0o7777, 0o444);
    assert.equal((await stat(join(roots.dest, 'app/tool'))).mode & 0o7777, 0o555);
    assert.equal((await stat(join(roots.dest, 'app/sub'))).mode & 0o7777, 0o555);
    // created parents keep 0755 with a symbolic mode
    assert.equal((await stat(join(roots.dest, 'app'))).mode & 0o7777, 0o755);
  });
});

describe('COPY --exclude and --parents', () => {
  it('excludes matching paths relative to the source, with ! exceptions', async () => {
    await put(roots.src, 'dir/a.md');
    await put(roots.src, 'dir/keep.md');
    await put(roots.src, 'dir/code.ts');
    await put(roots.src, 'dir/build/out.o');
    await put(roots.src, 'dir/build/readme.txt');
    await run(roots, [copy('dir', '/app', { excludes: ['*.md', '!keep.md', 'build', '!build/readme.txt'] })]);
    assert.deepEqual((await readdir(join(roots.dest, 'app'))).sort(), ['build', 'code.ts', 'keep.md']);
    assert.deepEqual(await readdir(join(roots.dest, 'app/build')), ['readme.txt']);
  });

  it('skips an excluded directory entirely when there are no exceptions', async () => {
    await put(roots.src, 'dir/node_modules/x/index.js');
    await put(roots.src, 'dir/index.js');
    await run(roots, [copy('dir', '/app', { excludes: ['node_modules'] })]);
    assert.deepEqual(await readdir(join(roots.dest, 'app')), ['index.js']);
  });

  it('keeps the full relative path with --parents', async () => {
    await put(roots.src, 'a/b/c.txt', 'C');
    await put(roots.src, 'a/b/other.txt');
    await put(roots.src, 'z.txt');
    await run(roots, [copy('a/b/c.txt', '/dest/', { parents: true })]);
    assert.equal(await read(roots.dest, 'dest/a/b/c.txt'), 'C');
    assert.deepEqual(await readdir(join(roots.dest, 'dest')), ['a']);
    assert.deepEqual(await readdir(join(roots.dest, 'dest/a/b')), ['c.txt']);
  });

  it('keeps the path after /./ with --parents', async () => {
    await put(roots.src, 'x/y/z.txt', 'Z');
    await run(roots, [copy('x/./y/z.txt', '/dest/', { parents: true })]);
    assert.equal(await read(roots.dest, 'dest/y/z.txt'), 'Z');
    await assert.rejects(lstat(join(roots.dest, 'dest/x')));
  });

  it('matches wildcards with --parents and recreates parent directories with their metadata', async () => {
    await put(roots.src, 'src/a/main.go');
    await put(roots.src, 'src/b/util.go');
    await put(roots.src, 'src/b/notes.txt');
    await mkdir(join(roots.src, 'src/a'), { recursive: true });
    await utimes(join(roots.src, 'src/a'), 3_000_000, 3_000_000);
    await run(roots, [copy('src/**/*.go', '/out/', { parents: true })]);
    assert.deepEqual((await readdir(join(roots.dest, 'out/src/b'))).sort(), ['util.go']);
    assert.deepEqual(await readdir(join(roots.dest, 'out/src/a')), ['main.go']);
    assert.equal(Math.floor((await stat(join(roots.dest, 'out/src/a'))).mtimeMs / 1000), 3_000_000);
  });

  it('requires a literal --parents path to exist', async () => {
    await put(roots.src, 'a/other.txt');
    await assert.rejects(run(roots, [copy('a/missing.txt', '/d/', { parents: true })]), rejectsWith('FILE_NOT_FOUND', /"\/a\/missing\.txt": not found/));
  });
});

describe('no escape from the destination root', () => {
  it('resolves a destination symlink to an absolute path inside the root', async () => {
    const outside = join(roots.base, 'host-etc');
    await mkdir(outside);
    await link(roots.dest, 'etc', outside);
    await put(roots.src, 'passwd', 'evil');
    await run(roots, [copy('passwd', '/etc/')]);
    assert.deepEqual(await readdir(outside), []);
    assert.equal(await read(roots.dest, join(outside.slice(1), 'passwd')), 'evil');
  });

  it('never copies a directory through a symlink inside the destination tree', async () => {
    const outside = join(roots.base, 'host-dir');
    await mkdir(outside);
    await link(roots.dest, 'app/sub', outside);
    await put(roots.src, 'dir/sub/x', 'X');
    await assert.rejects(run(roots, [copy('dir', '/app')]), rejectsWith('FILE_OPERATION', /non-directory: \/app\/sub/));
    assert.deepEqual(await readdir(outside), []);
  });

  it('clamps relative .. symlinks at the destination root', async () => {
    await link(roots.dest, 'up', '../../../..');
    await put(roots.src, 'f', 'F');
    await run(roots, [copy('f', '/up/landed/')]);
    assert.equal(await read(roots.dest, 'landed/f'), 'F');
    await assert.rejects(lstat(join(roots.base, 'landed')));
  });

  it('resolves a final destination symlink inside the root', async () => {
    const outsideFile = join(roots.base, 'host-file');
    await writeFile(outsideFile, 'host');
    await link(roots.dest, 'bin/tool', outsideFile);
    await put(roots.src, 'tool', 'new');
    await run(roots, [copy('tool', '/bin/tool')]);
    assert.equal(await read(roots.base, 'host-file'), 'host');
    assert.equal(await read(roots.dest, outsideFile.slice(1)), 'new');
  });
});

describe('names reserved for layer whiteouts', () => {
  it('refuses a source entry or a destination named .wh.*, naming it, before writing anything', async () => {
    await put(roots.src, 'etc/.wh..wh..opq', '');
    await put(roots.src, 'etc/hosts', 'h');
    await put(roots.src, '.wh.bin', '');
    await put(roots.src, 'f', 'f');
    await assert.rejects(run(roots, [copy('etc', '/etc/')]), rejectsWith('FILE_OPERATION', /\/etc\/\.wh\.\.wh\.\.opq: names starting with "\.wh\." are reserved/));
    await assert.rejects(run(roots, [copy('.', '/')]), rejectsWith('FILE_OPERATION', /\/\.wh\.bin/));
    await assert.rejects(run(roots, [copy('f', '/.wh.etc')]), rejectsWith('FILE_OPERATION', /to \/\.wh\.etc/));
    assert.deepEqual((await readdir(roots.dest)).filter((name) => name.startsWith('.wh.')), []);
    assert.deepEqual(await readdir(join(roots.dest, 'etc')).catch(() => []), [], 'the reserved name was refused before it was written');
  });

  it('copies names that merely contain .wh. elsewhere', async () => {
    await put(roots.src, 'a.wh.b', 'x');
    await put(roots.src, 'wh.c', 'y');
    await run(roots, [copy('.', '/')]);
    assert.equal(await read(roots.dest, 'a.wh.b'), 'x');
    assert.equal(await read(roots.dest, 'wh.c'), 'y');
  });
});

describe('host directory inputs (the build context)', () => {
  it('copies as 0:0 without --chown, leaving image inputs\' owners alone', { skip: process.getuid?.() !== 0 && 'needs root (lchown)' }, async () => {
    const { lchown } = await import('node:fs/promises');
    const { applyFileActions } = await import('../../src/ops/file/index.js');
    await put(roots.src, 'd/f', 'f');
    await link(roots.src, 'd/l', 'f');
    for (const rel of ['d', 'd/f', 'd/l']) await lchown(join(roots.src, rel), 1234, 5678);
    const signal = new AbortController().signal;
    await applyFileActions([copy('d', '/host/')], { dest: roots.dest, inputs: new Map([[1, roots.src]]), hostInputs: new Set([1]) }, { signal });
    await applyFileActions([copy('d', '/image/')], { dest: roots.dest, inputs: new Map([[1, roots.src]]) }, { signal });
    for (const rel of ['f', 'l']) {
      const host = await lstat(join(roots.dest, 'host', rel));
      assert.deepEqual([host.uid, host.gid], [0, 0], rel);
      const image = await lstat(join(roots.dest, 'image', rel));
      assert.deepEqual([image.uid, image.gid], [1234, 5678], rel);
    }
  });
});

describe('cancellation', () => {
  it('rejects with the abort reason', async () => {
    await put(roots.src, 'a.txt');
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    await assert.rejects(run(roots, [copy('a.txt', '/x')], controller.signal), (error: unknown) => error === reason);
  });
});

describe('COPY from a checked host directory', () => {
  it('asks the check about every entry it reads and fails the copy, writing nothing more, when the check refuses one', async () => {
    await put(roots.src, 'app/a', 'a');
    await put(roots.src, 'app/late', 'late');
    await put(roots.src, 'top', 't');
    const asked: string[] = [];
    const check = (absolute: string): void => {
      asked.push(absolute.slice(roots.src.length + 1));
      if (absolute.endsWith('/late')) throw new Error('late changed');
    };
    const actions = [copy('.', '/out/')];
    await assert.rejects(applyFileActions(actions, { dest: roots.dest, inputs: new Map([[1, roots.src]]), hostInputs: new Set([1]), checks: new Map([[1, check]]) }, { signal: new AbortController().signal }), /late changed/);
    assert.deepEqual(asked.slice(0, 3), ['', 'app', 'app/a']);
    assert.ok(asked.includes('app/late'));
    await assert.rejects(lstat(join(roots.dest, 'out/app/late')));
    await applyFileActions(actions, { dest: roots.dest, inputs: new Map([[1, roots.src]]), hostInputs: new Set([1]), checks: new Map([[1, () => undefined]]) }, { signal: new AbortController().signal });
    assert.equal(await read(roots.dest, 'out/app/late'), 'late');
  });
});
