import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { catalogFilesystem, directoryScanFs, type SbomResult } from '../../src/attest/index.js';
import { apkCataloger, apkLicenses } from '../../src/attest/sbom/catalogers/apk.js';

async function put(root: string, path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

// Shaped like alpine:3.20's /lib/apk/db/installed (files abridged).
const INSTALLED = `C:Q1xbnvSxbhURwt7sd2bGtX/Z5ksTs=
P:musl
V:1.2.5-r0
A:x86_64
S:411540
I:643072
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1711461330
c:2e7a3d6b4a6c0a1f0b5e3c4d2f1a0b9c8d7e6f5a
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1GQgsbfa0B8sWFwmeB8aGUNVQ5gQ=
R:libc.musl-x86_64.so.1
a:0:0:777

C:Q1Xv4jRdzJ1w8Xe3mtZUNZvZgY3bs=
P:libcrypto3
V:3.3.1-r0
A:x86_64
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
F:usr/lib
R:libcrypto.so.3

P:busybox
V:1.36.1-r29
A:x86_64
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox

P:old-style
V:1.0-r0
A:x86_64
L:MIT BSD GPL-2.0-or-later
`;

describe('apk-db cataloger', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'apk-')); });
  after(() => rm(dir, { recursive: true, force: true }));

  async function scan(root: string): Promise<{ result: SbomResult; warnings: string[] }> {
    const warnings: string[] = [];
    const result = await catalogFilesystem(directoryScanFs(root), { warn: (m) => warnings.push(m), signal: AbortSignal.timeout(30_000), catalogers: [apkCataloger] });
    return { result, warnings };
  }

  it('reads every package of lib/apk/db/installed with origin, licence, maintainer, url, description', async () => {
    const root = join(dir, 'alpine');
    await put(root, 'etc/os-release', 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.1\n');
    await put(root, 'lib/apk/db/installed', INSTALLED);
    const { result, warnings } = await scan(root);
    assert.deepEqual(warnings, []);
    assert.deepEqual(result.packages.map((p) => p.purl), [
      'pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.1',
      'pkg:apk/alpine/libcrypto3@3.3.1-r0?arch=x86_64&distro=alpine-3.20.1&upstream=openssl',
      'pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.1',
      'pkg:apk/alpine/old-style@1.0-r0?arch=x86_64&distro=alpine-3.20.1',
    ]);
    assert.deepEqual(result.packages[2], {
      name: 'musl', version: '1.2.5-r0', type: 'apk', purl: 'pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.1',
      licenses: ['MIT'], foundBy: 'apk-db', locations: [{ path: '/lib/apk/db/installed' }], arch: 'x86_64',
      source: { name: 'musl', version: '1.2.5-r0' }, supplier: 'Timo Teräs <timo.teras@iki.fi>',
      description: 'the musl c library (libc) implementation', homepage: 'https://musl.libc.org/',
    });
    assert.deepEqual(result.packages[1]?.source, { name: 'openssl', version: '3.3.1-r0' });
    assert.deepEqual(result.packages[3]?.licenses, ['MIT', 'BSD', 'GPL-2.0-or-later']);
  });

  it('splits old space-separated licence lists, keeps SPDX expressions whole', () => {
    assert.deepEqual(apkLicenses('MIT AND BSD-2-Clause'), ['MIT AND BSD-2-Clause']);
    assert.deepEqual(apkLicenses('GPL-2.0-or-later WITH Linux-syscall-note'), ['GPL-2.0-or-later WITH Linux-syscall-note']);
    assert.deepEqual(apkLicenses('MIT  BSD MIT'), ['MIT', 'BSD']);
    assert.deepEqual(apkLicenses(' '), []);
  });

  it('warns with the path on a corrupt or binary database and keeps the good entries', async () => {
    const root = join(dir, 'corrupt');
    const musl = INSTALLED.slice(0, INSTALLED.indexOf('\n\n'));
    // A truncated database: the last entry is cut off before its V: line.
    await put(root, 'lib/apk/db/installed', `${musl}\nthis is not a field\n\nV:2.0\nA:x86_64\n\nP:trunc`);
    const { result, warnings } = await scan(root);
    assert.deepEqual(result.packages.map((p) => p.name), ['musl']);
    assert.deepEqual(result.packages[0]?.purl, 'pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64');
    assert.deepEqual(warnings, ['/lib/apk/db/installed: corrupt apk database (1 malformed line(s), 2 entries without a valid P/V); read 1 package(s)']);
    await put(root, 'lib/apk/db/installed', Buffer.from([0x50, 0x3a, 0x00, 0xff, 0xfe]));
    const binary = await scan(root);
    assert.deepEqual(binary.result.packages, []);
    assert.match(binary.warnings[0] ?? '', /^\/lib\/apk\/db\/installed: binary data/);
  });
});
