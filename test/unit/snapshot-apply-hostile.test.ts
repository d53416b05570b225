/**
 * Hostile layers, built byte by byte: nothing outside the extraction root may change, and every refusal
 * is a typed LAYER_INVALID / LAYER_UNSAFE error.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import zstd from 'zstd-napi';
import { isStagecraftError } from '../../src/core/index.js';
import { applyLayer, applyTar } from '../../src/snapshot/index.js';
import { describeTree, plantCanaries } from '../helpers/canary.js';
import { archive, dir, entry, file, hardlink, header, pax, symlink } from '../helpers/tar-craft.js';
import { peakRssGrowth } from '../helpers/rss.js';

const isRoot = process.getuid?.() === 0;

let work: string;
let root: string;
let host: string;
let before_: string[];

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-hostile-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  await rm(join(work, 'sandbox'), { recursive: true, force: true });
  root = join(work, 'sandbox/root');
  host = join(work, 'sandbox/host');
  await mkdir(root, { recursive: true });
  await plantCanaries(host);
  before_ = await describeTree(host);
});
afterEach(async () => {
  assert.deepEqual(await describeTree(host), before_, 'the host canaries changed');
  assert.deepEqual((await readdir(join(work, 'sandbox'))).sort(), ['host', 'root']);
});

function apply(tar: Buffer, options: Parameters<typeof applyTar>[2] = {}): ReturnType<typeof applyTar> {
  return applyTar(root, Readable.from([tar]), options);
}

function typed(code: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isStagecraftError(error), `expected a StagecraftError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  };
}

describe('hostile layers: names', () => {
  it('refuses ".." names that climb out, in every spelling', async () => {
    for (const name of ['../host/secret', 'a/../../host/secret', './../host/evil', 'a/b/../../../host/evil', '..']) {
      await assert.rejects(apply(archive(file(name, 'pwned'))), typed('LAYER_UNSAFE'), name);
    }
    // Through a pax path too (the ustar name is harmless).
    await assert.rejects(apply(archive(pax([['path', '../host/secret']]), file('harmless', 'pwned'))), typed('LAYER_UNSAFE'));
  });

  it('keeps absolute names (ustar, pax and GNU long name) inside the root', async () => {
    const longAbs = `${host}/${'d/'.repeat(60)}evil`;
    await apply(archive(
      file(`${host}/evil1`, 'in'),
      pax([['path', `${host}/evil2`]]),
      file('x', 'in'),
      entry({ name: '././@LongLink', type: 'L', data: `${longAbs}\0` }),
      file('y', 'in'),
    ));
    assert.equal(await readFile(join(root, host, 'evil1'), 'utf8'), 'in');
    assert.equal(await readFile(join(root, host, 'evil2'), 'utf8'), 'in');
    assert.equal(await readFile(join(root, longAbs), 'utf8'), 'in');
  });

  it('refuses names with NUL bytes or past the kernel limits with LAYER_INVALID', async () => {
    await assert.rejects(apply(archive(pax([['path', 'a\0/etc/passwd']]), file('x', 'y'))), typed('LAYER_INVALID', /NUL/));
    await assert.rejects(apply(archive(pax([['linkpath', 'a\0b']]), symlink('s', 'x'))), typed('LAYER_INVALID', /NUL/));
    await assert.rejects(apply(archive(pax([['path', 'n'.repeat(300)]]), file('x', 'y'))), typed('LAYER_INVALID', /255/));
    await assert.rejects(apply(archive(pax([['path', 'abcdefgh/'.repeat(600)]]), file('x', 'y'))), typed('LAYER_INVALID', /4096/));
    await assert.rejects(apply(archive(pax([['linkpath', 'l'.repeat(5000)]]), symlink('s', 'x'))), typed('LAYER_INVALID', /4096/));
  });
});

describe('hostile layers: symlinks and hardlinks', () => {
  it('never writes through a symlink entry, absolute, relative or chained', async () => {
    await apply(archive(
      symlink('abs', host),
      file('abs/secret', 'in-1'),
      symlink('rel', '../host'),
      file('rel/secret', 'in-2'),
      symlink('chain1', 'chain2'),
      symlink('chain2', '../../../../host'),
      file('chain1/sub/x', 'in-3'),
      symlink('leaf', `${host}/secret`),
      file('leaf', 'replaced'),
      dir('abs/newdir/'),
    ));
    assert.equal(await readFile(join(root, host, 'secret'), 'utf8'), 'in-1');
    assert.equal(await readFile(join(root, 'host/secret'), 'utf8'), 'in-2');
    assert.equal(await readFile(join(root, 'host/sub/x'), 'utf8'), 'in-3');
    assert.ok((await lstat(join(root, 'leaf'))).isFile());
    assert.ok((await stat(join(root, host, 'newdir'))).isDirectory());
  });

  it('resolves a directory again once a later entry of the layer replaced it with a symlink', async () => {
    // The first files are written into "a" while it is a directory; then "a" becomes a link to the host
    // and more files follow: they must land in the root's copy of the host path, not on the host.
    await apply(archive(
      dir('a/'),
      file('a/first', 'in-dir'),
      dir('b/'),
      file('b/keep', 'kept'),
      symlink('a', host),
      file('a/secret', 'through-link'),
      file('a/second', 'through-link'),
    ));
    assert.equal(await readFile(join(root, host, 'secret'), 'utf8'), 'through-link');
    assert.equal(await readFile(join(root, host, 'second'), 'utf8'), 'through-link');
    assert.equal(await readFile(join(root, 'b/keep'), 'utf8'), 'kept');
    assert.equal(await readlink(join(root, 'a')), host);
  });

  it('refuses symlink loops with a typed error', async () => {
    await assert.rejects(apply(archive(symlink('a', 'b'), symlink('b', 'a'), file('a/x', 'y'))), typed('LAYER_INVALID', /too many symlinks/));
  });

  it('refuses hardlinks out of the root, through a symlinked parent, or to nothing', async () => {
    await assert.rejects(apply(archive(hardlink('h', '../host/secret'))), typed('LAYER_UNSAFE'));
    await assert.rejects(apply(archive(hardlink('h', `${host}/secret`))), typed('LAYER_INVALID'));
    await assert.rejects(apply(archive(symlink('s', host), hardlink('h', 's/secret'))), typed('LAYER_INVALID'));
    await assert.rejects(apply(archive(symlink('s', '../host'), hardlink('h', 's/secret'))), typed('LAYER_INVALID'));
    await assert.rejects(apply(archive(dir('d/'), hardlink('h', 'd'))), typed('LAYER_INVALID'));
    await assert.rejects(apply(archive(hardlink('h', '.'))), typed('LAYER_UNSAFE'));
  });

  it('a hardlink to a symlink links the symlink itself, and writes through it stay inside', async () => {
    await apply(archive(
      symlink('s', `${host}/secret`),
      hardlink('h', 's'),
      symlink('d', host),
      hardlink('hd', 'd'),
      file('hd/sub/x', 'inside'),
      file('h', 'replaced'),
    ));
    assert.equal(await readlink(join(root, 's')), `${host}/secret`);
    assert.ok((await lstat(join(root, 'h'))).isFile());
    assert.equal(await readlink(join(root, 'hd')), host);
    assert.equal(await readFile(join(root, host, 'sub/x'), 'utf8'), 'inside');
  });
});

describe('hostile layers: whiteouts', () => {
  it('refuses whiteouts naming paths above their directory', async () => {
    for (const name of ['../.wh.host', 'a/../../.wh.host', '.wh..', '.wh...', 'a/.wh.']) {
      await assert.rejects(apply(archive(file(name, '', { mode: 0 }))), (error: unknown) => isStagecraftError(error) && /LAYER_(UNSAFE|INVALID)/.test(error.code), name);
    }
  });

  it('resolves whiteouts and opaque markers through symlinked directories inside the root', async () => {
    await mkdir(join(root, host), { recursive: true });
    await apply(archive(file(`${host}/secret`, 'lower'), file('host/secret', 'lower'), file('host/keep', 'k')));
    await apply(archive(
      symlink('abs', host),
      file('abs/.wh.secret', '', { mode: 0 }),
      symlink('rel', '../host'),
      file('rel/.wh..wh..opq', '', { mode: 0 }),
      symlink('sub', `${host}/sub`),
      file('sub/.wh.x', '', { mode: 0 }),
    ));
    await assert.rejects(lstat(join(root, host, 'secret')));
    assert.deepEqual(await readdir(join(root, 'host')), []);
  });

  it('overlay mode: whiteouts become 0/0 char devices and opaque markers stay inside the root', { skip: !isRoot && 'needs root (mknod, trusted.* xattrs)' }, async () => {
    await apply(archive(
      symlink('abs', host),
      file('abs/.wh.secret', '', { mode: 0 }),
      symlink('rel', '../host'),
      file('rel/.wh..wh..opq', '', { mode: 0 }),
    ), { whiteouts: 'overlay' });
    const device = await lstat(join(root, host, 'secret'));
    assert.ok(device.isCharacterDevice());
    assert.equal(device.rdev, 0);
    assert.ok((await stat(join(root, 'host'))).isDirectory());
  });
});

describe('hostile layers: devices and modes', () => {
  it('creates device nodes only when asked, fifos as in the layer', async () => {
    const tar = archive(
      entry({ name: 'dev/mem', type: '3', devmajor: 1, devminor: 1 }),
      entry({ name: 'dev/sda', type: '4', devmajor: 8, devminor: 0 }),
      entry({ name: 'run/fifo', type: '6', mode: 0o600 }),
    );
    const result = await apply(tar, { devices: false });
    assert.equal(result.skippedDevices, 2);
    await assert.rejects(lstat(join(root, 'dev/mem')));
    assert.ok((await lstat(join(root, 'run/fifo'))).isFIFO());
    if (isRoot) {
      await apply(tar, { devices: true });
      const mem = await lstat(join(root, 'dev/mem'));
      assert.ok(mem.isCharacterDevice());
      assert.equal(mem.rdev, 0x101);
      assert.ok((await lstat(join(root, 'dev/sda'))).isBlockDevice());
    }
  });

  it('keeps setuid/setgid exactly as in the layer and never adds them', async () => {
    await apply(archive(
      dir('g/', { mode: 0o2775 }),
      file('g/implicit/file', 'x', { mode: 0o644 }),
      dir('g/explicit/', { mode: 0o755 }),
      file('bin/su', 'x', { mode: 0o4755 }),
      file('bin/plain', 'x', { mode: 0o755 }),
      hardlink('bin/su2', 'bin/su'),
    ));
    assert.equal((await stat(join(root, 'g'))).mode & 0o7777, 0o2775);
    assert.equal((await stat(join(root, 'g/implicit'))).mode & 0o7777, 0o755, 'an implicit parent gains no setgid from its parent');
    assert.equal((await stat(join(root, 'g/explicit'))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(root, 'g/implicit/file'))).mode & 0o7777, 0o644);
    assert.equal((await stat(join(root, 'bin/su'))).mode & 0o7777, 0o4755);
    assert.equal((await stat(join(root, 'bin/su2'))).mode & 0o7777, 0o4755);
    assert.equal((await stat(join(root, 'bin/plain'))).mode & 0o7777, 0o755);
  });

  it('ignores trusted.overlay.* xattrs in the layer', { skip: !isRoot && 'needs root (trusted.* xattrs)' }, async () => {
    await apply(archive(pax([['SCHILY.xattr.trusted.overlay.redirect', `${host}`], ['SCHILY.xattr.trusted.overlay.opaque', 'y']]), dir('d/')));
    const { listAttributes } = await import('@napi-rs/xattr');
    assert.deepEqual((await listAttributes(join(root, 'd'))).filter((n) => n.startsWith('trusted.overlay.')), []);
  });
});

describe('hostile layers: bombs', () => {
  it('refuses a gzip or zstd layer that inflates past the limit, naming the sizes', async () => {
    const tar = archive(file('zeros', Buffer.alloc(8 << 20)));
    for (const blob of [gzipSync(tar), Buffer.from(zstd.compress(tar))]) {
      await assert.rejects(
        applyLayer(root, Readable.from([blob]), { maxUncompressedBytes: 1 << 20, name: 'sha256:feed' }),
        typed('LAYER_INVALID', /sha256:feed.*inflates past 1 MiB/),
      );
    }
    // Under the limit it is fine.
    await applyLayer(root, Readable.from([gzipSync(tar)]), { maxUncompressedBytes: 16 << 20 });
    assert.equal((await stat(join(root, 'zeros'))).size, 8 << 20);
  });

  it('inflates a zstd bomb layer with bounded memory', async () => {
    const frame = Buffer.from(zstd.compress(Buffer.alloc(8 << 20)));
    const bomb = Buffer.concat([Buffer.from(zstd.compress(header({ name: 'zeros', size: 192 * (8 << 20) }))), ...Array.from({ length: 192 }, () => frame)]);
    const growth = await peakRssGrowth(() => assert.rejects(applyLayer(root, Readable.from([bomb]), { maxUncompressedBytes: 200_000_000 }), typed('LAYER_INVALID', /inflates past/)));
    assert.ok(growth < 150_000_000, `peak RSS grew by ${Math.round(growth / 1e6)} MB`);
  });

  it('refuses a stack of extended headers adding up past the metadata limit', async () => {
    const big = pax([['SCHILY.xattr.user.a', 'v'.repeat(900_000)]]);
    const big2 = pax([['SCHILY.xattr.user.b', 'v'.repeat(900_000)]]);
    await assert.rejects(apply(archive(big, big2, big, big2, file('x', 'y'))), typed('LAYER_INVALID', /extended header/));
    await assert.rejects(
      apply(archive(entry({ name: '././@LongLink', type: 'L', data: 'n'.repeat(2 << 20) }), file('x', 'y'))),
      typed('LAYER_INVALID'),
    );
  });

  it('refuses more entries than the entry limit', async () => {
    const entries = Array.from({ length: 20 }, (_, i) => file(`f${i}`, ''));
    await assert.rejects(apply(archive(...entries), { maxEntries: 10 }), typed('LAYER_INVALID', /more than 10 entries/));
  });

  it('refuses negative or out-of-range numbers in pax records', async () => {
    await assert.rejects(apply(archive(pax([['size', '-5']]), file('x', 'y'))), typed('LAYER_INVALID'));
    await assert.rejects(apply(archive(pax([['uid', '99999999999999']]), file('x', 'y'))), typed('LAYER_INVALID'));
  });
});
