/**
 * An OSV-format matcher (https://ossf.github.io/osv-schema/) over a directory the user imported
 * (`--vuln-db DIR`): every `*.json` file below it is one advisory, validated by schema (a file that
 * fails is a warning naming it). Ecosystems npm, PyPI, Go, Debian and Alpine are matched, with each
 * ecosystem's version order; `SEMVER` and `ECOSYSTEM` ranges and `versions` lists are evaluated;
 * `GIT` ranges name commits, which an installed package does not carry, so they are skipped and said so.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import type { Severity, VulnFinding, VulnSource } from '../types.js';
import { cvss2Score, cvss3Score, severityOfScore, severityOfWord } from './cvss.js';
import { osvEcosystem, type VulnDistro, type VulnPackage } from './package.js';
import { compareApk, compareDpkg, comparePep440, compareSemver, type VersionCompare } from './versions.js';
import { sourceVersionOf } from './debian/source.js';

const Event = z.object({
  introduced: z.string().optional(),
  fixed: z.string().optional(),
  last_affected: z.string().optional(),
  limit: z.string().optional(),
});
const Range = z.object({ type: z.string(), repo: z.string().optional(), events: z.array(Event) });
const SeverityEntry = z.object({ type: z.string(), score: z.string() });
const WithSeverity = z.object({ severity: z.unknown().optional() }).loose();
const Affected = z.object({
  package: z.object({ ecosystem: z.string(), name: z.string(), purl: z.string().optional() }).optional(),
  severity: z.array(SeverityEntry).optional(),
  ranges: z.array(Range).optional(),
  versions: z.array(z.string()).optional(),
  ecosystem_specific: WithSeverity.optional(),
  database_specific: WithSeverity.optional(),
});
export const OsvRecord = z.object({
  schema_version: z.string().optional(),
  id: z.string().min(1).max(200),
  modified: z.string(),
  published: z.string().optional(),
  withdrawn: z.string().optional(),
  aliases: z.array(z.string()).optional(),
  summary: z.string().optional(),
  details: z.string().optional(),
  severity: z.array(SeverityEntry).optional(),
  affected: z.array(Affected).optional(),
  database_specific: WithSeverity.optional(),
});
export type OsvRecord = z.infer<typeof OsvRecord>;
type OsvAffected = z.infer<typeof Affected>;

export const COMPARATORS: Readonly<Record<string, VersionCompare>> = { npm: compareSemver, Go: compareSemver, PyPI: comparePep440, Debian: compareDpkg, Alpine: compareApk };

export interface OsvLimits {
  readonly maxFiles: number;
  readonly maxFileBytes: number;
}
export const DEFAULT_OSV_LIMITS: OsvLimits = { maxFiles: 1_000_000, maxFileBytes: 16 << 20 };

export interface OsvDatabase {
  readonly dir: string;
  /** `ecosystem|name` → advisories naming that package. */
  readonly byPackage: ReadonlyMap<string, readonly { readonly record: OsvRecord; readonly affected: OsvAffected; readonly release: string | undefined }[]>;
  readonly ecosystems: ReadonlySet<string>;
  /** Ecosystem → the releases its advisories name ('' for none: `Debian` rather than `Debian:12`). */
  readonly releases: ReadonlyMap<string, ReadonlySet<string>>;
  readonly newestModified: string | undefined;
  readonly records: number;
  readonly withdrawn: number;
  /** Ecosystems the matcher does not know → advisories naming them. */
  readonly unknownEcosystems: ReadonlyMap<string, number>;
}

function normalizeName(ecosystem: string, name: string): string {
  return ecosystem === 'PyPI' ? name.toLowerCase().replace(/[-_.]+/gu, '-') : name;
}

async function jsonFiles(dir: string, limits: OsvLimits, warn: (m: string) => void): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop() ?? dir;
    let names: string[];
    try {
      names = await readdir(current);
    } catch (error) {
      warn(`${current}: cannot list (${error instanceof Error ? error.message : String(error)})`);
      continue;
    }
    for (const name of names.sort()) {
      const path = join(current, name);
      const stat = await lstat(path); // symlinks are not followed (no loops, nothing outside the directory)
      if (stat.isDirectory()) stack.push(path);
      else if (stat.isFile() && name.endsWith('.json')) {
        if (out.length >= limits.maxFiles) {
          warn(`${dir}: more than ${limits.maxFiles} files; the rest are ignored`);
          return out;
        }
        if (stat.size > limits.maxFileBytes) warn(`${path}: ${stat.size} bytes, over the ${limits.maxFileBytes}-byte cap; skipped`);
        else out.push(path);
      }
    }
  }
  return out;
}

/** Reads and indexes an OSV directory. A file that is not an OSV record is a warning naming it. */
export async function loadOsvDirectory(dir: string, warn: (m: string) => void, signal: AbortSignal, limits: OsvLimits = DEFAULT_OSV_LIMITS): Promise<OsvDatabase> {
  const byPackage = new Map<string, { record: OsvRecord; affected: OsvAffected; release: string | undefined }[]>();
  const ecosystems = new Set<string>();
  const releases = new Map<string, Set<string>>();
  const unknownEcosystems = new Map<string, number>();
  let newestModified: string | undefined;
  let records = 0;
  let withdrawn = 0;
  for (const path of await jsonFiles(dir, limits, warn)) {
    signal.throwIfAborted();
    let parsed: OsvRecord;
    try {
      const result = OsvRecord.safeParse(JSON.parse(await readFile(path, 'utf8')));
      if (!result.success) {
        const issue = result.error.issues[0];
        warn(`${relative(dir, path)}: not an OSV record (${issue === undefined ? 'invalid' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}); skipped`);
        continue;
      }
      parsed = result.data;
    } catch (error) {
      warn(`${relative(dir, path)}: not valid JSON (${error instanceof Error ? error.message : String(error)}); skipped`);
      continue;
    }
    records++;
    if (Number.isNaN(Date.parse(parsed.modified))) warn(`${relative(dir, path)}: modified ${JSON.stringify(parsed.modified)} is not a date`);
    else if (newestModified === undefined || Date.parse(parsed.modified) > Date.parse(newestModified)) newestModified = new Date(Date.parse(parsed.modified)).toISOString();
    if (parsed.withdrawn !== undefined) {
      withdrawn++;
      continue;
    }
    for (const affected of parsed.affected ?? []) {
      if (affected.package === undefined) continue;
      const [base = '', release] = affected.package.ecosystem.split(':', 2);
      if (COMPARATORS[base] === undefined) {
        unknownEcosystems.set(base, (unknownEcosystems.get(base) ?? 0) + 1);
        continue;
      }
      ecosystems.add(base);
      releases.set(base, (releases.get(base) ?? new Set<string>()).add(release ?? ''));
      const key = `${base}|${normalizeName(base, affected.package.name)}`;
      const list = byPackage.get(key) ?? [];
      list.push({ record: parsed, affected, release });
      byPackage.set(key, list);
    }
  }
  return { dir, byPackage, ecosystems, releases, newestModified, records, withdrawn, unknownEcosystems };
}

/** Whether an advisory's ecosystem release (`Debian:12`, `Alpine:v3.20`) is the image's distro release. */
function releaseMatches(base: string, release: string | undefined, distro: VulnDistro | undefined): boolean {
  if (release === undefined || release === '') return true;
  const version = distro?.versionId;
  if (version === undefined) return false;
  if (base === 'Debian') return release.split('.')[0] === version.split('.')[0];
  if (base === 'Alpine') return release.replace(/^v/u, '') === version.split('.').slice(0, 2).join('.');
  return true;
}

interface RangeVerdict {
  readonly affected: boolean;
  readonly fixed: string | undefined;
  /** A version of the range that does not parse: the range could not be judged. */
  readonly unparsable: boolean;
}

/** OSV's range evaluation: events in version order; introduced opens, fixed/last_affected close, limit bounds. */
function evaluateRange(version: string, events: readonly z.infer<typeof Event>[], compare: VersionCompare): RangeVerdict {
  const points: { kind: 'introduced' | 'fixed' | 'last_affected' | 'limit'; at: string }[] = [];
  for (const event of events) {
    if (event.introduced !== undefined) points.push({ kind: 'introduced', at: event.introduced });
    if (event.fixed !== undefined) points.push({ kind: 'fixed', at: event.fixed });
    if (event.last_affected !== undefined) points.push({ kind: 'last_affected', at: event.last_affected });
    if (event.limit !== undefined) points.push({ kind: 'limit', at: event.limit });
  }
  const cmp = (a: string, b: string): number | undefined => (a === '0' && b === '0' ? 0 : a === '0' ? -1 : b === '0' ? 1 : compare(a, b));
  let unparsable = false;
  for (const p of points) if (p.at !== '0' && compare(p.at, p.at) === undefined) unparsable = true;
  if (unparsable || compare(version, version) === undefined) return { affected: false, fixed: undefined, unparsable: true };
  points.sort((a, b) => cmp(a.at, b.at) ?? 0);
  let affected = false;
  let fixed: string | undefined;
  for (const p of points) {
    const c = cmp(version, p.at) ?? 0;
    if (p.kind === 'introduced' && c >= 0) affected = true;
    else if (p.kind === 'fixed' && c >= 0) affected = false;
    else if (p.kind === 'last_affected' && c > 0) affected = false;
    else if (p.kind === 'limit' && c >= 0) affected = false;
    if (p.kind === 'fixed' && c < 0 && fixed === undefined) fixed = p.at;
  }
  return { affected, fixed: affected ? fixed : undefined, unparsable: false };
}

function severityOf(record: OsvRecord, affected: OsvAffected): Severity {
  for (const holder of [affected.database_specific, affected.ecosystem_specific, record.database_specific]) {
    const word = holder?.severity;
    if (typeof word === 'string') {
      const severity = severityOfWord(word);
      if (severity !== undefined) return severity;
    }
  }
  let best: Severity | undefined;
  const rank = (s: Severity): number => ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'].indexOf(s);
  for (const entry of [...(affected.severity ?? []), ...(record.severity ?? [])]) {
    let severity: Severity | undefined;
    if (entry.type === 'CVSS_V3') {
      const score = cvss3Score(entry.score);
      if (score !== undefined) severity = severityOfScore(score, 3);
    } else if (entry.type === 'CVSS_V2') {
      const score = cvss2Score(entry.score);
      if (score !== undefined) severity = severityOfScore(score, 2);
    }
    if (severity !== undefined && (best === undefined || rank(severity) > rank(best))) best = severity;
  }
  return best ?? 'UNKNOWN';
}

export interface OsvScanResult {
  readonly source: VulnSource;
  readonly findings: readonly VulnFinding[];
  readonly hasData: boolean;
  readonly notes: readonly string[];
}

/** Matches the image's packages against a loaded OSV directory. */
export function matchOsv(db: OsvDatabase, packages: readonly VulnPackage[], distro: VulnDistro | undefined): OsvScanResult {
  const sourceName = `OSV directory ${db.dir}`;
  const findings: VulnFinding[] = [];
  const notes: string[] = [];
  let gitRanges = 0;
  let unparsable = 0;
  let checked = 0;
  for (const pkg of packages) {
    const ecosystem = osvEcosystem(pkg.type);
    if (ecosystem === undefined || !db.ecosystems.has(ecosystem)) continue;
    // Distro advisories only for another release are no data for this image.
    if (![...(db.releases.get(ecosystem) ?? [])].some((release) => releaseMatches(ecosystem, release, distro))) continue;
    const compare = COMPARATORS[ecosystem];
    if (compare === undefined) continue;
    checked++;
    const distroPackage = ecosystem === 'Debian' || ecosystem === 'Alpine';
    const name = distroPackage ? (pkg.source?.name ?? pkg.name) : pkg.name;
    const version = ecosystem === 'Debian' ? sourceVersionOf(pkg) : pkg.version;
    const seen = new Set<string>();
    for (const { record, affected, release } of db.byPackage.get(`${ecosystem}|${normalizeName(ecosystem, name)}`) ?? []) {
      if (!releaseMatches(ecosystem, release, distro)) continue;
      let hit = (affected.versions ?? []).some((v) => v === version || compare(v, version) === 0);
      let fixed: string | undefined;
      for (const range of affected.ranges ?? []) {
        if (range.type === 'GIT') {
          gitRanges++;
          continue;
        }
        if (range.type !== 'SEMVER' && range.type !== 'ECOSYSTEM') continue;
        const verdict = evaluateRange(version, range.events, range.type === 'SEMVER' ? compareSemver : compare);
        if (verdict.unparsable) unparsable++;
        if (verdict.affected) {
          hit = true;
          fixed ??= verdict.fixed;
        }
      }
      if (!hit || seen.has(record.id)) continue;
      seen.add(record.id);
      findings.push({
        id: record.id,
        aliases: [...(record.aliases ?? [])].sort(),
        package: { name: pkg.name, version: pkg.version, ecosystem, ...(pkg.purl === '' ? {} : { purl: pkg.purl }) },
        severity: severityOf(record, affected),
        ...(fixed === undefined ? {} : { fixedVersion: fixed }),
        ...(record.summary === undefined ? {} : { summary: record.summary.slice(0, 500) }),
        source: sourceName,
      });
    }
  }
  if (gitRanges > 0) notes.push(`${gitRanges} GIT range(s) in ${sourceName} were ignored: they name commits, which installed packages do not record`);
  if (unparsable > 0) notes.push(`${unparsable} range(s) in ${sourceName} had versions that do not parse in their ecosystem and were not judged`);
  if (db.withdrawn > 0) notes.push(`${db.withdrawn} withdrawn advisory(ies) in ${sourceName} were ignored`);
  for (const [ecosystem, count] of [...db.unknownEcosystems].sort()) notes.push(`${count} advisory package(s) in ${sourceName} are in ecosystem ${JSON.stringify(ecosystem)}, which stagecraft does not match`);
  return {
    source: {
      kind: 'osv-dir',
      name: sourceName,
      ...(db.newestModified === undefined ? {} : { updated: db.newestModified }),
      ecosystems: [...db.ecosystems].sort(),
      packagesChecked: checked,
    },
    findings,
    hasData: checked > 0,
    notes,
  };
}
