/**
 * A crafted Debian mirror on a local HTTP server for the vulnerability scan's tests: Release files,
 * Packages indexes (xz for the security suite, gzip for the release suite, no -updates suite) and .debs
 * built with `dpkg-deb --build`, whose changelogs name CVEs. `hostile` adds a symlinked changelog, a
 * changelog bomb, a .deb whose digest does not match the index, and garbled stanzas.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface DebianMirrorServer {
  /** `http://127.0.0.1:PORT`: the archive is `${base}/debian`, the security archive `${base}/debian-security`. */
  readonly base: string;
  /** Every path requested, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

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


/** Serves a crafted mirror from `work/mirror`: libfoo3 1.2-3+deb12u2 (source foo) fixes CVE-2099-1111/2222 (and 0333 in deb12u1). */
export async function startDebianMirror(work: string, options: { hostile?: boolean } = {}): Promise<DebianMirrorServer> {
  const requests: string[] = [];
  const hostile = options.hostile === true;
  const mirrorRoot = join(work, 'mirror');
  const libfoo = await buildDeb(work, {
    package: 'libfoo3', version: '1.2-3+deb12u2', source: 'foo',
    files: async (root) => put(root, 'usr/share/doc/libfoo3/changelog.Debian.gz', gzipSync(Buffer.from(CHANGELOG))),
  });
  const debs = [libfoo];
  let securityIndex = stanza(libfoo);
  if (hostile) {
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
    debs.push(symlinky, bomb, tampered);
    securityIndex += `${stanza(symlinky)}${stanza(bomb)}${stanza(tampered, { sha256: 'f'.repeat(64) })}Package: garbled\nVersion 1.0\n\nPackage: ../../etc\nVersion: 1\nFilename: ../../../etc/passwd\nSize: 1\nSHA256: ${'0'.repeat(64)}\n\n`;
  }
  for (const deb of debs) await put(mirrorRoot, `debian-security/${deb.filename}`, deb.bytes);
  const packagesXz = execFileSync('xz', ['-c'], { input: securityIndex });
  await put(mirrorRoot, 'debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz', packagesXz);
  // No InRelease here: the Release fallback is used.
  await put(mirrorRoot, 'debian-security/dists/bookworm-security/Release', release('bookworm-security', { 'main/binary-amd64/Packages.xz': packagesXz }));
  // The release suite: an older foo (the point release), gzip-compressed; no bookworm-updates at all.
  const mainIndex = gzipSync(Buffer.from(stanza({ ...libfoo, version: '1.2-3' })));
  await put(mirrorRoot, 'debian/dists/bookworm/main/binary-amd64/Packages.gz', mainIndex);
  await put(mirrorRoot, 'debian/dists/bookworm/InRelease', `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${release('bookworm', { 'main/binary-amd64/Packages.gz': mainIndex })}-----BEGIN PGP SIGNATURE-----\n\nxx\n-----END PGP SIGNATURE-----\n`);

  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = join(mirrorRoot, decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/'));
    if (!path.startsWith(mirrorRoot)) {
      res.writeHead(403).end();
      return;
    }
    readFile(path).then((body) => res.writeHead(200, { 'content-length': body.length }).end(body), () => res.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
