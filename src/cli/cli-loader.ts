/**
 * dist/cli.js, the `stagecraft` binary: runs the CLI bundle (dist/cli-bundle.cjs, one CommonJS file
 * made by scripts/bundle-cli.ts) through V8's code cache. Node 20 caches no compiled code between
 * runs (`module.enableCompileCache` is Node 22), so every start parsed the whole 2.5 MB bundle and
 * compiled each function it ran again. Here the bundle is compiled as a `vm.Script` with the cached
 * data of an earlier run of the same command; when there is none (or V8 rejects it: another Node, other
 * flags) the run writes it at exit, with every function that run compiled. One cache file per command
 * (`build` and `version` compile different code), in dist/code-cache/, keyed by the bundle's build id
 * and file identity, Node's version and architecture; caches of other bundles are removed then. A
 * read-only install runs without one.
 *
 * V8 checks a cache against the source's length only, so a cache is used only for the exact bundle
 * file it was made from (the name carries the bundle's sha256 from the build, its size, mtime and
 * inode), and only if this user (or root) owns it and nobody else may write it: its code runs as the CLI.
 *
 * With STAGECRAFT_PROFILE=1 (or json) the loading steps (and each native addon's require) become performance
 * measures, which the CLI prints at exit (see profile.ts).
 */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { cpuNow, type ProfileDetail } from '../core/profile.js';
import { commandName } from './command-name.js';
import { packageVersion } from './version.js';

/** The bundle's sha256 (hex) and the top-level command names, set by scripts/bundle-cli.ts. */
declare const __STAGECRAFT_BUNDLE_ID__: string | undefined;
declare const __STAGECRAFT_COMMANDS__: readonly string[] | undefined;

/** Packages with native code (or big enough to show): their require() is measured when profiling. */
const MEASURED_REQUIRES = new Set(['better-sqlite3', 'zstd-napi', 'zstd-napi/binding.js', '@napi-rs/xattr', 'xz-decompress']);

const profiling = process.env['STAGECRAFT_PROFILE'] === '1' || process.env['STAGECRAFT_PROFILE'] === 'json';
const bundleId = typeof __STAGECRAFT_BUNDLE_ID__ === 'string' ? __STAGECRAFT_BUNDLE_ID__ : 'unbundled';
const commands: readonly string[] = typeof __STAGECRAFT_COMMANDS__ === 'object' ? __STAGECRAFT_COMMANDS__ : [];

let startedCpu = profiling ? cpuNow() : 0;

/** A loading step that started at `start` (wall) and `startedCpu` (CPU), for the profile. */
function measure(name: string, start: number): void {
  if (!profiling) return;
  const cpuAt = cpuNow();
  const detail: ProfileDetail = { cpuAt, cpuTook: cpuAt - startedCpu };
  performance.measure(name, { start, end: performance.now(), detail });
}

/** The cache's file name for this bundle file, Node and command. */
function cacheName(info: Stats, argv: readonly string[]): string {
  const name = commandName(argv);
  const command = name !== undefined && commands.includes(name) ? name : 'default';
  return `${bundleId.slice(0, 16)}-${info.size}-${Math.trunc(info.mtimeMs)}-${info.ino}-${process.version}-${process.arch}-${command}.bin`;
}

/** The cached data, if the file exists, is this user's (or root's) and writable by no one else. */
function readCache(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const info = fstatSync(fd);
    const uid = process.geteuid?.();
    if (!info.isFile() || (info.mode & 0o022) !== 0 || (uid !== undefined && info.uid !== uid && info.uid !== 0)) return undefined;
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes the cache (temp file + rename) and removes the caches of other bundles. Never throws. */
function writeCache(dir: string, name: string, data: Buffer): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const temp = join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(temp, data, { mode: 0o644 });
    renameSync(temp, join(dir, name));
    const prefix = name.slice(0, name.indexOf(`-${process.version}-`));
    for (const other of readdirSync(dir)) {
      if (!other.startsWith(prefix) && !other.startsWith('.')) rmSync(join(dir, other), { force: true });
    }
  } catch {
    // A read-only install (or a full disk) runs without a code cache.
  }
}

/** Compiles the bundle (with the code cache when there is one) and runs it: the CLI. */
function runBundle(): void {
  let started = performance.now();
  const bundle = fileURLToPath(new URL('./cli-bundle.cjs', import.meta.url));
  const fd = openSync(bundle, 'r');
  const info = fstatSync(fd);
  // scripts/bundle-cli.ts writes the bundle as ASCII: latin1 reads it as it is, without UTF-8 decoding.
  const source = readFileSync(fd, 'latin1');
  closeSync(fd);
  const cacheDir = join(dirname(bundle), 'code-cache');
  const name = cacheName(info, process.argv.slice(2));
  const cachedData = readCache(join(cacheDir, name));
  measure('load: read bundle and code cache', started);

  started = performance.now();
  if (profiling) startedCpu = cpuNow();
  // The CommonJS wrapper, plus what the bundle's ESM code needs: its import.meta.url and import() of
  // the packages kept outside it (scripts/bundle-cli.ts rewrites those calls to __stagecraftImport).
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __stagecraftImportMetaUrl, __stagecraftImport) {${source}\n})`, {
    filename: bundle,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  const cacheUsed = cachedData !== undefined && !script.cachedDataRejected;
  measure(`load: compile bundle (code cache ${cacheUsed ? 'used' : cachedData === undefined ? 'absent' : 'rejected'})`, started);
  if (!cacheUsed) process.once('exit', () => writeCache(cacheDir, name, script.createCachedData()));

  started = performance.now();
  if (profiling) startedCpu = cpuNow();
  const bundleRequire = createRequire(bundle);
  const measuredRequire = profiling
    ? Object.assign((id: string): unknown => {
        const begin = performance.now();
        const beginCpu = cpuNow();
        const loaded: unknown = bundleRequire(id);
        if (MEASURED_REQUIRES.has(id)) {
          const cpuAt = cpuNow();
          const detail: ProfileDetail = { cpuAt, cpuTook: cpuAt - beginCpu };
          performance.measure(`require ${id}`, { start: begin, end: performance.now(), detail });
        }
        return loaded;
      }, bundleRequire)
    : bundleRequire;
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} };
  run(module.exports, measuredRequire, module, bundle, dirname(bundle), pathToFileURL(bundle).href, (specifier: string): Promise<unknown> => import(specifier));
  measure('load: evaluate bundle', started);
}

/**
 * `stagecraft version` (nothing else on the line) is answered here, as main.ts's `version` command
 * prints it, without reading, compiling or running the bundle: Node's own start-up is then all it
 * costs. With STAGECRAFT_PROFILE the bundle runs, so the profile shows its loading.
 */
function printVersion(): void {
  // As main.ts: a reader that closed stdout early is no error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  process.stdout.write(`stagecraft ${packageVersion()}\nnode ${process.version}\n`);
}

const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === 'version' && !profiling) printVersion();
else runBundle();
