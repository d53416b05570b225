/**
 * `stagecraft scan vulns IMAGE` with the built binary: an image whose dpkg status holds an outdated
 * libfoo3 (Debian 12) and whose node_modules hold an outdated npm package, scanned against a crafted
 * Debian mirror on a local HTTP server and the committed OSV fixtures; table, JSON and CycloneDX
 * (validated with the CycloneDX 1.6 strict schema); offline from the cache; "no vulnerability data"
 * when nothing covers the image; a bad --vuln-db fails before any work.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { z } from 'zod';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH } from '../helpers/cli.js';
import { startDebianMirror, type DebianMirrorServer } from '../helpers/debian-mirror.js';

const OSV = join(import.meta.dirname, '..', 'fixtures', 'osv');

/** The CLI as a child process, asynchronously: the mirror answers from this process meanwhile. */
function run(args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_PATH, ...args], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ status: code, stdout, stderr });
    });
  });
}

const JsonReport = z.object({
  image: z.object({ name: z.string(), digest: z.string() }),
  summary: z.string(),
  hasData: z.boolean(),
  sources: z.array(z.object({ kind: z.string(), name: z.string(), updated: z.string().optional() })),
  findings: z.array(z.object({ id: z.string(), package: z.object({ name: z.string(), version: z.string() }), severity: z.string(), fixedVersion: z.string().optional() })),
  counts: z.record(z.string(), z.number()),
});

describe('stagecraft scan vulns', () => {
  let env: BuildEnv;
  let mirror: DebianMirrorServer;
  let root: string;
  let tag: string;

  before(async () => {
    env = await startBuildEnv();
    mirror = await startDebianMirror(join(env.work, 'deb'));
    const context = join(env.work, 'ctx');
    await mkdir(join(context, 'rootfs/etc'), { recursive: true });
    await mkdir(join(context, 'rootfs/var/lib/dpkg'), { recursive: true });
    await mkdir(join(context, 'rootfs/app/node_modules/left-pad-ish'), { recursive: true });
    await writeFile(join(context, 'rootfs/etc/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n');
    await writeFile(join(context, 'rootfs/var/lib/dpkg/status'), 'Package: libfoo3\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nSource: foo\nVersion: 1.2-3+deb12u1\nMaintainer: Test <test@example.invalid>\nDescription: test library\n\n');
    await writeFile(join(context, 'rootfs/app/node_modules/left-pad-ish/package.json'), JSON.stringify({ name: 'left-pad-ish', version: '1.2.0', license: 'MIT' }));
    await writeFile(join(context, 'Dockerfile'), `FROM ${env.busybox}\nCOPY rootfs/ /\n`);
    root = await env.newRoot();
    tag = `${env.registry.host}/vuln-fixture:1`;
    const built = env.build(['-t', tag, context], { root });
    assert.equal(built.status, 0, built.stderr);
  });
  after(async () => {
    await mirror.close();
    await env.close();
  });

  it('reports Debian changelog CVEs and OSV advisories as JSON, table and CycloneDX', async () => {
    const json = await run(['--root', root, 'scan', 'vulns', '--debian-mirror', `${mirror.base}/debian`, '--vuln-db', OSV, '--format', 'json', tag]);
    assert.equal(json.status, 0, json.stderr);
    const report = JsonReport.parse(JSON.parse(json.stdout));
    assert.equal(report.hasData, true);
    assert.deepEqual(report.findings.map((f) => `${f.package.name} ${f.id} ${f.fixedVersion ?? ''}`).sort(), [
      'left-pad-ish TEST-NPM-0001 1.3.1',
      'libfoo3 CVE-2099-1111 1.2-3+deb12u2',
      'libfoo3 CVE-2099-2222 1.2-3+deb12u2',
    ]);
    assert.deepEqual(report.sources.map((s) => s.name), [`Debian bookworm-security via ${mirror.base}/debian-security`, `Debian bookworm via ${mirror.base}/debian`, `OSV directory ${OSV}`]);
    assert.match(json.stderr, /warning: .*corrupt\.json/u, 'the corrupt fixture is a warning naming it');

    const table = await run(['--root', root, 'scan', 'vulns', '--debian-mirror', `${mirror.base}/debian`, '--vuln-db', OSV, tag]);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /data source: Debian bookworm-security via .* \(updated 2026-12-05T03:33:28\.000Z, retrieved /u);
    assert.match(table.stdout, /libfoo3\s+1\.2-3\+deb12u1\s+1\.2-3\+deb12u2\s+CVE-2099-1111\s+UNKNOWN/u);
    assert.match(table.stdout, /3 vulnerabilities \(1 MEDIUM, 2 UNKNOWN\)/u);

    const cdx = await run(['--root', root, 'scan', 'vulns', '--debian-mirror', `${mirror.base}/debian`, '--vuln-db', OSV, '--format', 'cyclonedx', tag]);
    assert.equal(cdx.status, 0, cdx.stderr);
    assert.equal(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(cdx.stdout), null);
    const bom = z.object({ vulnerabilities: z.array(z.object({ id: z.string(), affects: z.array(z.object({ ref: z.string() })) })) }).parse(JSON.parse(cdx.stdout));
    assert.deepEqual(bom.vulnerabilities.map((v) => [v.id, v.affects.length]), [['CVE-2099-1111', 1], ['CVE-2099-2222', 1], ['TEST-NPM-0001', 1]]);
  });

  it('works offline from the cache, and says "no vulnerability data" with no data', async () => {
    const before = mirror.requests.length;
    const offline = await run(['--root', root, 'scan', 'vulns', '--debian-mirror', `${mirror.base}/debian`, '--offline', '--format', 'json', tag]);
    assert.equal(offline.status, 0, offline.stderr);
    assert.deepEqual(JsonReport.parse(JSON.parse(offline.stdout)).findings.map((f) => f.id).sort(), ['CVE-2099-1111', 'CVE-2099-2222']);
    assert.equal(mirror.requests.length, before, 'offline makes no request');

    const empty = await env.newRoot();
    const built = env.build(['-t', tag, join(env.work, 'ctx')], { root: empty });
    assert.equal(built.status, 0, built.stderr);
    const none = await run(['--root', empty, 'scan', 'vulns', '--debian-mirror', `${mirror.base}/debian`, '--offline', tag]);
    assert.equal(none.status, 0, none.stderr);
    assert.match(none.stdout, /no vulnerability data/u);
    assert.doesNotMatch(none.stdout, /\b0 (known )?vulnerabilit/u);
  });

  it('fails before any work on a bad --vuln-db or --format', async () => {
    const bad = await run(['--root', root, 'scan', 'vulns', '--vuln-db', join(env.work, 'missing'), tag]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--vuln-db .* is not a directory/u);
    const format = await run(['--root', root, 'scan', 'vulns', '--format', 'sarif', tag]);
    assert.notEqual(format.status, 0);
    assert.match(format.stderr, /unknown --format "sarif"/u);
  });
});
