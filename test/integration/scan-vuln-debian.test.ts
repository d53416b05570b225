/**
 * The Debian mirror source end to end against a crafted mirror on a local HTTP server: Release files,
 * Packages indexes (xz and gzip) and .debs built here with `dpkg-deb --build`, whose changelogs name
 * CVEs. Hostile mirrors (a symlinked changelog, a changelog bomb, a .deb whose digest does not match,
 * a bomb of an index) give warnings, never a crash. One test reads the real configured mirror.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { aptDebianMirror, scanVulnerabilities, vulnTable, type VulnPackage } from '../../src/scan/index.js';

const CHANGELOG = `foo (1.2-3+deb12u2) bookworm-security; urgency=high

  * Non-maintainer upload by the Security Team.
  * Fix CVE-2099-1111 (an overflow) and CVE-2099-2222.

 -- Test Maintainer <test@example.invalid>  Tue, 01 Dec 2026 10:00:00 +0000

foo (1.2-3+deb12u1) bookworm-security; urgency=medium

  * CVE-2099-0333: check a length.

 -- Test Maintainer <test@example.invalid>  Mon, 02 Nov 2026 10:00:00 +0000

foo (1.2-3) unstable; urgency=medium

  * Fix CVE-2098-9999 and CVE-2099-0333 upstream.

 -- Test Maintainer <test@example.invalid>  Sun, 01 Mar 2026 10:00:00 +0000
`;

interface BuiltDeb {
  readonly package: string;
  readonly version: string;
  readonly source: string;
  readonly filename: string;
  readonly bytes: Buffer;
}

async function buildDeb(work: string, options: { package: string; version: string; source: string; files: (root: string) => Promise<void> }): Promise<BuiltDeb> {
  const root = join(work, `${options.package}-root`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await writeFile(join(root, 'DEBIAN', 'control'), `Package: ${options.package}\nVersion: ${options.version}\nArchitecture: amd64\nMaintainer: Test <test@example.invalid>\nSource: ${options.source}\nDescription: test package\n`);
  await options.files(root);
  const out = join(work, `${options.package}.deb`);
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], { stdio: 'ignore' });
  return { ...options, filename: `pool/updates/main/${options.source[0]}/${options.source}/${options.package}_${options.version}_amd64.deb`, bytes: await readFile(out) };
}

function stanza(deb: BuiltDeb, override: { sha256?: string } = {}): string {
  const sha256 = override.sha256 ?? createHash('sha256').update(deb.bytes).digest('hex');
  return `Package: ${deb.package}\nSource: ${deb.source}\nVersion: ${deb.version}\nArchitecture: amd64\nDescription: a package\n with a long description line\nFilename: ${deb.filename}\nSize: ${deb.bytes.length}\nSHA256: ${sha256}\n\n`;
}

function release(suite: string, files: Record<string, Buffer>): string {
  const lines = Object.entries(files).map(([name, body]) => ` ${createHash('sha256').update(body).digest('hex')} ${String(body.length).padStart(8)} ${name}`);
  return `Origin: Debian\nSuite: ${suite}\nCodename: ${suite}\nDate: Sat, 05 Dec 2026 03:33:28 UTC\nSHA256:\n${lines.join('\n')}\n`;
}

async function put(root: string, path: string, body: string | Buffer): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), body);
}

const pkg = (name: string, version: string, source: string): VulnPackage => ({ name, version, type: 'deb', purl: `pkg:deb/debian/${name}@${version}?arch=amd64&distro=debian-12`, arch: 'amd64', source: { name: source } });
const DEBIAN_12 = { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' };

describe('Debian mirror source against a crafted local mirror', () => {
  let work: string;
  let mirrorRoot: string;
  let server: Server;
  let base: string;
  const requests: string[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'vuln-deb-'));
    mirrorRoot = join(work, 'mirror');
    const changelogGz = gzipSync(Buffer.from(CHANGELOG));
    const libfoo = await buildDeb(work, {
      package: 'libfoo3', version: '1.2-3+deb12u2', source: 'foo',
      files: async (root) => put(root, 'usr/share/doc/libfoo3/changelog.Debian.gz', changelogGz),
    });
    // A second binary of foo whose doc dir is a symlink (as -dev packages often are): tried after libfoo3 fails? No: it is bigger, so libfoo3 goes first.
    const symlinky = await buildDeb(work, {
      package: 'symlinky', version: '2.0-1+deb12u1', source: 'symlinky',
      files: async (root) => {
        await mkdir(join(root, 'usr/share/doc/symlinky'), { recursive: true });
        await symlink('/etc/passwd', join(root, 'usr/share/doc/symlinky/changelog.Debian.gz'));
      },
    });
    const bomb = await buildDeb(work, {
      package: 'bomb', version: '3.0-1+deb12u1', source: 'bomb',
      files: async (root) => put(root, 'usr/share/doc/bomb/changelog.Debian.gz', gzipSync(Buffer.alloc(8 << 20, 0x41))),
    });
    const tampered = await buildDeb(work, {
      package: 'tampered', version: '4.0-1+deb12u1', source: 'tampered',
      files: async (root) => put(root, 'usr/share/doc/tampered/changelog.Debian.gz', gzipSync(Buffer.from('tampered (4.0-1+deb12u1) bookworm-security; urgency=high\n\n  * CVE-2099-6666\n\n -- x <x@x>  Tue, 01 Dec 2026 10:00:00 +0000\n'))),
    });
    for (const deb of [libfoo, symlinky, bomb, tampered]) await put(mirrorRoot, `debian-security/${deb.filename}`, deb.bytes);

    const securityIndex = `${stanza(libfoo)}${stanza(symlinky)}${stanza(bomb)}${stanza(tampered, { sha256: 'f'.repeat(64) })}Package: garbled\nVersion 1.0\n\nPackage: ../../etc\nVersion: 1\nFilename: ../../../etc/passwd\nSize: 1\nSHA256: ${'0'.repeat(64)}\n\n`;
    const packagesXz = execFileSync('xz', ['-c'], { input: securityIndex });
    await put(mirrorRoot, 'debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz', packagesXz);
    // No InRelease here: the Release fallback is used.
    await put(mirrorRoot, 'debian-security/dists/bookworm-security/Release', release('bookworm-security', { 'main/binary-amd64/Packages.xz': packagesXz }));
    // The release suite: an older foo (the point release), gzip-compressed; no bookworm-updates at all.
    const mainIndex = gzipSync(Buffer.from(stanza({ ...libfoo, version: '1.2-3' })));
    await put(mirrorRoot, 'debian/dists/bookworm/main/binary-amd64/Packages.gz', mainIndex);
    await put(mirrorRoot, 'debian/dists/bookworm/InRelease', `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${release('bookworm', { 'main/binary-amd64/Packages.gz': mainIndex })}-----BEGIN PGP SIGNATURE-----\n\nxx\n-----END PGP SIGNATURE-----\n`);

    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const path = join(mirrorRoot, decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/'));
      if (!path.startsWith(mirrorRoot)) {
        res.writeHead(403).end();
        return;
      }
      readFile(path).then((body) => res.writeHead(200, { 'content-length': body.length }).end(body), () => res.writeHead(404).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(work, { recursive: true, force: true });
  });

  const packages = [pkg('libfoo3', '1.2-3+deb12u1', 'foo'), pkg('foo-utils', '1.2-3+deb12u1', 'foo'), pkg('symlinky', '2.0-1', 'symlinky'), pkg('bomb', '3.0-1', 'bomb'), pkg('tampered', '4.0-1', 'tampered'), pkg('current', '1.0-1', 'current')];

  it('reports the CVEs of changelog entries newer than the installed version, per installed binary; hostile packages are warnings', async () => {
    const stateRoot = join(work, 'state');
    const warnings: string[] = [];
    const report = await scanVulnerabilities({
      packages, distro: DEBIAN_12, data: { stateRoot, debianMirror: `${base}/debian` },
      warn: (m) => warnings.push(m), signal: new AbortController().signal, debianLimits: { maxChangelogBytes: 1 << 20 },
    });
    assert.equal(report.hasData, true);
    const all = warnings.join('\n');
    const found = report.findings.map((f) => `${f.package.name} ${f.id} ${f.fixedVersion ?? ''} ${f.severity}`).sort();
    assert.deepEqual(found, [
      'foo-utils CVE-2099-1111 1.2-3+deb12u2 UNKNOWN',
      'foo-utils CVE-2099-2222 1.2-3+deb12u2 UNKNOWN',
      'libfoo3 CVE-2099-1111 1.2-3+deb12u2 UNKNOWN',
      'libfoo3 CVE-2099-2222 1.2-3+deb12u2 UNKNOWN',
    ], all);
    assert.match(report.findings[0]?.summary ?? '', /fixed in foo 1\.2-3\+deb12u2 \(bookworm-security, urgency=high\)/u);
    assert.deepEqual(report.sources.map((s) => [s.name, s.updated]), [
      [`Debian bookworm-security via ${base}/debian-security`, '2026-12-05T03:33:28.000Z'],
      [`Debian bookworm via ${base}/debian`, '2026-12-05T03:33:28.000Z'],
    ]);
    assert.match(all, /symlinky.*is a symlink to \/etc\/passwd.*never followed/u);
    assert.match(all, /bomb.*decompression bomb/u);
    assert.match(all, /tampered.*does not match the index's SHA256/u);
    assert.match(all, /2 malformed stanzas skipped/u);
    assert.match(all, /bookworm-updates/u, 'the missing suite is a warning');
    assert.ok(report.notes?.some((n) => /3 source package\(s\) have newer versions whose changelogs could not be read/u.test(n)), JSON.stringify(report.notes));
    assert.ok(!requests.some((r) => r.includes('etc/passwd')), 'a Filename with .. is never fetched');
    assert.match(vulnTable(report), /4 vulnerabilities \(4 UNKNOWN\)/u);

    // An older installed version lacks the deb12u1 fix as well; the second run reads the changelog from the cache.
    const debsBefore = requests.filter((r) => r.endsWith('.deb')).length;
    const older = await scanVulnerabilities({ packages: [pkg('libfoo3', '1.2-3', 'foo')], distro: DEBIAN_12, data: { stateRoot, debianMirror: `${base}/debian` }, warn: () => undefined, signal: new AbortController().signal });
    assert.deepEqual(older.findings.map((f) => f.id).sort(), ['CVE-2099-0333', 'CVE-2099-1111', 'CVE-2099-2222']);
    assert.equal(requests.filter((r) => r.endsWith('.deb')).length, debsBefore, 'the changelog extract is cached');
    assert.equal(requests.filter((r) => r.endsWith('Packages.xz')).length, 1, 'an unchanged index is not downloaded again');

    // Offline: the same answer from the cache alone, no request.
    const count = requests.length;
    const offline = await scanVulnerabilities({ packages: [pkg('libfoo3', '1.2-3', 'foo')], distro: DEBIAN_12, data: { stateRoot, debianMirror: `${base}/debian`, offline: true }, warn: () => undefined, signal: new AbortController().signal });
    assert.deepEqual(offline.findings.map((f) => f.id).sort(), ['CVE-2099-0333', 'CVE-2099-1111', 'CVE-2099-2222']);
    assert.equal(requests.length, count);
  });

  it('says "no vulnerability data" offline with an empty cache, and for a distro it cannot serve', async () => {
    const empty = await scanVulnerabilities({ packages, distro: DEBIAN_12, data: { stateRoot: join(work, 'empty'), debianMirror: `${base}/debian`, offline: true }, warn: () => undefined, signal: new AbortController().signal });
    assert.equal(empty.hasData, false);
    assert.match(vulnTable(empty), /no vulnerability data/u);
    const ubuntu = await scanVulnerabilities({ packages, distro: { id: 'ubuntu', versionId: '22.04', prettyName: 'Ubuntu 22.04.4 LTS' }, data: { stateRoot: join(work, 'empty') }, warn: () => undefined, signal: new AbortController().signal });
    assert.equal(ubuntu.hasData, false);
    assert.ok(ubuntu.notes?.some((n) => /Ubuntu 22\.04\.4 LTS, not a Debian release/u.test(n)));
  });

  it('refuses an index that inflates past its cap (warning, no data)', async () => {
    const warnings: string[] = [];
    const report = await scanVulnerabilities({
      packages, distro: DEBIAN_12, data: { stateRoot: join(work, 'capped'), debianMirror: `${base}/debian` },
      warn: (m) => warnings.push(m), signal: new AbortController().signal, debianLimits: { maxIndexInflated: 100 },
    });
    assert.equal(report.hasData, false);
    assert.match(warnings.join('\n'), /inflates past 100 B; refused as a decompression bomb/u);
  });
});

describe('Debian mirror source against the real configured mirror', () => {
  it('finds fixed CVEs for an old bookworm libssl3 (skipped when the mirror is unreachable)', async (t) => {
    const mirror = await aptDebianMirror();
    if (mirror === undefined) {
      t.skip('no Debian mirror in /etc/apt/sources.list*');
      return;
    }
    try {
      const probe = await fetch(`${mirror.security}/dists/bookworm-security/InRelease`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
      if (!probe.ok) throw new Error(`HTTP ${probe.status}`);
    } catch (error) {
      t.skip(`the configured mirror ${mirror.security} is unreachable: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    const stateRoot = await mkdtemp(join(tmpdir(), 'vuln-real-'));
    try {
      const warnings: string[] = [];
      // bookworm's first libssl3 (3.0.9-1): every later bookworm / security upload is missing.
      const report = await scanVulnerabilities({ packages: [pkg('libssl3', '3.0.9-1', 'openssl')], distro: DEBIAN_12, data: { stateRoot }, warn: (m) => warnings.push(m), signal: new AbortController().signal });
      assert.equal(report.hasData, true, warnings.join('\n'));
      const cves = report.findings.map((f) => f.id);
      assert.ok(cves.length >= 5, `expected several fixed CVEs, got ${cves.join(', ')}; warnings: ${warnings.join('\n')}`);
      assert.ok(cves.every((id) => /^CVE-\d{4}-\d{4,}$/u.test(id)));
      assert.ok(report.findings.every((f) => f.fixedVersion !== undefined && f.fixedVersion.startsWith('3.0.')));
      assert.ok(report.sources.some((s) => s.name.startsWith('Debian bookworm-security') && s.updated !== undefined));
    } finally {
      await rm(stateRoot, { recursive: true, force: true });
    }
  });
});
