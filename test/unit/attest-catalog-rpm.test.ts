import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { catalogFilesystem, directoryScanFs, type SbomResult } from '../../src/attest/index.js';
import { RpmHeaderError, parseRpmHeader } from '../../src/attest/sbom/catalogers/rpm-header.js';
import { RpmStoreError, bdbHashValues, ndbBlobs } from '../../src/attest/sbom/catalogers/rpm-stores.js';
import { parseSourceRpm, rpmCataloger } from '../../src/attest/sbom/catalogers/rpm.js';
import { TAG, bdbHashFile, ndbFile, rpmHeader } from '../helpers/rpm-fixture.js';

const BASH = rpmHeader({
  [TAG.NAME]: 'bash', [TAG.VERSION]: '5.1.8', [TAG.RELEASE]: '6.el9', [TAG.SUMMARY]: 'The GNU Bourne Again shell',
  [TAG.VENDOR]: 'Red Hat, Inc.', [TAG.LICENSE]: 'GPLv3+', [TAG.URL]: 'https://www.gnu.org/software/bash',
  [TAG.ARCH]: 'x86_64', [TAG.SOURCERPM]: 'bash-5.1.8-6.el9.src.rpm',
});
const SHADOW = rpmHeader({
  [TAG.NAME]: 'shadow-utils', [TAG.VERSION]: '4.9', [TAG.RELEASE]: '6.el9', [TAG.EPOCH]: 2,
  [TAG.LICENSE]: 'BSD and GPLv2+', [TAG.ARCH]: 'x86_64', [TAG.SOURCERPM]: 'shadow-utils-4.9-6.el9.src.rpm',
});
const PUBKEY = rpmHeader({ [TAG.NAME]: 'gpg-pubkey', [TAG.VERSION]: 'fd431d51', [TAG.RELEASE]: '4ae0493b' });
// A big header: spans several overflow pages in the bdb file.
const BIG = rpmHeader({ [TAG.NAME]: 'big', [TAG.VERSION]: '1', [TAG.RELEASE]: '1', [TAG.ARCH]: 'noarch', [TAG.SUMMARY]: 'x'.repeat(10_000) });

async function put(root: string, path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

function makeSqlite(path: string, blobs: readonly Buffer[], wal = false): void {
  const db = new Database(path);
  try {
    if (wal) db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO Packages (blob) VALUES (?)');
    for (const blob of blobs) insert.run(blob);
  } finally {
    db.close();
  }
}

describe('rpm-db cataloger', () => {
  let dir: string;
  let scratch: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rpmdb-'));
    scratch = join(dir, 'scratch');
    await mkdir(scratch);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function scan(root: string): Promise<{ result: SbomResult; warnings: string[] }> {
    const warnings: string[] = [];
    const result = await catalogFilesystem(directoryScanFs(root), { warn: (m) => warnings.push(m), signal: AbortSignal.timeout(30_000), catalogers: [rpmCataloger], tmpDir: scratch });
    return { result, warnings };
  }

  async function rootWith(name: string, path: string, content: Buffer): Promise<string> {
    const root = join(dir, name);
    await put(root, 'etc/os-release', 'ID="rhel"\nVERSION_ID="9.4"\n');
    await put(root, path, content);
    return root;
  }

  const EXPECTED = [
    ['bash', '5.1.8-6.el9', 'pkg:rpm/rhel/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.4&upstream=bash-5.1.8-6.el9.src.rpm'],
    ['shadow-utils', '2:4.9-6.el9', 'pkg:rpm/rhel/shadow-utils@4.9-6.el9?arch=x86_64&distro=rhel-9.4&epoch=2&upstream=shadow-utils-4.9-6.el9.src.rpm'],
  ];

  it('reads rpmdb.sqlite from a private copy: name, epoch:version-release, arch, licence, source rpm, vendor', async () => {
    const root = join(dir, 'sqlite');
    await put(root, 'etc/os-release', 'ID="rhel"\nVERSION_ID="9.4"\n');
    await mkdir(join(root, 'usr/lib/sysimage/rpm'), { recursive: true });
    makeSqlite(join(root, 'usr/lib/sysimage/rpm/rpmdb.sqlite'), [BASH, PUBKEY, SHADOW]);
    const before = await readdir(join(root, 'usr/lib/sysimage/rpm'));
    const { result, warnings } = await scan(root);
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.packages.map((p) => [p.name, p.version, p.purl]), EXPECTED);
    const bash = result.packages[0];
    assert.deepEqual(bash, {
      name: 'bash', version: '5.1.8-6.el9', type: 'rpm', purl: EXPECTED[0]?.[2], licenses: ['GPLv3+'], foundBy: 'rpm-db',
      locations: [{ path: '/usr/lib/sysimage/rpm/rpmdb.sqlite' }], arch: 'x86_64', source: { name: 'bash', version: '5.1.8-6.el9' },
      supplier: 'Red Hat, Inc.', description: 'The GNU Bourne Again shell', homepage: 'https://www.gnu.org/software/bash',
    });
    assert.deepEqual(result.packages[1]?.licenses, ['BSD and GPLv2+']);
    // The image's directory is untouched (no -journal, -shm or -wal made beside it) and the copy is gone.
    assert.deepEqual(await readdir(join(root, 'usr/lib/sysimage/rpm')), before);
    assert.deepEqual(await readdir(scratch), []);
  });

  it('reads a WAL-mode rpmdb.sqlite, with and without its -wal file', async () => {
    const root = join(dir, 'wal');
    await mkdir(join(root, 'var/lib/rpm'), { recursive: true });
    await put(root, 'etc/os-release', 'ID=rhel\nVERSION_ID=9.4\n');
    makeSqlite(join(root, 'var/lib/rpm/rpmdb.sqlite'), [BASH, SHADOW], true);
    let { result, warnings } = await scan(root);
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.packages.map((p) => p.name), ['bash', 'shadow-utils']);
    // Rows still in the WAL (not checkpointed) are read too.
    const writer = new Database(join(root, 'var/lib/rpm/rpmdb.sqlite'));
    writer.pragma('wal_autocheckpoint = 0');
    writer.prepare('INSERT INTO Packages (blob) VALUES (?)').run(BIG);
    ({ result, warnings } = await scan(root));
    writer.close();
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.packages.map((p) => p.name), ['bash', 'big', 'shadow-utils']);
  });

  for (const littleEndian of [true, false]) {
    it(`reads a Berkeley DB hash Packages (${littleEndian ? 'little' : 'big'}-endian), headers across overflow pages`, async () => {
      const root = await rootWith(`bdb-${littleEndian}`, 'var/lib/rpm/Packages', bdbHashFile([BASH, BIG, PUBKEY, SHADOW], { littleEndian, pageSize: 1024 }));
      const { result, warnings } = await scan(root);
      assert.deepEqual(warnings, []);
      assert.deepEqual(result.packages.map((p) => p.name), ['bash', 'big', 'shadow-utils']);
      assert.equal(result.packages[1]?.description?.length, 10_000);
      assert.deepEqual(result.packages.filter((p) => p.name !== 'big').map((p) => [p.name, p.version, p.purl]), EXPECTED);
      assert.deepEqual(result.packages[0]?.locations, [{ path: '/var/lib/rpm/Packages' }]);
    });
  }

  it('reads an ndb Packages.db', async () => {
    const root = await rootWith('ndb', 'usr/lib/sysimage/rpm/Packages.db', ndbFile([SHADOW, BASH, BIG]));
    const { result, warnings } = await scan(root);
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.packages.map((p) => p.name), ['bash', 'big', 'shadow-utils']);
    assert.equal(result.packages[0]?.locations[0]?.path, '/usr/lib/sysimage/rpm/Packages.db');
  });

  it('warns with the path for garbage in each backend and never throws', async () => {
    const garbage = Buffer.from('this is not a database at all, just text'.repeat(200));
    for (const path of ['var/lib/rpm/rpmdb.sqlite', 'var/lib/rpm/Packages', 'var/lib/rpm/Packages.db']) {
      const root = await rootWith(`garbage-${path.replace(/\W/g, '_')}`, path, garbage);
      const { result, warnings } = await scan(root);
      assert.deepEqual(result.packages, []);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0] ?? '', new RegExp(`^/${path.replace(/\./g, '\\.')}: unreadable rpm (sqlite|bdb|ndb) database`));
    }
    // A sqlite file whose Packages rows hold broken headers: one warning, the good rows are read.
    const root = join(dir, 'badrows');
    await mkdir(join(root, 'var/lib/rpm'), { recursive: true });
    makeSqlite(join(root, 'var/lib/rpm/rpmdb.sqlite'), [BASH, BASH.subarray(0, 40), Buffer.alloc(64, 0xff)]);
    const { result, warnings } = await scan(root);
    assert.deepEqual(result.packages.map((p) => p.name), ['bash']);
    assert.deepEqual(warnings, ['/var/lib/rpm/rpmdb.sqlite: 2 unreadable rpm header(s) in the sqlite database; read 1 package(s)']);
  });

  it('parses source rpm names', () => {
    assert.deepEqual(parseSourceRpm('util-linux-2.32.1-42.el8_8.src.rpm'), { name: 'util-linux', version: '2.32.1-42.el8_8' });
    assert.deepEqual(parseSourceRpm('foo-1-2.nosrc.rpm'), { name: 'foo', version: '1-2' });
    assert.equal(parseSourceRpm('weird.rpm'), undefined);
  });
});

describe('rpm header and stores on hostile input', () => {
  it('rejects out-of-range counts, offsets and unterminated strings', () => {
    const blob = Buffer.from(BASH);
    assert.equal(parseRpmHeader(blob).name, 'bash');
    const hugeIl = Buffer.from(blob);
    hugeIl.writeUInt32BE(0x7fffffff, 0);
    assert.throws(() => parseRpmHeader(hugeIl), RpmHeaderError);
    const hugeDl = Buffer.from(blob);
    hugeDl.writeUInt32BE(blob.readUInt32BE(4) + 1, 4);
    assert.throws(() => parseRpmHeader(hugeDl), /claims/);
    const badOffset = Buffer.from(blob);
    badOffset.writeUInt32BE(0xfffffff0, 8 + 16 + 8); // the NAME entry's offset
    assert.throws(() => parseRpmHeader(badOffset), /outside/);
    // Chop the data store's trailing NUL: the last string has no terminator.
    const cut = Buffer.from(blob.subarray(0, blob.length - 1));
    cut.writeUInt32BE(blob.readUInt32BE(4) - 1, 4);
    assert.throws(() => parseRpmHeader(cut), /terminator/);
  });

  it('never throws anything but its own errors on mutated headers and stores (fuzz)', () => {
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const mutate = (source: Buffer): Buffer => {
      const copy = Buffer.from(source);
      for (let k = 0; k < 1 + random(8); k++) copy[random(copy.length)] = random(256);
      return random(4) === 0 ? copy.subarray(0, random(copy.length)) : copy;
    };
    const bdb = bdbHashFile([BASH, BIG, SHADOW], { pageSize: 512 });
    const ndb = ndbFile([BASH, SHADOW]);
    for (let i = 0; i < 3000; i++) {
      try { parseRpmHeader(mutate(BASH)); } catch (error) { assert.ok(error instanceof RpmHeaderError, String(error)); }
      try { bdbHashValues(mutate(bdb)); } catch (error) { assert.ok(error instanceof RpmStoreError, String(error)); }
      try { ndbBlobs(mutate(ndb)); } catch (error) { assert.ok(error instanceof RpmStoreError, String(error)); }
    }
  });

  it('stops at an overflow chain that loops or leaves the file', () => {
    const bdb = bdbHashFile([BIG], { pageSize: 512 });
    // Page 2 is the first overflow page of BIG: point its next at itself.
    const loop = Buffer.from(bdb);
    loop.writeUInt32LE(2, 2 * 512 + 16);
    assert.deepEqual(bdbHashValues(loop), { blobs: [], skipped: 1 });
    const away = Buffer.from(bdb);
    away.writeUInt32LE(99_999, 2 * 512 + 16);
    assert.deepEqual(bdbHashValues(away), { blobs: [], skipped: 1 });
  });
});

/**
 * A database written by the real rpm (Debian's `rpm` package: rpmbuild + rpm --justdb; its only
 * backend is sqlite). Skipped where rpm is not installed.
 */
describe('rpm-db on a database written by rpm itself', () => {
  const haveRpm = existsSync('/usr/bin/rpm') && existsSync('/usr/bin/rpmbuild');
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'rpm-real-')); });
  after(() => rm(dir, { recursive: true, force: true }));

  it('lists what rpm -qa lists, with the same epoch:version-release, arch and source rpm', { skip: !haveRpm && 'rpm/rpmbuild are not installed' }, async () => {
    const specs = [
      { name: 'hello-stagecraft', extra: 'Epoch: 3\nBuildArch: noarch\nLicense: MIT and (GPL-2.0-or-later)\nURL: https://example.test/hello' },
      { name: 'other-stagecraft', extra: 'License: Apache-2.0' },
    ];
    const top = join(dir, 'top');
    const dbpath = join(dir, 'root/var/lib/rpm');
    await mkdir(dbpath, { recursive: true });
    const rpmOptions = ['--define', `_topdir ${top}`, '--define', `_dbpath ${dbpath}`, '--define', '_db_backend sqlite'];
    for (const spec of specs) {
      const file = join(dir, `${spec.name}.spec`);
      await writeFile(file, `Name: ${spec.name}\nVersion: 1.2.3\nRelease: 4.test\nSummary: test ${spec.name}\nVendor: Stagecraft Tests\n${spec.extra}\n%description\nTest.\n%install\nmkdir -p %{buildroot}/usr/share/${spec.name}\necho hi > %{buildroot}/usr/share/${spec.name}/hi\n%files\n/usr/share/${spec.name}/hi\n`);
      execFileSync('rpmbuild', [...rpmOptions, '--quiet', '-bb', file], { stdio: 'pipe' });
    }
    const built = execFileSync('find', [top, '-name', '*.rpm'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    assert.equal(built.length, 2);
    execFileSync('rpm', [...rpmOptions, '-i', '--justdb', '--nodeps', '--noscripts', '--ignorearch', '--ignoreos', ...built], { stdio: 'pipe' });
    const want = execFileSync('rpm', [...rpmOptions, '-qa', '--qf', '%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} %{SOURCERPM} %{LICENSE}\\n'], { encoding: 'utf8' })
      .split('\n').filter(Boolean).sort();
    assert.equal(want.length, 2);
    const warnings: string[] = [];
    const result = await catalogFilesystem(directoryScanFs(join(dir, 'root')), { warn: (m) => warnings.push(m), signal: AbortSignal.timeout(30_000), catalogers: [rpmCataloger], tmpDir: dir });
    assert.deepEqual(warnings, []);
    const got = result.packages.map((p) => `${p.name} ${p.version} ${p.arch ?? ''} ${p.source === undefined ? '' : `${p.source.name}-${p.source.version ?? ''}.src.rpm`} ${p.licenses.join()}`).sort();
    assert.deepEqual(got, want);
    assert.ok(got.some((line) => line.startsWith('hello-stagecraft 3:1.2.3-4.test noarch')), got.join('\n'));
  });
});
