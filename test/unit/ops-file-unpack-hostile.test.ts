/**
 * Hostile `ADD` archives, built byte by byte: extraction never writes outside the destination
 * directory, refusals are FILE_OPERATION errors naming the archive, and decompression bombs are
 * refused with bounded memory.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import zstd from 'zstd-napi';
import { isStagecraftError } from '../../src/core/index.js';
import { extractArchive } from '../../src/ops/file/unpack.js';
import { describeTree, plantCanaries } from '../helpers/canary.js';
import { archive, dir, entry, file, hardlink, header, pax, symlink } from '../helpers/tar-craft.js';
import { copy, makeRoots, run, type Roots } from './ops-file-helpers.js';
import { peakRssGrowth } from '../helpers/rss.js';

const isRoot = process.getuid?.() === 0;

let roots: Roots;
let host: string;
let canaries: string[];
beforeEach(async () => {
  roots = await makeRoots();
  host = join(roots.base, 'host');
  await plantCanaries(host);
  canaries = await describeTree(host);
});
afterEach(async () => {
  assert.deepEqual(await describeTree(host), canaries, 'the host canaries changed');
  assert.deepEqual((await readdir(roots.base)).sort(), ['dest', 'host', 'src']);
  await roots.cleanup();
});

function compressWith(tool: 'bzip2' | 'xz', data: Buffer): Buffer {
  const result = spawnSync(tool, ['-c'], { input: data, maxBuffer: 1 << 30 });
  assert.equal(result.status, 0, `${tool} failed: ${String(result.stderr)}`);
  return result.stdout;
}

async function add(name: string, data: Buffer, dest = '/app/'): Promise<void> {
  await writeFile(join(roots.src, name), data);
  await run(roots, [copy(name, dest, { unpack: true })]);
}

function fileOperation(pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isStagecraftError(error), `expected a StagecraftError, got ${String(error)}`);
    assert.equal(error.code, 'FILE_OPERATION', error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('hostile ADD archives', () => {
  it('refuses ".." names, also through pax and GNU long names', async () => {
    await assert.rejects(add('a.tar', archive(file('../../host/secret', 'x'))), fileOperation(/ADD \/a\.tar: .*outside of the destination/));
    await assert.rejects(add('b.tar', archive(pax([['path', '../host/evil']]), file('ok', 'x'))), fileOperation(/outside of the destination/));
    await assert.rejects(add('c.tar', archive(entry({ name: '././@LongLink', type: 'L', data: '../../host/evil\0' }), file('ok', 'x'))), fileOperation(/outside/));
  });

  it('keeps absolute names and symlinks (then writes through them) inside the destination', async () => {
    await add('a.tar', archive(
      file(`${host}/abs`, 'in'),
      symlink('s', host),
      file('s/secret', 'in-1'),
      symlink('r', '../../host'),
      dir('r/sub/'),
      file('r/sub/x', 'in-2'),
      symlink('leaf', `${host}/secret`),
      file('leaf', 'replaced'),
    ));
    assert.equal(await readFile(join(roots.dest, 'app', host, 'abs'), 'utf8'), 'in');
    assert.equal(await readFile(join(roots.dest, 'app', host, 'secret'), 'utf8'), 'in-1');
    assert.equal(await readFile(join(roots.dest, 'app/host/sub/x'), 'utf8'), 'in-2');
    assert.ok((await lstat(join(roots.dest, 'app/leaf'))).isFile());
  });

  it('resolves a directory again once a later entry replaced it with a symlink', async () => {
    await add('a.tar', archive(
      dir('d/'),
      file('d/first', 'in-dir'),
      symlink('d', host),
      file('d/secret', 'through-link'),
      file('d/second', 'through-link'),
    ));
    assert.equal(await readFile(join(roots.dest, 'app', host, 'secret'), 'utf8'), 'through-link');
    assert.equal(await readFile(join(roots.dest, 'app', host, 'second'), 'utf8'), 'through-link');
    assert.equal(await readlink(join(roots.dest, 'app/d')), host);
  });

  it('refuses hardlinks to outside the destination or through a symlink out of it', async () => {
    await assert.rejects(add('a.tar', archive(hardlink('h', `${host}/secret`))), fileOperation(/hardlink/));
    await assert.rejects(add('b.tar', archive(hardlink('h', '../../host/secret'))), fileOperation(/hardlink|outside/));
    await assert.rejects(add('c.tar', archive(symlink('s', host), hardlink('h', 's/secret'))), fileOperation(/hardlink/));
  });

  it('a hardlink to a symlink links the symlink itself, never its target', async () => {
    await add('a.tar', archive(symlink('s', `${host}/secret`), hardlink('h', 's'), file('h', 'replaced')));
    assert.equal(await readlink(join(roots.dest, 'app/s')), `${host}/secret`);
    assert.ok((await lstat(join(roots.dest, 'app/h'))).isFile());
  });

  it('writes whiteout-named entries as plain files, as BuildKit (no deletion outside or inside)', async () => {
    await mkdir(join(roots.dest, 'app'), { recursive: true });
    await writeFile(join(roots.dest, 'app/keep'), 'k');
    await add('a.tar', archive(file('.wh.keep', ''), symlink('s', host), file('s/.wh.secret', '')));
    assert.equal(await readFile(join(roots.dest, 'app/keep'), 'utf8'), 'k');
    assert.ok((await lstat(join(roots.dest, 'app/.wh.keep'))).isFile());
    assert.ok((await lstat(join(roots.dest, 'app', host, '.wh.secret'))).isFile());
    await assert.rejects(add('b.tar', archive(file('../.wh.host', ''))), fileOperation(/outside of the destination/));
  });

  it('creates device nodes only as root, fifos always; setuid kept as in the archive, never added', async () => {
    await add('a.tar', archive(
      entry({ name: 'dev/mem', type: '3', devmajor: 1, devminor: 1 }),
      entry({ name: 'fifo', type: '6', mode: 0o600 }),
      dir('g/', { mode: 0o2775 }),
      file('g/implicit/f', 'x', { mode: 0o644 }),
      file('su', 'x', { mode: 0o4755 }),
    ));
    const mem = await lstat(join(roots.dest, 'app/dev/mem')).catch(() => null);
    if (isRoot) assert.ok(mem?.isCharacterDevice() === true && mem.rdev === 0x101);
    else assert.equal(mem, null);
    assert.ok((await lstat(join(roots.dest, 'app/fifo'))).isFIFO(), 'a fifo is created as in the archive');
    assert.equal((await lstat(join(roots.dest, 'app/fifo'))).mode & 0o7777, 0o600);
    assert.equal((await stat(join(roots.dest, 'app/g'))).mode & 0o7777, 0o2775);
    assert.equal((await stat(join(roots.dest, 'app/g/implicit'))).mode & 0o7777, 0o755);
    assert.equal((await stat(join(roots.dest, 'app/su'))).mode & 0o7777, 0o4755);
  });

  it('refuses names with NUL bytes or past PATH_MAX with FILE_OPERATION naming the archive', async () => {
    await assert.rejects(add('a.tar', archive(pax([['path', 'x\0y']]), file('x', 'y'))), fileOperation(/ADD \/a\.tar: .*NUL/));
    await assert.rejects(add('b.tar', archive(pax([['path', 'n'.repeat(300)]]), file('x', 'y'))), fileOperation(/ADD \/b\.tar: .*255/));
    await assert.rejects(add('c.tar', archive(pax([['linkpath', 'l'.repeat(5000)]]), symlink('x', 'y'))), fileOperation(/4096/));
  });

  it('refuses a stack of huge extended headers', async () => {
    const big = pax([['SCHILY.xattr.user.a', 'v'.repeat(900_000)]]);
    await assert.rejects(add('a.tar', archive(file('first', 'ok'), big, big, file('x', 'y'))), fileOperation(/ADD \/a\.tar: invalid tar archive: extended headers/));
  });

  it('refuses an archive whose header claims a body longer than the archive', async () => {
    await assert.rejects(add('a.tar', Buffer.concat([header({ name: 'x', size: 1 << 20 }), Buffer.alloc(512)])), fileOperation(/ADD \/a\.tar/));
  });
});

describe('ADD decompression bombs', () => {
  const signal = new AbortController().signal;

  it('refuses every compression inflating past the limit, naming the archive', async () => {
    const tar = archive(file('zeros', Buffer.alloc(4 << 20)));
    const variants: Record<string, Buffer> = {
      'plain.tar': tar,
      'a.tgz': gzipSync(tar),
      'a.tbz': compressWith('bzip2', tar),
      'a.txz': compressWith('xz', tar),
      'a.tzst': Buffer.from(zstd.compress(tar)),
    };
    for (const [name, data] of Object.entries(variants)) {
      await writeFile(join(roots.src, name), data);
      await mkdir(join(roots.dest, name));
      await assert.rejects(
        extractArchive(join(roots.src, name), join(roots.dest, name), { name: `/${name}`, signal, maxUncompressedBytes: 1 << 20 }),
        fileOperation(new RegExp(`ADD /${name.replace('.', '\\.')}: the .* archive inflates past 1 MiB`)),
      );
      // The same archive under a larger limit extracts.
      await extractArchive(join(roots.src, name), join(roots.dest, name), { name: `/${name}`, signal, maxUncompressedBytes: 8 << 20 });
      assert.equal((await stat(join(roots.dest, name, 'zeros'))).size, 4 << 20);
    }
  });

  it('refuses more entries than the limit', async () => {
    await writeFile(join(roots.src, 'many.tar'), archive(...Array.from({ length: 20 }, (_, i) => file(`f${i}`))));
    await assert.rejects(
      extractArchive(join(roots.src, 'many.tar'), roots.dest, { name: '/many.tar', signal, maxEntries: 10 }),
      fileOperation(/more than 10 entries/),
    );
  });

  it('streams a bzip2 bomb with bounded memory', async () => {
    // One stream holding the tar header of a 4.5 GB file, then 100 streams of 45 MB of zeros each
    // (~50 bytes apiece): concatenated bzip2 streams decompress to the concatenation.
    const block = 45_000_000;
    const first = compressWith('bzip2', Buffer.concat([header({ name: 'zeros', size: 100 * block, data: '' })]));
    const zeros = compressWith('bzip2', Buffer.alloc(block));
    const bomb = Buffer.concat([first, ...Array.from({ length: 100 }, () => zeros)]);
    assert.ok(bomb.length < 16_384);
    await writeFile(join(roots.src, 'bomb.tar.bz2'), bomb);
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const timer = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    try {
      await assert.rejects(
        extractArchive(join(roots.src, 'bomb.tar.bz2'), roots.dest, { name: '/bomb.tar.bz2', signal, maxUncompressedBytes: 200_000_000 }),
        fileOperation(/ADD \/bomb\.tar\.bz2: the bzip2 archive inflates past 190\.7 MiB/),
      );
    } finally {
      clearInterval(timer);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    assert.ok(peak - baseline < 150_000_000, `peak RSS grew by ${Math.round((peak - baseline) / 1e6)} MB`);
  });

  it('streams a zstd bomb with bounded memory', async () => {
    // Concatenated frames decompress to the concatenation: a 1.5 GB file body in ~6 KiB.
    const frame = Buffer.from(zstd.compress(Buffer.alloc(8 << 20)));
    const bomb = Buffer.concat([Buffer.from(zstd.compress(header({ name: 'zeros', size: 192 * (8 << 20), data: '' }))), ...Array.from({ length: 192 }, () => frame)]);
    assert.ok(bomb.length < 65_536);
    await writeFile(join(roots.src, 'bomb.tar.zst'), bomb);
    const growth = await peakRssGrowth(() => assert.rejects(
      extractArchive(join(roots.src, 'bomb.tar.zst'), roots.dest, { name: '/bomb.tar.zst', signal, maxUncompressedBytes: 200_000_000 }),
      fileOperation(/ADD \/bomb\.tar\.zst: the zstd archive inflates past 190\.7 MiB/),
    ));
    assert.ok(growth < 150_000_000, `peak RSS grew by ${Math.round(growth / 1e6)} MB`);
  });

  it('reports damaged and truncated bzip2 data as FILE_OPERATION', async () => {
    const good = compressWith('bzip2', archive(file('a', 'x'.repeat(100_000))));
    await writeFile(join(roots.src, 'cut.tbz'), good.subarray(0, good.length - 20));
    await assert.rejects(
      extractArchive(join(roots.src, 'cut.tbz'), roots.dest, { name: '/cut.tbz', signal }),
      fileOperation(/ADD \/cut\.tbz: cannot decompress the bzip2 archive/),
    );
    const flipped = Buffer.from(good);
    flipped[60] = (flipped[60] ?? 0) ^ 0x55;
    await writeFile(join(roots.src, 'bad.tbz'), flipped);
    await assert.rejects(
      extractArchive(join(roots.src, 'bad.tbz'), roots.dest, { name: '/bad.tbz', signal }),
      fileOperation(/ADD \/bad\.tbz: cannot decompress the bzip2 archive/),
    );
  });
});

describe('paths past the kernel limits', () => {
  it('a destination past PATH_MAX is a FILE_OPERATION error with the fix, not an internal error', async () => {
    const deep = `/${'d'.repeat(200)}`.repeat(25);
    await assert.rejects(run(roots, [{ action: 'mkdir', path: deep, mode: 0o755, parents: true }]), (error: unknown) => {
      assert.ok(isStagecraftError(error), String(error));
      assert.equal(error.code, 'FILE_OPERATION');
      assert.match(error.hint ?? '', /PATH_MAX/);
      return true;
    });
  });
});
