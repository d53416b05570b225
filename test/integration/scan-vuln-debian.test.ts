/**
 * The Debian mirror source end to end against a crafted mirror on a local HTTP server: Release files,
 * Packages indexes (xz and gzip) and .debs built here with `dpkg-deb --build`, whose changelogs name
 * CVEs. Hostile mirrors (a symlinked changelog, a changelog bomb, a .deb whose digest does not match,
 * a bomb of an index) give warnings, never a crash. One test reads the real configured mirror.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { aptDebianMirror, scanVulnerabilities, vulnTable, type VulnPackage } from '../../src/scan/index.js';
import { startDebianMirror, type DebianMirrorServer } from '../helpers/debian-mirror.js';

const pkg = (name: string, version: string, source: string): VulnPackage => ({ name, version, type: 'deb', purl: `pkg:deb/debian/${name}@${version}?arch=amd64&distro=debian-12`, arch: 'amd64', source: { name: source } });
const DEBIAN_12 = { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' };

describe('Debian mirror source against a crafted local mirror', () => {
  let work: string;
  let mirror: DebianMirrorServer;
  let base: string;
  let requests: string[];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'vuln-deb-'));
    mirror = await startDebianMirror(work, { hostile: true });
    base = mirror.base;
    requests = mirror.requests;
  });

  after(async () => {
    await mirror.close();
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
