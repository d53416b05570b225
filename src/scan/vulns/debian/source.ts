/**
 * Debian's fixed CVEs from the configured mirror, the way distro scanners read them but from data
 * every Debian machine can reach: the `<codename>-security`, `<codename>-updates` and `<codename>`
 * Packages indexes give the newest version of each source package; for every installed package older
 * than that, the newer version's `changelog.Debian.gz` names the CVEs fixed since the installed
 * version. Those are the fixed CVEs the image lacks. Unfixed and no-DSA CVEs are not in this data.
 *
 * Cache (state root, `vulns/debian/`): each parsed index with its release date, fetch time and the
 * index's sha256 (re-downloaded only when the release file names a new one), and each changelog's
 * extract keyed by source and version (immutable). An `offline` scan reads only the cache.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../../util/atomic.js';
import { Limiter } from '../../../util/limiter.js';
import type { VulnFinding, VulnSource } from '../../types.js';
import { DecodeProblem, compressionOf, decompressed } from '../decompress.js';
import { FetchProblem, fetchBody, fetchBytes } from '../fetch.js';
import type { VulnPackage } from '../package.js';
import { compareDpkg } from '../versions.js';
import type { DebianMirror } from './apt-sources.js';
import { parseChangelog, parsePackagesIndex, parseRelease, type ChangelogEntry, type IndexEntry } from './control.js';
import { debChangelog, type DebLimits, DEFAULT_DEB_LIMITS } from './deb.js';

/** Debian releases by os-release VERSION_ID. */
export const DEBIAN_CODENAMES: Readonly<Record<string, string>> = { '10': 'buster', '11': 'bullseye', '12': 'bookworm', '13': 'trixie', '14': 'forky' };

export interface DebianLimits extends DebLimits {
  /** Largest compressed index download. */
  readonly maxIndexBytes: number;
  /** Largest decompressed index. */
  readonly maxIndexInflated: number;
  /** Largest .deb downloaded for its changelog (a bigger one is skipped with a warning). */
  readonly maxDebBytes: number;
  readonly timeoutMs: number;
  /** Downloads at once. */
  readonly parallel: number;
}

export const DEFAULT_DEBIAN_LIMITS: DebianLimits = {
  ...DEFAULT_DEB_LIMITS,
  maxIndexBytes: 64 << 20,
  maxIndexInflated: 512 << 20,
  maxDebBytes: 256 << 20,
  timeoutMs: 120_000,
  parallel: 4,
};

export interface DebianScanOptions {
  readonly stateRoot: string;
  readonly mirror: DebianMirror;
  readonly offline: boolean;
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
  readonly limits?: Partial<DebianLimits> | undefined;
  readonly now?: (() => Date) | undefined;
}

export interface DebianScanResult {
  readonly sources: readonly VulnSource[];
  readonly findings: readonly VulnFinding[];
  /** At least one index was read: every installed package was checked against it. */
  readonly hasData: boolean;
  readonly notes: readonly string[];
}

interface Suite {
  readonly name: string;
  readonly base: string;
}

interface LoadedIndex {
  readonly suite: Suite;
  readonly date: string | undefined;
  readonly fetchedAt: string;
  /** Source package → its binaries in this index (newest source version only). */
  readonly bySource: ReadonlyMap<string, readonly IndexEntry[]>;
}

const CACHE_VERSION = 1;
/** The first line of a cached index; one tab-separated entry per line follows (compact: Debian main is ~65,000 entries). */
const IndexCacheHeader = z.object({
  version: z.literal(CACHE_VERSION),
  url: z.string(),
  date: z.string().optional(),
  fetchedAt: z.string(),
  sha256: z.string(),
});
type IndexCacheHeader = z.infer<typeof IndexCacheHeader>;
const ENTRY_LINE = /^([a-z0-9][a-z0-9+.-]*)\t([^\t\s]+)\t([a-z0-9][a-z0-9+.-]*)\t([^\t\s]+)\t(pool\/[^\t]+\.deb)\t(\d+)\t([0-9a-f]{64})$/u;

/** A cached index: its header, and the entries of the `wanted` source packages. */
async function readIndexCache(path: string, wanted: ReadonlySet<string>): Promise<{ header: IndexCacheHeader; entries: IndexEntry[] } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const newline = text.indexOf('\n');
  let headerJson: unknown;
  try {
    headerJson = JSON.parse(newline < 0 ? text : text.slice(0, newline));
  } catch {
    return undefined;
  }
  const header = IndexCacheHeader.safeParse(headerJson);
  if (!header.success) return undefined;
  const entries: IndexEntry[] = [];
  for (const line of text.slice(newline + 1).split('\n')) {
    const source = line.slice(line.indexOf('\t', line.indexOf('\t') + 1) + 1, line.indexOf('\t', line.indexOf('\t', line.indexOf('\t') + 1) + 1));
    if (!wanted.has(source)) continue;
    const m = ENTRY_LINE.exec(line);
    if (m === null) continue;
    entries.push({ package: m[1] ?? '', version: m[2] ?? '', source: m[3] ?? '', sourceVersion: m[4] ?? '', filename: m[5] ?? '', size: Number(m[6]), sha256: m[7] ?? '' });
  }
  return { header: header.data, entries };
}
const ChangelogCache = z.object({
  version: z.literal(CACHE_VERSION),
  source: z.string(),
  sourceVersion: z.string(),
  fetchedAt: z.string(),
  from: z.string(),
  entries: z.array(z.object({ source: z.string(), version: z.string(), distribution: z.string(), urgency: z.string().optional(), cves: z.array(z.string()) })),
});

const hashOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 24);

function groupBySource(entries: readonly IndexEntry[]): Map<string, IndexEntry[]> {
  const out = new Map<string, IndexEntry[]>();
  for (const entry of entries) {
    const list = out.get(entry.source);
    if (list === undefined) {
      out.set(entry.source, [entry]);
      continue;
    }
    const c = compareDpkg(entry.sourceVersion, list[0]?.sourceVersion ?? '') ?? 0;
    if (c > 0) out.set(entry.source, [entry]);
    else if (c === 0) list.push(entry);
  }
  return out;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** Strips a binNMU suffix: a binary rebuilt as `1.2-3+b1` comes from source `1.2-3`. */
export function sourceVersionOf(pkg: VulnPackage): string {
  return pkg.source?.version ?? pkg.version.replace(/\+b\d+$/u, '');
}

class DebianSource {
  private readonly limits: DebianLimits;
  private readonly cacheDir: string;
  private readonly downloads: Limiter;
  private readonly now: () => Date;

  constructor(private readonly options: DebianScanOptions) {
    this.limits = { ...DEFAULT_DEBIAN_LIMITS, ...options.limits };
    this.cacheDir = join(options.stateRoot, 'vulns', 'debian');
    this.downloads = new Limiter(this.limits.parallel);
    this.now = options.now ?? ((): Date => new Date());
  }

  private fetchLimits(maxBytes: number): { maxBytes: number; timeoutMs: number; signal: AbortSignal } {
    return { maxBytes, timeoutMs: this.limits.timeoutMs, signal: this.options.signal };
  }

  /** The index of one suite (`main`, one architecture): from the mirror when it changed, else the cache. */
  async loadIndex(suite: Suite, arch: string, wanted: ReadonlySet<string>): Promise<LoadedIndex | undefined> {
    const indexDir = `${suite.base}/dists/${suite.name}/main/binary-${arch}/`;
    const cachePath = join(this.cacheDir, 'indexes', `${hashOf(indexDir)}.tsv`);
    const read = await readIndexCache(cachePath, wanted);
    const cached = read !== undefined && read.header.url === indexDir ? { ...read.header, entries: read.entries } : undefined;
    const fromCache = (why: string | undefined): LoadedIndex | undefined => {
      if (cached === undefined) return undefined;
      if (why !== undefined) this.options.warn(`${why}; using the cached ${suite.name} index downloaded ${cached.fetchedAt}`);
      return { suite, date: cached.date, fetchedAt: cached.fetchedAt, bySource: groupBySource(cached.entries) };
    };
    if (this.options.offline) {
      if (cached === undefined) this.options.warn(`offline: no cached ${suite.name} index from ${suite.base} (run once online to fill the cache)`);
      return fromCache(undefined);
    }
    let release: ReturnType<typeof parseRelease>;
    try {
      release = await this.fetchRelease(suite);
    } catch (error) {
      if (!(error instanceof FetchProblem)) throw error;
      const loaded = fromCache(error.message);
      if (loaded === undefined) this.options.warn(`cannot read the ${suite.name} release file: ${error.message}`);
      return loaded;
    }
    const choice = ['Packages.gz', 'Packages.xz', 'Packages'].map((name) => ({ name, file: release.files.get(`main/binary-${arch}/${name}`) })).find((c) => c.file !== undefined);
    if (choice?.file === undefined) {
      this.options.warn(`${suite.base} ${suite.name} lists no main/binary-${arch} Packages index`);
      return undefined;
    }
    if (cached !== undefined && cached.sha256 === choice.file.sha256) return { ...fromCache(undefined)!, date: release.date ?? cached.date };
    try {
      const loaded = await this.downloadIndex(suite, `${indexDir}${choice.name}`, choice.file, release.date, cachePath, indexDir, wanted);
      return loaded;
    } catch (error) {
      if (!(error instanceof FetchProblem) && !(error instanceof DecodeProblem)) throw error;
      const loaded = fromCache(error.message);
      if (loaded === undefined) this.options.warn(`cannot read the ${suite.name} index: ${error.message}`);
      return loaded;
    }
  }

  private async fetchRelease(suite: Suite): Promise<ReturnType<typeof parseRelease>> {
    const url = `${suite.base}/dists/${suite.name}/`;
    let text: string;
    try {
      text = (await fetchBytes(`${url}InRelease`, this.fetchLimits(8 << 20))).toString('utf8');
    } catch (error) {
      if (!(error instanceof FetchProblem) || error.status !== 404) throw error;
      text = (await fetchBytes(`${url}Release`, this.fetchLimits(8 << 20))).toString('utf8');
    }
    const release = parseRelease(text);
    if (release.files.size === 0) throw new FetchProblem(`${url}InRelease has no SHA256 list (not a Debian release file)`);
    return release;
  }

  private async downloadIndex(suite: Suite, url: string, expected: { sha256: string; size: number }, date: string | undefined, cachePath: string, indexDir: string, wanted: ReadonlySet<string>): Promise<LoadedIndex> {
    if (expected.size > this.limits.maxIndexBytes) throw new FetchProblem(`${url} is ${expected.size} bytes, over the index cap`);
    const body = await fetchBytes(url, this.fetchLimits(Math.min(this.limits.maxIndexBytes, expected.size)));
    const sha256 = createHash('sha256').update(body).digest('hex');
    if (sha256 !== expected.sha256 || body.length !== expected.size) throw new FetchProblem(`${url} does not match the sha256 its release file names (got ${sha256}); the mirror is inconsistent or tampered with`);
    const lines: string[] = [];
    const kept: IndexEntry[] = [];
    const parsed = await parsePackagesIndex(decompressed([body], compressionOf(url) ?? 'none', this.limits.maxIndexInflated, url), undefined, (e) => {
      lines.push([e.package, e.version, e.source, e.sourceVersion, e.filename, e.size, e.sha256].join('\t'));
      if (wanted.has(e.source)) kept.push(e);
    });
    if (parsed.skipped > 0) this.options.warn(`${url}: ${parsed.skipped} malformed stanzas skipped`);
    if (parsed.truncated) this.options.warn(`${url}: more packages than the cap; the rest are ignored`);
    const fetchedAt = this.now().toISOString();
    const header: IndexCacheHeader = { version: CACHE_VERSION, url: indexDir, ...(date === undefined ? {} : { date }), fetchedAt, sha256 };
    await mkdir(join(this.cacheDir, 'indexes'), { recursive: true });
    await writeFileAtomic(cachePath, `${JSON.stringify(header)}\n${lines.join('\n')}\n`);
    return { suite, date, fetchedAt, bySource: groupBySource(kept) };
  }

  /** The changelog entries of `source` at `candidates`' version: from the cache, else from the smallest of its .debs. */
  async changelog(suite: Suite, source: string, candidates: readonly IndexEntry[]): Promise<readonly ChangelogEntry[] | undefined> {
    const version = candidates[0]?.sourceVersion ?? '';
    const cachePath = join(this.cacheDir, 'changelogs', source.slice(0, 1), `${source}_${version.replace(/[^A-Za-z0-9.+~-]/gu, '_')}.json`);
    const cached = ChangelogCache.safeParse(await readJson(cachePath));
    if (cached.success && cached.data.source === source && cached.data.sourceVersion === version) {
      return cached.data.entries.map((e) => ({ ...e, urgency: e.urgency }));
    }
    if (this.options.offline) return undefined;
    const ordered = [...candidates].sort((a, b) => Number(b.package === source) - Number(a.package === source) || a.size - b.size || a.package.localeCompare(b.package));
    const problems: string[] = [];
    for (const candidate of ordered.slice(0, 3)) {
      if (candidate.size > this.limits.maxDebBytes) {
        problems.push(`${candidate.package} ${candidate.version} is ${candidate.size} bytes, over the ${this.limits.maxDebBytes}-byte cap`);
        continue;
      }
      const url = `${suite.base}/${candidate.filename}`;
      try {
        const read = await this.downloads.run(() => debChangelog(fetchBody(url, this.fetchLimits(candidate.size)), candidate.package, this.limits), this.options.signal);
        if (read.sha256 !== candidate.sha256 || read.size !== candidate.size) {
          problems.push(`${url} does not match the index's SHA256 (the mirror is inconsistent or tampered with)`);
          continue;
        }
        if (read.text === undefined) {
          problems.push(`${candidate.package}: ${read.problem ?? 'no changelog'}`);
          continue;
        }
        const entries = parseChangelog(read.text);
        if (entries.length === 0) {
          problems.push(`${read.path ?? candidate.package}: no changelog entries`);
          continue;
        }
        const extract: z.infer<typeof ChangelogCache> = {
          version: CACHE_VERSION,
          source,
          sourceVersion: version,
          fetchedAt: this.now().toISOString(),
          from: url,
          entries: entries.map((e) => ({ source: e.source, version: e.version, distribution: e.distribution, ...(e.urgency === undefined ? {} : { urgency: e.urgency }), cves: [...e.cves] })),
        };
        await mkdir(join(cachePath, '..'), { recursive: true });
        await writeFileAtomic(cachePath, JSON.stringify(extract));
        return entries;
      } catch (error) {
        if (!(error instanceof FetchProblem) && !(error instanceof DecodeProblem)) throw error;
        problems.push(`${url}: ${error.message}`);
      }
    }
    this.options.warn(`no changelog for ${source} ${version}: ${problems.join('; ')}`);
    return undefined;
  }
}

/** The architecture of the image's dpkg packages (the commonest one that is not `all`). */
function imageArch(packages: readonly VulnPackage[]): string {
  const counts = new Map<string, number>();
  for (const pkg of packages) if (pkg.arch !== undefined && pkg.arch !== 'all') counts.set(pkg.arch, (counts.get(pkg.arch) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'amd64';
}

/**
 * Checks the image's dpkg packages (`packages`, all of type `deb`) of Debian `codename` against the
 * mirror. Findings are per installed binary package, one per CVE.
 */
export async function scanDebian(packages: readonly VulnPackage[], codename: string, options: DebianScanOptions): Promise<DebianScanResult> {
  const source = new DebianSource(options);
  const arch = imageArch(packages);
  const { mirror } = options;
  const suites: Suite[] = [
    { name: `${codename}-security`, base: mirror.security },
    { name: `${codename}-updates`, base: mirror.archive },
    { name: codename, base: mirror.archive },
  ];
  const wanted = new Set(packages.map((p) => p.source?.name ?? p.name));
  // One suite at a time: the release suite's index is the big one (~50 MB uncompressed for Debian main).
  const indexes: LoadedIndex[] = [];
  for (const suite of suites) {
    const index = await source.loadIndex(suite, arch, wanted);
    if (index !== undefined) indexes.push(index);
  }
  const notes: string[] = [];
  if (indexes.length === 0) {
    notes.push(`no Debian ${codename} index could be read from ${mirror.archive} or ${mirror.security}: the ${packages.length} Debian packages were not checked`);
    return { sources: [], findings: [], hasData: false, notes };
  }
  const sources: VulnSource[] = indexes.map((index) => ({
    kind: 'debian-mirror',
    name: `Debian ${index.suite.name} via ${index.suite.base}`,
    ...(index.date === undefined ? {} : { updated: index.date }),
    retrieved: index.fetchedAt,
    ecosystems: ['Debian'],
    packagesChecked: packages.length,
  }));

  // Installed binaries grouped by (source package, installed source version).
  const groups = new Map<string, { source: string; version: string; binaries: VulnPackage[] }>();
  for (const pkg of packages) {
    const name = pkg.source?.name ?? pkg.name;
    const version = sourceVersionOf(pkg);
    const key = `${name} ${version}`;
    const group = groups.get(key) ?? { source: name, version, binaries: [] };
    group.binaries.push(pkg);
    groups.set(key, group);
  }

  const findings: VulnFinding[] = [];
  const unreadable: string[] = [];
  await Promise.all([...groups.values()].map(async (group) => {
    let best: { index: LoadedIndex; entries: readonly IndexEntry[] } | undefined;
    for (const index of indexes) {
      const entries = index.bySource.get(group.source);
      const version = entries?.[0]?.sourceVersion;
      if (entries === undefined || version === undefined) continue;
      if (best === undefined || (compareDpkg(version, best.entries[0]?.sourceVersion ?? '') ?? 0) > 0) best = { index, entries };
    }
    const newest = best?.entries[0]?.sourceVersion;
    if (best === undefined || newest === undefined) return;
    const order = compareDpkg(newest, group.version);
    if (order === undefined) {
      options.warn(`${group.source}: cannot compare versions ${JSON.stringify(group.version)} and ${JSON.stringify(newest)}`);
      return;
    }
    if (order <= 0) return;
    const entries = await source.changelog(best.index.suite, group.source, best.entries);
    if (entries === undefined) {
      unreadable.push(`${group.source} ${group.version} → ${newest}`);
      return;
    }
    const fixedIn = new Map<string, ChangelogEntry>();
    for (const entry of entries) {
      if ((compareDpkg(entry.version, group.version) ?? 0) <= 0) continue;
      for (const cve of entry.cves) fixedIn.set(cve, entry); // entries run newest first: the last set is the oldest fix
    }
    for (const binary of group.binaries) {
      const candidate = best.entries.find((e) => e.package === binary.name);
      for (const [cve, entry] of fixedIn) {
        findings.push({
          id: cve,
          aliases: [],
          package: { name: binary.name, version: binary.version, ecosystem: 'Debian', ...(binary.purl === '' ? {} : { purl: binary.purl }) },
          severity: 'UNKNOWN',
          fixedVersion: candidate?.version ?? newest,
          summary: `fixed in ${group.source} ${entry.version} (${entry.distribution}${entry.urgency === undefined ? '' : `, urgency=${entry.urgency}`}); ${best.index.suite.name} has ${newest}, the image has ${group.version}`,
          source: `Debian ${best.index.suite.name} via ${best.index.suite.base}`,
        });
      }
    }
  }));
  if (unreadable.length > 0) {
    notes.push(`${unreadable.length} source package(s) have newer versions whose changelogs could not be read, so their fixed CVEs are unknown: ${unreadable.sort().join(', ')}`);
  }
  notes.push('Debian data lists fixed CVEs only (from changelogs): CVEs with no fix yet, or marked no-DSA, are not reported; Debian gives no CVSS, so severity is UNKNOWN');
  return { sources, findings, hasData: true, notes };
}
