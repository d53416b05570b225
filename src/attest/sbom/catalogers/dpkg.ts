/**
 * dpkg's database (syft: dpkg-db-cataloger): `/var/lib/dpkg/status` and the one-file-per-package
 * `/var/lib/dpkg/status.d/*` of distroless images, with licences from the package's copyright file.
 */
import { purl } from '../purl.js';
import type { CatalogContext, Cataloger, PackageLocation, SbomPackage } from '../types.js';
import { spdxExpression, spdxLicense } from './licenses.js';
import { filesIn, readText } from './read.js';

const STATUS = '/var/lib/dpkg/status';
const STATUS_D = '/var/lib/dpkg/status.d';
const INFO = '/var/lib/dpkg/info';
const COPYRIGHT_MAX_BYTES = 4 * 1024 * 1024;
const COPYRIGHT_READS = 8;
/** More status.d entries than any image has packages: the rest are not read. */
const MAX_STATUS_D = 50_000;

/** One deb822 paragraph: field name (lowercased) → value, continuation lines joined with '\n'. */
export type Paragraph = ReadonlyMap<string, string>;

export interface ParsedParagraphs {
  readonly paragraphs: readonly Paragraph[];
  /** Lines that are neither `Field: value`, a continuation nor blank. */
  readonly badLines: number;
}

/** deb822 (Debian control-file) paragraphs, as dpkg writes its status file. */
export function parseDeb822(text: string): ParsedParagraphs {
  const paragraphs: Paragraph[] = [];
  let current = new Map<string, string>();
  let last: string | undefined;
  let badLines = 0;
  const flush = (): void => {
    if (current.size > 0) paragraphs.push(current);
    current = new Map();
    last = undefined;
  };
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last === undefined) badLines++;
      else current.set(last, `${current.get(last) ?? ''}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      badLines++;
      last = undefined;
      continue;
    }
    last = name.toLowerCase();
    current.set(last, line.slice(colon + 1).trim());
  }
  flush();
  return { paragraphs, badLines };
}

/** `Source: gcc-12 (12.2.0-14)` → name and version; `Source: glibc` → name only. */
export function parseSource(value: string): { readonly name: string; readonly version?: string | undefined } | undefined {
  const match = /^(\S+)(?:\s+\(([^)]*)\))?\s*$/.exec(value.trim());
  if (match === null) return undefined;
  const version = match[2]?.trim();
  return { name: match[1] ?? '', version: version === '' ? undefined : version };
}

/**
 * Licences of a copyright file. Machine-readable (DEP-5) files: every `License:` field's first
 * line. Any file: the `/usr/share/common-licenses/NAME` references (syft reads both).
 */
export function copyrightLicenses(text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(/^License:[ \t]*(\S[^\n]*)$/gim)) {
    const value = (match[1] ?? '').trim();
    if (value !== '') found.add(spdxExpression(value));
  }
  for (const match of text.matchAll(/\/usr\/share\/common-licenses\/([A-Za-z0-9_.+-]+?)(?=[.,;:)'"]?(?:\s|$))/g)) {
    found.add(spdxLicense(match[1] ?? ''));
  }
  found.delete('');
  return [...found].sort();
}

/** `install ok installed` (and `hold ok installed`): the third word is the package's state. */
function installed(status: string | undefined): boolean {
  if (status === undefined) return true; // status.d entries carry no Status: every one is installed.
  return status.trim().split(/\s+/)[2] === 'installed';
}

interface Found {
  readonly pkg: SbomPackage;
  readonly docName: string;
}

function toPackage(context: CatalogContext, paragraph: Paragraph, path: string, known: ReadonlySet<string>): Found | undefined {
  const name = paragraph.get('package') ?? '';
  const version = paragraph.get('version') ?? '';
  const arch = paragraph.get('architecture') || undefined;
  const source = paragraph.get('source') === undefined ? undefined : parseSource(paragraph.get('source') ?? '');
  const distroId = context.distro?.id ?? 'debian';
  const distroQualifier = context.distro === undefined ? undefined : [context.distro.id, context.distro.versionId].filter(Boolean).join('-');
  const qualifiers: Record<string, string> = {};
  if (arch !== undefined) qualifiers['arch'] = arch;
  if (distroQualifier !== undefined) qualifiers['distro'] = distroQualifier;
  if (source !== undefined) qualifiers['upstream'] = source.version === undefined ? source.name : `${source.name}@${source.version}`;
  const locations: PackageLocation[] = [{ path }];
  // Multi-arch "same" packages have their info files under name:arch.
  for (const base of [name, `${name}:${arch ?? ''}`]) {
    for (const ext of ['.list', '.md5sums']) {
      const info = `${INFO}/${base}${ext}`;
      if (known.has(info)) locations.push({ path: info });
    }
  }
  const description = paragraph.get('description')?.split('\n')[0]?.trim();
  const pkg: SbomPackage = {
    name,
    version,
    type: 'deb',
    purl: purl('deb', distroId, name, version, qualifiers),
    licenses: [],
    foundBy: 'dpkg-db',
    locations,
    arch,
    source: source === undefined ? undefined : { name: source.name, version: source.version ?? version },
    supplier: paragraph.get('maintainer') || undefined,
    description: description || undefined,
    homepage: paragraph.get('homepage') || undefined,
  };
  return { pkg, docName: name };
}

async function withLicenses(context: CatalogContext, found: Found): Promise<SbomPackage> {
  const path = `/usr/share/doc/${found.docName}/copyright`;
  const text = await readText(context, path, 'copyright file', COPYRIGHT_MAX_BYTES);
  if (text === undefined) return found.pkg;
  const licenses = copyrightLicenses(text);
  if (licenses.length === 0) return found.pkg;
  return { ...found.pkg, licenses, locations: [...found.pkg.locations, { path }] };
}

async function readDb(context: CatalogContext, path: string, known: ReadonlySet<string>): Promise<Found[]> {
  const text = await readText(context, path, 'dpkg status file');
  if (text === undefined) return [];
  const { paragraphs, badLines } = parseDeb822(text);
  const out: Found[] = [];
  let incomplete = 0;
  for (const paragraph of paragraphs) {
    if (!installed(paragraph.get('status'))) continue;
    const name = paragraph.get('package') ?? '';
    if (!/^[a-z0-9][a-z0-9+.-]*$/i.test(name) || (paragraph.get('version') ?? '') === '') {
      incomplete++;
      continue;
    }
    const found = toPackage(context, paragraph, path, known);
    if (found !== undefined) out.push(found);
  }
  if (badLines > 0 || incomplete > 0) {
    context.warn(`${path}: corrupt dpkg status (${badLines} malformed line(s), ${incomplete} entr${incomplete === 1 ? 'y' : 'ies'} without a valid Package/Version); read ${out.length} package(s)`);
  }
  return out;
}

export const dpkgCataloger: Cataloger = {
  name: 'dpkg-db',
  async catalog(context) {
    const entries = await context.fs.entries();
    const known = new Set(entries.map((e) => e.path));
    let entriesD = (await filesIn(context, STATUS_D)).filter((p) => !p.endsWith('.md5sums'));
    if (entriesD.length > MAX_STATUS_D) {
      context.warn(`${STATUS_D}: ${entriesD.length} entries, only the first ${MAX_STATUS_D} are read`);
      entriesD = entriesD.slice(0, MAX_STATUS_D);
    }
    const dbs = [STATUS, ...entriesD];
    const found: Found[] = [];
    for (const db of dbs) {
      context.signal.throwIfAborted();
      if (db === STATUS && !known.has(STATUS)) continue;
      const fromDb = await readDb(context, db, known);
      if (db.startsWith(`${STATUS_D}/`)) {
        // distroless: status.d/<name>.md5sums beside the entry.
        const md5 = `${db}.md5sums`;
        found.push(...fromDb.map((f) => (known.has(md5) ? { ...f, pkg: { ...f.pkg, locations: [...f.pkg.locations, { path: md5 }] } } : f)));
      } else {
        found.push(...fromDb);
      }
    }
    // Copyright files are small and many: read a few at a time.
    const out: SbomPackage[] = [];
    for (let i = 0; i < found.length; i += COPYRIGHT_READS) {
      context.signal.throwIfAborted();
      out.push(...(await Promise.all(found.slice(i, i + COPYRIGHT_READS).map((f) => withLicenses(context, f)))));
    }
    return out;
  },
};
