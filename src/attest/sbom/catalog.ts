/**
 * The SBOM runner: reads the image's distro, runs every cataloger over one `ScanFs`, merges the
 * same package found twice and sorts the result, so the same filesystem always gives the same SBOM.
 */
import type { Digest } from '../../core/index.js';
import { CATALOGERS } from './catalogers/index.js';
import { FileTooLargeError } from './fs.js';
import type { Cataloger, Distro, PackageLocation, SbomPackage, ScanFs } from './types.js';

export interface SbomResult {
  readonly packages: readonly SbomPackage[];
  readonly distro: Distro | undefined;
  /** The names of the catalogers that ran, in the order they ran. */
  readonly catalogers: readonly string[];
}

export interface CatalogOptions {
  /** The layer that last wrote a path (its diffID), when the layers are known. */
  readonly layerOf?: ((path: string) => Promise<Digest | undefined>) | undefined;
  /** A problem with one input or one cataloger: reported, never fatal. */
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
  /** A directory for scratch copies; default os.tmpdir(). */
  readonly tmpDir?: string | undefined;
  /** The catalogers to run; default `CATALOGERS`. */
  readonly catalogers?: readonly Cataloger[] | undefined;
}

const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'];
const OS_RELEASE_MAX_BYTES = 64 * 1024;

/** `KEY=value` lines of os-release(5): values may be quoted with " or ' and use \ escapes. */
export function parseOsRelease(text: string): Distro | undefined {
  const fields = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match === null) continue;
    let value = match[2] ?? '';
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote)) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    fields.set(match[1] ?? '', value);
  }
  const id = fields.get('ID');
  if (id === undefined || id === '') return undefined;
  return { id, versionId: fields.get('VERSION_ID') || undefined, prettyName: fields.get('PRETTY_NAME') || undefined };
}

async function readDistro(fs: ScanFs, warn: (message: string) => void): Promise<Distro | undefined> {
  for (const path of OS_RELEASE_PATHS) {
    let data: Buffer | undefined;
    try {
      data = await fs.readFile(path, { maxBytes: OS_RELEASE_MAX_BYTES });
    } catch (error) {
      if (!(error instanceof FileTooLargeError)) throw error;
      warn(`${path}: ${error.message}; the distro is not read from it`);
      continue;
    }
    if (data === undefined) continue;
    const distro = parseOsRelease(data.toString('utf8'));
    if (distro !== undefined) return distro;
    warn(`${path}: no ID= line; the distro is unknown`);
  }
  return undefined;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Same purl = same package: the first found keeps its fields, the locations are merged. */
function merge(found: readonly SbomPackage[]): SbomPackage[] {
  const byPurl = new Map<string, SbomPackage>();
  for (const pkg of found) {
    const seen = byPurl.get(pkg.purl);
    if (seen === undefined) {
      byPurl.set(pkg.purl, pkg);
      continue;
    }
    const paths = new Set(seen.locations.map((l) => l.path));
    const locations = [...seen.locations, ...pkg.locations.filter((l) => !paths.has(l.path))];
    const licenses = seen.licenses.length > 0 ? seen.licenses : pkg.licenses;
    byPurl.set(pkg.purl, { ...seen, locations, licenses });
  }
  return [...byPurl.values()].sort((a, b) => compare(a.purl, b.purl) || compare(a.foundBy, b.foundBy));
}

async function withLayers(packages: readonly SbomPackage[], layerOf: (path: string) => Promise<Digest | undefined>): Promise<SbomPackage[]> {
  const cache = new Map<string, Promise<Digest | undefined>>();
  const layer = (path: string): Promise<Digest | undefined> => {
    let found = cache.get(path);
    if (found === undefined) {
      found = layerOf(path);
      cache.set(path, found);
    }
    return found;
  };
  return Promise.all(packages.map(async (pkg) => {
    const locations: PackageLocation[] = await Promise.all(pkg.locations.map(async (location) => {
      const digest = await layer(location.path);
      return digest === undefined ? { path: location.path } : { path: location.path, layer: digest };
    }));
    return { ...pkg, locations };
  }));
}

/**
 * Runs every cataloger over `fs`. A cataloger that throws is reported through `warn` with its
 * name and the others still run; an abort of `signal` rejects with its reason.
 */
export async function catalogFilesystem(fs: ScanFs, options: CatalogOptions): Promise<SbomResult> {
  const { signal } = options;
  signal.throwIfAborted();
  const distro = await readDistro(fs, options.warn);
  const catalogers = options.catalogers ?? CATALOGERS;
  // Run together; their warnings are held and replayed in cataloger order so the log is stable.
  const runs = await Promise.all(catalogers.map(async (cataloger) => {
    const warnings: string[] = [];
    const context = { fs, distro, signal, tmpDir: options.tmpDir, warn: (message: string) => { warnings.push(message); } };
    try {
      return { warnings, packages: await cataloger.catalog(context) };
    } catch (error) {
      if (signal.aborted) return { warnings, packages: [] };
      const reason = error instanceof Error ? error.message : String(error);
      warnings.push(`cataloger ${cataloger.name} failed: ${reason}`);
      return { warnings, packages: [] };
    }
  }));
  signal.throwIfAborted();
  for (const run of runs) for (const message of run.warnings) options.warn(message);
  let packages = merge(runs.flatMap((run) => run.packages));
  if (options.layerOf !== undefined) packages = await withLayers(packages, options.layerOf);
  return { packages, distro, catalogers: catalogers.map((c) => c.name) };
}
