import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { aptDebianMirror } from '../../src/scan/vulns/debian/apt-sources.js';
import { parseChangelog, parsePackagesIndex, parseRelease } from '../../src/scan/vulns/debian/control.js';
import { debChangelog } from '../../src/scan/vulns/debian/deb.js';
import { DecodeProblem } from '../../src/scan/vulns/decompress.js';

async function* chunks(text: string | Buffer, size = 7): AsyncGenerator<Buffer> {
  await Promise.resolve();
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('changelog.Debian parsing', () => {
  it('reads each entry with its version, distribution, urgency and CVE ids (deduplicated, body only)', () => {
    const entries = parseChangelog(`openssl (3.0.15-1~deb12u1) bookworm-security; urgency=medium

  * New upstream release.
    - CVE-2024-5535 and CVE-2024-9143; also CVE-2024-5535 again.
  * d/patches: drop fix for CVE-2023-0001234 (applied upstream)

 -- Maintainer <m@example.invalid>  Wed, 30 Oct 2024 10:00:00 +0100

openssl (3.0.14-1~deb12u2) bookworm; urgency=HIGH, binary-only=yes

  * CVE-2024-4741

 -- Maintainer <m@example.invalid>  Wed, 30 Oct 2024 10:00:00 +0100
garbage line CVE-2000-0001 outside any entry body
`);
    assert.deepEqual(entries, [
      { source: 'openssl', version: '3.0.15-1~deb12u1', distribution: 'bookworm-security', urgency: 'medium', cves: ['CVE-2024-5535', 'CVE-2024-9143', 'CVE-2023-0001234'] },
      { source: 'openssl', version: '3.0.14-1~deb12u2', distribution: 'bookworm', urgency: 'high', cves: ['CVE-2024-4741'] },
    ]);
    assert.deepEqual(parseChangelog('not a changelog\n\x00\x01'), []);
  });
});

describe('release files', () => {
  it('reads Date and the SHA256 list of a clearsigned InRelease', () => {
    const text = `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSuite: oldstable-security\nCodename: bookworm-security\nDate: Sat, 05 Dec 2026 03:33:28 UTC\nMD5Sum:\n d41d8cd98f00b204e9800998ecf8427e 0 main/binary-amd64/Packages\nSHA256:\n ${'a'.repeat(64)}   386328 main/binary-amd64/Packages.xz\n ${'b'.repeat(64)} 12 main/binary-arm64/Packages.xz\n-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n`;
    const release = parseRelease(text);
    assert.equal(release.codename, 'bookworm-security');
    assert.equal(release.date, '2026-12-05T03:33:28.000Z');
    assert.deepEqual([...release.files], [['main/binary-amd64/Packages.xz', { sha256: 'a'.repeat(64), size: 386328 }], ['main/binary-arm64/Packages.xz', { sha256: 'b'.repeat(64), size: 12 }]]);
    assert.equal(parseRelease('garbage').files.size, 0);
  });
});

describe('Packages index parsing (hostile input)', () => {
  const good = (name: string, version: string, source = ''): string => `Package: ${name}\n${source === '' ? '' : `Source: ${source}\n`}Version: ${version}\nFilename: pool/main/${name[0]}/${name}/${name}_${version.replace(/^\d+:/u, '')}_amd64.deb\nSize: 10\nSHA256: ${'c'.repeat(64)}\nDescription: x\n more\n\n`;

  it('keeps valid stanzas, splits Source (version), and skips garbled ones', async () => {
    const index = `${good('libssl3', '3.0.22-1~deb12u2', 'openssl')}${good('bash', '5.2.15-2+b8', 'bash (5.2.15-2)')}Package: bad\nVersion: 1\nFilename: /etc/passwd\nSize: 1\nSHA256: ${'c'.repeat(64)}\n\nPackage: nosha\nVersion: 1\n\n\x00\x01\x02 binary junk\n\n${good('zlib1g', '1:1.2.13.dfsg-1', 'zlib')}`;
    const parsed = await parsePackagesIndex(chunks(index));
    assert.deepEqual(parsed.entries.map((e) => [e.package, e.version, e.source, e.sourceVersion]), [
      ['libssl3', '3.0.22-1~deb12u2', 'openssl', '3.0.22-1~deb12u2'],
      ['bash', '5.2.15-2+b8', 'bash', '5.2.15-2'],
      ['zlib1g', '1:1.2.13.dfsg-1', 'zlib', '1:1.2.13.dfsg-1'],
    ]);
    assert.equal(parsed.skipped, 3);
  });

  it('caps line length and entry count without growing without bound', async () => {
    const huge = `Package: huge\nDescription: ${'x'.repeat(300_000)}\n\n${good('after', '1.0')}`;
    const parsed = await parsePackagesIndex(chunks(huge, 65536), { maxEntries: 10, maxLineBytes: 1024 });
    assert.deepEqual(parsed.entries.map((e) => e.package), ['after']);
    assert.equal(parsed.skipped, 1);
    const many = Array.from({ length: 50 }, (_, i) => good(`p${i}`, '1.0')).join('');
    const capped = await parsePackagesIndex(chunks(many, 4096), { maxEntries: 10, maxLineBytes: 1024 });
    assert.equal(capped.entries.length, 10);
    assert.equal(capped.truncated, true);
  });
});

describe('.deb reading (hostile input)', () => {
  it('rejects what is not an ar archive, and a truncated member', async () => {
    await assert.rejects(debChangelog(chunks('not a deb at all'), 'x'), DecodeProblem);
    const header = (name: string, size: number): string => `${name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(size).padEnd(10)}\`\n`;
    await assert.rejects(debChangelog(chunks(`!<arch>\n${header('data.tar.gz', 5000)}short`), 'x'), DecodeProblem);
    await assert.rejects(debChangelog(chunks(`!<arch>\n${header('data.tar.gz', 8)}\x1f\x8b\x08garbage`), 'x'), DecodeProblem);
    const noData = await debChangelog(chunks(`!<arch>\n${header('debian-binary', 4)}2.0\n`), 'x');
    assert.equal(noData.text, undefined);
    assert.match(noData.problem ?? '', /no usr\/share\/doc/u);
  });
});

describe('apt sources', () => {
  it('finds the archive and security mirrors in deb822 and one-line files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'apt-'));
    try {
      await mkdir(join(root, 'etc/apt/sources.list.d'), { recursive: true });
      await writeFile(join(root, 'etc/apt/sources.list.d/debian.sources'), 'Types: deb\n# comment\nURIs: http://mirror.example.invalid/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://security.example.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n');
      await writeFile(join(root, 'etc/apt/sources.list.d/other.list'), 'deb https://packages.example.invalid/apt cloud-sdk main\n');
      assert.deepEqual(await aptDebianMirror(root), { archive: 'http://mirror.example.invalid/debian', security: 'http://security.example.invalid/debian-security' });
      await rm(join(root, 'etc/apt/sources.list.d'), { recursive: true });
      await writeFile(join(root, 'etc/apt/sources.list'), '# old style\ndeb [arch=amd64] http://deb.example.invalid/debian bullseye main\n');
      assert.deepEqual(await aptDebianMirror(root), { archive: 'http://deb.example.invalid/debian', security: 'http://deb.example.invalid/debian-security' });
      await writeFile(join(root, 'etc/apt/sources.list'), '');
      assert.equal(await aptDebianMirror(root), undefined);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
