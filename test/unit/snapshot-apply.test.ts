import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, beforeEach, describe, it } from 'node:test';
import { applyLayer, applyTar, makeHeader, writeTar, type TarHeader, type TarWriteEntry } from '../../src/snapshot/index.js';

async function tarOf(entries: TarWriteEntry[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of writeTar(entries)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function file(name: string, content: string, extra: Partial<TarHeader> = {}): TarWriteEntry {
  const data = Buffer.from(content);
  return { header: makeHeader({ name, type: 'file', size: data.length, ...extra }), body: () => Readable.from([data]) };
}
const dir = (name: string, extra: Partial<TarHeader> = {}): TarWriteEntry => ({ header: makeHeader({ name, type: 'dir', mode: 0o755, ...extra }) });
const sym = (name: string, linkname: string): TarWriteEntry => ({ header: makeHeader({ name, type: 'symlink', linkname, mode: 0o777 }) });
const hard = (name: string, linkname: string): TarWriteEntry => ({ header: makeHeader({ name, type: 'link', linkname }) });
const whiteout = (name: string): TarWriteEntry => ({ header: makeHeader({ name, type: 'file', mode: 0 }) });

async function apply(root: string, entries: TarWriteEntry[]): Promise<void> {
  await applyTar(root, Readable.from([await tarOf(entries)]));
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

let work: string;
let root: string;
let outside: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-apply-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  await rm(join(work, 'sandbox'), { recursive: true, force: true });
  root = join(work, 'sandbox/root');
  outside = join(work, 'sandbox/outside');
  await mkdir(root, { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, 'secret'), 'untouched');
});

async function assertOutsideUntouched(): Promise<void> {
  assert.deepEqual((await readdir(outside)).sort(), ['secret']);
  assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'untouched');
  assert.deepEqual((await readdir(join(work, 'sandbox'))).sort(), ['outside', 'root']);
}

describe('applyTar', () => {
  it('extracts files, dirs, symlinks, hardlinks with modes and mtimes', async () => {
    await apply(root, [
      dir('etc/', { mtime: 1_000_000 }),
      file('etc/hosts', 'localhost\n', { mode: 0o640, mtime: 1_234_567 }),
      file('bin/tool', '#!', { mode: 0o4755 }),
      sym('bin/link', 'tool'),
      hard('bin/again', 'bin/tool'),
    ]);
    assert.equal(await readFile(join(root, 'etc/hosts'), 'utf8'), 'localhost\n');
    const hosts = await stat(join(root, 'etc/hosts'));
    assert.equal(hosts.mode & 0o7777, 0o640);
    assert.equal(hosts.mtimeMs, 1_234_567_000);
    assert.equal((await stat(join(root, 'etc'))).mtimeMs, 1_000_000_000, 'dir mtime set after its children');
    assert.equal((await stat(join(root, 'bin/tool'))).mode & 0o7777, 0o4755);
    assert.equal(await readlink(join(root, 'bin/link')), 'tool');
    assert.equal((await stat(join(root, 'bin/again'))).ino, (await stat(join(root, 'bin/tool'))).ino);
  });

  it('rejects names climbing out with ".."', async () => {
    await assert.rejects(apply(root, [file('../outside/secret', 'pwned')]), { code: 'LAYER_UNSAFE' });
    await assert.rejects(apply(root, [file('a/../../outside/evil', 'pwned')]), { code: 'LAYER_UNSAFE' });
    await assertOutsideUntouched();
  });

  it('keeps absolute names inside the root', async () => {
    await apply(root, [file(`${outside}/evil`, 'contained')]);
    assert.equal(await readFile(join(root, outside, 'evil'), 'utf8'), 'contained');
    await assertOutsideUntouched();
  });

  it('never follows a symlink out of the root, absolute or relative', async () => {
    await apply(root, [
      sym('abs', outside),
      file('abs/evil', 'contained-1'),
      sym('rel', '../../outside'),
      file('rel/evil', 'contained-2'),
      sym('deep/x', '../../../../../../'),
      file('deep/x/evil', 'contained-3'),
    ]);
    assert.equal(await readFile(join(root, outside, 'evil'), 'utf8'), 'contained-1');
    assert.equal(await readFile(join(root, 'outside/evil'), 'utf8'), 'contained-2');
    assert.equal(await readFile(join(root, 'evil'), 'utf8'), 'contained-3');
    await assertOutsideUntouched();
  });

  it('replaces a symlink at the destination instead of writing through it', async () => {
    await symlink(join(outside, 'secret'), join(root, 'victim'));
    await apply(root, [file('victim', 'replaced')]);
    assert.ok((await lstat(join(root, 'victim'))).isFile());
    await assertOutsideUntouched();
  });

  it('refuses hardlinks to outside the root, directly or through a symlink', async () => {
    await assert.rejects(apply(root, [hard('h', '../outside/secret')]), { code: 'LAYER_UNSAFE' });
    // Through a symlink, the target resolves inside the root, where it does not exist.
    await assert.rejects(apply(root, [sym('s', outside), hard('h2', 's/secret')]), { code: 'LAYER_INVALID' });
    await assertOutsideUntouched();
  });

  it('skips device nodes unless asked', async () => {
    const result = await applyTar(root, Readable.from([await tarOf([{ header: makeHeader({ name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 }) }])]));
    assert.equal(result.skippedDevices, 1);
    assert.equal(await exists(join(root, 'dev/null')), false);
  });

  it('applies whiteouts and opaque directories to lower content only', async () => {
    await apply(root, [dir('a/'), file('a/old', '1'), file('a/keep', '2'), dir('b/'), file('b/x', '3'), file('c', '4')]);
    await apply(root, [
      whiteout('.wh.c'),
      dir('a/'),
      whiteout('a/.wh..wh..opq'),
      file('a/new', 'n'),
      file('b/y', 'y'),
      whiteout('b/.wh.x'),
    ]);
    assert.equal(await exists(join(root, 'c')), false);
    assert.deepEqual((await readdir(join(root, 'a'))).sort(), ['new']);
    assert.deepEqual((await readdir(join(root, 'b'))).sort(), ['y']);
    // An opaque marker after same-layer content keeps that content.
    await apply(root, [dir('a/'), file('a/newer', 'n'), whiteout('a/.wh..wh..opq')]);
    assert.deepEqual((await readdir(join(root, 'a'))).sort(), ['newer']);
  });

  it('refuses whiteouts naming outside their directory', async () => {
    await assert.rejects(apply(root, [whiteout('a/.wh...')]), { code: 'LAYER_UNSAFE' });
    await assertOutsideUntouched();
  });
});

describe('applyLayer', () => {
  it('detects gzip and returns the diffID of the uncompressed tar', async () => {
    const tar = await tarOf([file('hello', 'world')]);
    const result = await applyLayer(root, Readable.from([gzipSync(tar)]));
    assert.equal(result.compression, 'gzip');
    assert.equal(result.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    assert.equal(await readFile(join(root, 'hello'), 'utf8'), 'world');
  });

  it('hashes trailing padding after the end marker too', async () => {
    const tar = Buffer.concat([await tarOf([file('x', 'y')]), Buffer.alloc(10240 - 2048)]);
    const result = await applyLayer(root, Readable.from([tar]));
    assert.equal(result.compression, 'none');
    assert.equal(result.diffId, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
  });

  it('reports damaged gzip as an error', async () => {
    const gz = gzipSync(await tarOf([file('x', 'y'.repeat(10000))]));
    gz[gz.length - 20] = (gz[gz.length - 20] ?? 0) ^ 0xff;
    await assert.rejects(applyLayer(root, Readable.from([gz])));
  });
});
