/**
 * Debian control-file formats read from a mirror: the release file (`InRelease` / `Release`: its date
 * and the SHA256 of each index), Packages index stanzas (streamed, with caps), and
 * `changelog.Debian` entries (their versions, urgency and the CVE ids they name).
 */

export interface ReleaseFile {
  readonly suite: string;
  readonly codename: string;
  /** The `Date:` field as ISO 8601, when it parses. */
  readonly date: string | undefined;
  /** Index path (`main/binary-amd64/Packages.xz`) → sha256 and size. */
  readonly files: ReadonlyMap<string, { readonly sha256: string; readonly size: number }>;
}

/** The signed text of an `InRelease` (clearsigned) or a plain `Release`; the signature is not checked here. */
export function parseRelease(text: string): ReleaseFile {
  let body = text;
  const begin = body.indexOf('-----BEGIN PGP SIGNED MESSAGE-----');
  if (begin >= 0) {
    const start = body.indexOf('\n\n', begin);
    const end = body.indexOf('\n-----BEGIN PGP SIGNATURE-----');
    body = body.slice(start < 0 ? begin : start + 2, end < 0 ? undefined : end);
  }
  const fields = new Map<string, string>();
  const files = new Map<string, { sha256: string; size: number }>();
  let section: string | undefined;
  for (const line of body.split('\n')) {
    if (/^\s/u.test(line)) {
      if (section === 'sha256') {
        const m = /^\s+([0-9a-f]{64})\s+(\d+)\s+(\S+)\s*$/u.exec(line);
        if (m?.[1] !== undefined && m[3] !== undefined) files.set(m[3], { sha256: m[1], size: Number(m[2]) });
      }
      continue;
    }
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/u.exec(line);
    if (m?.[1] === undefined) continue;
    section = m[1].toLowerCase();
    fields.set(section, (m[2] ?? '').trim());
  }
  const dateText = fields.get('date');
  const time = dateText === undefined ? Number.NaN : Date.parse(dateText);
  return { suite: fields.get('suite') ?? '', codename: fields.get('codename') ?? '', date: Number.isNaN(time) ? undefined : new Date(time).toISOString(), files };
}

/** One binary package of a Packages index (only the fields the scan needs). */
export interface IndexEntry {
  readonly package: string;
  readonly version: string;
  readonly source: string;
  readonly sourceVersion: string;
  readonly filename: string;
  readonly size: number;
  readonly sha256: string;
}

export interface IndexLimits {
  /** The most stanzas kept (Debian main has ~65,000 per architecture). */
  readonly maxEntries: number;
  /** The longest line accepted (a long `Description` or `Depends`: a few KiB). */
  readonly maxLineBytes: number;
}

export const DEFAULT_INDEX_LIMITS: IndexLimits = { maxEntries: 400_000, maxLineBytes: 256 * 1024 };

/**
 * Parses a Packages index from its decompressed bytes, line by line: stanzas missing a required
 * field, or with malformed values, are counted and skipped (`skipped`), never fatal.
 */
export async function parsePackagesIndex(
  source: AsyncIterable<Buffer>,
  limits: IndexLimits = DEFAULT_INDEX_LIMITS,
  /** Called for each entry instead of collecting it (a big index need not be held whole). */
  visit?: (entry: IndexEntry) => void,
): Promise<{ entries: IndexEntry[]; skipped: number; truncated: boolean }> {
  const entries: IndexEntry[] = [];
  let count = 0;
  let skipped = 0;
  let fields = new Map<string, string>();
  let broken = false;
  const finish = (): boolean => {
    if (fields.size > 0 || broken) {
      const entry = broken ? undefined : toEntry(fields);
      if (entry === undefined) skipped++;
      else {
        count++;
        if (visit === undefined) entries.push(entry);
        else visit(entry);
      }
    }
    fields = new Map();
    broken = false;
    return count >= limits.maxEntries;
  };
  const take = (line: string): boolean => {
    if (line.length > limits.maxLineBytes) {
      broken = true;
      return false;
    }
    if (line.trim() === '') return finish();
    if (/^\s/u.test(line)) return false; // continuation of a field the scan does not need
    const colon = line.indexOf(':');
    if (colon <= 0) {
      broken = true;
      return false;
    }
    const name = line.slice(0, colon);
    if (KEPT.has(name)) fields.set(name, line.slice(colon + 1).trim());
    return false;
  };
  let pending = '';
  for await (const chunk of source) {
    const lines = (pending + chunk.toString('latin1')).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (take(line)) return { entries, skipped, truncated: true };
    if (pending.length > limits.maxLineBytes) {
      broken = true;
      pending = '';
    }
  }
  if (pending !== '') take(pending);
  finish();
  return { entries, skipped, truncated: false };
}

const KEPT = new Set(['Package', 'Version', 'Source', 'Filename', 'Size', 'SHA256']);
const NAME_RE = /^[a-z0-9][a-z0-9+.-]*$/u;

function toEntry(fields: ReadonlyMap<string, string>): IndexEntry | undefined {
  const name = fields.get('Package');
  const version = fields.get('Version');
  const filename = fields.get('Filename');
  const sha256 = fields.get('SHA256');
  const size = Number(fields.get('Size'));
  if (name === undefined || version === undefined || filename === undefined || sha256 === undefined) return undefined;
  if (!NAME_RE.test(name) || !/^[0-9a-f]{64}$/u.test(sha256) || !Number.isSafeInteger(size) || size < 0) return undefined;
  // A pool path, relative, without `..`: it is joined to the mirror's URL.
  if (!/^pool\/[A-Za-z0-9+._~/-]+\.deb$/u.test(filename) || filename.split('/').includes('..')) return undefined;
  const sourceField = /^([a-z0-9][a-z0-9+.-]*)(?:\s+\(([^)\s]+)\))?$/u.exec(fields.get('Source') ?? name);
  if (sourceField?.[1] === undefined) return undefined;
  return { package: name, version, source: sourceField[1], sourceVersion: sourceField[2] ?? version, filename, size, sha256 };
}

/** One entry of a `changelog.Debian`. */
export interface ChangelogEntry {
  readonly source: string;
  readonly version: string;
  readonly distribution: string;
  readonly urgency: string | undefined;
  /** CVE ids named in the entry, in order of first mention, without duplicates. */
  readonly cves: readonly string[];
}

const HEADER_RE = /^([a-z0-9][a-z0-9+.-]*) \(([^()\s]+)\) ([^;]*);(.*)$/u;
const CVE_RE = /CVE-\d{4}-\d{4,7}/gu;

/** The entries of a Debian changelog (newest first, as written). Lines outside any entry are ignored. */
export function parseChangelog(text: string): ChangelogEntry[] {
  const entries: { source: string; version: string; distribution: string; urgency: string | undefined; cves: string[] }[] = [];
  let current: (typeof entries)[number] | undefined;
  for (const line of text.split('\n')) {
    const header = HEADER_RE.exec(line);
    if (header !== null) {
      const urgency = /urgency=([a-z]+)/iu.exec(header[4] ?? '')?.[1]?.toLowerCase();
      current = { source: header[1] ?? '', version: header[2] ?? '', distribution: (header[3] ?? '').trim(), urgency, cves: [] };
      entries.push(current);
      continue;
    }
    if (current === undefined || !line.startsWith(' ')) continue;
    for (const m of line.matchAll(CVE_RE)) if (!current.cves.includes(m[0])) current.cves.push(m[0]);
  }
  return entries;
}
