import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import zstd from 'zstd-napi';
import { isStagecraftError } from '../../src/core/index.js';
import { isArchive } from '../../src/ops/file/index.js';
import { makeHeader, writeTar, type TarHeader, type TarWriteEntry } from '../../src/snapshot/index.js';
import { copy, link, makeRoots, put, read, run, type Roots } from './ops-file-helpers.js';

type Spec = Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'> & { readonly data?: string };

async function tarOf(specs: readonly Spec[]): Promise<Buffer> {
  const entries: TarWriteEntry[] = specs.map(({ data, ...fields }) => {
    const body = Buffer.from(data ?? '');
    const header = makeHeader({ mtime: 1_500_000_000, ...fields, size: fields.type === 'file' ? body.length : 0 });
    return { header, body: () => Readable.from([body]) };
  });
  return buffer(writeTar(entries));
}

function compressWith(tool: 'bzip2' | 'xz', data: Buffer): Buffer {
  const result = spawnSync(tool, ['-c'], { input: data });
  assert.equal(result.status, 0, `${tool} failed: ${String(result.stderr)}`);
  return result.stdout;
}

const SAMPLE: readonly Spec[] = [
  { name: 'pkg/', type: 'dir', mode: 0o750, mtime: 1_400_000_000 },
  { name: 'pkg/bin/', type: 'dir', mode: 0o755 },
  { name: 'pkg/bin/tool', type: 'file', mode: 0o755, data: 'binary' },
  { name: 'pkg/README', type: 'file', mode: 0o644, data: 'read me', mtime: 1_300_000_000 },
  { name: 'pkg/latest', type: 'symlink', linkname: 'bin/tool' },
  { name: 'pkg/hard', type: 'link', linkname: 'pkg/README' },
];

let roots: Roots;
beforeEach(async () => {
  roots = await makeRoots();
});
afterEach(async () => {
  await roots.cleanup();
});

async function assertSampleExtracted(base: string): Promise<void> {
  assert.equal(await read(roots.dest, `${base}/pkg/bin/tool`), 'binary');
  assert.equal((await stat(join(roots.dest, base, 'pkg/bin/tool'))).mode & 0o7777, 0o755);
  assert.equal((await stat(join(roots.dest, base, 'pkg'))).mode & 0o7777, 0o750);
  assert.equal(Math.floor((await stat(join(roots.dest, base, 'pkg'))).mtimeMs / 1000), 1_400_000_000);
  assert.equal(Math.floor((await stat(join(roots.dest, base, 'pkg/README'))).mtimeMs / 1000), 1_300_000_000);
  assert.equal(await readlink(join(roots.dest, base, 'pkg/latest')), 'bin/tool');
  assert.equal((await stat(join(roots.dest, base, 'pkg/hard'))).ino, (await stat(join(roots.dest, base, 'pkg/README'))).ino);
}

describe('ADD of local archives', () => {
  it('extracts plain, gzip, bzip2, xz and zstd tars, detected by content not name', async () => {
    const tar = await tarOf(SAMPLE);
    const variants: Record<string, Buffer> = {
      'plain.bin': tar,
      'gz.dat': gzipSync(tar),
      'bz.dat': compressWith('bzip2', tar),
      'xz.dat': compressWith('xz', tar),
      'zst.dat': zstd.compress(tar),
    };
    const actions = [];
    for (const [name, data] of Object.entries(variants)) {
      await writeFile(join(roots.src, name), data);
      assert.equal(await isArchive(join(roots.src, name)), true, name);
      actions.push(copy(name, `/out/${name}/`, { unpack: true }));
    }
    await run(roots, actions);
    for (const name of Object.keys(variants)) await assertSampleExtracted(`out/${name}`);
  });

  it('extracts into the destination as a directory even without a trailing slash', async () => {
    await writeFile(join(roots.src, 'a.tar'), await tarOf(SAMPLE));
    await run(roots, [copy('a.tar', '/opt/app', { unpack: true })]);
    await assertSampleExtracted('opt/app');
  });

  it('copies non-archives (even named .tar.gz) and archives when unpack is off', async () => {
    await put(roots.src, 'fake.tar.gz', 'just text, not gzip');
    await put(roots.src, 'empty.tar', '');
    await writeFile(join(roots.src, 'real.tar'), await tarOf(SAMPLE));
    await writeFile(join(roots.src, 'broken.tgz'), Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3]));
    assert.equal(await isArchive(join(roots.src, 'fake.tar.gz')), false);
    assert.equal(await isArchive(join(roots.src, 'empty.tar')), false);
    assert.equal(await isArchive(join(roots.src, 'broken.tgz')), false);
    await run(roots, [
      copy('fake.tar.gz', '/x/', { unpack: true }),
      copy('empty.tar', '/x/', { unpack: true }),
      copy('broken.tgz', '/x/', { unpack: true }),
      copy('real.tar', '/y/', { unpack: false }),
    ]);
    assert.equal(await read(roots.dest, 'x/fake.tar.gz'), 'just text, not gzip');
    assert.deepEqual((await readdir(join(roots.dest, 'x'))).sort(), ['broken.tgz', 'empty.tar', 'fake.tar.gz']);
    assert.deepEqual(await readdir(join(roots.dest, 'y')), ['real.tar']);
  });

  it('does not unpack archives inside a copied directory', async () => {
    await mkdir(join(roots.src, 'dir'));
    await writeFile(join(roots.src, 'dir/inner.tar'), await tarOf(SAMPLE));
    await run(roots, [copy('dir', '/d/', { unpack: true })]);
    assert.ok((await lstat(join(roots.dest, 'd/inner.tar'))).isFile());
  });

  it('replaces existing files, merges directories and skips the root entry', async () => {
    await put(roots.dest, 'app/pkg/README', 'old');
    await put(roots.dest, 'app/pkg/extra', 'kept');
    await mkdir(join(roots.dest, 'app/pkg/latest'));
    await writeFile(join(roots.src, 'a.tar'), await tarOf([{ name: './', type: 'dir', mode: 0o700 }, ...SAMPLE]));
    await run(roots, [copy('a.tar', '/app/', { unpack: true })]);
    assert.equal(await read(roots.dest, 'app/pkg/README'), 'read me');
    assert.equal(await read(roots.dest, 'app/pkg/extra'), 'kept');
    assert.ok((await lstat(join(roots.dest, 'app/pkg/latest'))).isSymbolicLink());
    assert.equal((await stat(join(roots.dest, 'app'))).mode & 0o7777, 0o755);
  });

  it('refuses entries that climb out with ..', async () => {
    await writeFile(join(roots.src, 'evil.tar'), await tarOf([{ name: '../../escaped', type: 'file', data: 'x' }]));
    await assert.rejects(run(roots, [copy('evil.tar', '/app/', { unpack: true })]), (error: unknown) => {
      assert.ok(isStagecraftError(error));
      assert.equal(error.code, 'FILE_OPERATION');
      assert.match(error.message, /outside of the destination/);
      return true;
    });
    await assert.rejects(lstat(join(roots.base, 'escaped')));
    await assert.rejects(lstat(join(roots.dest, 'escaped')));
  });

  it('resolves archive symlinks inside the destination directory', async () => {
    const outside = join(roots.base, 'host');
    await mkdir(outside);
    await writeFile(
      join(roots.src, 'sneaky.tar'),
      await tarOf([
        { name: 'up', type: 'symlink', linkname: '../../../../..' },
        { name: 'up/host/planted', type: 'file', data: 'p' },
        { name: 'abs', type: 'symlink', linkname: outside },
        { name: 'abs/planted2', type: 'file', data: 'q' },
      ]),
    );
    await run(roots, [copy('sneaky.tar', '/app/', { unpack: true })]);
    assert.deepEqual(await readdir(outside), []);
    assert.equal(await read(roots.dest, 'app/host/planted'), 'p');
    assert.equal(await read(roots.dest, join('app', outside, 'planted2')), 'q');
  });

  it('writes through an existing destination symlink only inside the root', async () => {
    const outside = join(roots.base, 'host-opt');
    await mkdir(outside);
    await link(roots.dest, 'opt', outside);
    await writeFile(join(roots.src, 'a.tar'), await tarOf(SAMPLE));
    await run(roots, [copy('a.tar', '/opt/', { unpack: true })]);
    assert.deepEqual(await readdir(outside), []);
    await assertSampleExtracted(outside.slice(1));
  });

  it('reports a damaged archive body as FILE_OPERATION', async () => {
    const tar = await tarOf([{ name: 'a', type: 'file', data: 'x'.repeat(2000) }, { name: 'b', type: 'file', data: 'y' }]);
    const damaged = Buffer.from(tar.subarray(0, 1024 + 512));
    damaged.fill(0x41, 1024, 1024 + 512); // the second header is garbage
    await writeFile(join(roots.src, 'bad.tar'), damaged);
    await assert.rejects(run(roots, [copy('bad.tar', '/app/', { unpack: true })]), (error: unknown) => isStagecraftError(error) && error.code === 'FILE_OPERATION');
  });
});
