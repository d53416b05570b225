import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CATALOGERS, catalogFilesystem, directoryScanFs, parseOsRelease, purl, type Cataloger, type SbomPackage } from '../../src/attest/index.js';
import { parseDigest } from '../../src/core/index.js';
import { TAG, ndbFile, rpmHeader } from '../helpers/rpm-fixture.js';

async function put(root: string, path: string, content: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content);
}

function pkg(name: string, path: string, extra: Partial<SbomPackage> = {}): SbomPackage {
  return { name, version: '1.0', type: 'npm', purl: purl('npm', undefined, name, '1.0'), licenses: [], foundBy: 'test', locations: [{ path }], ...extra };
}

const STATUS = `Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
`;

describe('catalogFilesystem', () => {
  let dir: string;
  let root: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalog-'));
    root = join(dir, 'root');
    await put(root, 'usr/lib/os-release', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
    await put(root, 'var/lib/dpkg/status', STATUS);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads the distro from os-release (quotes removed) and runs every cataloger', async () => {
    const result = await catalogFilesystem(directoryScanFs(root), { warn: () => {}, signal: AbortSignal.timeout(30_000) });
    assert.deepEqual(result.distro, { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    assert.deepEqual(result.catalogers, CATALOGERS.map((c) => c.name));
    assert.ok(result.catalogers.includes('dpkg-db'));
    // Sorted by purl, not in status-file order.
    assert.deepEqual(result.packages.map((p) => p.purl), [
      'pkg:deb/debian/bash@5.2.15-2+b2?arch=amd64&distro=debian-12',
      'pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib',
    ]);
  });

  it('runs the dpkg, apk and rpm catalogers by default over one root', async () => {
    const mixed = join(dir, 'mixed');
    await put(mixed, 'var/lib/dpkg/status', STATUS);
    await put(mixed, 'lib/apk/db/installed', 'P:musl\nV:1.2.5-r0\nA:x86_64\n');
    await mkdir(join(mixed, 'var/lib/rpm'), { recursive: true });
    await writeFile(join(mixed, 'var/lib/rpm/Packages.db'), ndbFile([rpmHeader({ [TAG.NAME]: 'bash', [TAG.VERSION]: '4.4', [TAG.RELEASE]: '1', [TAG.ARCH]: 'x86_64' })]));
    const warnings: string[] = [];
    const result = await catalogFilesystem(directoryScanFs(mixed), { warn: (m) => warnings.push(m), signal: AbortSignal.timeout(30_000) });
    assert.deepEqual(warnings, []);
    assert.equal(result.distro, undefined);
    assert.deepEqual(result.packages.map((p) => `${p.foundBy} ${p.purl}`), [
      'apk-db pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64',
      'dpkg-db pkg:deb/debian/bash@5.2.15-2+b2?arch=amd64',
      'dpkg-db pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&upstream=zlib',
      'rpm-db pkg:rpm/bash@4.4-1?arch=x86_64',
    ]);
  });

  it('parses os-release quoting and prefers /etc/os-release', async () => {
    assert.deepEqual(parseOsRelease('ID=alpine\nVERSION_ID=3.20.1\nPRETTY_NAME="Alpine Linux v3.20"\n'), { id: 'alpine', versionId: '3.20.1', prettyName: 'Alpine Linux v3.20' });
    assert.equal(parseOsRelease('NAME=x\n'), undefined);
    await put(root, 'etc/os-release', "ID='ubuntu'\nVERSION_ID=\"24.04\"\n");
    try {
      const result = await catalogFilesystem(directoryScanFs(root), { warn: () => {}, signal: AbortSignal.timeout(30_000), catalogers: [] });
      assert.deepEqual(result.distro, { id: 'ubuntu', versionId: '24.04', prettyName: undefined });
    } finally {
      await rm(join(root, 'etc'), { recursive: true });
    }
  });

  it('merges the same purl found twice (locations joined) and sorts deterministically', async () => {
    const one: Cataloger = { name: 'one', catalog: () => Promise.resolve([pkg('b', '/b1'), pkg('a', '/a1', { licenses: [] })]) };
    const two: Cataloger = { name: 'two', catalog: () => Promise.resolve([pkg('a', '/a2', { licenses: ['MIT'] }), pkg('a', '/a1')]) };
    const result = await catalogFilesystem(directoryScanFs(root), { warn: () => {}, signal: AbortSignal.timeout(30_000), catalogers: [one, two] });
    assert.deepEqual(result.packages.map((p) => [p.name, p.locations.map((l) => l.path), p.licenses]), [
      ['a', ['/a1', '/a2'], ['MIT']],
      ['b', ['/b1'], []],
    ]);
    const again = await catalogFilesystem(directoryScanFs(root), { warn: () => {}, signal: AbortSignal.timeout(30_000), catalogers: [two, one] });
    assert.deepEqual(again.packages.map((p) => p.purl), result.packages.map((p) => p.purl));
  });

  it('reports a cataloger that throws by name, and the others still run', async () => {
    const bad: Cataloger = { name: 'broken', catalog: () => Promise.reject(new Error('boom')) };
    const good: Cataloger = { name: 'fine', catalog: () => Promise.resolve([pkg('x', '/x')]) };
    const warnings: string[] = [];
    const result = await catalogFilesystem(directoryScanFs(root), { warn: (m) => warnings.push(m), signal: AbortSignal.timeout(30_000), catalogers: [bad, good] });
    assert.deepEqual(result.packages.map((p) => p.name), ['x']);
    assert.deepEqual(warnings, ['cataloger broken failed: boom']);
    assert.deepEqual(result.catalogers, ['broken', 'fine']);
  });

  it('fills each location\'s layer from layerOf', async () => {
    const lower = parseDigest(`sha256:${'1'.repeat(64)}`);
    const upper = parseDigest(`sha256:${'2'.repeat(64)}`);
    const asked: string[] = [];
    const result = await catalogFilesystem(directoryScanFs(root), {
      warn: () => {},
      signal: AbortSignal.timeout(30_000),
      layerOf: (path) => { asked.push(path); return Promise.resolve(path === '/var/lib/dpkg/status' ? upper : lower); },
    });
    for (const p of result.packages) assert.deepEqual(p.locations[0], { path: '/var/lib/dpkg/status', layer: upper });
    // Asked once per path.
    assert.equal(asked.filter((p) => p === '/var/lib/dpkg/status').length, 1);
  });

  it('rejects with the abort reason', async () => {
    const controller = new AbortController();
    const slow: Cataloger = { name: 'slow', catalog: (context) => { controller.abort(new Error('stop')); context.signal.throwIfAborted(); return Promise.resolve([]); } };
    await assert.rejects(catalogFilesystem(directoryScanFs(root), { warn: () => {}, signal: controller.signal, catalogers: [slow] }), /stop/);
  });
});

describe('purl', () => {
  it('percent-encodes per the purl spec and drops empty qualifiers', () => {
    assert.equal(purl('deb', 'debian', 'g++-12', '12.2.0-14', { arch: 'amd64', upstream: 'gcc-12@12.2.0-14', distro: '' }),
      'pkg:deb/debian/g%2B%2B-12@12.2.0-14?arch=amd64&upstream=gcc-12%4012.2.0-14');
    assert.equal(purl('npm', '@angular', 'core', '1.0.0'), 'pkg:npm/%40angular/core@1.0.0');
    assert.equal(purl('pypi', undefined, 'Django_Rest', '3.0'), 'pkg:pypi/django-rest@3.0');
    assert.equal(purl('generic', undefined, 'a b', undefined, { z: '1', a: 'x y' }), 'pkg:generic/a%20b?a=x%20y&z=1');
    assert.throws(() => purl('deb', 'debian', '', '1'));
  });
});
