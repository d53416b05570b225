import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, link, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { StagecraftError, isStagecraftError } from '../../src/core/index.js';
import { makeHeader, packDirectory, readTar, writeTar, type ReadTarOptions, type TarHeader, type TarWriteEntry } from '../../src/snapshot/index.js';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

interface ReadBack {
  header: TarHeader;
  content: Buffer;
}

async function readAll(tar: Buffer): Promise<ReadBack[]> {
  const out: ReadBack[] = [];
  for await (const { header, body } of readTar(Readable.from([tar]))) out.push({ header, content: await collect(body) });
  return out;
}

function fileEntry(name: string, content: string | Buffer, extra: Partial<TarHeader> = {}): TarWriteEntry {
  const data = Buffer.from(content);
  return { header: makeHeader({ name, type: 'file', size: data.length, ...extra }), body: () => Readable.from([data]) };
}

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-tar-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('tar writer and reader', () => {
  it('round-trips every entry type, long and non-ASCII names, large ids and binary xattrs', async () => {
    const longDir = 'd'.repeat(120);
    const entries: TarWriteEntry[] = [
      { header: makeHeader({ name: 'dir', type: 'dir', mode: 0o755, mtime: 1_700_000_000 }) },
      fileEntry('dir/file.txt', 'hello\n', { mode: 0o4755, uid: 1000, gid: 1000, mtime: 1_600_000_000 }),
      fileEntry(`${longDir}/splittable-${'x'.repeat(40)}`, 'a'),
      fileEntry('n'.repeat(150), 'b'),
      fileEntry('ünïcødé/名前.txt', 'c'),
      fileEntry('big-ids', '', { uid: 5_000_000, gid: 3_000_000 }),
      fileEntry('caps', 'x', { xattrs: new Map([['security.capability', Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0])], ['user.note', Buffer.from('a=b\nc')]]) }),
      { header: makeHeader({ name: 'sym', type: 'symlink', linkname: `../${'t'.repeat(200)}`, mode: 0o777 }) },
      { header: makeHeader({ name: 'hard', type: 'link', linkname: 'dir/file.txt' }) },
      { header: makeHeader({ name: 'null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }) },
      { header: makeHeader({ name: 'loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660 }) },
      { header: makeHeader({ name: 'pipe', type: 'fifo', mode: 0o600 }) },
    ];
    const tar = await collect(writeTar(entries));
    assert.equal(tar.length % 512, 0);
    assert.ok(tar.subarray(-1024).every((b) => b === 0), 'ends with two zero blocks');
    const back = await readAll(tar);
    assert.deepEqual(
      back.map((e) => e.header.name),
      ['dir/', 'dir/file.txt', `${longDir}/splittable-${'x'.repeat(40)}`, 'n'.repeat(150), 'ünïcødé/名前.txt', 'big-ids', 'caps', 'sym', 'hard', 'null', 'loop0', 'pipe'],
    );
    for (const [i, entry] of entries.entries()) {
      const got = back[i]!.header;
      assert.equal(got.type, entry.header.type, entry.header.name);
      assert.equal(got.mode, entry.header.mode, entry.header.name);
      assert.equal(got.uid, entry.header.uid);
      assert.equal(got.gid, entry.header.gid);
      assert.equal(got.mtime, entry.header.mtime);
      assert.equal(got.linkname, entry.header.linkname);
      assert.equal(got.devmajor, entry.header.devmajor);
      assert.equal(got.devminor, entry.header.devminor);
      assert.deepEqual(got.xattrs, entry.header.xattrs);
    }
    assert.equal(back[1]!.content.toString(), 'hello\n');
  });

  it('writes BuildKit-style headers: ustar magic, no user names, dirs with "/", pax only when needed', async () => {
    const tar = await collect(writeTar([
      { header: makeHeader({ name: 'a', type: 'dir', mode: 0o755 }) },
      fileEntry(`${'p'.repeat(120)}/q`, 'x'),
      fileEntry('é', 'y'),
    ]));
    const first = tar.subarray(0, 512);
    assert.equal(first.toString('latin1', 0, 2), 'a/');
    assert.equal(first.toString('latin1', 257, 265), 'ustar\u000000');
    assert.equal(first.toString('latin1', 100, 108), '0000755\0');
    assert.ok(first.subarray(265, 329).every((b) => b === 0), 'uname and gname are empty');
    assert.equal(first.toString('latin1', 329, 345), '0000000\u00000000000\u0000');
    // A long ASCII name that ustar can split uses the prefix field, not pax (as Go's writer).
    const second = tar.subarray(512, 1024);
    assert.equal(second.toString('latin1', 156, 157), '0');
    assert.equal(second.toString('latin1', 345, 345 + 120), 'p'.repeat(120));
    // A non-ASCII name needs a pax header named like Go's.
    const pax = tar.subarray(1536, 2048);
    assert.equal(pax.toString('latin1', 156, 157), 'x');
    // Go: path.Join(dir, "PaxHeaders.0", base) with non-ASCII dropped and the trailing slash trimmed.
    assert.equal(pax.toString('latin1', 0, 13), 'PaxHeaders.0\0');
  });

  it('reads archives whose body ends early as invalid', async () => {
    const tar = await collect(writeTar([fileEntry('f', 'x'.repeat(2000))]));
    await assert.rejects(readAll(tar.subarray(0, 1024)), { code: 'LAYER_INVALID' });
    const bad = Buffer.from(tar);
    bad[10] = 0x41; // breaks the checksum
    await assert.rejects(readAll(bad), { code: 'LAYER_INVALID' });
  });
});

describe('packDirectory', () => {
  let tree: string;
  before(async () => {
    tree = join(work, 'tree');
    await mkdir(join(tree, 'a/b'), { recursive: true });
    await mkdir(join(tree, 'a.d'));
    await writeFile(join(tree, 'a/b/file'), 'content\n');
    await writeFile(join(tree, 'a.txt'), 'z');
    await writeFile(join(tree, 'a/b/', `${'long'.repeat(40)}.txt`), 'long');
    await writeFile(join(tree, 'exec'), '#!/bin/sh\n');
    await chmod(join(tree, 'exec'), 0o4755);
    await link(join(tree, 'a/b/file'), join(tree, 'z-hardlink'));
    await symlink('a/b/file', join(tree, 'sym'));
    await writeFile(join(tree, 'B'), 'upper-case sorts first');
    for (const p of ['a/b/file', 'a.txt', 'exec', 'B', `a/b/${'long'.repeat(40)}.txt`]) await utimes(join(tree, p), 1_650_000_000.5, 1_650_000_000.5);
  });

  it('walks depth first with names in byte order and links repeated inodes', async () => {
    const entries = await readAll(await collect(packDirectory(tree)));
    assert.deepEqual(entries.map((e) => e.header.name), [
      'B', 'a/', 'a/b/', 'a/b/file', `a/b/${'long'.repeat(40)}.txt`, 'a.d/', 'a.txt', 'exec', 'sym', 'z-hardlink',
    ]);
    const hard = entries.find((e) => e.header.name === 'z-hardlink')!;
    assert.equal(hard.header.type, 'link');
    assert.equal(hard.header.linkname, 'a/b/file');
    assert.equal(entries.find((e) => e.header.name === 'exec')!.header.mode, 0o4755);
    assert.equal(entries.find((e) => e.header.name === 'a.txt')!.header.mtime, 1_650_000_000);
  });

  it('is deterministic and clamps mtimes to SOURCE_DATE_EPOCH', async () => {
    const one = await collect(packDirectory(tree, { sourceDateEpoch: 1_000 }));
    const two = await collect(packDirectory(tree, { sourceDateEpoch: 1_000 }));
    assert.ok(one.equals(two));
    for (const entry of await readAll(one)) assert.ok(entry.header.mtime <= 1_000, entry.header.name);
  });

  it('GNU tar lists and extracts our archive to the same tree', async () => {
    const tarPath = join(work, 'ours.tar');
    await writeFile(tarPath, await collect(packDirectory(tree)));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', tarPath], { encoding: 'utf8' });
    assert.match(listing, /^-rwsr-xr-x 0\/0 +10 2022-04-15 \S+ exec$/m);
    assert.match(listing, /^hrw-r--r-- 0\/0 +0 \S+ \S+ z-hardlink link to a\/b\/file$/m);
    const out = join(work, 'gnu-extract');
    await mkdir(out);
    execFileSync('tar', ['--numeric-owner', '-xpf', tarPath, '-C', out]);
    const again = await collect(packDirectory(out));
    // Directory mtimes differ after GNU tar sets them in its own order; compare everything else.
    const strip = (entries: ReadBack[]): unknown[] => entries.map((e) => ({ ...e.header, mtime: e.header.type === 'dir' ? 0 : e.header.mtime, content: e.content.toString('hex') }));
    assert.deepEqual(strip(await readAll(again)), strip(await readAll(await readFile(tarPath))));
  });

  it('reads what GNU tar writes in posix and gnu formats', async () => {
    const ours = (await readAll(await collect(packDirectory(tree)))).map((e) => ({ ...e.header, name: e.header.name, content: e.content.toString() }));
    for (const format of ['posix', 'gnu']) {
      const gnu = execFileSync('tar', ['--sort=name', '--numeric-owner', `--format=${format}`, '-C', tree, '-cf', '-', '.']);
      const theirs = (await readAll(gnu))
        .filter((e) => e.header.name !== './')
        .map((e) => ({ ...e.header, name: e.header.name.replace(/^\.\//u, ''), linkname: e.header.linkname.replace(/^\.\//u, ''), content: e.content.toString() }));
      assert.deepEqual(theirs.map((e) => e.name), ours.map((e) => e.name), format);
      for (const [i, entry] of ours.entries()) {
        assert.equal(theirs[i]!.type, entry.type, `${format} ${entry.name}`);
        assert.equal(theirs[i]!.mode, entry.mode);
        assert.equal(theirs[i]!.linkname, entry.linkname);
        assert.equal(theirs[i]!.content, entry.content);
      }
      const digest = createHash('sha256').update(gnu).digest('hex');
      assert.equal(digest.length, 64);
    }
  });
});

describe('readTar invalid', () => {
  const archiveError = (fault: string): StagecraftError => new StagecraftError('ARCHIVE_INVALID', `image.tar: ${fault}`);

  it('words a damaged header with the caller\'s error', async () => {
    const tar = await collect(writeTar([fileEntry('a', 'hello')]));
    tar[0] = 0x41; // the checksum no longer matches
    const read = async (options: ReadTarOptions): Promise<void> => {
      for await (const { body } of readTar(Readable.from([tar]), options)) await collect(body);
    };
    await assert.rejects(read({}), (error) => isStagecraftError(error) && error.code === 'LAYER_INVALID');
    await assert.rejects(read({ invalid: archiveError }), (error) => isStagecraftError(error) && error.code === 'ARCHIVE_INVALID' && error.message === 'image.tar: header checksum mismatch');
  });

  it('words a body cut short with the caller\'s error', async () => {
    const tar = (await collect(writeTar([fileEntry('a', 'x'.repeat(2000))]))).subarray(0, 1024);
    const names: string[] = [];
    await assert.rejects(async () => {
      for await (const { header, body } of readTar(Readable.from([tar]), { invalid: archiveError })) {
        names.push(header.name);
        await collect(body);
      }
    }, (error) => isStagecraftError(error) && error.code === 'ARCHIVE_INVALID' && /ends inside a file body/.test(error.message));
    assert.deepEqual(names, ['a']);
  });
});
