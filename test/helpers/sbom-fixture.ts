/**
 * A root filesystem with known packages, for SBOM tests and the coverage comparison
 * (scripts/sbom-coverage.ts): a dpkg status (plus status.d and machine-readable copyright files) or an
 * apk installed db, node_modules (nested and scoped), Python dist-info and egg-info (directory and
 * file forms), jars (pom.properties, and a manifest only), a module-built Go binary (when a Go
 * toolchain is installed), busybox, and /etc/os-release. `expected` lists what is there.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TEST_CACHE_DIR } from './base-image.js';
import { makeZip } from './zip-craft.js';

export type FixtureEcosystem = 'deb' | 'apk' | 'npm' | 'pypi' | 'maven' | 'golang' | 'binary';

export interface FixturePackage {
  readonly type: FixtureEcosystem;
  readonly name: string;
  readonly version: string;
  /** The file it is recorded in, in the image. */
  readonly path: string;
}

export interface FixtureOptions {
  /** `debian`: dpkg status (default); `alpine`: apk installed db. */
  readonly distro?: 'debian' | 'alpine' | undefined;
  /** Put a module-built Go binary in /usr/local/bin (needs `go`; skipped when it is missing). Default true. */
  readonly goBinary?: boolean | undefined;
  /** Copy the host's /bin/busybox to /bin/busybox. Default true. */
  readonly busybox?: boolean | undefined;
  /** Everything under this directory of the image (`/` by default); e.g. `/app` to COPY it into an image. */
  readonly prefix?: string | undefined;
}

export interface SbomFixture {
  readonly root: string;
  /** The packages the fixture holds (a deinstalled dpkg entry is not one). */
  readonly expected: readonly FixturePackage[];
}

/** A jar of `files` (name → content), entries stored uncompressed. */
const storedZip = (files: ReadonlyMap<string, string | Buffer>): Buffer => makeZip([...files].map(([name, data]) => ({ name, data, method: 0 as const })));

// ---- contents

const DEB_PACKAGES = [
  { name: 'base-files', version: '12.4+deb12u5', arch: 'amd64', license: 'GPL-2+' },
  { name: 'bash', version: '5.2.15-2+b2', arch: 'amd64', license: 'GPL-3+' },
  { name: 'libc6', version: '2.36-9+deb12u4', arch: 'amd64', source: 'glibc', license: 'LGPL-2.1+' },
  { name: 'libssl3', version: '3.0.11-1~deb12u2', arch: 'amd64', source: 'openssl', license: 'Apache-2.0' },
  { name: 'zlib1g', version: '1:1.2.13.dfsg-1', arch: 'amd64', source: 'zlib (1:1.2.13.dfsg-1)', license: 'Zlib' },
  { name: 'tzdata', version: '2024a-0+deb12u1', arch: 'all', license: undefined },
] as const;

function dpkgStanza(p: { name: string; version: string; arch: string; source?: string | undefined }, status = 'install ok installed'): string {
  return [
    `Package: ${p.name}`,
    `Status: ${status}`,
    'Priority: required',
    'Section: libs',
    'Installed-Size: 100',
    'Maintainer: Debian Maintainers <debian@lists.debian.org>',
    `Architecture: ${p.arch}`,
    ...(p.source === undefined ? [] : [`Source: ${p.source}`]),
    `Version: ${p.version}`,
    `Description: the ${p.name} package`,
    ' A fixture package.',
    '',
  ].join('\n');
}

const APK_PACKAGES = [
  { name: 'musl', version: '1.2.4_git20230717-r4', origin: 'musl', license: 'MIT' },
  { name: 'busybox', version: '1.36.1-r15', origin: 'busybox', license: 'GPL-2.0-only' },
  { name: 'zlib', version: '1.3.1-r0', origin: 'zlib', license: 'Zlib' },
  { name: 'libcrypto3', version: '3.1.4-r5', origin: 'openssl', license: 'Apache-2.0' },
  { name: 'ca-certificates-bundle', version: '20240226-r0', origin: 'ca-certificates', license: 'MPL-2.0 AND MIT' },
] as const;

const NPM_PACKAGES = [
  { dir: '/app/node_modules/left-pad', name: 'left-pad', version: '1.3.0', license: 'WTFPL' },
  { dir: '/app/node_modules/@scope/util', name: '@scope/util', version: '2.0.1', license: 'MIT' },
  { dir: '/app/node_modules/debug', name: 'debug', version: '4.3.4', license: 'MIT' },
  { dir: '/app/node_modules/debug/node_modules/ms', name: 'ms', version: '2.1.2', license: 'MIT' },
  { dir: '/app/node_modules/ms', name: 'ms', version: '2.1.3', license: 'MIT' },
  { dir: '/app/node_modules/@scope/util/node_modules/@types/node', name: '@types/node', version: '20.11.5', license: 'MIT' },
  { dir: '/usr/lib/node_modules/npm', name: 'npm', version: '10.2.4', license: 'Artistic-2.0' },
] as const;

const PYTHON_DIST_INFO = [
  { dir: '/usr/lib/python3/dist-packages/requests-2.31.0.dist-info', name: 'requests', version: '2.31.0', license: 'Apache 2.0' },
  { dir: '/usr/local/lib/python3.11/site-packages/urllib3-2.0.7.dist-info', name: 'urllib3', version: '2.0.7', license: 'MIT' },
] as const;

function pythonMetadata(name: string, version: string, license: string): string {
  return `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: the ${name} fixture\nLicense: ${license}\nAuthor: Fixture Author\n\n${name} long description.\n`;
}

async function put(root: string, path: string, content: string | Buffer, mode?: number): Promise<void> {
  const file = join(root, path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content, mode === undefined ? {} : { mode });
}

/** A module-built Go binary (main module plus two vendored dependencies), cached in TEST_CACHE_DIR. */
async function goFixtureBinary(): Promise<string | undefined> {
  const out = join(TEST_CACHE_DIR, 'sbom-go-fixture', 'fixture-go');
  if (await stat(out).then(() => true, () => false)) return out;
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const src = join(TEST_CACHE_DIR, 'sbom-go-fixture', 'src');
  await rm(src, { recursive: true, force: true });
  await put(src, 'go.mod', 'module example.org/fixture\n\ngo 1.19\n\nrequire (\n\texample.org/dep v1.2.3\n\tgithub.com/acme/util v0.4.0\n)\n');
  await put(src, 'vendor/modules.txt', '# example.org/dep v1.2.3\n## explicit; go 1.19\nexample.org/dep\n# github.com/acme/util v0.4.0\n## explicit; go 1.19\ngithub.com/acme/util\n');
  await put(src, 'vendor/example.org/dep/dep.go', 'package dep\n\nfunc Hello() string { return "hi" }\n');
  await put(src, 'vendor/github.com/acme/util/util.go', 'package util\n\nfunc Up(s string) string { return s + "!" }\n');
  await put(src, 'main.go', 'package main\n\nimport (\n\t"example.org/dep"\n\t"github.com/acme/util"\n)\n\nfunc main() { println(util.Up(dep.Hello())) }\n');
  execFileSync('go', ['build', '-trimpath', '-ldflags=-s', '-o', out, '.'], {
    cwd: src,
    stdio: 'ignore',
    env: { ...process.env, GOFLAGS: '-mod=vendor', GOPROXY: 'off', CGO_ENABLED: '0', GOCACHE: join(TEST_CACHE_DIR, 'sbom-go-fixture', 'cache') },
  });
  return out;
}

/** Writes the fixture rootfs into `root` (created; must not hold another fixture). */
export async function makeSbomFixture(root: string, options: FixtureOptions = {}): Promise<SbomFixture> {
  const prefix = (options.prefix ?? '/').replace(/\/+$/u, '');
  const at = (path: string): string => `${prefix}${path}`;
  const expected: FixturePackage[] = [];
  const distro = options.distro ?? 'debian';
  await mkdir(root, { recursive: true });

  if (distro === 'debian') {
    await put(root, at('/etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n');
    await put(root, at('/etc/debian_version'), '12.5\n');
    const inStatus = DEB_PACKAGES.filter((p) => p.name !== 'tzdata');
    const removed = dpkgStanza({ name: 'old-removed', version: '1.0-1', arch: 'amd64' }, 'deinstall ok config-files');
    await put(root, at('/var/lib/dpkg/status'), [...inStatus.map((p) => dpkgStanza(p)), removed].join('\n'));
    for (const p of inStatus) expected.push({ type: 'deb', name: p.name, version: p.version, path: at('/var/lib/dpkg/status') });
    // distroless keeps one file per package in status.d.
    const tz = DEB_PACKAGES.find((p) => p.name === 'tzdata');
    if (tz !== undefined) {
      await put(root, at('/var/lib/dpkg/status.d/tzdata'), dpkgStanza(tz));
      expected.push({ type: 'deb', name: tz.name, version: tz.version, path: at('/var/lib/dpkg/status.d/tzdata') });
    }
    for (const p of DEB_PACKAGES) {
      if (p.license === undefined) continue;
      await put(root, at(`/usr/share/doc/${p.name}/copyright`), `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: ${p.name}\n\nFiles: *\nCopyright: 2024 Fixture\nLicense: ${p.license}\n`);
    }
  } else {
    await put(root, at('/etc/os-release'), 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n');
    await put(root, at('/etc/alpine-release'), '3.19.1\n');
    const db = APK_PACKAGES.map((p) => `C:Q1${Buffer.from(p.name).toString('base64').padEnd(27, 'A').slice(0, 27)}=\nP:${p.name}\nV:${p.version}\nA:x86_64\nS:1000\nI:2000\nT:the ${p.name} package\nU:https://example.org/${p.name}\nL:${p.license}\no:${p.origin}\nm:Fixture <fixture@example.org>\nt:1700000000\nF:usr/lib\nR:lib${p.name}.so\n`).join('\n');
    await put(root, at('/lib/apk/db/installed'), `${db}\n`);
    for (const p of APK_PACKAGES) expected.push({ type: 'apk', name: p.name, version: p.version, path: at('/lib/apk/db/installed') });
  }

  await put(root, at('/app/package.json'), JSON.stringify({ name: 'fixture-app', version: '0.0.1', private: true, dependencies: { 'left-pad': '^1.3.0' } }, null, 2));
  await put(root, at('/app/package-lock.json'), JSON.stringify({ name: 'fixture-app', lockfileVersion: 3, packages: { 'node_modules/not-installed': { version: '9.9.9' } } }));
  for (const p of NPM_PACKAGES) {
    await put(root, at(`${p.dir}/package.json`), JSON.stringify({ name: p.name, version: p.version, license: p.license, description: `the ${p.name} fixture`, homepage: `https://example.org/${p.name}` }, null, 2));
    expected.push({ type: 'npm', name: p.name, version: p.version, path: at(`${p.dir}/package.json`) });
  }

  for (const p of PYTHON_DIST_INFO) {
    await put(root, at(`${p.dir}/METADATA`), pythonMetadata(p.name, p.version, p.license));
    await put(root, at(`${p.dir}/RECORD`), `${p.name}/__init__.py,,\n`);
    await put(root, at(`${p.dir}/INSTALLER`), 'pip\n');
    expected.push({ type: 'pypi', name: p.name, version: p.version, path: at(`${p.dir}/METADATA`) });
  }
  await put(root, at('/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO'), pythonMetadata('six', '1.16.0', 'MIT'));
  expected.push({ type: 'pypi', name: 'six', version: '1.16.0', path: at('/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO') });
  await put(root, at('/usr/lib/python3/dist-packages/chardet-5.1.0.egg-info'), pythonMetadata('chardet', '5.1.0', 'LGPL'));
  expected.push({ type: 'pypi', name: 'chardet', version: '5.1.0', path: at('/usr/lib/python3/dist-packages/chardet-5.1.0.egg-info') });

  const manifest = (lines: readonly string[]): string => `Manifest-Version: 1.0\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
  await put(root, at('/app/lib/foo-1.0.0.jar'), storedZip(new Map<string, string | Buffer>([
    ['META-INF/MANIFEST.MF', manifest(['Created-By: fixture', 'Implementation-Title: foo', 'Implementation-Version: 1.0.0'])],
    ['META-INF/maven/org.example/foo/pom.properties', 'groupId=org.example\nartifactId=foo\nversion=1.0.0\n'],
    ['META-INF/maven/org.example/foo/pom.xml', '<project><modelVersion>4.0.0</modelVersion><groupId>org.example</groupId><artifactId>foo</artifactId><version>1.0.0</version></project>\n'],
    ['org/example/foo/Foo.class', Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x34])],
  ])));
  expected.push({ type: 'maven', name: 'foo', version: '1.0.0', path: at('/app/lib/foo-1.0.0.jar') });
  await put(root, at('/app/lib/commons-lang3-3.12.0.jar'), storedZip(new Map<string, string | Buffer>([
    ['META-INF/MANIFEST.MF', manifest(['Bundle-SymbolicName: org.apache.commons.lang3', 'Bundle-Name: Apache Commons Lang', 'Bundle-Version: 3.12.0', 'Implementation-Title: Apache Commons Lang', 'Implementation-Version: 3.12.0', 'Implementation-Vendor: The Apache Software Foundation'])],
  ])));
  expected.push({ type: 'maven', name: 'commons-lang3', version: '3.12.0', path: at('/app/lib/commons-lang3-3.12.0.jar') });

  if (options.goBinary !== false) {
    const binary = await goFixtureBinary();
    if (binary !== undefined) {
      await mkdir(join(root, at('/usr/local/bin')), { recursive: true });
      await copyFile(binary, join(root, at('/usr/local/bin/fixture-go')));
      for (const [name, version] of [['example.org/fixture', '(devel)'], ['example.org/dep', 'v1.2.3'], ['github.com/acme/util', 'v0.4.0']] as const) {
        expected.push({ type: 'golang', name, version, path: at('/usr/local/bin/fixture-go') });
      }
    }
  }
  if (options.busybox !== false) {
    await mkdir(join(root, at('/bin')), { recursive: true });
    await copyFile('/bin/busybox', join(root, at('/bin/busybox')));
    const version = /BusyBox v(\d+\.\d+\.\d+)/u.exec(execFileSync('/bin/busybox', ['--help'], { encoding: 'utf8' }))?.[1];
    if (version !== undefined) expected.push({ type: 'binary', name: 'busybox', version, path: at('/bin/busybox') });
  }
  return { root, expected };
}
