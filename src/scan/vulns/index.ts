/**
 * The vulnerability scan: the image's packages (from the SBOM catalogers) against the data that
 * exists offline or on the configured Debian mirror, honestly labelled. Sources: the Debian mirror's
 * security and point-release indexes with the CVEs of changelogs (Debian images), and an OSV
 * directory the user imported (`osvDir`). A report with no data for the image says so (`hasData`
 * false): it never reads as "0 CVEs".
 */
import { SEVERITIES, type Severity, type VulnFinding, type VulnReport, type VulnSource } from '../types.js';
import { aptDebianMirror, mirrorFromUrl, type DebianMirror } from './debian/apt-sources.js';
import { DEBIAN_CODENAMES, scanDebian, type DebianLimits } from './debian/source.js';
import { loadOsvDirectory, matchOsv } from './osv.js';
import type { VulnDistro, VulnPackage } from './package.js';

export { aptDebianMirror, mirrorFromUrl, type DebianMirror } from './debian/apt-sources.js';
export { type VulnDistro, type VulnPackage } from './package.js';
export { vulnPredicate, VULN_PREDICATE_TYPE, type VulnPredicateSubject } from './predicate.js';
export { vulnTable, withVulnerabilities, vulnSummary } from './render.js';
export { compareApk, compareDpkg, comparePep440, compareSemver } from './versions.js';

export interface VulnDataOptions {
  /** The state root: the Debian indexes and changelog extracts are cached under `vulns/`. */
  readonly stateRoot: string;
  /** The Debian archive URL (`http://deb.debian.org/debian`; security: its `-security` sibling). Default: this machine's apt sources. */
  readonly debianMirror?: string | undefined;
  /** A directory of OSV JSON files (`--vuln-db`). */
  readonly osvDir?: string | undefined;
  /** Use only cached data: no network. */
  readonly offline?: boolean | undefined;
}

export interface ScanVulnerabilitiesInput {
  /** The image's packages: the catalogers' `SbomPackage[]`. */
  readonly packages: readonly VulnPackage[];
  /** The image's distro (`Distro` from its os-release). */
  readonly distro: VulnDistro | undefined;
  readonly data: VulnDataOptions;
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
  /** Test seams: the apt configuration root (default `/`), Debian caps, the clock. */
  readonly aptRoot?: string | undefined;
  readonly debianLimits?: Partial<DebianLimits> | undefined;
  readonly now?: (() => Date) | undefined;
}

const RANK: Readonly<Record<Severity, number>> = { CRITICAL: 4, HIGH: 3, MEDIUM: 2, LOW: 1, UNKNOWN: 0 };

/** One finding per (package, vulnerability): an OSV advisory whose alias is a Debian changelog CVE is the same finding. */
function merge(findings: readonly VulnFinding[]): VulnFinding[] {
  const byKey = new Map<string, VulnFinding>();
  const keyOf = (f: VulnFinding, id: string): string => `${f.package.ecosystem}|${f.package.name}|${f.package.version}|${id}`;
  for (const finding of findings) {
    const existingKey = [finding.id, ...finding.aliases].map((id) => keyOf(finding, id)).find((k) => byKey.has(k));
    const existing = existingKey === undefined ? undefined : byKey.get(existingKey);
    if (existing === undefined) {
      for (const id of [finding.id, ...finding.aliases]) byKey.set(keyOf(finding, id), finding);
      continue;
    }
    const keep = RANK[finding.severity] > RANK[existing.severity] ? finding : existing;
    const other = keep === finding ? existing : finding;
    const aliases = [...new Set([...keep.aliases, ...other.aliases, other.id])].filter((id) => id !== keep.id).sort();
    const merged: VulnFinding = { ...keep, aliases, fixedVersion: keep.fixedVersion ?? other.fixedVersion };
    for (const id of [merged.id, ...merged.aliases]) byKey.set(keyOf(merged, id), merged);
  }
  const unique = [...new Set(byKey.values())];
  return unique.sort((a, b) => RANK[b.severity] - RANK[a.severity] || a.package.name.localeCompare(b.package.name) || a.id.localeCompare(b.id));
}

function countsOf(findings: readonly VulnFinding[]): Record<Severity, number> {
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const finding of findings) counts[finding.severity]++;
  return counts;
}

export async function scanVulnerabilities(input: ScanVulnerabilitiesInput): Promise<VulnReport> {
  const now = input.now ?? ((): Date => new Date());
  const startedAt = now().toISOString();
  const sources: VulnSource[] = [];
  const findings: VulnFinding[] = [];
  const notes: string[] = [];
  let hasData = false;
  const { data, distro, warn, signal } = input;

  const debs = input.packages.filter((p) => p.type === 'deb');
  if (debs.length > 0) {
    const codename = distro?.id === 'debian' && distro.versionId !== undefined ? DEBIAN_CODENAMES[distro.versionId.split('.')[0] ?? ''] : undefined;
    let mirror: DebianMirror | undefined;
    if (codename !== undefined) mirror = data.debianMirror === undefined ? await aptDebianMirror(input.aptRoot) : mirrorFromUrl(data.debianMirror);
    if (codename === undefined) {
      const what = distro === undefined ? 'an unknown distro (no os-release)' : `${distro.prettyName ?? `${distro.id} ${distro.versionId ?? ''}`.trim()}`;
      notes.push(`the image's ${debs.length} dpkg packages are from ${what}, not a Debian release the mirror source serves (Debian ${Object.keys(DEBIAN_CODENAMES).join(', ')}; testing/unstable have no security suite): not checked against Debian data`);
    } else if (mirror === undefined) {
      notes.push('no Debian mirror is configured (none in /etc/apt/sources.list*, and no debianMirror given): the Debian packages were not checked against Debian data');
    } else {
      const debian = await scanDebian(debs, codename, { stateRoot: data.stateRoot, mirror, offline: data.offline === true, warn, signal, limits: input.debianLimits, now });
      sources.push(...debian.sources);
      findings.push(...debian.findings);
      notes.push(...debian.notes);
      hasData ||= debian.hasData;
    }
  }

  if (data.osvDir !== undefined) {
    const db = await loadOsvDirectory(data.osvDir, warn, signal);
    const osv = matchOsv(db, input.packages, distro);
    sources.push(osv.source);
    findings.push(...osv.findings);
    notes.push(...osv.notes);
    hasData ||= osv.hasData;
    if (!osv.hasData) notes.push(`${osv.source.name} has no advisories for this image's ecosystems (it has: ${[...db.ecosystems].sort().join(', ') || 'none'})`);
  }

  const merged = merge(findings);
  return { sources, hasData, findings: merged, counts: countsOf(merged), notes, startedAt, finishedAt: now().toISOString() };
}
