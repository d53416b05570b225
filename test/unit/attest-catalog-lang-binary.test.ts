import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, link, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { binaryClassifierCataloger } from '../../src/attest/sbom/catalogers/binary.js';
import { purl } from '../../src/attest/sbom/purl.js';
import { purls, runCataloger } from '../helpers/catalog.js';

async function put(root: string, path: string, content: Buffer | string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content, { mode: 0o755 });
}

/** Puts the real file behind `hostPath` at `path` in the root (a hard link where possible: node is ~100 MB). */
async function real(root: string, path: string, hostPath: string): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  const source = await realpath(hostPath);
  await link(source, join(root, path)).catch(() => copyFile(source, join(root, path)));
}

/** What the program prints on stdout and stderr (busybox with no applet exits 1; java -version prints on stderr). */
function run(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  return `${result.stdout}${result.stderr}`;
}

interface RealCase {
  readonly host: () => string | undefined;
  /** Where it goes in the fixture root (the classifier matches the base name). */
  readonly at: (host: string) => string;
  readonly package: string;
  /** The version as the program itself reports it. */
  readonly reported: (host: string) => string | undefined;
}

const lib = '/usr/lib/x86_64-linux-gnu';
const onPath = (name: string): string | undefined => {
  for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin']) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
};

const REAL: Record<string, RealCase> = {
  busybox: { host: () => onPath('busybox'), at: () => '/bin/busybox', package: 'busybox', reported: (h) => /BusyBox v(\d+\.\d+\.\d+)/.exec(run(h, []))?.[1] },
  node: { host: () => process.execPath, at: () => '/usr/local/bin/node', package: 'node', reported: () => process.version.slice(1) },
  python: {
    host: () => { const p = onPath('python3'); return p === undefined ? undefined : realpathSync(p); },
    at: (h) => `/usr/bin/${basename(h)}`, package: 'python',
    reported: (h) => /Python (\d+\.\d+\.\d+)/.exec(run(h, ['--version']))?.[1],
  },
  libpython: {
    host: () => ['3.13', '3.12', '3.11', '3.10', '3.9'].map((v) => `${lib}/libpython${v}.so.1.0`).find((p) => existsSync(p)),
    at: (h) => `/usr/lib/${basename(h)}`, package: 'python',
    reported: (h) => { const v = /libpython(\d+\.\d+)/.exec(h)?.[1]; const bin = v === undefined ? undefined : onPath(`python${v}`); return bin === undefined ? undefined : /Python (\d+\.\d+\.\d+)/.exec(run(bin, ['--version']))?.[1]; },
  },
  openssl: { host: () => onPath('openssl'), at: () => '/usr/bin/openssl', package: 'openssl', reported: (h) => /OpenSSL (\d+\.\d+\.\d+[a-z]*)/.exec(run(h, ['version']))?.[1] },
  libcrypto: {
    host: () => (existsSync(`${lib}/libcrypto.so.3`) ? `${lib}/libcrypto.so.3` : undefined), at: () => '/usr/lib/libcrypto.so.3', package: 'openssl',
    reported: () => { const bin = onPath('openssl'); return bin === undefined ? undefined : /Library: OpenSSL (\d+\.\d+\.\d+[a-z]*)/.exec(run(bin, ['version']))?.[1]; },
  },
  bash: { host: () => onPath('bash'), at: () => '/bin/bash', package: 'bash', reported: (h) => /version (\d+\.\d+\.\d+)/.exec(run(h, ['--version']))?.[1] },
  curl: { host: () => onPath('curl'), at: () => '/usr/bin/curl', package: 'curl', reported: (h) => /^curl (\d+\.\d+\.\d+)/.exec(run(h, ['--version']))?.[1] },
  perl: { host: () => onPath('perl'), at: () => '/usr/bin/perl', package: 'perl', reported: (h) => /^v?(\d+\.\d+\.\d+)/.exec(run(h, ['-e', 'print $^V']))?.[1] },
  getopt: { host: () => onPath('getopt'), at: () => '/usr/bin/getopt', package: 'util-linux', reported: (h) => /util-linux (\d+\.\d+\.\d+)/.exec(run(h, ['--version']))?.[1] },
  xz: { host: () => onPath('xz'), at: () => '/usr/bin/xz', package: 'xz', reported: (h) => /XZ Utils\) (\d+\.\d+\.\d+)/.exec(run(h, ['--version']))?.[1] },
  zstd: { host: () => onPath('zstd'), at: () => '/usr/bin/zstd', package: 'zstd', reported: (h) => /v(\d+\.\d+\.\d+)/.exec(run(h, ['--version']))?.[1] },
  gzip: { host: () => onPath('gzip'), at: () => '/usr/bin/gzip', package: 'gzip', reported: (h) => /^gzip (\d+\.\d+)/.exec(run(h, ['--version']))?.[1] },
  jq: { host: () => onPath('jq'), at: () => '/usr/bin/jq', package: 'jq', reported: (h) => /jq-(\d+\.\d+(?:\.\d+)?)/.exec(run(h, ['--version']))?.[1] },
  go: {
    host: () => onPath('go'),
    at: () => '/usr/local/go/bin/go', package: 'go', reported: (h) => /go(\d+\.\d+(?:\.\d+)?)/.exec(run(h, ['version']))?.[1],
  },
  postgres: { host: () => onPath('postgres') ?? ['17', '16', '15'].map((v) => `/usr/lib/postgresql/${v}/bin/postgres`).find((p) => existsSync(p)), at: () => '/usr/lib/postgresql/bin/postgres', package: 'postgresql', reported: (h) => /PostgreSQL\) (\d+(?:\.\d+)+)/.exec(run(h, ['--version']))?.[1] },
  java: { host: () => onPath('java'), at: () => '/opt/jdk/bin/java', package: 'openjdk', reported: (h) => /build (\d[^)\s]*)\)/.exec(run(h, ['-version']))?.[1] },
};

describe('binary-classifier cataloger', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalog-bin-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("finds the runtimes on this machine with the version each program reports itself", async (t) => {
    const root = join(dir, 'real');
    const expected = new Map<string, string>();
    const missing: string[] = [];
    for (const [key, c] of Object.entries(REAL)) {
      const host = c.host();
      const version = host === undefined ? undefined : c.reported(host);
      if (host === undefined || version === undefined) {
        missing.push(key);
        continue;
      }
      await real(root, c.at(host), host);
      expected.set(c.at(host), `${c.package}@${version}`);
    }
    // busybox-static and node are installed wherever the tests run (scripts/install-system-deps.sh).
    assert.ok(!missing.includes('busybox') && !missing.includes('node'), `missing: ${missing.join(', ')}`);
    t.diagnostic(`checked: ${[...expected.values()].join(' ')}; not on this machine: ${missing.join(' ')}`);
    const { packages, warnings } = await runCataloger(binaryClassifierCataloger(), root);
    assert.deepEqual(warnings, []);
    const found = new Map<string, string>();
    for (const p of packages) for (const l of p.locations) found.set(l.path, `${p.name}@${p.version}`);
    assert.deepEqual(Object.fromEntries([...found].sort()), Object.fromEntries([...expected].sort()), `not on this machine: ${missing.join(', ')}`);
    assert.ok(packages.every((p) => p.type === 'binary' && p.foundBy === 'binary-classifier' && p.purl === purl('generic', p.name === 'openjdk' ? 'oracle' : undefined, p.name, p.version)));
  });

  it('recognises the other runtimes from their evidence strings (as syft documents them), and merges one purl found twice', async () => {
    const root = join(dir, 'crafted');
    const elf = (text: string): Buffer => Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), Buffer.alloc(5000), Buffer.from(text, 'latin1'), Buffer.alloc(5000)]);
    await put(root, '/usr/sbin/nginx', elf('\x00nginx version: nginx/1.25.3\x00'));
    await put(root, '/usr/local/bin/redis-server', elf('\x00redis 7.2.4buildkitsandbox-1702957741000000000\x00'));
    await put(root, '/usr/local/bin/ruby', elf('ruby 3.3.0 (2023-12-25 revision 5124f9ac75) [x86_64-linux]'));
    await put(root, '/usr/local/lib/libruby.so.3.3.0', elf('ruby 3.3.0 (2023-12-25 revision 5124f9ac75) [x86_64-linux]'));
    await put(root, '/usr/local/apache2/bin/httpd', elf('Apache/2.4.58 (Unix)'));
    await put(root, '/usr/local/bin/memcached', elf('memcached 1.6.22'));
    await put(root, '/usr/local/sbin/haproxy', elf('HA-Proxy version 2.8.5-aaba8d0 2023/12/07'));
    await put(root, '/usr/local/bin/python3.12', elf('\x003.12.1\x00'));
    await put(root, '/usr/local/bin/gcc', elf('GCC: (GNU) 13.2.0'));
    await put(root, '/opt/java/openjdk/release', 'IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="21.0.1"\nJAVA_RUNTIME_VERSION="21.0.1+12-LTS"\n');
    await put(root, '/opt/zulu/release', 'IMPLEMENTOR="Azul Systems, Inc."\nJAVA_VERSION="11.0.21"\n');
    await put(root, '/etc/release', 'not a JVM release file\n');
    // busybox's gzip applet as a copy named gzip: a bare version token, but not GNU gzip.
    await put(root, '/bin/gzip', elf('\x001.36\x00 BusyBox v1.36.1'));
    const { packages, warnings } = await runCataloger(binaryClassifierCataloger(), root);
    assert.deepEqual(warnings, []);
    assert.deepEqual(purls(packages), [
      'pkg:generic/azul/zulu@11.0.21',
      'pkg:generic/gcc@13.2.0',
      'pkg:generic/haproxy@2.8.5',
      'pkg:generic/httpd@2.4.58',
      'pkg:generic/memcached@1.6.22',
      'pkg:generic/nginx@1.25.3',
      'pkg:generic/oracle/openjdk@21.0.1+12-LTS',
      'pkg:generic/python@3.12.1',
      'pkg:generic/redis@7.2.4',
      'pkg:generic/ruby@3.3.0',
    ]);
    assert.deepEqual(packages.find((p) => p.name === 'ruby')?.locations, [{ path: '/usr/local/bin/ruby' }, { path: '/usr/local/lib/libruby.so.3.3.0' }]);
  });

  it('finds evidence across chunk boundaries and skips files over the size cap with a warning', async () => {
    const root = join(dir, 'chunks');
    const chunk = 8192;
    // The banner straddles the first chunk boundary.
    await put(root, '/bin/busybox', Buffer.concat([Buffer.alloc(chunk - 6, 0x41), Buffer.from('BusyBox v1.36.1 (2024-01-01)'), Buffer.alloc(chunk, 0x42)]));
    await put(root, '/big/curl', Buffer.concat([Buffer.alloc(50_000), Buffer.from('curl/8.5.0')]));
    const { packages, warnings } = await runCataloger(binaryClassifierCataloger({ chunkBytes: chunk, maxFileBytes: 40_000 }), root);
    assert.deepEqual(purls(packages), ['pkg:generic/busybox@1.36.1']);
    assert.deepEqual(warnings, ['binary /big/curl: 50010 bytes, more than the 40000 searched; skipped']);
  });
});
