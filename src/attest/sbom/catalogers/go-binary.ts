/**
 * `go-module-binary`: the Go modules compiled into ELF executables, from the build information the
 * Go linker embeds (`runtime/debug.BuildInfo`): the toolchain version (reported as the `stdlib`
 * package, as syft does), the main module and every `dep` line, with `=>` replacements applied.
 *
 * Where it is: the `.go.buildinfo` section, or (a binary without a section table) the start of the
 * first writable segment, at a 16-byte boundary. Its 32-byte header is the magic `\xff Go buildinf:`,
 * the pointer size and a flags byte. Go ≥ 1.18 (flag bit 2) puts the two strings inline after the
 * header, each prefixed with its uvarint length; older linkers (1.13–1.17) store two pointers to Go
 * string headers (data pointer, length), read through the segment table. The module text is wrapped
 * in 16-byte sentinels. Binaries built in GOPATH mode (Debian's runc, docker-registry) have no
 * module text: only their toolchain version is reported.
 */
import type { Cataloger, FsEntry, SbomPackage, ScanFile } from '../types.js';
import { PF_W, PT_LOAD, fileOffsetOf, readElf, type ElfFile } from './elf.js';
import { purl } from '../purl.js';
import { READ_CONCURRENCY, errorText, mapBounded, withScanFile } from './scan.js';

const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
const HEADER_BYTES = 32;
/** The version and module strings together are never near this (kubernetes: ~40 KiB). */
const MAX_BUILDINFO_BYTES = 4 * 1024 * 1024;
/** How far into the data segment the header is looked for when there is no section table (as Go: 512 KiB). */
const MAX_SCAN_BYTES = 1024 * 1024;

export interface GoModule {
  readonly path: string;
  readonly version: string;
  readonly sum?: string | undefined;
  /** The `=>` line after it: the module actually compiled in. */
  readonly replace?: GoModule | undefined;
}

export interface GoBuildInfo {
  /** `go1.21.5` */
  readonly goVersion: string;
  /** The main package's import path (`path` line). */
  readonly path?: string | undefined;
  readonly main?: GoModule | undefined;
  readonly deps: readonly GoModule[];
  readonly settings: ReadonlyMap<string, string>;
}

/** Reads a uvarint at `at`; undefined when it runs past the buffer or past 2^53. */
function uvarint(buffer: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < buffer.length && i < at + 8; i++) {
    const byte = buffer[i] as number;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
    scale *= 128;
  }
  return undefined;
}

/** The module text without the 16-byte sentinels the linker puts around it (bytes, before decoding). */
function stripSentinels(modinfo: Buffer): Buffer {
  if (modinfo.length >= 33 && modinfo[modinfo.length - 17] === 0x0a) return modinfo.subarray(16, modinfo.length - 16);
  return modinfo;
}

/** Parses the module text (`path`, `mod`, `dep`, `=>`, `build` lines, tab-separated). */
export function parseModInfo(goVersion: string, modinfo: Buffer): GoBuildInfo {
  let path: string | undefined;
  let main: GoModule | undefined;
  const deps: GoModule[] = [];
  const settings = new Map<string, string>();
  let last: 'main' | 'dep' | undefined;
  for (const line of stripSentinels(modinfo).toString('utf8').split('\n')) {
    const fields = line.split('\t');
    const [kind = '', a = '', b = '', c] = fields;
    switch (kind) {
      case 'path':
        path = a;
        last = undefined;
        break;
      case 'mod':
        main = { path: a, version: b, sum: c };
        last = 'main';
        break;
      case 'dep':
        deps.push({ path: a, version: b, sum: c });
        last = 'dep';
        break;
      case '=>': {
        const replace = { path: a, version: b, sum: c };
        const replaced = deps[deps.length - 1];
        if (last === 'dep' && replaced !== undefined) deps[deps.length - 1] = { ...replaced, replace };
        else if (last === 'main' && main !== undefined) main = { ...main, replace };
        break;
      }
      case 'build': {
        const eq = a.indexOf('=');
        if (eq > 0) settings.set(a.slice(0, eq), a.slice(eq + 1));
        break;
      }
      default:
        break;
    }
  }
  return { goVersion, path, main, deps, settings };
}

/** Decodes the header at `header` (the buildinfo blob, header first) of `elf`. */
async function decode(file: ScanFile, elf: ElfFile, blob: Buffer): Promise<GoBuildInfo | undefined> {
  if (blob.length < HEADER_BYTES || !blob.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const ptrSize = blob[14] as number;
  const flags = blob[15] as number;
  let version: string;
  let modinfo: Buffer;
  if ((flags & 2) !== 0) {
    const v = uvarint(blob, HEADER_BYTES);
    if (v === undefined || v.next + v.value > blob.length) return undefined;
    version = blob.toString('utf8', v.next, v.next + v.value);
    const m = uvarint(blob, v.next + v.value);
    if (m === undefined || m.next + m.value > blob.length) return undefined;
    modinfo = blob.subarray(m.next, m.next + m.value);
  } else {
    if (ptrSize !== 4 && ptrSize !== 8) return undefined;
    const bigEndian = flags !== 0;
    const readPtr = (buffer: Buffer, at: number): bigint => (ptrSize === 8
      ? (bigEndian ? buffer.readBigUInt64BE(at) : buffer.readBigUInt64LE(at))
      : BigInt(bigEndian ? buffer.readUInt32BE(at) : buffer.readUInt32LE(at)));
    const readString = async (address: bigint): Promise<Buffer | undefined> => {
      const headerOffset = fileOffsetOf(elf, address, ptrSize * 2);
      if (headerOffset === undefined) return undefined;
      const header = await file.read(headerOffset, ptrSize * 2);
      if (header.length !== ptrSize * 2) return undefined;
      const dataAddress = readPtr(header, 0);
      const length = readPtr(header, ptrSize);
      if (length === 0n) return Buffer.alloc(0);
      if (length > BigInt(Math.min(MAX_BUILDINFO_BYTES, file.size))) return undefined;
      const dataOffset = fileOffsetOf(elf, dataAddress, Number(length));
      if (dataOffset === undefined) return undefined;
      const data = await file.read(dataOffset, Number(length));
      return data.length === Number(length) ? data : undefined;
    };
    if (blob.length < 16 + 2 * ptrSize) return undefined;
    const v = await readString(readPtr(blob, 16));
    if (v === undefined) return undefined;
    version = v.toString('utf8');
    modinfo = (await readString(readPtr(blob, 16 + ptrSize))) ?? Buffer.alloc(0);
  }
  if (!version.startsWith('go') && !version.startsWith('devel')) return undefined;
  return parseModInfo(version, modinfo);
}

/** Finds and decodes the build information of the ELF file at `path`; undefined when it has none. */
export async function readGoBuildInfo(file: ScanFile): Promise<GoBuildInfo | undefined> {
  const elf = await readElf(file);
  if (elf === undefined) return undefined;
  const section = elf.sections.find((s) => s.name === '.go.buildinfo');
  if (section !== undefined) {
    if (section.size < HEADER_BYTES) return undefined;
    return decode(file, elf, await file.read(section.offset, Math.min(section.size, MAX_BUILDINFO_BYTES)));
  }
  // A section table without .go.buildinfo: not a Go binary (or one older than Go 1.13, which has none).
  if (elf.sections.length > 0) return undefined;
  const data = elf.segments.find((s) => s.type === PT_LOAD && (s.flags & PF_W) !== 0);
  if (data === undefined) return undefined;
  const window = await file.read(data.offset, Math.min(data.filesz, MAX_SCAN_BYTES));
  for (let at = window.indexOf(MAGIC); at !== -1; at = window.indexOf(MAGIC, at + 1)) {
    if (at % 16 !== 0) continue;
    const blob = await file.read(data.offset + at, MAX_BUILDINFO_BYTES);
    const info = await decode(file, elf, blob);
    if (info !== undefined) return info;
  }
  return undefined;
}

const DEVEL = '(devel)';

/**
 * The module compiled in, as syft names it: a replacement's path and version, except that a
 * replacement by a local directory keeps the required path; `(devel)` (no version known) is ''.
 */
export function effectiveModule(module: GoModule): { path: string; version: string } {
  const replace = module.replace;
  const local = replace !== undefined && (replace.path.startsWith('.') || replace.path.startsWith('/'));
  const path = replace === undefined || local ? module.path : replace.path;
  const version = replace?.version ?? module.version;
  return { path, version: version === DEVEL ? '' : version };
}

/** syft's main module version: from `-ldflags -X …version=`, else a pseudo-version from the VCS settings. */
function mainVersion(info: GoBuildInfo, main: GoModule): string {
  const known = effectiveModule(main).version;
  if (known !== '') return known;
  const ldflags = info.settings.get('-ldflags') ?? '';
  const fromLd = /-X\s*=?\s*["']?[\w./-]*\.(?:[vV]ersion|gitVersion)=["']?v?(\d+\.\d+\.\d+[\w.+-]*)/.exec(ldflags)?.[1];
  if (fromLd !== undefined) return `v${fromLd}`;
  const revision = info.settings.get('vcs.revision');
  const time = info.settings.get('vcs.time');
  if (revision !== undefined && revision.length >= 12 && time !== undefined) {
    const stamp = time.replace(/[-:TZ]/g, '').slice(0, 14);
    if (/^\d{14}$/.test(stamp)) return `v0.0.0-${stamp}-${revision.slice(0, 12)}`;
  }
  return '';
}

function goPurl(path: string, version: string): string {
  const slash = path.lastIndexOf('/');
  if (slash > 0 && slash < path.length - 1) return purl('golang', path.slice(0, slash), path.slice(slash + 1), version);
  return purl('golang', undefined, path, version);
}

/** The packages of one binary; a module that cannot be written as a purl is left out and passed to `skip`. */
export function goPackages(info: GoBuildInfo, location: string, skip: (module: string, error: unknown) => void = () => undefined): SbomPackage[] {
  const arch = info.settings.get('GOARCH');
  const out: SbomPackage[] = [];
  const add = (path: string, version: string): void => {
    let url: string;
    try {
      url = goPurl(path, version);
    } catch (error) {
      skip(`${path}@${version}`, error);
      return;
    }
    out.push({
      name: path,
      version,
      type: 'golang',
      purl: url,
      licenses: [],
      foundBy: 'go-module-binary',
      locations: [{ path: location }],
      arch,
    });
  };
  const main = info.main;
  if (main !== undefined && main.path !== '' && main.path !== 'command-line-arguments') add(effectiveModule(main).path, mainVersion(info, main));
  for (const dep of info.deps) {
    const module = effectiveModule(dep);
    if (module.path !== '') add(module.path, module.version);
  }
  const go = /^go\d+(\.\d+)*/.exec(info.goVersion)?.[0];
  if (go !== undefined) {
    out.push({
      name: 'stdlib',
      version: go,
      type: 'golang',
      purl: purl('golang', undefined, 'stdlib', go.slice(2)),
      licenses: ['BSD-3-Clause'],
      foundBy: 'go-module-binary',
      locations: [{ path: location }],
      arch,
    });
  }
  return out;
}

/** Executables only: a Go program is installed with an execute bit (shared objects are not scanned). */
function candidate(entry: FsEntry): boolean {
  return entry.type === 'file' && (entry.mode & 0o111) !== 0 && entry.size >= 64;
}

export const goModuleBinaryCataloger: Cataloger = {
  name: 'go-module-binary',
  async catalog(context) {
    const candidates = (await context.fs.entries()).filter(candidate);
    const found = await mapBounded(candidates, READ_CONCURRENCY, context.signal, async (entry) => {
      try {
        const info = await withScanFile(context.fs, entry.path, entry.size, readGoBuildInfo);
        const skip = (module: string, error: unknown): void => context.warn(`go binary ${entry.path}: module ${module} left out (${errorText(error)})`);
        return info === undefined ? [] : goPackages(info, entry.path, skip);
      } catch (error) {
        context.warn(`go binary ${entry.path}: cannot be read (${errorText(error)}); skipped`);
        return [];
      }
    });
    return found.flat();
  },
};
