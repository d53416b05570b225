import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, link, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { goModuleBinaryCataloger, parseModInfo } from '../../src/attest/sbom/catalogers/go-binary.js';
import { purls, runCataloger } from '../helpers/catalog.js';
import { MAGIC, elf64, inlineBlob, pointerFormatElf, wrapped } from '../helpers/go-elf-craft.js';

const MODINFO = [
  'path\texample.com/app/cmd/app',
  'mod\texample.com/app\t(devel)\t',
  'dep\tgithub.com/google/uuid\tv1.6.0\th1:abc=',
  'dep\tgolang.org/x/sys\tv0.10.0\th1:def=',
  '=>\tgolang.org/x/sys\tv0.12.0\th1:ghi=',
  'dep\texample.com/local\tv1.0.0',
  '=>\t../local\t(devel)\t',
  'build\t-compiler=gc',
  'build\tGOARCH=amd64',
  'build\tvcs.revision=0123456789abcdef0123456789abcdef01234567',
  'build\tvcs.time=2024-03-01T12:34:56Z',
  '',
].join('\n');

async function put(root: string, path: string, content: Buffer, mode = 0o755): Promise<void> {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), content, { mode });
}

const EXPECTED = [
  'pkg:golang/example.com/app@v0.0.0-20240301123456-0123456789ab',
  'pkg:golang/example.com/local',
  'pkg:golang/github.com/google/uuid@v1.6.0',
  'pkg:golang/golang.org/x/sys@v0.12.0',
  'pkg:golang/stdlib@1.21.5',
];

function which(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

describe('go-module-binary cataloger', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'catalog-go-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads the Go ≥ 1.18 inline buildinfo from the .go.buildinfo section: main module, deps with replacements, stdlib', async () => {
    const root = join(dir, 'inline');
    await put(root, 'usr/local/bin/app', elf64([
      { name: '.text', data: Buffer.alloc(100, 0x90) },
      { name: '.go.buildinfo', data: inlineBlob('go1.21.5', wrapped(MODINFO)) },
    ]).file);
    const { packages, warnings } = await runCataloger(goModuleBinaryCataloger, root);
    assert.deepEqual(warnings, []);
    assert.deepEqual(purls(packages), EXPECTED);
    const stdlib = packages.find((p) => p.name === 'stdlib');
    assert.equal(stdlib?.version, 'go1.21.5');
    assert.deepEqual(stdlib?.licenses, ['BSD-3-Clause']);
    assert.equal(stdlib?.arch, 'amd64');
    // A local replacement keeps the required path and has no known version (as syft).
    assert.equal(packages.find((p) => p.name === 'example.com/local')?.version, '');
    assert.ok(packages.every((p) => p.type === 'golang' && p.foundBy === 'go-module-binary' && p.locations[0]?.path === '/usr/local/bin/app'));
  });

  it('reads the pre-1.18 pointer format through the segment table', async () => {
    const root = join(dir, 'pointer');
    await put(root, 'bin/old', pointerFormatElf('go1.16.15', wrapped(MODINFO)));
    const { packages } = await runCataloger(goModuleBinaryCataloger, root);
    assert.deepEqual(purls(packages), EXPECTED.map((p) => p.replace('stdlib@1.21.5', 'stdlib@1.16.15')));
  });

  it('finds the header in the data segment of a binary without a section table', async () => {
    const root = join(dir, 'nosections');
    await put(root, 'bin/stripped', elf64([{ name: 'x', data: Buffer.alloc(40, 1) }, { name: 'y', data: inlineBlob('go1.22.1', wrapped(MODINFO)) }], { withSectionTable: false }).file);
    const { packages } = await runCataloger(goModuleBinaryCataloger, root);
    assert.deepEqual(purls(packages), EXPECTED.map((p) => p.replace('stdlib@1.21.5', 'stdlib@1.22.1')));
  });

  it('skips non-ELF files, non-executables and truncated ELF files; a lying section table falls back to the data segment', async () => {
    const root = join(dir, 'hostile');
    const good = elf64([{ name: '.go.buildinfo', data: inlineBlob('go1.21.5', wrapped(MODINFO)) }]).file;
    await put(root, 'bin/script', Buffer.from('#!/bin/sh\necho hi\n'));
    await put(root, 'data/not-executable', good, 0o644);
    await put(root, 'bin/truncated', good.subarray(0, 200));
    await put(root, 'bin/header-only', good.subarray(0, 64));
    const lying = Buffer.from(good);
    lying.writeUInt16LE(0xffff, 0x3c); // 65535 sections
    lying.writeBigUInt64LE(0xffffffffffffn, 0x28); // table far past the end
    await put(root, 'bin/lying', lying);
    const hugeString = Buffer.from(good);
    const at = hugeString.indexOf(MAGIC);
    hugeString.fill(0xff, at + 32, at + 40); // the version's length: a uvarint that never ends
    await put(root, 'bin/varint', hugeString);
    const { packages, warnings } = await runCataloger(goModuleBinaryCataloger, root);
    // Only /bin/lying: its section table is out of the file, so the header is found by scanning the data segment.
    assert.deepEqual([...new Set(packages.map((p) => p.locations[0]?.path))], ['/bin/lying']);
    assert.deepEqual(purls(packages), EXPECTED);
    assert.deepEqual(warnings, []);
  });

  it('leaves out a module whose version cannot be written as a purl, with a warning, and keeps the rest', async () => {
    const root = join(dir, 'badversion');
    const text = MODINFO.replace('v1.6.0', 'v1 6 0');
    await put(root, 'bin/app', elf64([{ name: '.go.buildinfo', data: inlineBlob('go1.21.5', wrapped(text)) }]).file);
    const { packages, warnings } = await runCataloger(goModuleBinaryCataloger, root);
    assert.deepEqual(purls(packages), EXPECTED.filter((p) => !p.includes('uuid')));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^go binary \/bin\/app: module github\.com\/google\/uuid@v1 6 0 left out/);
  });

  it('parses module text: sentinels, replacements of the main module, build settings', () => {
    const info = parseModInfo('go1.20', wrapped('mod\texample.com/m\tv1.0.0\t\n=>\texample.com/fork\tv1.0.1\t\nbuild\tGOOS=linux\n'));
    assert.deepEqual(info.main, { path: 'example.com/m', version: 'v1.0.0', sum: '', replace: { path: 'example.com/fork', version: 'v1.0.1', sum: '' } });
    assert.equal(info.settings.get('GOOS'), 'linux');
  });

  it("reports the Go toolchain of Debian's GOPATH-built runc (no module information), as runc --version says", { skip: !which('runc') && 'runc is not installed' }, async () => {
    const root = join(dir, 'runc');
    await mkdir(join(root, 'usr/sbin'), { recursive: true });
    const runcPath = execFileSync('sh', ['-c', 'command -v runc']).toString().trim();
    await link(runcPath, join(root, 'usr/sbin/runc')).catch(() => copyFile(runcPath, join(root, 'usr/sbin/runc')));
    const said = /go: (go[\d.]+)/.exec(execFileSync(runcPath, ['--version']).toString())?.[1];
    assert.ok(said !== undefined);
    const { packages } = await runCataloger(goModuleBinaryCataloger, root);
    assert.deepEqual(packages.map((p) => `${p.name}@${p.version}`), [`stdlib@${said}`]);
  });

  it('reads a real module-mode binary built here, as `go version -m` reports it', { skip: !which('go') && 'go is not installed (apt-get install golang-go)', timeout: 300_000 }, async () => {
    const src = join(dir, 'src');
    await put(src, 'go.mod', Buffer.from('module example.com/hello\n\ngo 1.19\n\nrequire example.com/dep v1.2.3\n\nreplace example.com/dep v1.2.3 => ./dep\n'), 0o644);
    await put(src, 'dep/go.mod', Buffer.from('module example.com/dep\n\ngo 1.19\n'), 0o644);
    await put(src, 'dep/dep.go', Buffer.from('package dep\n\nfunc Hello() string { return "hello" }\n'), 0o644);
    await put(src, 'main.go', Buffer.from('package main\n\nimport (\n\t"fmt"\n\t"example.com/dep"\n)\n\nfunc main() { fmt.Println(dep.Hello()) }\n'), 0o644);
    const root = join(dir, 'real');
    await mkdir(join(root, 'app'), { recursive: true });
    const env = { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: join(dir, 'gocache'), GOPATH: join(dir, 'gopath'), CGO_ENABLED: '0' };
    execFileSync('go', ['build', '-o', join(root, 'app/hello'), '.'], { cwd: src, env, stdio: 'pipe' });
    const report = execFileSync('go', ['version', '-m', join(root, 'app/hello')], { env }).toString();
    const goVersion = /: (go[\d.]+)/.exec(report)?.[1] ?? '';
    assert.match(report, /dep\texample\.com\/dep\tv1\.2\.3/);
    const { packages } = await runCataloger(goModuleBinaryCataloger, root);
    assert.deepEqual(packages.map((p) => `${p.name}@${p.version}`).sort(), ['example.com/dep@', 'example.com/hello@', `stdlib@${goVersion}`]);
    assert.equal((await readFile(join(root, 'app/hello'))).includes(MAGIC), true);
  });
});
