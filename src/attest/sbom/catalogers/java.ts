/**
 * `java-archive`: Java archives (.jar, .war, .ear and the other zip-based formats syft reads) and the
 * archives nested in them (WEB-INF/lib, BOOT-INF/lib, …; two levels deep). Per archive, as syft:
 * the main package from its `META-INF/maven/<group>/<artifact>/pom.properties` whose artifactId
 * matches the file name, else from `META-INF/MANIFEST.MF` and the file name; every other
 * pom.properties (shaded dependencies) is a package of its own. pom.xml files are not read (no
 * parent resolution, no Maven Central look-ups). A corrupt archive, an entry that inflates past its
 * cap (a zip bomb) or an archive past the total budget is a warning with its path.
 */
import type { CatalogContext, Cataloger, SbomPackage } from '../types.js';
import { ZipError, bufferSource, entryData, readZipDirectory, readZipEntry, sliceSource, type RandomAccess, type ZipEntry } from '../zip.js';
import { purl } from '../purl.js';
import { baseName, errorText, mapBounded, withScanFile } from './scan.js';

const ARCHIVE = /\.(?:jar|war|ear|par|sar|nar|jpi|hpi|kar|far|lpkg|rar|zap)$/i;
const NESTED = /\.(?:jar|war|ear)$/i;
/** A manifest or pom.properties larger than this is not one. */
const MAX_METADATA_BYTES = 1024 * 1024;
/** A nested archive that must be inflated (stored ones are read in place) is held in memory up to this. */
const MAX_NESTED_BYTES = 64 * 1024 * 1024;
/** Bytes inflated for one top-level archive and everything in it. */
const MAX_INFLATED_PER_ARCHIVE = 256 * 1024 * 1024;
const MAX_DEPTH = 2;
/** Top-level archives larger than this are skipped (their central directory is still tiny, but a 4 GiB jar is not a library). */
export const MAX_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024;

export type Manifest = ReadonlyMap<string, string>;

/** The main section of a manifest (continuation lines start with one space). */
export function parseManifest(text: string): Manifest {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split(/\r?\n|\r/)) {
    if (line === '') {
      if (out.size > 0) break;
      continue;
    }
    if (line.startsWith(' ')) {
      if (last !== undefined) out.set(last, `${out.get(last) ?? ''}${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim();
    if (!out.has(last)) out.set(last, line.slice(colon + 1).trim());
  }
  return out;
}

/** Java properties, enough of them for pom.properties (`key=value` or `key: value`, `#`/`!` comments). */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n|\r/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const at = line.search(/[=:]/);
    if (at <= 0) continue;
    out.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return out;
}

/** `commons-lang3-3.12.0.jar` → name `commons-lang3`, version `3.12.0`. */
export function archiveNameVersion(fileName: string): { name: string; version: string } {
  const stem = fileName.replace(ARCHIVE, '');
  const match = /^(.+?)-(\d[^/]*|rc?\d+.*|build\d+.*)$/i.exec(stem);
  return match === null ? { name: stem, version: '' } : { name: match[1] as string, version: match[2] as string };
}

const GROUP_PREFIX = /^(?:com|org|net|io|edu|gov|mil|int|be|ch|de|dev|eu|fr|it|jp|nl|se|uk|us|ru|cn|co|info|biz|app|tech)\./;
const GROUP_FIELDS = ['Group-Id', 'Bundle-SymbolicName', 'Extension-Name', 'Specification-Vendor', 'Implementation-Vendor', 'Implementation-Vendor-Id', 'Implementation-Title', 'Bundle-Activator'];

function cleanGroup(value: string): string {
  return (value.split(';')[0] ?? '').split('#')[0]?.trim() ?? '';
}

/** syft's order: pom.properties groupId, a known reverse-DNS manifest field, else the name itself. */
function manifestGroup(manifest: Manifest | undefined): string | undefined {
  if (manifest === undefined) return undefined;
  const found = GROUP_FIELDS.map((field) => manifest.get(field)).filter((value): value is string => value !== undefined && GROUP_PREFIX.test(value)).map(cleanGroup).sort();
  return found[0];
}

function selectName(manifest: Manifest | undefined, fileName: string): string {
  // The Apache Maven Bundle Plugin's Bundle-SymbolicName ends with the artifact.
  const symbolic = manifest?.get('Bundle-SymbolicName');
  if (symbolic !== undefined && (manifest?.get('Created-By') ?? '').includes('Apache Maven Bundle Plugin') && manifest?.get('Implementation-Vendor-Id') !== symbolic) {
    const last = cleanGroup(symbolic).split('.').pop();
    if (last !== undefined && last !== '') return last;
  }
  const fromFile = archiveNameVersion(fileName).name;
  if (fromFile !== '') return fromFile;
  for (const field of ['Name', 'Bundle-Name', 'Short-Name', 'Extension-Name', 'Implementation-Title']) {
    const value = manifest?.get(field);
    if (value !== undefined && value !== '') return value;
  }
  return '';
}

function selectVersion(manifest: Manifest | undefined, fileName: string): string {
  const fromFile = archiveNameVersion(fileName).version;
  if (fromFile !== '') return fromFile;
  for (const field of ['Implementation-Version', 'Specification-Version', 'Plugin-Version', 'Bundle-Version']) {
    const value = manifest?.get(field);
    if (value !== undefined && value !== '') return value;
  }
  return '';
}

interface PomProperties {
  readonly groupId: string;
  readonly artifactId: string;
  readonly version: string;
  readonly entry: string;
}

function mavenPackage(location: string, group: string, name: string, version: string, licenses: readonly string[], extra: Partial<SbomPackage> = {}): SbomPackage {
  return {
    name,
    version,
    type: 'maven',
    purl: purl('maven', group, name, version),
    licenses,
    foundBy: 'java-archive',
    locations: [{ path: location }],
    ...extra,
  };
}

class Budget {
  used = 0;
  take(bytes: number, what: string): void {
    this.used += bytes;
    if (this.used > MAX_INFLATED_PER_ARCHIVE) throw new ZipError(`${what}: more than ${MAX_INFLATED_PER_ARCHIVE} bytes inflated in one archive`);
  }
  get left(): number {
    return Math.max(0, MAX_INFLATED_PER_ARCHIVE - this.used);
  }
}

async function readText(source: RandomAccess, entry: ZipEntry, budget: Budget): Promise<string> {
  const data = await readZipEntry(source, entry, Math.min(MAX_METADATA_BYTES, budget.left));
  budget.take(data.length, entry.name);
  return data.toString('utf8');
}

/**
 * The packages of one archive and its nested archives. `location` is the image path of the
 * top-level file; `label` names the archive in warnings (`app.war!WEB-INF/lib/x.jar`).
 */
async function catalogArchive(context: CatalogContext, source: RandomAccess, location: string, label: string, fileName: string, depth: number, budget: Budget): Promise<SbomPackage[]> {
  const entries = await readZipDirectory(source);
  const manifestEntry = entries.find((e) => e.name.toUpperCase() === 'META-INF/MANIFEST.MF');
  let manifest: Manifest | undefined;
  if (manifestEntry !== undefined) {
    try {
      manifest = parseManifest(await readText(source, manifestEntry, budget));
    } catch (error) {
      if (!(error instanceof ZipError)) throw error;
      context.warn(`java archive ${label}: ${error.message}`);
    }
  }
  const poms: PomProperties[] = [];
  for (const entry of entries) {
    if (!/(?:^|\/)META-INF\/maven\/[^/]+\/[^/]+\/pom\.properties$/.test(entry.name)) continue;
    try {
      const props = parseProperties(await readText(source, entry, budget));
      const artifactId = props.get('artifactId') ?? '';
      if (artifactId === '') continue;
      poms.push({ groupId: cleanGroup(props.get('groupId') ?? ''), artifactId, version: props.get('version') ?? '', entry: entry.name });
    } catch (error) {
      if (!(error instanceof ZipError)) throw error;
      context.warn(`java archive ${label}: ${error.message}`);
    }
  }
  poms.sort((a, b) => (a.entry < b.entry ? -1 : a.entry > b.entry ? 1 : 0));

  const out: SbomPackage[] = [];
  const licenses = [manifest?.get('Bundle-License'), manifest?.get('Plugin-License-Name')].filter((v): v is string => v !== undefined && v !== '');
  // syft: the pom.properties whose artifactId is the file's name (exactly, when one is; else by
  // prefix/suffix). `_` and `-` compare equal: Debian renames error_prone_annotations.jar.
  const fold = (name: string): string => name.replace(/_/g, '-');
  const stem = fold(archiveNameVersion(fileName).name);
  const artifacts = new Set(poms.map((p) => fold(p.artifactId)));
  const main = poms.find((p) => {
    const artifact = fold(p.artifactId);
    return artifacts.has(stem) ? artifact === stem : artifact.startsWith(stem) || stem.endsWith(artifact);
  });
  if (main !== undefined || manifest !== undefined) {
    const name = main?.artifactId ?? selectName(manifest, fileName);
    const version = main?.version !== undefined && main.version !== '' ? main.version : selectVersion(manifest, fileName);
    const group = main?.groupId !== undefined && main.groupId !== '' ? main.groupId : manifestGroup(manifest) ?? name;
    if (name !== '') {
      out.push(mavenPackage(location, group, name, version, licenses, {
        description: manifest?.get('Bundle-Description'),
        homepage: manifest?.get('Bundle-DocURL'),
        supplier: manifest?.get('Implementation-Vendor') ?? manifest?.get('Bundle-Vendor'),
      }));
    }
  }
  for (const pom of poms) {
    if (pom === main) continue;
    out.push(mavenPackage(location, pom.groupId === '' ? pom.artifactId : pom.groupId, pom.artifactId, pom.version, []));
  }

  if (depth >= MAX_DEPTH) return out;
  for (const entry of entries) {
    if (!NESTED.test(entry.name) || entry.name.endsWith('/')) continue;
    context.signal.throwIfAborted();
    const nestedLabel = `${label}!${entry.name}`;
    try {
      let nested: RandomAccess;
      if (entry.method === 0 && (entry.flags & 1) === 0) {
        const { offset, length } = await entryData(source, entry);
        nested = sliceSource(source, offset, length);
      } else {
        const data = await readZipEntry(source, entry, Math.min(MAX_NESTED_BYTES, budget.left));
        budget.take(data.length, nestedLabel);
        nested = bufferSource(data);
      }
      out.push(...await catalogArchive(context, nested, location, nestedLabel, baseName(entry.name), depth + 1, budget));
    } catch (error) {
      if (!(error instanceof ZipError)) throw error;
      context.warn(`java archive ${nestedLabel}: ${error.message}`);
    }
  }
  return out;
}


/**
 * Archives read at once: their reads wait on the disk more than on the CPU; each may hold one
 * inflated nested archive (up to `MAX_NESTED_BYTES`) at a time.
 */
const ARCHIVE_CONCURRENCY = 2;

export const javaArchiveCataloger: Cataloger = {
  name: 'java-archive',
  async catalog(context) {
    const archives = (await context.fs.entries()).filter((entry) => entry.type === 'file' && ARCHIVE.test(entry.path));
    const found = await mapBounded(archives, ARCHIVE_CONCURRENCY, context.signal, async (entry) => {
      if (entry.size > MAX_ARCHIVE_BYTES) {
        context.warn(`java archive ${entry.path}: ${entry.size} bytes, more than the ${MAX_ARCHIVE_BYTES} read; skipped`);
        return [];
      }
      try {
        const packages = await withScanFile(context.fs, entry.path, entry.size, (file) => catalogArchive(context, file, entry.path, entry.path, baseName(entry.path), 0, new Budget()));
        return packages ?? [];
      } catch (error) {
        if (error instanceof ZipError) context.warn(`java archive ${entry.path}: ${error.message}; skipped`);
        else if (context.signal.aborted) throw error;
        else context.warn(`java archive ${entry.path}: cannot be read (${errorText(error)}); skipped`);
        return [];
      }
    });
    return found.flat();
  },
};
