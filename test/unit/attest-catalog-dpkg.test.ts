import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { catalogFilesystem, directoryScanFs, type SbomResult } from '../../src/attest/index.js';
import { dpkgCataloger } from '../../src/attest/sbom/catalogers/dpkg.js';
import { copyrightLicenses, parseSource } from '../../src/attest/sbom/catalogers/dpkg.js';

async function put(root: string, path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

async function scan(root: string): Promise<{ result: SbomResult; warnings: string[] }> {
  const warnings: string[] = [];
  const result = await catalogFilesystem(directoryScanFs(root), { warn: (m) => warnings.push(m), signal: AbortSignal.timeout(60_000), catalogers: [dpkgCataloger] });
  return { result, warnings };
}

const STATUS = `Package: libgcc-s1
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 140
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)
Description: GCC support library
 Shared version of the support library, a library of internal subroutines
 that GCC uses to overcome shortcomings of particular machines.
Homepage: http://gcc.gnu.org/

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: half-gone
Status: install ok half-installed
Architecture: amd64
Version: 2.0-1

Package: held
Status: hold ok installed
Architecture: all
Version: 3.0
Description: held package

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
Source: tzdata
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: time zone and daylight-saving time data
`;

const DEP5 = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: gcc

Files: *
Copyright: 1986-2022 Free Software Foundation, Inc.
License: GPL-3+ with GCC-exception-3.1

Files: libiberty/*
Copyright: FSF
License: LGPL-2.1+

Files: zlib/*
License: Zlib
 This software is provided 'as-is', without any express or implied warranty.
`;

const NOT_DEP5 = `This is the Debian prepackaged version of tzdata.

Copyright: public domain, see /usr/share/common-licenses/GPL-2 for other parts.
On Debian systems the complete text of the Apache License 2.0 is in
/usr/share/common-licenses/Apache-2.0.
`;

describe('dpkg-db cataloger', () => {
  let dir: string;
  let root: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dpkg-'));
    root = join(dir, 'root');
    await put(root, 'etc/os-release', 'ID=debian\nVERSION_ID="12"\n');
    await put(root, 'var/lib/dpkg/status', STATUS);
    await put(root, 'var/lib/dpkg/info/libgcc-s1:amd64.list', '/usr/lib/x86_64-linux-gnu/libgcc_s.so.1\n');
    await put(root, 'var/lib/dpkg/info/libgcc-s1:amd64.md5sums', 'abc  usr/lib/x86_64-linux-gnu/libgcc_s.so.1\n');
    await put(root, 'var/lib/dpkg/info/tzdata.list', '/usr/share/zoneinfo\n');
    await put(root, 'usr/share/doc/gcc-12-base/copyright', DEP5);
    await symlink('gcc-12-base', join(root, 'usr/share/doc/libgcc-s1'));
    await put(root, 'usr/share/doc/tzdata/copyright', NOT_DEP5);
    await put(root, 'usr/share/doc/held/copyright', 'All rights reserved by the author. No licence name here.\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads installed packages with source, version, arch, supplier, homepage, description and licences', async () => {
    const { result, warnings } = await scan(root);
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.packages.map((p) => p.name), ['held', 'libgcc-s1', 'tzdata']);
    const gcc = result.packages.find((p) => p.name === 'libgcc-s1');
    assert.deepEqual(gcc, {
      name: 'libgcc-s1',
      version: '12.2.0-14',
      type: 'deb',
      purl: 'pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=debian-12&upstream=gcc-12%4012.2.0-14',
      licenses: ['GPL-3.0-or-later WITH GCC-exception-3.1', 'LGPL-2.1-or-later', 'Zlib'],
      foundBy: 'dpkg-db',
      locations: [
        { path: '/var/lib/dpkg/status' },
        { path: '/var/lib/dpkg/info/libgcc-s1:amd64.list' },
        { path: '/var/lib/dpkg/info/libgcc-s1:amd64.md5sums' },
        { path: '/usr/share/doc/libgcc-s1/copyright' },
      ],
      arch: 'amd64',
      source: { name: 'gcc-12', version: '12.2.0-14' },
      supplier: 'Debian GCC Maintainers <debian-gcc@lists.debian.org>',
      description: 'GCC support library',
      homepage: 'http://gcc.gnu.org/',
    });
    const tz = result.packages.find((p) => p.name === 'tzdata');
    assert.equal(tz?.purl, 'pkg:deb/debian/tzdata@2024a-0+deb12u1?arch=all&distro=debian-12&upstream=tzdata');
    assert.deepEqual(tz?.licenses, ['Apache-2.0', 'GPL-2.0-only']);
    assert.deepEqual(tz?.source, { name: 'tzdata', version: '2024a-0+deb12u1' });
    assert.deepEqual(tz?.locations.map((l) => l.path), ['/var/lib/dpkg/status', '/var/lib/dpkg/info/tzdata.list', '/usr/share/doc/tzdata/copyright']);
    const held = result.packages.find((p) => p.name === 'held');
    assert.deepEqual(held?.licenses, []);
    assert.equal(held?.source, undefined);
    assert.equal(held?.purl, 'pkg:deb/debian/held@3.0?arch=all&distro=debian-12');
  });

  it('reads distroless status.d entries (no Status field) with their md5sums, skipping the .md5sums files as databases', async () => {
    const sub = join(dir, 'distroless');
    await put(sub, 'etc/os-release', 'ID=debian\nVERSION_ID="12"\n');
    await put(sub, 'var/lib/dpkg/status.d/base', 'Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n');
    await put(sub, 'var/lib/dpkg/status.d/base.md5sums', 'abc  etc/debian_version\n');
    await put(sub, 'var/lib/dpkg/status.d/libssl3', 'Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n');
    const { result, warnings } = await scan(sub);
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.packages.map((p) => [p.name, p.version, p.locations.map((l) => l.path)]), [
      ['base-files', '12.4+deb12u5', ['/var/lib/dpkg/status.d/base', '/var/lib/dpkg/status.d/base.md5sums']],
      ['libssl3', '3.0.11-1~deb12u2', ['/var/lib/dpkg/status.d/libssl3']],
    ]);
  });

  it('does not read a status.d entry that is a symlink to a host file outside the root', async () => {
    const sub = join(dir, 'hostile');
    const hostFile = join(dir, 'host-status');
    await writeFile(hostFile, 'Package: host-only-package\nVersion: 6.6.6\nArchitecture: amd64\n');
    await mkdir(join(sub, 'var/lib/dpkg/status.d'), { recursive: true });
    await symlink(hostFile, join(sub, 'var/lib/dpkg/status.d/evil'));
    await symlink(`../../../../../../../..${hostFile}`, join(sub, 'var/lib/dpkg/status.d/evil2'));
    await symlink(hostFile, join(sub, 'var/lib/dpkg/status'));
    const { result } = await scan(sub);
    assert.deepEqual(result.packages, []);
    // The same file inside the root is read: the symlink was the only reason it was not.
    await put(sub, hostFile, 'Package: inside-package\nVersion: 1\nArchitecture: amd64\n');
    const again = await scan(sub);
    assert.deepEqual(again.result.packages.map((p) => p.name), ['inside-package']);
  });

  it('warns with the path on a corrupt, truncated or binary status file and never throws', async () => {
    const sub = join(dir, 'corrupt');
    await put(sub, 'var/lib/dpkg/status', `${STATUS.slice(0, 420)}\n\x01\x02garbage line without colon\n: no name\n\nPackage: nover\nStatus: install ok installed\n`);
    await put(sub, 'var/lib/dpkg/status.d/bin', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]));
    const { result, warnings } = await scan(sub);
    assert.deepEqual(result.packages.map((p) => p.name), ['libgcc-s1']);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0] ?? '', /^\/var\/lib\/dpkg\/status: corrupt dpkg status \(2 malformed line\(s\), 1 entry without a valid Package\/Version\); read 1 package/);
    assert.match(warnings[1] ?? '', /^\/var\/lib\/dpkg\/status.d\/bin: binary data/);
  });

  it('parses Source with and without a version, and copyright licences', () => {
    assert.deepEqual(parseSource('gcc-12 (12.2.0-14)'), { name: 'gcc-12', version: '12.2.0-14' });
    assert.deepEqual(parseSource('glibc'), { name: 'glibc', version: undefined });
    assert.deepEqual(copyrightLicenses('License: GPL-2+ or Artistic\nLicense: BSD-3-clause and MIT\nLicense: custom-thing\n'),
      ['BSD-3-Clause AND MIT', 'GPL-2.0-or-later OR Artistic-1.0-Perl', 'custom-thing']);
    assert.deepEqual(copyrightLicenses('See /usr/share/common-licenses/LGPL-2.1.\n'), ['LGPL-2.1-only']);
    assert.deepEqual(copyrightLicenses('License: GPL-2 with Linux-syscall-note exception\nLicense: GPL-3+ with Bison exception\n'),
      ['GPL-2.0-only WITH Linux-syscall-note', 'GPL-3+ with Bison exception']);
  });

  it('is deterministic: the same input gives identical output', async () => {
    const a = await scan(root);
    const b = await scan(root);
    assert.equal(JSON.stringify(b), JSON.stringify(a));
  });
});

/**
 * A real Debian root: the bookworm rootfs make-base-images.sh builds with debootstrap when it is on
 * this machine, else this machine's own dpkg database (Debian 12). dpkg-query reads the same database.
 */
describe('dpkg-db on a real Debian database', () => {
  const bases = '/var/tmp/stagecraft-bases/debian-slim';
  const haveDpkg = existsSync('/usr/bin/dpkg-query') && existsSync('/var/lib/dpkg/status');
  let dir: string;
  let root: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dpkg-real-'));
    if (existsSync(join(bases, 'var/lib/dpkg/status'))) {
      root = bases;
    } else {
      root = join(dir, 'root');
      await mkdir(join(root, 'var/lib/dpkg'), { recursive: true });
      await copyFile('/var/lib/dpkg/status', join(root, 'var/lib/dpkg/status'));
      await mkdir(join(root, 'etc'));
      await copyFile('/etc/os-release', join(root, 'etc/os-release'));
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('finds every installed package dpkg-query lists, with the same version', { skip: !haveDpkg && 'dpkg-query is not installed' }, async () => {
    const out = execFileSync('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f', '${db:Status-Status} ${Package} ${Architecture} ${Version}\n'], { encoding: 'utf8' });
    const want = out.split('\n').filter((l) => l.startsWith('installed ')).map((l) => l.split(' ').slice(1).join(' ')).sort();
    assert.ok(want.length > 50, `dpkg-query listed ${want.length} installed packages`);
    const { result, warnings } = await scan(root);
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.distro?.id, 'debian');
    const got = result.packages.map((p) => `${p.name} ${p.arch ?? ''} ${p.version}`).sort();
    assert.deepEqual(got, want);
    if (root === bases) {
      // debootstrap keeps /usr/share/doc: most packages carry a licence from their copyright file.
      const licensed = result.packages.filter((p) => p.licenses.length > 0).length;
      assert.ok(licensed / result.packages.length > 0.8, `${licensed} of ${result.packages.length} have licences`);
    }
  });
});
