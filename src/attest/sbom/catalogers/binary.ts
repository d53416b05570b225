/**
 * `binary-classifier`: runtimes and tools installed without a package manager (copied in, built from
 * source, official language images), recognised as syft's binary classifiers do: a file name, and a
 * version string found in the file's bytes. The file is searched in bounded chunks with an overlap
 * (never read whole); files larger than `maxFileBytes` are skipped. Packages with the same purl are
 * one package with several locations (python3.11 and libpython3.11.so).
 */
import type { CatalogContext, Cataloger, FsEntry, SbomPackage, ScanFile } from '../types.js';
import { purl } from '../purl.js';
import { baseName, errorText, mapBounded, readBounded, withScanFile } from './scan.js';

export interface Classifier {
  /** syft's class name (`busybox-binary`). */
  readonly class: string;
  /** The file's base name. */
  readonly file: RegExp;
  /** The version patterns for this file (capture group 1 is the version), in order of preference. */
  readonly evidence: (fileName: RegExpExecArray) => readonly RegExp[];
  /** A string that must also occur in the file (a generic version pattern alone would match anything). */
  readonly requires?: string | undefined;
  readonly package: string;
  /** purl namespace for `pkg:generic/<namespace>/<package>`. */
  readonly namespace?: string | undefined;
}

const always = (...patterns: RegExp[]) => (): readonly RegExp[] => patterns;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** In both python3.11 and libpython3.11.so the version is `\0 3.11.2 \0`. */
const pythonEvidence = (name: RegExpExecArray): readonly RegExp[] => [new RegExp(`\\x00(${escapeRegExp(name[1] ?? '')}[-._a-zA-Z0-9]*)\\x00`)];
const openssl = /\x00OpenSSL (\d+\.\d+\.\d+(?:[a-z]+|-alpha\d|-beta\d|-rc\d)?)/;
const ruby = /ruby (\d+\.\d+\.\d+(?:(?:p|preview|rc|dev)\d*)?) /;

export const CLASSIFIERS: readonly Classifier[] = [
  { class: 'python-binary', file: /^python(\d+\.\d+)$/, evidence: pythonEvidence, package: 'python' },
  { class: 'python-binary-lib', file: /^libpython(\d+\.\d+)[a-z]?\.so/, evidence: pythonEvidence, package: 'python' },
  { class: 'nodejs-binary', file: /^node$/, evidence: always(/node\.js\/v(\d+\.\d+\.\d+)/, /\x00(?:node )?v((?:0|4|5|6)\.\d+\.\d+)\x00/), package: 'node' },
  { class: 'busybox-binary', file: /^busybox$/, evidence: always(/BusyBox\s+v(\d+\.\d+\.\d+)/), package: 'busybox' },
  { class: 'openssl-binary', file: /^openssl$/, evidence: always(openssl), package: 'openssl' },
  // Not in syft: the library most images carry without the openssl command (libssl has no version string).
  { class: 'openssl-library', file: /^libcrypto\.so(?:\.\d+)*$/, evidence: always(openssl), package: 'openssl' },
  { class: 'go-binary', file: /^go$/, evidence: always(/go(\d+\.\d+(?:\.\d+|beta\d+|alpha\d+|rc\d+)?)\x00/), package: 'go' },
  { class: 'bash-binary', file: /^bash$/, evidence: always(/@\(#\)Bash version (\d+\.\d+\.\d+)\(\d\) [a-z0-9]+ GNU/), package: 'bash' },
  { class: 'curl-binary', file: /^curl$/, evidence: always(/curl\/(\d+\.\d+\.\d+)/), package: 'curl' },
  { class: 'perl-binary', file: /^perl$/, evidence: always(/\/usr\/local\/lib\/perl\d\/(\d+\.\d+\.\d+)/, /\/usr\/(?:local\/)?lib\/[\w-]+\/perl\/(\d+\.\d+\.\d+)/), package: 'perl' },
  { class: 'postgresql-binary', file: /^postgres$/, evidence: always(/(?:\x00|\?)PostgreSQL (\d+(?:\.\d+)?(?:\.\d+)?(?:alpha\d|beta\d|rc\d)?)/), package: 'postgresql' },
  {
    class: 'java-binary-openjdk', file: /^java$/, package: 'openjdk', namespace: 'oracle',
    evidence: always(/\x00openjdk\x00java\x00\d[.\d]*\x00(\d[^\x00]+)\x00/, /\x00\d[.\d]*\x00+(\d[^\x00]+)\x00+openjdk\x00java/),
  },
  {
    class: 'redis-binary', file: /^redis-server$/, package: 'redis',
    evidence: always(/[^\d](\d+\.\d+\.\d+)buildkitsandbox-\d+/, /[^\d](\d+\.\d+\.\d+)[0-9a-f]{12}-\d+/, /Redis version (\d+\.\d+\.\d+)/),
  },
  { class: 'nginx-binary', file: /^nginx$/, evidence: always(/(?:\x00|\?)nginx version: [^/]+\/(\d+\.\d+\.\d+(?:\+\d+)?(?:-\d+)?)/), package: 'nginx' },
  { class: 'ruby-binary', file: /^ruby$/, evidence: always(ruby), package: 'ruby' },
  { class: 'ruby-binary-lib', file: /^libruby\.so/, evidence: always(ruby), package: 'ruby' },
  { class: 'httpd-binary', file: /^httpd$/, evidence: always(/Apache\/(\d+\.\d+\.\d+)/), package: 'httpd' },
  { class: 'memcached-binary', file: /^memcached$/, evidence: always(/memcached\s(\d+\.\d+\.\d+)/), package: 'memcached' },
  { class: 'haproxy-binary', file: /^haproxy$/, evidence: always(/version (\d+\.\d+(?:\.|-dev|-rc)\d+)(?:-[a-z0-9]{7})?, released 20/, /HA-Proxy version (\d+\.\d+(?:\.|-dev)\d+)/), package: 'haproxy' },
  { class: 'util-linux-binary', file: /^getopt$/, evidence: always(/\x00util-linux\s(\d+\.\d+\.\d+)\x00/), package: 'util-linux' },
  { class: 'zstd-binary', file: /^zstd$/, evidence: always(/\x00v(\d+\.\d+\.\d+)\x00/), package: 'zstd' },
  { class: 'xz-binary', file: /^xz$/, evidence: always(/\x00xz \(XZ Utils\) (\d+\.\d+\.\d+)\x00/), package: 'xz' },
  // GNU gzip's version is a bare `\0 1.12 \0`: only with gzip's own message (busybox's gzip applet is not GNU gzip).
  { class: 'gzip-binary', file: /^gzip$/, evidence: always(/\x00(\d+\.\d+)\x00/), requires: '%s: %s: not in gzip format', package: 'gzip' },
  { class: 'jq-binary', file: /^jq$/, evidence: always(/\x00(\d{1,3}\.\d{1,3}(?:\.\d+)?)\x00/), package: 'jq' },
  { class: 'gcc-binary', file: /^gcc$/, evidence: always(/GCC: \(GNU\) (\d+\.\d+\.\d+)/), package: 'gcc' },
];

export interface BinaryClassifierOptions {
  /** Files larger than this are not searched (default 512 MiB; node is ~100 MiB). */
  readonly maxFileBytes?: number | undefined;
  /** Chunk size of the search (default 1 MiB). */
  readonly chunkBytes?: number | undefined;
}

/** Bytes kept from the previous chunk: longer than any evidence string above. */
const OVERLAP = 4096;
const MAX_RELEASE_BYTES = 64 * 1024;

/**
 * Searches `path` for the first chunk where any pattern matches (and `requires` occurs somewhere);
 * returns the version from the most preferred pattern matching in that chunk.
 */
export async function searchVersion(file: ScanFile, patterns: readonly RegExp[], requires: string | undefined, chunkBytes: number, signal: AbortSignal): Promise<string | undefined> {
  const size = file.size;
  let found: string | undefined;
  let required = requires === undefined;
  let carry = '';
  for (let position = 0; position < size; position += chunkBytes) {
    signal.throwIfAborted();
    const chunk = await file.read(position, Math.min(chunkBytes, size - position));
    if (chunk.length === 0) break;
    // latin1 maps each byte to one code unit, so `\x00` and ASCII in the patterns match the bytes.
    const text = carry + chunk.toString('latin1');
    if (!required && requires !== undefined && text.includes(requires)) required = true;
    if (found === undefined) {
      for (const pattern of patterns) {
        const version = pattern.exec(text)?.[1];
        if (version !== undefined) {
          found = version;
          break;
        }
      }
    }
    if (found !== undefined && required) return found;
    carry = text.slice(-OVERLAP);
  }
  return required ? found : undefined;
}

/** A JDK/JRE `release` file: `JAVA_VERSION="17.0.15"`, `JAVA_RUNTIME_VERSION`, `IMPLEMENTOR`. */
export function parseJvmRelease(text: string): { version: string; implementor: string } | undefined {
  const values = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^([A-Z_]+)=(?:"([^"]*)"|(\S*))\s*$/.exec(line);
    if (match !== null) values.set(match[1] as string, match[2] ?? match[3] ?? '');
  }
  const version = values.get('JAVA_RUNTIME_VERSION') ?? values.get('FULL_VERSION') ?? values.get('JAVA_VERSION');
  if (version === undefined || version === '') return undefined;
  return { version, implementor: values.get('IMPLEMENTOR') ?? '' };
}

function binaryPackage(name: string, namespace: string | undefined, version: string, path: string): SbomPackage {
  return {
    name,
    version,
    type: 'binary',
    purl: purl('generic', namespace, name, version),
    licenses: [],
    foundBy: 'binary-classifier',
    locations: [{ path }],
  };
}

async function classify(context: CatalogContext, entry: FsEntry, options: { readonly maxFileBytes: number; readonly chunkBytes: number }): Promise<SbomPackage | undefined> {
  const name = baseName(entry.path);
  if (name === 'release') {
    if (entry.size > MAX_RELEASE_BYTES) return undefined;
    const data = await readBounded(context, entry.path, MAX_RELEASE_BYTES, 'JVM release file');
    const release = data === undefined ? undefined : parseJvmRelease(data.toString('utf8'));
    if (release === undefined) return undefined;
    // syft's vendor choice, reduced to the distributions it names by implementor or path.
    const azul = /azul/i.test(release.implementor) || entry.path.includes('zulu');
    return binaryPackage(azul ? 'zulu' : 'openjdk', azul ? 'azul' : 'oracle', release.version, entry.path);
  }
  for (const classifier of CLASSIFIERS) {
    const match = classifier.file.exec(name);
    if (match === null) continue;
    if (entry.size > options.maxFileBytes) {
      context.warn(`binary ${entry.path}: ${entry.size} bytes, more than the ${options.maxFileBytes} searched; skipped`);
      return undefined;
    }
    const version = await withScanFile(context.fs, entry.path, entry.size, (file) => searchVersion(file, classifier.evidence(match), classifier.requires, options.chunkBytes, context.signal));
    if (version !== undefined) return binaryPackage(classifier.package, classifier.namespace, version, entry.path);
  }
  return undefined;
}

function candidate(entry: FsEntry): boolean {
  if (entry.type !== 'file' || entry.size === 0) return false;
  const name = baseName(entry.path);
  return name === 'release' || CLASSIFIERS.some((c) => c.file.test(name));
}

export function binaryClassifierCataloger(options: BinaryClassifierOptions = {}): Cataloger {
  const settings = {
    maxFileBytes: options.maxFileBytes ?? 512 * 1024 * 1024,
    chunkBytes: Math.max(OVERLAP * 2, options.chunkBytes ?? 1024 * 1024),
  };
  return {
    name: 'binary-classifier',
    async catalog(context) {
      const candidates = (await context.fs.entries()).filter(candidate);
      // Large files are read here: two at a time keeps the memory to a few chunks.
      const found = await mapBounded(candidates, 2, context.signal, async (entry) => {
        try {
          return await classify(context, entry, settings);
        } catch (error) {
          if (context.signal.aborted) throw error;
          context.warn(`binary ${entry.path}: cannot be read (${errorText(error)}); skipped`);
          return undefined;
        }
      });
      const byPurl = new Map<string, SbomPackage>();
      for (const pkg of found) {
        if (pkg === undefined) continue;
        const seen = byPurl.get(pkg.purl);
        byPurl.set(pkg.purl, seen === undefined ? pkg : { ...seen, locations: [...seen.locations, ...pkg.locations] });
      }
      return [...byPurl.values()];
    },
  };
}

export const binaryCataloger: Cataloger = binaryClassifierCataloger();
