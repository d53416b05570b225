import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFile, link, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { goModuleBinaryCataloger, parseModInfo } from '../../src/attest/sbom/catalogers/go-binary.js';
import { purls, runCataloger } from '../helpers/catalog.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
const END = Buffer.from('f932433186182072008242104116d8f2', 'hex');

function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

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

const wrapped = (text: string): Buffer => Buffer.concat([START, Buffer.from(text), END]);

/** Go ≥ 1.18: header, then the version and module strings inline, uvarint-prefixed. */
function inlineBlob(version: string, modinfo: Buffer): Buffer {
  const header = Buffer.alloc(32);
  MAGIC.copy(header);
  header[14] = 8;
  header[15] = 2;
  return Buffer.concat([header, uvarint(version.length), Buffer.from(version), uvarint(modinfo.length), modinfo]);
}

interface Section { readonly name: string; readonly data: Buffer }

/**
 * A minimal little-endian ELF64: one PT_LOAD segment (writable) mapping the whole file at
 * 0x400000 + offset, the given sections' data 16-aligned after the headers, and a section table
 * (unless `sections` is empty). `build` gets each section's file offset to patch in pointers.
 */
function elf64(sections: readonly Section[], options: { readonly withSectionTable?: boolean } = {}): { file: Buffer; offsets: number[] } {
  const base = 0x400000;
  const parts: Buffer[] = [];
  let offset = 64 + 56;
  const offsets: number[] = [];
  for (const section of sections) {
    const pad = (16 - (offset % 16)) % 16;
    parts.push(Buffer.alloc(pad));
    offset += pad;
    offsets.push(offset);
    parts.push(section.data);
    offset += section.data.length;
  }
  const names = Buffer.from(`\0${sections.map((s) => s.name).join('\0')}\0.shstrtab\0`);
  const namesOffset = offset;
  parts.push(names);
  offset += names.length;
  const withTable = options.withSectionTable ?? true;
  const shoff = offset;
  const shnum = withTable ? sections.length + 2 : 0;
  const table = Buffer.alloc(64 * shnum);
  if (withTable) {
    let nameAt = 1;
    sections.forEach((section, i) => {
      const at = (i + 1) * 64;
      table.writeUInt32LE(nameAt, at);
      table.writeUInt32LE(1, at + 4);
      table.writeBigUInt64LE(BigInt(base + (offsets[i] as number)), at + 0x10);
      table.writeBigUInt64LE(BigInt(offsets[i] as number), at + 0x18);
      table.writeBigUInt64LE(BigInt(section.data.length), at + 0x20);
      nameAt += section.name.length + 1;
    });
    const at = (sections.length + 1) * 64;
    table.writeUInt32LE(nameAt, at);
    table.writeUInt32LE(3, at + 4);
    table.writeBigUInt64LE(BigInt(namesOffset), at + 0x18);
    table.writeBigUInt64LE(BigInt(names.length), at + 0x20);
  }
  const total = offset + table.length;
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(header);
  header.writeUInt16LE(2, 16);
  header.writeUInt16LE(62, 18);
  header.writeBigUInt64LE(64n, 0x20);
  header.writeBigUInt64LE(withTable ? BigInt(shoff) : 0n, 0x28);
  header.writeUInt16LE(64, 0x34);
  header.writeUInt16LE(56, 0x36);
  header.writeUInt16LE(1, 0x38);
  header.writeUInt16LE(64, 0x3a);
  header.writeUInt16LE(shnum, 0x3c);
  header.writeUInt16LE(withTable ? sections.length + 1 : 0, 0x3e);
  const program = Buffer.alloc(56);
  program.writeUInt32LE(1, 0);
  program.writeUInt32LE(6, 4);
  program.writeBigUInt64LE(0n, 8);
  program.writeBigUInt64LE(BigInt(base), 0x10);
  program.writeBigUInt64LE(BigInt(total), 0x20);
  program.writeBigUInt64LE(BigInt(total), 0x28);
  return { file: Buffer.concat([header, program, ...parts, table]), offsets };
}

/** Go 1.13–1.17: the header holds two pointers to Go string headers { data, len }. */
function pointerFormatElf(version: string, modinfo: Buffer): Buffer {
  const base = 0x400000;
  // Layout of the section: header (32) | version string header (16) | modinfo string header (16) | version | modinfo
  const size = 32 + 32 + version.length + modinfo.length;
  const first = elf64([{ name: '.go.buildinfo', data: Buffer.alloc(size) }]);
  const at = first.offsets[0] as number;
  const blob = Buffer.alloc(size);
  MAGIC.copy(blob);
  blob[14] = 8;
  blob[15] = 0;
  blob.writeBigUInt64LE(BigInt(base + at + 32), 16);
  blob.writeBigUInt64LE(BigInt(base + at + 48), 24);
  blob.writeBigUInt64LE(BigInt(base + at + 64), 32);
  blob.writeBigUInt64LE(BigInt(version.length), 40);
  blob.writeBigUInt64LE(BigInt(base + at + 64 + version.length), 48);
  blob.writeBigUInt64LE(BigInt(modinfo.length), 56);
  blob.write(version, 64, 'latin1');
  modinfo.copy(blob, 64 + version.length);
  return elf64([{ name: '.go.buildinfo', data: blob }]).file;
}

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
